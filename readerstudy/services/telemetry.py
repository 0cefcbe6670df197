"""Writes of reading telemetry: what the workstation reports about one page visit."""

import uuid
from dataclasses import dataclass

from ..models import Reading, ReadingVisit
from .readings import reading_write

#: Upper bound of one visit's figures, to keep a broken or hostile client from storing nonsense.
MAX_VISIT_MS = 7 * 24 * 3600 * 1000
#: Most slice numbers one report may list (a workstation reports each shown slice once).
MAX_REPORTED_SLICES = 10_000


class TelemetryInvalid(ValueError):
    """The report does not fit the reading (negative times, slices outside the series...)."""


@dataclass(frozen=True)
class VisitReport:
    """Cumulative figures of one page visit so far (they only grow during a visit)."""

    active_ms: int
    first_mark_ms: int | None
    slices: list[int]
    window_changes: int


def reading_visit_record(*, reading: Reading, client_id: uuid.UUID, report: VisitReport) -> ReadingVisit:
    """Store a visit's report, keeping the largest figures seen and the union of the slices.

    Reports are cumulative, so repeating one or receiving an older one late changes nothing.
    Raises TelemetryInvalid for figures that cannot be true and ReadingLocked when the
    reading was submitted and locked (its time on task is final).
    """
    numbers = (report.active_ms, report.window_changes, report.first_mark_ms or 0)
    if any(n < 0 or n > MAX_VISIT_MS for n in numbers):
        raise TelemetryInvalid("Times and counts must be between 0 and one week.")
    if len(report.slices) > MAX_REPORTED_SLICES:
        raise TelemetryInvalid(f"At most {MAX_REPORTED_SLICES} slice numbers may be reported at once.")
    slices = set(report.slices)
    with reading_write(reading) as locked:
        n_slices = locked.series.num_slices
        if any(not 0 <= s < n_slices for s in slices):
            raise TelemetryInvalid(f"Slices must lie between 0 and {n_slices - 1}.")
        visit, _ = ReadingVisit.objects.get_or_create(reading=locked, client_id=client_id)
        visit.active_ms = max(visit.active_ms, report.active_ms)
        visit.window_changes = max(visit.window_changes, report.window_changes)
        if report.first_mark_ms is not None:
            visit.first_mark_ms = (
                report.first_mark_ms
                if visit.first_mark_ms is None
                else min(visit.first_mark_ms, report.first_mark_ms)
            )
        visit.slices = sorted(set(visit.slices) | slices)
        visit.save()
    return visit
