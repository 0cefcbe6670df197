"""Reads: the queries views and exports use. No writes here."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from . import roles
from .models import (
    Answer,
    ReaderParticipation,
    Reading,
    ReadingSession,
    ReadingVisit,
    ReferenceStandard,
    SourceIdentity,
    Study,
)


def session_is_open(session: ReadingSession, now: datetime | None = None) -> bool:
    """A session is open from ``opens_at`` (or always, if unset) until ``closes_at``."""
    now = now or timezone.now()
    if session.opens_at is not None and now < session.opens_at:
        return False
    return session.closes_at is None or now < session.closes_at


def reader_sessions_list(user) -> QuerySet[ReadingSession]:
    """The user's own sessions in studies that are not drafts, with their readings."""
    return (
        ReadingSession.objects.filter(participation__user=user, participation__active=True)
        .exclude(participation__study__status=Study.Status.DRAFT)
        .select_related("participation__study")
        .prefetch_related("readings")
        .annotate(
            total=Count("readings"),
            done=Count("readings", filter=Q(readings__status=Reading.Status.SUBMITTED)),
        )
        .order_by("participation__study__name", "number")
    )


def reading_for_reader(public_id) -> Reading:
    """A reading with what its page needs; raises Reading.DoesNotExist."""
    return Reading.objects.select_related("session__participation__study", "series__case__study").get(
        public_id=public_id
    )


def reading_neighbours(reading: Reading) -> tuple[Reading | None, Reading | None, int]:
    """The previous and next reading of the same session that the study's navigation lets
    the reader go to (``roles.can_open_in_order``; none back in a sequential study), and
    the session's size."""
    siblings = list(reading.session.readings.order_by("position"))
    index = next(i for i, r in enumerate(siblings) if r.pk == reading.pk)
    previous = siblings[index - 1] if index > 0 else None
    following = siblings[index + 1] if index + 1 < len(siblings) else None
    if reading.session.participation.study.navigation == Study.Navigation.SEQUENTIAL:
        previous = None
        if following is not None and not roles.can_open_in_order(following):
            following = None
    return previous, following, len(siblings)


def reading_next_unsubmitted(reading: Reading) -> Reading | None:
    """The reading to go to after this one: the next unsubmitted one in the session's order,
    else the first unsubmitted one before it; None when the session is done."""
    remaining = reading.session.readings.exclude(status=Reading.Status.SUBMITTED).exclude(pk=reading.pk)
    after = remaining.filter(position__gt=reading.position).order_by("position").first()
    return after or remaining.order_by("position").first()


def _done_and_total(readings: QuerySet[Reading]) -> tuple[int, int]:
    counts = readings.aggregate(
        total=Count("id"), done=Count("id", filter=Q(status=Reading.Status.SUBMITTED))
    )
    return counts["done"], counts["total"]


def session_progress(session: ReadingSession) -> tuple[int, int]:
    """(submitted readings, all readings) of a session."""
    return _done_and_total(session.readings.all())


@dataclass(frozen=True)
class ReadingTelemetry:
    """What the workstation measured over all visits to one reading."""

    visits: int
    active_seconds: float
    time_to_first_mark_seconds: float | None
    slices_visited: int
    window_changes: int


def reading_telemetry(reading: Reading, visits: list[ReadingVisit] | None = None) -> ReadingTelemetry:
    """Sum the reading's visits: active time, active time before the first mark (over the
    visits in order), distinct slices shown, and window/level changes."""
    if visits is None:
        visits = list(reading.visits.order_by("started_at", "pk"))
    active_before = 0
    first_mark = None
    for visit in visits:
        if visit.first_mark_ms is not None:
            first_mark = (active_before + visit.first_mark_ms) / 1000
            break
        active_before += visit.active_ms
    slices: set[int] = set()
    for visit in visits:
        slices.update(visit.slices)
    return ReadingTelemetry(
        visits=len(visits),
        active_seconds=sum(v.active_ms for v in visits) / 1000,
        time_to_first_mark_seconds=first_mark,
        slices_visited=len(slices),
        window_changes=sum(v.window_changes for v in visits),
    )


def studies_for_user(user) -> QuerySet[Study]:
    """Studies the user coordinates or analyses (all of them for a superuser)."""
    studies = Study.objects.all()
    if not user.is_superuser:
        studies = studies.filter(Q(coordinators=user) | Q(statisticians=user)).distinct()
    return studies.annotate(
        n_cases=Count("cases", distinct=True),
        n_readers=Count("participations", distinct=True),
    )


@dataclass(frozen=True)
class ReaderProgress:
    participation: ReaderParticipation
    done: int
    total: int
    last_activity: datetime | None


def study_reader_progress(study: Study) -> list[ReaderProgress]:
    """Readings done and in total per reader; no scores."""
    rows = []
    participations = study.participations.select_related("user").order_by("code")
    for participation in participations:
        readings = Reading.objects.filter(session__participation=participation)
        done, total = _done_and_total(readings)
        last = (
            readings.exclude(submitted_at=None)
            .order_by("-submitted_at")
            .values_list("submitted_at", flat=True)
        ).first()
        rows.append(ReaderProgress(participation, done, total, last))
    return rows


def study_source_identities(study: Study) -> QuerySet[SourceIdentity]:
    return (
        SourceIdentity.objects.filter(series__case__study=study)
        .select_related("series__case", "series__condition")
        .order_by("series__case__code", "series__condition__order")
    )


def study_references(study: Study) -> QuerySet[ReferenceStandard]:
    return (
        ReferenceStandard.objects.filter(case__study=study, kind=ReferenceStandard.Kind.FINAL)
        .select_related("case", "reference_set")
        .prefetch_related("lesions", "findings")
        .order_by("case__code", "reference_set__source", "-reference_set__version")
    )


#: The columns that say which reading a row of a results table belongs to (unblinded).
READING_KEY_COLUMNS = ["study", "reader", "session", "position", "case", "condition"]


def _reading_key(study: Study, reading: Reading) -> dict[str, object]:
    """The READING_KEY_COLUMNS of a reading (needs its participation, case and condition)."""
    return {
        "study": study.slug,
        "reader": reading.session.participation.code,
        "session": reading.session.number,
        "position": reading.position,
        "case": reading.series.case.code,
        "condition": reading.series.condition.label,
    }


def _isoformat(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


RESULT_COLUMNS = [
    *READING_KEY_COLUMNS,
    "question",
    "value",
    "present",
    "text",
    "reading_status",
    "submitted_at",
]


def study_answer_rows(study: Study) -> list[dict[str, object]]:
    """One row per answer, unblinded (condition labels): the statistician's long table."""
    answers = (
        Answer.objects.filter(reading__session__participation__study=study)
        .select_related(
            "question",
            "reading__session__participation",
            "reading__series__case",
            "reading__series__condition",
        )
        .order_by(
            "reading__session__participation__code",
            "reading__session__number",
            "reading__position",
            "question__order",
        )
    )
    rows = []
    for answer in answers:
        reading = answer.reading
        rows.append(
            {
                **_reading_key(study, reading),
                "question": answer.question.key,
                "value": "" if answer.value is None else answer.value,
                "present": "" if answer.present is None else int(answer.present),
                "text": answer.text,
                "reading_status": reading.status,
                "submitted_at": _isoformat(reading.submitted_at),
            }
        )
    return rows


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
        .select_related("session__participation", "series__case", "series__condition")
        .annotate(n_marks=Count("marks", distinct=True))
        .prefetch_related("visits")
        .order_by("session__participation__code", "session__number", "position")
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
