"""Case-level ROC: AUC per reader and condition with DeLong intervals, DeLong tests between
conditions (DeLong, DeLong & Clarke-Pearson, Biometrics 44:837-845, 1988; :mod:`stats.diagnostic`) and
the Obuchowski-Rockette analysis of the Wilcoxon AUC (:func:`stats.mrmc.or_analysis`), on the
cases every reader read under every condition.

An incomplete crossed study (a reader skipped cases) also gets ``roc_all_reads`` and
``roc_all_reads_auc``: the reader-averaged Wilcoxon AUC on every submitted reading, with the
unbiased U-statistic variance of Gallas (:func:`stats.ustat.ustat_analysis`; Gallas, Acad Radiol
13:353-362, 2006; Gallas & Brown, Neural Networks 21:387-397, 2008), normal-approximation tests.
"""

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..dataset import NO_MARK, DatasetError, ReaderStudy, roc_study
from ..diagnostic import delong_test, roc_auc
from ..matching import natural_key, roc_from_froc
from ..mrmc import OPTIONS, Difference
from ..study_record import StudyRecord
from ..ustat import METHOD as USTAT_METHOD
from ..ustat import ustat_analysis
from .jafroc import (
    DIFFERENCE_COLUMNS,
    difference_cells,
    one_sided_cells,
    one_sided_columns,
    one_sided_note,
    or_or_note,
)
from .table import Cell, Part, Table, num, pair_name


@dataclass(frozen=True, kw_only=True)
class Roc(Part):
    """The ROC tables and the per-case ratings they are computed from."""

    roc: ReaderStudy


def case_ratings(record: StudyRecord, froc: ReaderStudy, read: np.ndarray | None = None) -> ReaderStudy:
    """Per-case ROC ratings: the highest mark, or the value of the case-rating question.

    An unanswered case-rating question is an error in a reading that ``read`` (a mask
    ``[condition, reader, case]``, default every one) says was made; elsewhere it is -inf.
    """
    key = record.settings.case_rating
    if key == "marks":
        return roc_from_froc(froc)
    values = {
        (a["condition"], a["reader"], a["case"]): a["value"]
        for a in record.answers
        if a["question"] == key and a["value"] is not None
    }
    ratings = np.empty(froc.shape)
    missing = []
    for i, condition in enumerate(froc.modality_ids):
        for j, reader in enumerate(froc.reader_ids):
            for k, case in enumerate(froc.case_ids):
                value = values.get((condition, reader, case))
                if value is None and (read is None or read[i, j, k]):
                    missing.append(f"{reader}/{case}/{condition}")
                ratings[i, j, k] = NO_MARK if value is None else value
    if missing:
        raise DatasetError(
            f"The case-rating question {key!r} is unanswered in {len(missing)} reading(s), "
            f"e.g. {', '.join(missing[:3])}."
        )
    return roc_study(ratings, froc.k1, froc.modality_ids, froc.reader_ids, froc.case_ids, froc.name)


def _truth_scores(roc: ReaderStudy, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    truth = np.r_[np.zeros(roc.k1, bool), np.ones(roc.k2, bool)]
    scores = np.r_[roc.nl[i, j, : roc.k1, 0], roc.ll[i, j, :, 0]]
    # -inf (unmarked) ties with -inf; any finite stand-in below every rating keeps the order.
    finite = scores[np.isfinite(scores)]
    floor = (finite.min() if finite.size else 0.0) - 1.0
    return truth, np.where(np.isfinite(scores), scores, floor)


def roc_part(record: StudyRecord, froc: ReaderStudy) -> Roc:
    """``roc_auc`` and ``roc_auc_tests``, and ``roc_mrmc`` when the design has an OR analysis."""
    roc = case_ratings(record, froc)
    conf = record.settings.confidence
    rows: list[dict[str, Cell]] = []
    tests: list[dict[str, Cell]] = []
    conditions = list(roc.modality_ids)
    for j, reader in enumerate(roc.reader_ids):
        for i, condition in enumerate(conditions):
            truth, scores = _truth_scores(roc, i, j)
            auc = roc_auc(truth, scores, confidence=conf)
            rows.append(
                {
                    "reader": reader,
                    "condition": condition,
                    "auc": num(auc.estimate),
                    "stderr": num(auc.stderr),
                    "ci_lower": num(auc.ci[0]),
                    "ci_upper": num(auc.ci[1]),
                    "abnormal_cases": auc.n_positive,
                    "normal_cases": auc.n_negative,
                }
            )
        for a, b in combinations(range(len(conditions)), 2):
            truth, first = _truth_scores(roc, a, j)
            _, second = _truth_scores(roc, b, j)
            t = delong_test(truth, first, second, confidence=conf)
            tests.append(
                {
                    "reader": reader,
                    "comparison": pair_name(conditions[a], conditions[b]),
                    "difference": num(t.estimate),
                    "stderr": num(t.stderr),
                    "ci_lower": num(t.ci[0]),
                    "ci_upper": num(t.ci[1]),
                    "z": num(t.statistic),
                    "p": num(t.pvalue),
                }
            )
    source = _rating_source(record)
    tables = [
        Table(
            name="roc_auc",
            title="ROC AUC per reader and condition (DeLong CI)",
            columns=(
                "reader",
                "condition",
                "auc",
                "stderr",
                "ci_lower",
                "ci_upper",
                "abnormal_cases",
                "normal_cases",
            ),
            rows=tuple(rows),
            notes=(f"Case ratings from {source}.",),
        ),
        Table(
            name="roc_auc_tests",
            title="ROC AUC differences per reader (DeLong test)",
            columns=("reader", "comparison", "difference", "stderr", "ci_lower", "ci_upper", "z", "p"),
            rows=tuple(tests),
        ),
    ]
    result, notes = or_or_note(roc, "Wilcoxon", None, record.settings.covariance)
    if result is not None:
        tables.append(
            Table(
                name="roc_mrmc",
                title="ROC AUC: Obuchowski-Rockette analysis (reader-averaged AUC differences, 95% CI)",
                columns=(*DIFFERENCE_COLUMNS, *one_sided_columns(record.settings)),
                rows=tuple(
                    {**difference_cells(option, d), **one_sided_cells(record.settings, d)}
                    for option in OPTIONS
                    for d in result.tests[option].differences
                ),
                notes=one_sided_note(record.settings),
            )
        )
    return Roc(tables=tuple(tables), notes=notes, roc=roc)


def _rating_source(record: StudyRecord) -> str:
    if record.settings.case_rating == "marks":
        return "the highest mark rating (unmarked cases lowest)"
    return f"question {record.settings.case_rating!r}"


def read_mask(record: StudyRecord, data: ReaderStudy) -> np.ndarray:
    """``[condition, reader, case]`` of ``data``: True where the record has a submitted reading."""
    read = {(r["condition"], r["reader"], r["case"]) for r in record.readings}
    return np.array(
        [[[(c, r, k) in read for k in data.case_ids] for r in data.reader_ids] for c in data.modality_ids],
        dtype=bool,
    ).reshape(data.shape)


#: The columns of ``roc_all_reads`` (those of ``roc_mrmc`` with a z test).
ALL_READS_COLUMNS = ("comparison", "difference", "stderr", "ci_lower", "ci_upper", "z", "p")


def roc_all_reads_part(record: StudyRecord, froc: ReaderStudy, complete_readings: int) -> Part:
    """``roc_all_reads`` (differences between conditions) and ``roc_all_reads_auc`` (each condition's
    reader-averaged AUC) of an incomplete crossed study, on every submitted reading.

    ``froc`` is the FROC data of every case (marks matched to lesions, as on the complete cases);
    ``complete_readings`` the readings the complete-case analyses use, for the note.
    """
    read = read_mask(record, froc)
    conf = record.settings.confidence
    try:
        roc = case_ratings(record, froc, read)
        result = ustat_analysis(roc, read, confidence=conf)
    except DatasetError as exc:
        return Part(
            notes=(f"The case-level ROC analysis on all readings (roc_all_reads) is left out: {exc}",)
        )
    level = f"{round(100 * conf, 6):g}%"
    readers = (
        "readers and cases random"
        if result.readers_random
        else "one reader: its variance is the one over cases, given the reader"
    )
    complete = (
        f"the complete-case analyses (roc_auc, roc_mrmc) use {complete_readings} readings of the cases "
        "every reader read under every condition"
        if complete_readings
        else "no case was read by every reader under every condition, so there are no complete-case analyses"
    )
    note = (
        f"{USTAT_METHOD}: the reader-averaged Wilcoxon AUC on all {result.reads} submitted readings "
        f"({readers}); {complete}. Case ratings from {_rating_source(record)}. "
        "Tests and intervals: normal approximation (z)."
    )
    negative = [m.modality for m in result.modalities if not m.variance > 0]
    negative += [pair_name(*d.modalities) for d in result.differences if not d.variance > 0]
    if negative:
        note += (
            f" The unbiased variance estimate of {', '.join(negative)} is not positive (it can be, with few "
            "readers or cases): its SE, CI and test are left empty."
        )
    conditions = Table(
        name="roc_all_reads_auc",
        title=f"ROC AUC on all readings per condition (U-statistic variance, {level} CI)",
        columns=("condition", "auc", "stderr", "ci_lower", "ci_upper", "readers", "readings"),
        rows=tuple(
            {
                "condition": m.modality,
                "auc": num(m.auc),
                "stderr": num(m.stderr),
                "ci_lower": num(m.ci[0]),
                "ci_upper": num(m.ci[1]),
                "readers": m.readers,
                "readings": m.reads,
            }
            for m in result.modalities
        ),
        notes=(note,),
    )
    rows = []
    for d in result.differences:
        difference = Difference(
            modalities=d.modalities,
            estimate=d.estimate,
            stderr=d.stderr,
            df=math.inf,
            statistic=d.statistic,
            p=d.p,
            ci=d.ci,
        )
        rows.append(
            {
                "comparison": pair_name(*d.modalities),
                "difference": num(d.estimate),
                "stderr": num(d.stderr),
                "ci_lower": num(d.ci[0]),
                "ci_upper": num(d.ci[1]),
                "z": num(d.statistic),
                "p": num(d.p),
                **one_sided_cells(record.settings, difference),
            }
        )
    differences = Table(
        name="roc_all_reads",
        title=f"ROC AUC on all readings: U-statistic analysis (reader-averaged AUC differences, {level} CI)",
        columns=(*ALL_READS_COLUMNS, *one_sided_columns(record.settings)),
        rows=tuple(rows),
        notes=(note, *one_sided_note(record.settings)),
    )
    return Part(tables=(differences, conditions) if rows else (conditions,))


def all_cases(record: StudyRecord) -> list[str]:
    """Every case of the study with a submitted reading, in natural order."""
    read = {r["case"] for r in record.readings}
    return sorted((row["case"] for row in record.cases if row["case"] in read), key=natural_key)
