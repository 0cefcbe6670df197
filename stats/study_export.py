"""A study's data in the formats other tools read, from its record and analysis.

* :func:`long_csv` and :func:`codebook_csv`: one tidy long table of every answer and every
  mark (with its matching outcome), and the codebook that says what each column and each
  coded value means (Wickham, "Tidy data", J Stat Softw 59(10), 2014: one observation per
  row, one variable per column);
* :func:`answers_csv`: every answer with the reading it belongs to (session, position,
  submission time), the statistician's answers download;
* :func:`roc_for_export`: the case ratings as ROC data with every rating finite, for the
  iMRMC format (``stats.io_imrmc.write_imrmc``), which has no "unmarked" value: an
  unmarked case (``-inf``) gets a rating one below the lowest rating given, which keeps
  every comparison (and so every AUC) unchanged.

The RJafroc workbook is ``stats.io_excel.write_excel`` of the FROC data
(:attr:`stats.study_tables.StudyAnalysis.froc`).
"""

import json
from typing import Any

import numpy as np

from .dataset import DatasetError, ReaderStudy, roc_study
from .matching import natural_key
from .study_record import StudyRecord, table_csv
from .study_tables import StudyAnalysis

LONG_COLUMNS = (
    "record",
    "condition",
    "reader",
    "case",
    "question",
    "value",
    "present",
    "text",
    "mark",
    "slice",
    "x_mm",
    "y_mm",
    "z_mm",
    "rating",
    "outcome",
    "lesion",
    "distance_mm",
)

#: The columns of :func:`answers_csv`.
ANSWER_COLUMNS = (
    "study",
    "reader",
    "session",
    "position",
    "case",
    "condition",
    "question",
    "value",
    "present",
    "text",
    "reading_status",
    "submitted_at",
    "phase",
    "lesion",
)

#: The status of every reading in a record (a record holds submitted readings only).
SUBMITTED = "submitted"

_DESCRIPTIONS = {
    "record": ("text", "answer (a reader's answer to a question) or mark (a lesion mark)"),
    "condition": ("text", "the condition (arm) the case was read under, by its label"),
    "reader": ("text", "the reader's code"),
    "case": ("text", "the case's code"),
    "question": ("text", "answers: the question's key (see the rows for each question below)"),
    "value": ("integer", "answers: the scale value chosen (Likert point or finding confidence)"),
    "present": ("0/1", "answers to finding questions: 1 present, 0 absent"),
    "text": ("text", "answers to free-text questions"),
    "mark": ("text", "marks: the mark's id"),
    "slice": ("integer", "marks: 0-based slice index in the series read"),
    "x_mm": ("number", "marks: patient x coordinate (DICOM LPS, mm)"),
    "y_mm": ("number", "marks: patient y coordinate (DICOM LPS, mm)"),
    "z_mm": ("number", "marks: patient z coordinate (DICOM LPS, mm)"),
    "rating": ("number", "marks: the reader's confidence on the mark scale"),
    "outcome": (
        "LL/NL/duplicate",
        "marks: lesion localisation, non-lesion localisation, or a second mark on a found lesion",
    ),
    "lesion": ("text", "marks scored LL: the reference lesion's id"),
    "distance_mm": ("number", "marks: distance to the nearest reference lesion of the case (mm)"),
}


def long_csv(record: StudyRecord, analysis: StudyAnalysis) -> str:
    """Every answer and every mark of the record, one per row (:data:`LONG_COLUMNS`)."""
    outcome = {(m.mark.modality, m.mark.reader, m.mark.case, m.mark.mark): m for m in analysis.matches}
    rows = [{"record": "answer", **a} for a in record.answers]
    for mark in record.marks:
        match = outcome.get((mark["condition"], mark["reader"], mark["case"], mark["mark"]))
        rows.append(
            {
                "record": "mark",
                **mark,
                "outcome": match.outcome if match else "",
                "lesion": (match.lesion or "") if match else "",
                "distance_mm": match.distance_mm if match else None,
            }
        )
    return table_csv(rows, LONG_COLUMNS)


def answers_csv(record: StudyRecord) -> str:
    """Every answer of the record with its reading, one per row (:data:`ANSWER_COLUMNS`).

    Rows are ordered by reader, phase, session and position, then in the study's question
    order. A reading is known by its phase, condition, reader and case, which a study's
    design reads once per phase.
    """
    readings: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for reading in record.readings:
        key = (reading.get("phase", ""), reading["condition"], reading["reader"], reading["case"])
        if key in readings:
            phase = f" in phase {key[0]}" if key[0] else ""
            raise DatasetError(f"Reader {key[2]} read case {key[3]} under {key[1]} more than once{phase}.")
        readings[key] = reading
    order = {q["question"]: n for n, q in enumerate(record.questions)}
    phases = list(dict.fromkeys(r.get("phase", "") for r in record.readings))
    rows: list[dict[str, Any]] = []
    for answer in record.answers:
        read = readings.get((answer.get("phase", ""), answer["condition"], answer["reader"], answer["case"]))
        if read is None:
            raise DatasetError(
                f"An answer of {answer['reader']} on case {answer['case']} ({answer['condition']}) "
                "has no reading in the record."
            )
        rows.append(
            {
                **answer,
                "study": record.study.get("slug", ""),
                "session": read["session"],
                "position": read["position"],
                "reading_status": SUBMITTED,
                "submitted_at": read["submitted_at"],
            }
        )
    rows.sort(
        key=lambda r: (
            natural_key(r["reader"]),
            phases.index(r.get("phase", "")) if r.get("phase", "") in phases else len(phases),
            r["session"],
            r["position"],
            order.get(r["question"], len(order)),
            r["question"],
            natural_key(r.get("lesion", "")),
        )
    )
    return table_csv(rows, ANSWER_COLUMNS)


def codebook_csv(record: StudyRecord) -> str:
    """What each column of :func:`long_csv` holds, and the meaning of every coded answer value."""
    rows = [{"variable": c, "type": t, "value": "", "meaning": d} for c, (t, d) in _DESCRIPTIONS.items()]
    for question in record.questions:
        rows.append(
            {
                "variable": f"question={question['question']}",
                "type": question["kind"],
                "value": "",
                "meaning": question["text"],
            }
        )
        for point in json.loads(question["scale"] or "[]"):
            rows.append(
                {
                    "variable": f"question={question['question']}",
                    "type": "value",
                    "value": point["value"],
                    "meaning": point["label"],
                }
            )
    for point in record.study.get("mark_scale") or []:
        rows.append(
            {"variable": "rating", "type": "value", "value": point["value"], "meaning": point["label"]}
        )
    return table_csv(rows, ("variable", "type", "value", "meaning"))


def roc_for_export(roc: ReaderStudy) -> ReaderStudy:
    """ROC data with unmarked cases (-inf) rated one below the lowest rating given (module docstring)."""
    ratings = np.concatenate([roc.nl[:, :, : roc.k1, 0], roc.ll[:, :, :, 0]], axis=2)
    finite = ratings[np.isfinite(ratings)]
    floor = (float(finite.min()) if finite.size else 1.0) - 1.0
    ratings = np.where(np.isfinite(ratings), ratings, floor)
    return roc_study(ratings, roc.k1, roc.modality_ids, roc.reader_ids, roc.case_ids, roc.name)
