"""Reads for the reader: their sessions, a reading and its neighbours, reading telemetry
(writes: ``reading.services``)."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from readerstudy.reading.models import Reading, ReadingSession, ReadingVisit
from readerstudy.reading.policy import can_open_in_order
from readerstudy.studies.models import Study


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




def reading_neighbours(reading: Reading) -> tuple[Reading | None, Reading | None, int]:
    """The previous and next reading of the same session that the study's navigation lets
    the reader go to (``can_open_in_order``; none back in a sequential study), and
    the session's size."""
    siblings = list(reading.session.readings.order_by("position"))
    index = next(i for i, r in enumerate(siblings) if r.pk == reading.pk)
    previous = siblings[index - 1] if index > 0 else None
    following = siblings[index + 1] if index + 1 < len(siblings) else None
    if reading.session.participation.study.navigation == Study.Navigation.SEQUENTIAL:
        previous = None
        if following is not None and not can_open_in_order(following):
            following = None
    return previous, following, len(siblings)


def reading_next_unsubmitted(reading: Reading) -> Reading | None:
    """The reading to go to after this one: the next unsubmitted one in the session's order,
    else the first unsubmitted one before it; None when the session is done."""
    remaining = reading.session.readings.exclude(status=Reading.Status.SUBMITTED).exclude(pk=reading.pk)
    after = remaining.filter(position__gt=reading.position).order_by("position").first()
    return after or remaining.order_by("position").first()


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
