"""Writes of a study's reading schedule: generate a draft for preview, activate it, make new versions.

The design itself is computed by the pure-Python core ``readerstudy.design.generator``; this module
turns the study into its input, stores the result (:class:`~readerstudy.design.models.ReadingSchedule`)
and, on activation, creates every reader's sessions and readings. A coordinator's waiver of the
washout before one session is here too (``session_washout_waive``; the rule: ``design.washout``).

Versions. A study has at most one draft and at most one active schedule. Once active, a
schedule never changes (``ReadingSchedule.save`` refuses). A change (a reader or a case
added, a new seed) is a new version generated with a written reason; readers who have
already started reading keep their planned readings from the active version (they are
"carried over"), everybody else gets the new plan. Activating the new version supersedes
the old one; readings nobody has opened are replaced, nothing a reader did is deleted.

Design changes. Adding a condition or a case to a study whose schedule is active does not
change that schedule: nobody reads what it does not cover until a new version is activated.
Every write that adds them (generation, DICOM import) calls
:func:`schedule_design_change_check`, so that this happens only when the coordinator says so.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create
from readerstudy.design.generator import (
    CROSSED,
    CaseInput,
    DesignError,
    DesignSpec,
    PlannedReading,
    ReaderInput,
    Schedule,
    comparative_placement,
    comparison_condition,
    schedule_balance,
    schedule_check,
    schedule_generate,
)
from readerstudy.design.models import ReadingSchedule
from readerstudy.design.selectors import schedule_plan_labels, schedules_active
from readerstudy.design.washout import session_washout_waiver_refusal
from readerstudy.errors import ServiceError
from readerstudy.imaging.models import ImageSeries, series_on_same_grid
from readerstudy.reading.models import Reading, ReadingSession, ReadingViewport
from readerstudy.references.models import ReferenceSet
from readerstudy.studies.models import ReadingPhase, Study


class ScheduleError(ServiceError, ValueError):
    """The schedule cannot be generated or activated; the message says why."""


class DesignChangeUnacknowledged(ScheduleError):
    """A write would add conditions or cases that the active schedule does not cover, and the
    coordinator has not acknowledged it; the message says what and what to do."""


#: The label of the checkbox with which a coordinator acknowledges a design change.
DESIGN_CHANGE_ACKNOWLEDGEMENT = (
    "I understand that the active schedule does not cover this: readers will not read it "
    "until I make and activate a new schedule version."
)


# --- the spec, to and from JSON -------------------------------------------------------------


def _attribute_text(value: Any) -> str:
    """Case attributes are JSON; the design compares them as text."""
    return value if isinstance(value, str) else str(value)


def schedule_phase(study: Study, phase: ReadingPhase | None) -> ReadingPhase:
    """The phase a schedule write is about: the one given (of this study), or the only one."""
    if phase is not None:
        if phase.study_id != study.pk:
            raise ScheduleError(f"The phase {phase.key} is not a phase of this study.")
        return phase
    phases = list(study.phases.order_by("order")[:2])
    if len(phases) > 1:
        raise ScheduleError("This study has several reading phases: choose the phase to schedule.")
    return study.first_phase()


def schedule_spec_build(
    study: Study,
    *,
    phase: ReadingPhase | None = None,
    seed: int | str,
    kind: str = CROSSED,
    stratify_by: str | None = None,
    block_by: str | None = None,
    n_groups: int | None = None,
) -> DesignSpec:
    """The design input of ``study`` now: the conditions of ``phase`` (by order; default: the
    study's only phase), the study's cases and its active readers."""
    phase = schedule_phase(study, phase)
    if phase.is_comparative:
        # One reading per case shows every condition: one combined "condition", one session.
        blinded, reference = comparison_of(phase)
        conditions: tuple[str, ...] = (comparison_condition(blinded, reference),)
    else:
        conditions = tuple(phase.included_conditions().values_list("label", flat=True))
    return DesignSpec(
        conditions=conditions,
        cases=tuple(
            CaseInput(case.code, {key: _attribute_text(value) for key, value in case.attributes.items()})
            for case in study.cases.order_by("code")
        ),
        readers=tuple(
            ReaderInput(p.code, p.group) for p in study.participations.filter(active=True).order_by("code")
        ),
        kind=kind,
        stratify_by=stratify_by or None,
        block_by=block_by or None,
        n_groups=n_groups,
        seed=seed,
    )


def comparison_of(phase: ReadingPhase) -> tuple[list[str], str | None]:
    """A comparative phase's blinded condition labels (by order) and its reference's label."""
    reference = phase.reference_label or None
    return [c.label for c in phase.blinded_conditions()], reference


def schedule_spec_to_json(spec: DesignSpec) -> dict[str, Any]:
    return {
        "conditions": list(spec.conditions),
        "cases": [{"code": c.code, "attributes": dict(c.attributes)} for c in spec.cases],
        "readers": [{"code": r.code, "group": r.group} for r in spec.readers],
        "kind": spec.kind,
        "sessions": spec.sessions,
        "n_groups": spec.n_groups,
        "stratify_by": spec.stratify_by,
        "block_by": spec.block_by,
        "seed": spec.seed,
    }


def schedule_spec_from_json(data: Mapping[str, Any]) -> DesignSpec:
    """The :class:`DesignSpec` a stored schedule was generated from (to re-create its plan)."""
    return DesignSpec(
        conditions=tuple(data["conditions"]),
        cases=tuple(CaseInput(c["code"], c["attributes"]) for c in data["cases"]),
        readers=tuple(ReaderInput(r["code"], r["group"]) for r in data["readers"]),
        kind=data["kind"],
        sessions=data["sessions"],
        n_groups=data["n_groups"],
        stratify_by=data["stratify_by"],
        block_by=data["block_by"],
        seed=data["seed"],
    )


def _plan_rows(readings: tuple[PlannedReading, ...] | list[PlannedReading]) -> list[list[Any]]:
    return [[r.reader, r.session, r.position, r.case, r.condition] for r in readings]


def schedule_planned_readings(schedule: ReadingSchedule) -> list[PlannedReading]:
    """The stored plan of a schedule as :class:`PlannedReading` rows."""
    return [PlannedReading(*row) for row in schedule.plan]


# --- who has started ------------------------------------------------------------------------


def _started_reader_codes(study: Study, phase: ReadingPhase) -> set[str]:
    """Readers who have opened, answered or submitted any reading of the study's ``phase``."""
    started = Reading.objects.filter(session__participation__study=study, session__phase=phase).filter(
        Q(opened_at__isnull=False) | ~Q(status=Reading.Status.PENDING) | Q(session__started_at__isnull=False)
    )
    return set(started.values_list("session__participation__code", flat=True))


def _missing_series(
    study: Study, readings: list[PlannedReading], comparison: Mapping[str, Any] | None = None
) -> list[str]:
    have = set(ImageSeries.objects.filter(case__study=study).values_list("case__code", "condition__label"))
    if comparison:  # a comparative reading shows the series of every condition of its case
        shown = _comparison_labels(comparison)
        needed = {(r.case, label) for r in readings for label in shown}
    else:
        needed = {(r.case, r.condition) for r in readings}
    missing = sorted(needed - have)
    problems = [
        f"Case {case} has no image series for condition {condition}." for case, condition in missing[:20]
    ]
    if len(missing) > 20:
        problems.append(f"... and {len(missing) - 20} more case/condition pairs without a series.")
    return problems


def display_grid_problems(study: Study) -> list[str]:
    """Cases whose series are not all on the study's display grid (``Study.display_grid_condition``).

    A case needs the grid condition's series, and every other series of it must have the
    grid's matrix, slices, spacing, orientation and origin (``readerstudy.imaging.display_grid``
    resamples them at import). Empty when the grid is off.
    """
    condition = study.display_grid_condition
    if condition is None:
        return []
    by_case: dict[str, list[ImageSeries]] = {}
    for series in ImageSeries.objects.filter(case__study=study).select_related("case", "condition"):
        by_case.setdefault(series.case.code, []).append(series)
    problems = []
    for code in sorted(by_case):
        grid = next((s for s in by_case[code] if s.condition_id == condition.pk), None)
        if grid is None:
            problems.append(
                f"Case {code} has no series for the display grid's condition {condition.label}: "
                "its other series cannot be shown on the common grid."
            )
            continue
        for series in by_case[code]:
            if series.pk != grid.pk and not series.projection and not series_on_same_grid(series, grid):
                problems.append(
                    f"Case {code}: the series of condition {series.condition.label} is not on the "
                    f"display grid ({series.columns}x{series.rows}x{series.num_slices} where the grid is "
                    f"{grid.columns}x{grid.rows}x{grid.num_slices}); see the import report."
                )
    if len(problems) > 20:
        problems = [*problems[:20], f"... and {len(problems) - 20} more display grid problems."]
    return problems


def _comparison_json(phase: ReadingPhase) -> dict[str, Any] | None:
    """What a comparative phase's schedule stores about the hanging protocol (None: single)."""
    if not phase.is_comparative:
        return None
    blinded, reference = comparison_of(phase)
    return {"blinded": blinded, "reference": reference or ""}


def _comparison_labels(comparison: Mapping[str, Any]) -> list[str]:
    return [*comparison["blinded"], *([comparison["reference"]] if comparison.get("reference") else [])]


def phase_reference_problems(phase: ReadingPhase) -> list[str]:
    """What the phase needs before it can be scheduled: a locked reference for lesion questions."""
    lesion_questions = list(phase.questions.exclude(lesion_rule="").values_list("key", flat=True))
    if (
        lesion_questions
        and not ReferenceSet.objects.filter(study=phase.study, status=ReferenceSet.Status.LOCKED).exists()
    ):
        return [
            f"The question(s) {', '.join(lesion_questions)} are about chosen reference lesions: "
            "lock the detection reference before this phase is scheduled."
        ]
    return []


# --- generate -------------------------------------------------------------------------------


# --- activate -------------------------------------------------------------------------------


@transaction.atomic
def schedule_draft_create(
    *,
    study: Study,
    actor,
    seed: int | str,
    phase: ReadingPhase | None = None,
    kind: str = CROSSED,
    stratify_by: str | None = None,
    block_by: str | None = None,
    n_groups: int | None = None,
    reason: str = "",
) -> ReadingSchedule:
    """Generate the schedule of one phase of the study as a draft for preview, replacing an
    earlier draft of that phase (``phase`` may be omitted when the study has only one).

    With an active schedule this is a new version and ``reason`` is required; readers who
    have started keep their readings from the active version. The draft stores the spec,
    the plan, the balance report and every problem found (rule violations from
    ``design.schedule_check``, case/condition pairs without an image series, and lesion
    questions without a locked reference); a draft with problems cannot be activated.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status == Study.Status.LOCKED:
        raise ScheduleError("The study is locked; its schedule can no longer change.")
    phase = schedule_phase(study, phase)
    active = phase.schedules.filter(status=ReadingSchedule.Status.ACTIVE).first()
    reason = reason.strip()
    if active is not None and not reason:
        raise ScheduleError(
            f"Schedule v{active.version} is active and cannot be edited; "
            "a new version needs a reason (it goes to the audit log)."
        )
    try:
        spec = schedule_spec_build(
            study,
            phase=phase,
            seed=seed,
            kind=kind,
            stratify_by=stratify_by,
            block_by=block_by,
            n_groups=n_groups,
        )
        generated = schedule_generate(spec)
    except DesignError as error:
        raise ScheduleError(str(error)) from error

    readings = list(generated.readings)
    carried: list[str] = []
    if active is not None:
        started = _started_reader_codes(study, phase) & {r.code for r in spec.readers}
        if started:
            carried = sorted(started)
            kept = [r for r in schedule_planned_readings(active) if r.reader in started]
            readings = [r for r in readings if r.reader not in started] + kept
            readings.sort(key=lambda r: (r.reader, r.session, r.position))
    schedule = Schedule(spec=spec, readings=tuple(readings))
    comparison = _comparison_json(phase)
    problems = (
        schedule_check(schedule)
        + _missing_series(study, readings, comparison)
        + phase_reference_problems(phase)
        + display_grid_problems(study)
    )

    phase.schedules.filter(status=ReadingSchedule.Status.DRAFT).delete()
    version = (study.schedules.aggregate(v=Max("version"))["v"] or 0) + 1
    draft = ReadingSchedule.objects.create(
        study=study,
        phase=phase,
        version=version,
        kind=spec.kind,
        seed=str(spec.seed),
        spec={**schedule_spec_to_json(spec), **({"comparison": comparison} if comparison else {})},
        plan=_plan_rows(readings),
        balance=schedule_balance(schedule),
        problems=problems,
        carried_over=carried,
        reason=reason,
        created_by=actor,
    )
    audit_event_create(
        actor=actor,
        action=AuditAction.SCHEDULE_GENERATE,
        target=draft,
        study=study,
        data={
            "version": version,
            "phase": phase.key,
            "seed": str(spec.seed),
            "kind": spec.kind,
            "stratify_by": spec.stratify_by,
            "block_by": spec.block_by,
            "n_groups": spec.n_groups,
            "readings": len(readings),
            "problems": len(problems),
            "carried_over": carried,
            "reason": reason,
        },
    )
    return draft


def schedule_draft_discard(*, schedule: ReadingSchedule, actor) -> None:
    """Delete a draft (activated versions are never deleted)."""
    if schedule.status != ReadingSchedule.Status.DRAFT:
        raise ScheduleError(
            f"Schedule v{schedule.version} is {schedule.status}; only drafts can be discarded."
        )
    audit_event_create(
        actor=actor,
        action=AuditAction.SCHEDULE_DISCARD,
        target=schedule,
        study=schedule.study,
        data={"version": schedule.version},
    )
    schedule.delete()


@transaction.atomic
def schedule_activate(
    *, schedule: ReadingSchedule, actor, first_session_opens_at: datetime | None = None
) -> ReadingSchedule:
    """Activate a draft: create the readers' sessions and readings and open the study for reading.

    Session 1 opens at ``first_session_opens_at`` (at once when not given); each later
    session opens after the washout, counted from when the reader completed the one before
    (``design.washout.session_window``). The active version, if any, is superseded: the readings
    of readers who have not started are replaced; readers who started keep all of theirs
    (this is checked again here, since a reader may have started after the draft was made).
    """
    schedule = (
        ReadingSchedule.objects.select_for_update(of=("self",)).select_related("study").get(pk=schedule.pk)
    )
    study = Study.objects.select_for_update().get(pk=schedule.study_id)
    if schedule.status != ReadingSchedule.Status.DRAFT:
        raise ScheduleError(
            f"Schedule v{schedule.version} is {schedule.status}; only a draft can be activated."
        )
    if study.status == Study.Status.LOCKED:
        raise ScheduleError("The study is locked; its schedule can no longer change.")
    if schedule.problems:
        raise ScheduleError(
            f"Schedule v{schedule.version} has {len(schedule.problems)} problem(s); "
            "fix them and generate again."
        )
    phase = schedule.phase
    carried = set(schedule.carried_over)
    started = _started_reader_codes(study, phase)
    plan = schedule_planned_readings(schedule)
    late = (started - carried) & {r.reader for r in plan}
    if late:
        raise ScheduleError(
            f"Reader(s) {', '.join(sorted(late))} started reading after this draft was "
            "generated; generate the schedule again so that their readings are kept."
        )

    participations = {p.code: p for p in study.participations.all()}
    series = {
        (s.case.code, s.condition.label): s
        for s in ImageSeries.objects.filter(case__study=study).select_related("case", "condition")
    }
    # Replace the readings of every reader who has not started (nothing of theirs was opened);
    # whoever started keeps everything, whether carried over or no longer in the plan.
    Reading.objects.filter(session__participation__study=study, session__phase=phase).exclude(
        session__participation__code__in=started
    ).delete()
    ReadingSession.objects.filter(participation__study=study, phase=phase, readings__isnull=True).exclude(
        participation__code__in=started
    ).delete()

    by_session: dict[tuple[str, int], list[PlannedReading]] = {}
    for reading in plan:
        if reading.reader not in carried:
            by_session.setdefault((reading.reader, reading.session), []).append(reading)
    comparison = schedule.spec.get("comparison")
    new_readings = []
    placements: list[list[tuple[int, str, str, bool]]] = []
    for (reader, number), planned in sorted(by_session.items()):
        session = ReadingSession.objects.create(
            participation=participations[reader],
            phase=phase,
            number=number,
            opens_at=first_session_opens_at if number == 1 else None,
        )
        for r in planned:
            if comparison:
                placement = comparative_placement(
                    schedule.seed,
                    r.reader,
                    r.case,
                    comparison["blinded"],
                    comparison.get("reference") or None,
                )
                placements.append(placement)
                shown = series[r.case, placement[0][1]]  # Reading.series: the series in slot 1
            else:
                shown = series[r.case, r.condition]
            new_readings.append(
                Reading(session=session, series=shown, position=r.position, schedule=schedule)
            )
    Reading.objects.bulk_create(new_readings)
    if comparison:
        # bulk_create sets primary keys on PostgreSQL and SQLite >= 3.35 (RETURNING)
        ReadingViewport.objects.bulk_create(
            ReadingViewport(
                reading=reading,
                slot=slot,
                series=series[reading.series.case.code, label],
                label=shown_as,
                is_reference=is_reference,
            )
            for reading, placement in zip(new_readings, placements, strict=True)
            for slot, label, shown_as, is_reference in placement
        )

    previous = phase.schedules.filter(status=ReadingSchedule.Status.ACTIVE).first()
    if previous is not None:
        previous.status = ReadingSchedule.Status.SUPERSEDED
        previous.save(update_fields=["status"])
    schedule.status = ReadingSchedule.Status.ACTIVE
    schedule.activated_at = timezone.now()
    schedule.activated_by = actor
    schedule.save(update_fields=["status", "activated_at", "activated_by"])
    if study.status == Study.Status.DRAFT:
        study.status = Study.Status.ACTIVE
        study.save(update_fields=["status", "updated_at"])
    audit_event_create(
        actor=actor,
        action=AuditAction.SCHEDULE_ACTIVATE,
        target=schedule,
        study=study,
        data={
            **audit_change(
                {"active_version": previous.version if previous else None},
                {"active_version": schedule.version},
            ),
            "phase": phase.key,
            "readings_created": len(new_readings),
            "carried_over": sorted(carried),
            "reason": schedule.reason,
        },
    )
    return schedule


@dataclass(frozen=True)
class DesignChange:
    """An acknowledged addition that the active schedule ``schedule_version`` does not cover."""

    schedule_version: int
    conditions: tuple[str, ...]
    cases: tuple[str, ...]

    def audit_data(self) -> dict[str, Any]:
        """What the audit event of the write records about the acknowledgement."""
        return {
            "acknowledged": True,
            "schedule_version": self.schedule_version,
            "conditions": list(self.conditions),
            "cases": list(self.cases),
        }


def _named(noun: str, names: tuple[str, ...]) -> str:
    return f"{noun}{'s' if len(names) > 1 else ''} {', '.join(names)}"


def _labels_read(study: Study) -> set[str] | None:
    """The condition labels the study's phases read, or None when a phase reads every condition
    (chooses none). A condition no phase reads (e.g. a DESS second echo, used for T2 maps only)
    is no drift of the design, as ``selectors.schedule_coverage`` counts the phase's conditions."""
    read: set[str] = set()
    for phase in study.phases.prefetch_related("conditions"):
        chosen = [condition.label for condition in phase.conditions.all()]
        if not chosen:
            return None
        read.update(chosen)
    return read or None


def schedule_design_change_check(
    study: Study,
    *,
    new_condition_labels: Iterable[str] = (),
    new_case_codes: Iterable[str] = (),
    acknowledged: bool,
) -> DesignChange | None:
    """The rule for adding conditions or cases to a study: refuse a silent drift from its schedule.

    Labels and codes are those the write will store. Those that the active schedule's plan
    already names are no change, nor are conditions that no phase reads (``_labels_read``).
    Returns None when nothing else is added (or no schedule is active); otherwise the
    :class:`DesignChange`, to record in the write's audit event, when ``acknowledged``, and
    raises :class:`DesignChangeUnacknowledged` when not. Call it in the write's transaction
    after locking the study row, as ``schedule_activate`` does.
    """
    actives = schedules_active(study)
    if not actives:
        return None
    active = max(actives, key=lambda schedule: schedule.version)
    planned_conditions: set[str] = set()
    planned_cases: set[str] = set()
    for schedule in actives:
        conditions_of, cases_of = schedule_plan_labels(schedule)
        planned_conditions |= conditions_of
        planned_cases |= cases_of
    read = _labels_read(study)
    conditions = tuple(
        dict.fromkeys(
            label
            for label in new_condition_labels
            if label not in planned_conditions and (read is None or label in read)
        )
    )
    cases = tuple(dict.fromkeys(code for code in new_case_codes if code not in planned_cases))
    if not conditions and not cases:
        return None
    if not acknowledged:
        uncovered = " and ".join(
            _named(noun, names) for noun, names in (("condition", conditions), ("case", cases)) if names
        )
        it = "them" if len(conditions) + len(cases) > 1 else "it"
        raise DesignChangeUnacknowledged(
            f"This study's schedule v{active.version} is active and does not cover {uncovered}. "
            f"Tick “I understand …” to add {it}; then make a new schedule version."
        )
    return DesignChange(schedule_version=active.version, conditions=conditions, cases=cases)


#: A waiver's reason must say something: at least this many characters.
MIN_REASON_LENGTH = 10


class SessionError(ServiceError, ValueError):
    """The session cannot be changed this way; the message says why."""


def _waiver_record(session: ReadingSession) -> dict[str, Any]:
    """A session's washout waiver as its audit event records it."""
    return {
        "washout_waived_at": session.washout_waived_at.isoformat() if session.washout_waived_at else None,
        "washout_waived_by": session.washout_waived_by.get_username() if session.washout_waived_by else None,
    }


@transaction.atomic
def session_washout_waive(*, session: ReadingSession, actor, reason: str) -> ReadingSession:
    """Let one reader's session open without waiting for the washout, for a written reason.

    The reader must still have completed the session before (the washout is waived, not
    the order). The reason and who waived it are stored on the session and in the audit log.
    """
    session = (
        ReadingSession.objects.select_for_update(of=("self",))
        .select_related("participation__study")
        .get(pk=session.pk)
    )
    study = session.participation.study
    reason = reason.strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise SessionError(
            f"Give a reason for waiving the washout (at least {MIN_REASON_LENGTH} characters)."
        )
    if refusal := session_washout_waiver_refusal(session):
        raise SessionError(refusal)
    before = _waiver_record(session)
    session.washout_waived_at = timezone.now()
    session.washout_waived_by = actor
    session.washout_waiver_reason = reason
    session.save(update_fields=["washout_waived_at", "washout_waived_by", "washout_waiver_reason"])
    audit_event_create(
        actor=actor,
        action=AuditAction.SESSION_WASHOUT_WAIVE,
        target=session,
        study=study,
        data={
            "reader": session.participation.code,
            "session": session.number,
            "washout_days": study.washout_days,
            "reason": reason,
            **audit_change(before, _waiver_record(session)),
        },
    )
    return session
