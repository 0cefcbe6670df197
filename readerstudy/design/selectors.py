"""Reads of schedules, their coverage of the study, and readers' progress through their sessions
(writes: ``design.services``)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet, Sum

from readerstudy.design.models import ReadingSchedule
from readerstudy.design.washout import SessionWindow, session_washout_waiver_refusal, session_window
from readerstudy.reading.models import Reading, ReadingSession, ReadingVisit
from readerstudy.studies.models import ReaderParticipation, ReadingPhase, Study


@dataclass(frozen=True)
class ScheduleCoverage:
    """What of a study's design a schedule version plans no reading for.

    ``conditions`` are the study's condition labels (by order) and ``cases`` the codes of
    its cases with at least one series that the schedule's plan never names.
    """

    schedule: ReadingSchedule
    conditions: tuple[str, ...]
    cases: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.conditions and not self.cases


def schedule_plan_labels(schedule: ReadingSchedule) -> tuple[set[str], set[str]]:
    """The condition labels and case codes that the schedule's plan has a reading for (a
    comparative schedule's readings show every condition of its hanging protocol)."""
    comparison = schedule.spec.get("comparison") if isinstance(schedule.spec, dict) else None
    if comparison and schedule.plan:
        conditions = {
            *comparison["blinded"],
            *([comparison["reference"]] if comparison.get("reference") else []),
        }
    else:
        conditions = {row[4] for row in schedule.plan}
    cases = {row[3] for row in schedule.plan}
    return conditions, cases


def schedule_active(study: Study, phase: ReadingPhase | None = None) -> ReadingSchedule | None:
    """The active schedule version of ``phase``, if any; without a phase, that of the study's
    first phase with an active schedule."""
    schedules = study.schedules.filter(status=ReadingSchedule.Status.ACTIVE)
    if phase is not None:
        schedules = schedules.filter(phase=phase)
    return schedules.order_by("phase__order").first()


def schedules_active(study: Study) -> list[ReadingSchedule]:
    """The active schedule of every phase that has one, by phase order."""
    return list(
        study.schedules.filter(status=ReadingSchedule.Status.ACTIVE)
        .select_related("phase")
        .order_by("phase__order")
    )


def schedule_coverage(study: Study, schedule: ReadingSchedule | None = None) -> ScheduleCoverage | None:
    """The conditions and cases (with series) of ``study`` that ``schedule`` does not cover.

    ``schedule`` defaults to the active version; None when there is no such schedule.
    """
    schedule = schedule or schedule_active(study)
    if schedule is None:
        return None
    planned_conditions, planned_cases = schedule_plan_labels(schedule)
    conditions = schedule.phase.included_conditions().values_list("label", flat=True)
    cases = (
        study.cases.filter(series__isnull=False).distinct().order_by("code").values_list("code", flat=True)
    )
    return ScheduleCoverage(
        schedule=schedule,
        conditions=tuple(label for label in conditions if label not in planned_conditions),
        cases=tuple(code for code in cases if code not in planned_cases),
    )


def _done_and_total(readings: QuerySet[Reading]) -> tuple[int, int]:
    counts = readings.aggregate(
        total=Count("id"), done=Count("id", filter=Q(status=Reading.Status.SUBMITTED))
    )
    return counts["done"], counts["total"]


def session_progress(session: ReadingSession) -> tuple[int, int]:
    """(submitted readings, all readings) of a session."""
    return _done_and_total(session.readings.all())


@dataclass(frozen=True)
class SessionProgress:
    """One reader's session as the coordinator sees it: counts, time and dates, no scores."""

    session: ReadingSession
    done: int
    total: int
    active_seconds: float
    last_activity: datetime | None
    window: SessionWindow
    washout_waivable: bool


@dataclass(frozen=True)
class ReaderProgress:
    """A reader's progress over all sessions of a study."""

    participation: ReaderParticipation
    sessions: list[SessionProgress]

    @property
    def done(self) -> int:
        return sum(s.done for s in self.sessions)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.sessions)

    @property
    def active_seconds(self) -> float:
        return sum(s.active_seconds for s in self.sessions)

    @property
    def last_activity(self) -> datetime | None:
        moments = [s.last_activity for s in self.sessions if s.last_activity]
        return max(moments) if moments else None


def study_reader_progress(study: Study, now: datetime | None = None) -> list[ReaderProgress]:
    """Per reader and session: readings submitted of all, active reading time (from the
    workstation's telemetry), last activity (a reading opened or submitted, or telemetry
    received) and when the session opens. Never any answer or mark."""
    sessions = (
        ReadingSession.objects.filter(participation__study=study)
        .select_related("participation__study", "phase")
        .annotate(
            n_total=Count("readings", distinct=True),
            n_done=Count("readings", filter=Q(readings__status=Reading.Status.SUBMITTED), distinct=True),
            last_opened=Max("readings__opened_at"),
            last_submitted=Max("readings__submitted_at"),
        )
        .order_by("phase__order", "number")
    )
    telemetry = {
        row["reading__session"]: row
        for row in ReadingVisit.objects.filter(reading__session__participation__study=study)
        .values("reading__session")
        .annotate(active_ms=Sum("active_ms"), last=Max("updated_at"))
    }
    by_participation: dict[int, list[SessionProgress]] = {}
    for session in sessions:
        visits = telemetry.get(session.pk)
        active_ms = visits["active_ms"] if visits is not None else None
        last_visit = visits["last"] if visits is not None else None
        moments = [m for m in (session.last_opened, session.last_submitted, last_visit) if m]
        window = session_window(session, now)
        by_participation.setdefault(session.participation_id, []).append(
            SessionProgress(
                session=session,
                done=session.n_done,
                total=session.n_total,
                active_seconds=(active_ms or 0) / 1000,
                last_activity=max(moments) if moments else None,
                window=window,
                # Offered while the session waits for its washout (not once it is open or closed).
                washout_waivable=not (window.is_open or window.closed)
                and session_washout_waiver_refusal(session) is None,
            )
        )
    return [
        ReaderProgress(participation, by_participation.get(participation.pk, []))
        for participation in study.participations.select_related("user").order_by("code")
    ]
