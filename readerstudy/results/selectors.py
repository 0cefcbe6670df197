"""Reads for the results: a study's database rows as a :class:`stats.study_record.StudyRecord`.

Everything the analysis uses passes through :func:`study_record`: submitted readings
only (a reading in progress or never opened is not a result), their answers and marks
in patient coordinates, the reference's lesions and findings, objective measurements,
segmentation overlap metrics,
standalone algorithms' marks and ratings (their own tables: never readers),
image checksums and the provenance of the schedule and reference versions. The tables
are then computed by ``stats`` alone (:func:`stats.study_tables.analyse_study`), from
the platform or, identically, from the reproducibility bundle.

Views check ``can_view_results`` (and the unblinding rule of
``results.services``) before calling these.
"""

import json
import platform
from collections.abc import Iterable
from datetime import datetime
from importlib import metadata

from django.db.models import Count, QuerySet

from readerstudy.imaging.display_grid import display_grid_provenance
from readerstudy.imaging.models import DicomInstance
from readerstudy.measurements.selectors import (
    dess_second_echo_condition_ids,
    fidelity_rows,
    measurement_pair_rows,
    measurement_rows,
    t2_agreement_rows,
)
from readerstudy.reading.models import Answer, LesionMark, Reading, ReadingViewport
from readerstudy.reading.selectors import reading_telemetry
from readerstudy.references.models import ReferenceFinding, ReferenceLesion, ReferenceSet, ReferenceStandard
from readerstudy.results.models import AnalysisRun
from readerstudy.segmentation.selectors import overlap_rows
from readerstudy.standalone.selectors import standalone_record_rows
from readerstudy.studies.models import AB_KINDS, Question, ReadingPhase, Study
from stats.matching import natural_key
from stats.study_record import AnalysisSettings, StudyRecord, normalise

#: Packages whose versions a bundle records.
SOFTWARE = ("django", "numpy", "scipy", "statsmodels", "scikit-image", "pydicom", "matplotlib", "torch")


def detection_reference(reference_sets: Iterable[ReferenceSet]) -> ReferenceSet | None:
    """The reference set whose lesions are the truth for marks (``ReferenceSet.detection_set``)."""
    return ReferenceSet.detection_set(reference_sets)


def _versions() -> dict[str, str]:
    import sr_engine

    versions = {"python": platform.python_version(), "sr_engine": sr_engine.__version__}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _schedule_provenance(study: Study) -> dict | None:
    schedule = study.schedules.filter(status="active").first() or study.schedules.order_by("-version").first()
    if schedule is None:
        return None
    return {
        "version": schedule.version,
        "status": schedule.status,
        "kind": schedule.kind,
        "seed": schedule.seed,
        "activated_at": schedule.activated_at.isoformat() if schedule.activated_at else "",
        "spec": schedule.spec,
        "plan": schedule.plan,
    }


def attribute_text(value: object) -> str | None:
    """A case attribute's JSON value as the record's text: strings as they are, numbers as their
    shortest exact text, booleans as true/false, lists and objects as JSON; None for no value."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True)


def case_attribute_rows(study: Study) -> list[dict[str, str]]:
    """One row per attribute of each case (``Case.attributes``): case, attribute, value (text)."""
    rows = [
        {"case": case.code, "attribute": str(key), "value": text}
        for case in study.cases.all()
        for key, value in (case.attributes if isinstance(case.attributes, dict) else {}).items()
        if (text := attribute_text(value)) is not None
    ]
    rows.sort(key=lambda r: (natural_key(r["case"]), r["attribute"]))
    return rows


def study_analysis_settings(study: Study) -> AnalysisSettings:
    """The study's analysis settings (its ``analysis_settings``, else the defaults)."""
    return AnalysisSettings.from_dict(study.analysis_settings)


def study_record(
    study: Study, reference_sets: Iterable[ReferenceSet], run: AnalysisRun | None = None
) -> StudyRecord:
    """Everything the analysis of ``study`` needs, against the given reference versions.

    Readers are the study's active participations (a deactivated reader's readings are
    not results); only submitted readings count.
    """
    reference_sets = list(reference_sets)
    detection = detection_reference(reference_sets)
    submitted = (
        Reading.objects.filter(
            session__participation__study=study,
            session__participation__active=True,
            status=Reading.Status.SUBMITTED,
        )
        .exclude(session__phase__kind=ReadingPhase.Kind.PRACTICE)  # practice is never analysed
        .select_related("session__participation", "session__phase", "series__case", "series__condition")
    )
    phase_order = dict(study.phases.values_list("key", "order"))
    # A comparative reading shows several conditions: it is no reading of Reading.series'
    # condition. Its answers are analysed from the placement (``comparative_rows``).
    comparative = submitted.filter(session__phase__layout=ReadingPhase.Layout.COMPARATIVE)
    single = submitted.exclude(session__phase__layout=ReadingPhase.Layout.COMPARATIVE)
    comparisons, reference_answers = comparative_rows(comparative)

    # The large tables (a reading, answer, mark or image per row) are read as plain values,
    # without model instances: at 300 cases x 10 readers x 3 conditions that is ~10^6 rows.
    key_of_reading = ("series__condition__label", "session__participation__code", "series__case__code")
    key_of_row = tuple(f"reading__{field}" for field in key_of_reading)

    def key(condition: str, reader: str, case: str) -> dict[str, str]:
        return {"condition": condition, "reader": reader, "case": case}

    readings = sorted(
        (
            {
                **key(condition, reader, case),
                "session": session,
                "position": position,
                "submitted_at": submitted_at.isoformat() if submitted_at else "",
                "phase": phase,
            }
            for condition, reader, case, session, position, submitted_at, phase in single.values_list(
                *key_of_reading, "session__number", "position", "submitted_at", "session__phase__key"
            )
        ),
        key=lambda row: (
            natural_key(row["reader"]),
            phase_order[str(row["phase"])],
            row["session"],
            row["position"],
        ),
    )
    answers = [
        {
            **key(condition, reader, case),
            "question": question,
            "value": value,
            "present": present,
            "text": text,
            "lesion": lesion or "",
            "phase": phase,
        }
        for condition, reader, case, question, value, present, text, lesion, phase in Answer.objects.filter(
            reading__in=single
        ).values_list(
            *key_of_row,
            "question__key",
            "value",
            "present",
            "text",
            "lesion__label",
            "reading__session__phase__key",
        )
    ]
    answers += reference_answers
    answers.sort(
        key=lambda r: (
            natural_key(r["reader"]),
            r["condition"],
            natural_key(r["case"]),
            r["question"],
            natural_key(r["lesion"]),
        )
    )
    marks = [
        {
            **key(condition, reader, case),
            "mark": str(client_id),
            "slice": slice_index,
            "x_mm": x,
            "y_mm": y,
            "z_mm": z,
            "rating": float(rating),
        }
        for condition, reader, case, client_id, slice_index, x, y, z, rating in LesionMark.objects.filter(
            reading__in=single
        ).values_list(
            *key_of_row, "client_id", "slice_index", "patient_x", "patient_y", "patient_z", "rating"
        )
    ]
    marks.sort(key=lambda r: (natural_key(r["reader"]), r["condition"], natural_key(r["case"]), r["mark"]))

    # Values again: a reference set row carries its (large) provenance, which none of this needs.
    finals = ReferenceStandard.objects.filter(reference_set__in=reference_sets, kind="final")
    abnormal = (
        dict(finals.filter(reference_set=detection).values_list("case__code", "is_abnormal"))
        if detection
        else {}
    )
    lesions = []
    if detection is not None:
        for lesion in ReferenceLesion.objects.filter(
            reference__reference_set=detection, reference__kind="final"
        ).select_related("reference__case"):
            lesions.append(
                {
                    "case": lesion.reference.case.code,
                    "lesion": lesion.label,
                    "x_mm": lesion.x_mm,
                    "y_mm": lesion.y_mm,
                    "z_mm": lesion.z_mm,
                    "size_mm": lesion.size_mm,
                    "weight": lesion.weight,
                    "type": lesion.lesion_type,
                }
            )
    lesions.sort(key=lambda r: (natural_key(r["case"]), natural_key(r["lesion"])))
    set_names = {s.pk: s.name for s in reference_sets}
    findings = [
        {
            "reference": set_names[reference_set],
            "case": case,
            "finding": finding,
            "present": present,
            "grade": grade,
        }
        for reference_set, case, finding, present, grade in ReferenceFinding.objects.filter(
            reference__in=finals
        ).values_list("reference__reference_set_id", "reference__case__code", "key", "present", "grade")
    ]
    findings.sort(key=lambda r: (r["reference"], r["finding"], natural_key(r["case"])))
    images = [
        {"case": case, "condition": condition, "slice": slice_index, "sha256": sha256}
        for case, condition, slice_index, sha256 in DicomInstance.objects.filter(
            series__case__study=study
        ).values_list("series__case__code", "series__condition__label", "slice_index", "sha256")
    ]
    images.sort(key=lambda r: (natural_key(r["case"]), r["condition"], r["slice"]))
    # Standalone algorithms: their own tables, never readers (stats.tables.standalone)
    standalone_readers, standalone_marks, standalone_ratings = standalone_record_rows(study)

    record = StudyRecord(
        study={
            "name": study.name,
            "slug": study.slug,
            "description": study.description,
            "status": study.status,
            "washout_days": study.washout_days,
            "mark_scale": study.mark_scale,
        },
        settings=study_analysis_settings(study),
        provenance={
            "analysis_run": None
            if run is None
            else {
                "id": run.pk,
                "kind": run.kind,
                "created_at": run.created_at.isoformat(),
                "requested_by": run.requested_by.get_username(),
                "interim": run.interim,
                "reason": run.reason,
            },
            "schedule": _schedule_provenance(study),
            "display_grid": display_grid_provenance(study),
            "reference_sets": [
                {
                    "name": s.name,
                    "status": s.status,
                    "locked_at": s.locked_at.isoformat() if s.locked_at else "",
                    "used_for_detection": detection is not None and s.pk == detection.pk,
                }
                for s in reference_sets
            ],
            "software": _versions(),
        },
        conditions=[  # a DESS condition's second echo is no arm of the study (measurements.selectors)
            {"condition": c.label, "order": c.order, "generative": c.generative}
            for c in study.conditions.exclude(pk__in=dess_second_echo_condition_ids(study))
        ],
        readers=sorted(
            ({"reader": p.code} for p in study.participations.filter(active=True)),
            key=lambda r: natural_key(r["reader"]),
        ),
        cases=sorted(
            ({"case": c.code, "abnormal": abnormal.get(c.code)} for c in study.cases.all()),
            key=lambda r: natural_key(r["case"]),
        ),
        questions=[
            {"question": q.key, "kind": q.kind, "text": q.text, "scale": json.dumps(q.scale)}
            for q in study.questions.all()
        ],
        readings=readings,
        answers=answers,
        marks=marks,
        lesions=lesions,
        findings=findings,
        measurements=measurement_rows(study),
        fidelity=fidelity_rows(study),
        t2_agreement=t2_agreement_rows(study),
        overlap=overlap_rows(study),
        images=images,
        roi_pairs=measurement_pair_rows(study),
        case_attributes=case_attribute_rows(study),
        comparisons=comparisons,
        standalone_readers=standalone_readers,
        standalone_marks=standalone_marks,
        standalone_ratings=standalone_ratings,
    )
    return normalise(record)


def comparative_rows(readings: "QuerySet[Reading]") -> tuple[list[dict], list[dict]]:
    """The record rows of submitted comparative readings, from their stored placement.

    ``comparisons``: one row per answer to an A-versus-B question (preference, ab_scale), with
    the conditions shown as A and B and the labelled reference ("" when none); the value as
    stored (negative favours A). ``answers``: each answer to a reference-scale question, as a
    rating of the one blinded test condition it is about. Never ``Reading.series``.
    """
    viewports: dict[int, list[ReadingViewport]] = {}
    for viewport in ReadingViewport.objects.filter(reading__in=readings).select_related("series__condition"):
        viewports.setdefault(viewport.reading_id, []).append(viewport)
    comparisons: list[dict] = []
    answers: list[dict] = []
    for answer in Answer.objects.filter(
        reading__in=readings, question__kind__in=[*AB_KINDS, Question.Kind.REFERENCE_SCALE]
    ).select_related(
        "question", "reading__session__phase", "reading__session__participation", "reading__series__case"
    ):
        if answer.value is None:
            continue
        reading = answer.reading
        shown = sorted(viewports.get(reading.pk, []), key=lambda v: v.slot)
        labels = {v.label: v.series.condition.label for v in shown}
        blinded = [v for v in shown if not v.is_reference]
        reference = next((v.series.condition.label for v in shown if v.is_reference), "")
        common = {
            "reader": reading.session.participation.code,
            "case": reading.series.case.code,
            "phase": reading.session.phase.key,
            "question": answer.question.key,
        }
        if answer.question.kind in AB_KINDS:
            if "A" not in labels or "B" not in labels:
                continue  # a placement without two blinded viewports cannot hold an A-vs-B answer
            comparisons.append(
                {
                    **common,
                    "kind": answer.question.kind,
                    "condition_a": labels["A"],
                    "condition_b": labels["B"],
                    "reference": reference,
                    "value": answer.value,
                }
            )
        elif len(blinded) == 1:
            answers.append(
                {
                    **common,
                    "condition": blinded[0].series.condition.label,
                    "value": answer.value,
                    "present": None,
                    "text": answer.text,
                    "lesion": "",
                }
            )
    comparisons.sort(
        key=lambda r: (natural_key(r["reader"]), r["phase"], natural_key(r["case"]), r["question"])
    )
    return comparisons, answers


#: The columns that say which reading a row of a results table belongs to (unblinded).
READING_KEY_COLUMNS = ["study", "reader", "session", "position", "case", "condition", "phase"]


def _reading_key(study: Study, reading: Reading) -> dict[str, object]:
    """The READING_KEY_COLUMNS of a reading (needs its participation, phase, case and condition)."""
    return {
        "study": study.slug,
        "reader": reading.session.participation.code,
        "session": reading.session.number,
        "position": reading.position,
        "case": reading.series.case.code,
        "condition": reading_condition_text(reading),
        "phase": reading.session.phase.key,
    }


def reading_condition_text(reading: Reading) -> str:
    """The condition a reading shows; for a comparative reading its placement, e.g.
    ``A=SR; B=LR; Reference=HR`` (never only ``Reading.series``, the series in slot 1)."""
    if not reading.session.phase.is_comparative:
        return reading.series.condition.label
    viewports = sorted(reading.viewports.all(), key=lambda v: v.slot)
    return "; ".join(f"{v.label}={v.series.condition.label}" for v in viewports)


def _isoformat(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


READING_COLUMNS = [
    *READING_KEY_COLUMNS,
    "reading_status",
    "opened_at",
    "submitted_at",
    "marks",
    "visits",
    "active_seconds",
    "time_to_first_mark_seconds",
    "slices_visited",
    "window_changes",
]


def study_reading_rows(study: Study) -> list[dict[str, object]]:
    """One row per reading, unblinded, with its marks count and telemetry (statisticians)."""
    readings = (
        Reading.objects.filter(session__participation__study=study)
        .select_related("session__participation", "session__phase", "series__case", "series__condition")
        .annotate(n_marks=Count("marks", distinct=True))
        .prefetch_related("visits", "viewports__series__condition")
        .order_by("session__participation__code", "session__phase__order", "session__number", "position")
    )
    rows = []
    for reading in readings:
        visits = sorted(reading.visits.all(), key=lambda v: (v.started_at, v.pk))
        telemetry = reading_telemetry(reading, visits)
        rows.append(
            {
                **_reading_key(study, reading),
                "reading_status": reading.status,
                "opened_at": _isoformat(reading.opened_at),
                "submitted_at": _isoformat(reading.submitted_at),
                "marks": reading.n_marks,
                "visits": telemetry.visits,
                "active_seconds": round(telemetry.active_seconds, 3),
                "time_to_first_mark_seconds": ""
                if telemetry.time_to_first_mark_seconds is None
                else round(telemetry.time_to_first_mark_seconds, 3),
                "slices_visited": telemetry.slices_visited,
                "window_changes": telemetry.window_changes,
            }
        )
    return rows
