"""The washout rule: when a reader's session is open (every reader request is checked against
:func:`session_window`), and when a coordinator may waive the washout before a session."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from readerstudy.reading.models import ReadingSession
from readerstudy.studies.models import Study


@dataclass(frozen=True)
class SessionWindow:
    """Whether a reader's session is open now and, if not, when it opens or why it is closed.

    ``opens_at`` is set when the opening date is known; ``waiting_for`` names the earlier
    session the reader must complete first (the opening date is then not known yet).
    """

    is_open: bool
    opens_at: datetime | None = None
    waiting_for: int | None = None
    waiting_for_phase: str | None = None
    closed: bool = False
    washout_waived: bool = False
    washout_days: int = 0

    def describe(self, washout_days: int) -> str:
        """The state in words, for the reader and the coordinator (``washout_days``: the wait
        that applies to this session: the study's, or its phase's before a phase's first session)."""
        if self.is_open:
            return "open"
        if self.closed:
            return "closed"
        days = f"{washout_days} day{'s' if washout_days != 1 else ''}"
        if self.waiting_for_phase is not None:
            if washout_days:
                return f"opens {days} after the {self.waiting_for_phase} phase is completed"
            return f"opens when the {self.waiting_for_phase} phase is completed"
        if self.waiting_for is not None:
            return f"opens {days} after session {self.waiting_for} is completed"
        if self.opens_at is not None:
            return f"opens {timezone.localtime(self.opens_at):%Y-%m-%d %H:%M}"
        return "not open"


def session_washout_days(session: ReadingSession) -> int:
    """The washout before ``session``: its phase's before the first session of a later phase,
    the study's (``Study.washout_days``) between sessions of a phase."""
    if session.number == 1:
        return session.phase.washout_days
    return session.participation.study.washout_days


def _later_started(session: ReadingSession) -> bool:
    """Whether the reader has started a session after this one (in this phase or a later one)."""
    return (
        session.participation.sessions.filter(started_at__isnull=False)
        .filter(
            Q(phase=session.phase_id, number__gt=session.number) | Q(phase__order__gt=session.phase.order)
        )
        .exists()
    )


def session_window(session: ReadingSession, now: datetime | None = None) -> SessionWindow:
    """When ``session`` is open: the one rule every reader request is checked against.

    A session is open from ``opens_at`` (at once if unset) until ``closes_at`` (never if
    unset). Session k > 1 of a phase opens only once the reader has completed the session
    before it and the study's washout (``Study.washout_days``) has passed since then;
    session 1 of a later phase opens only once the reader has completed every session of
    the phase before and that phase's washout (``ReadingPhase.washout_days``) has passed
    since the last was completed. A coordinator may waive the washout for one session
    (``design.services``), never the order. A session closes once the reader has started
    a later one, so that nothing read before the washout is changed after it.
    """
    now = now or timezone.now()
    days = session_washout_days(session)
    if session.closes_at is not None and now >= session.closes_at:
        return SessionWindow(is_open=False, closed=True, washout_days=days)
    if _later_started(session):
        return SessionWindow(is_open=False, closed=True, washout_days=days)
    opens_at = session.opens_at
    waived = session.washout_waived_at is not None
    siblings = session.participation.sessions
    completed_before: datetime | None = None
    if session.number > 1:
        previous = (
            siblings.filter(phase=session.phase_id, number__lt=session.number).order_by("-number").first()
        )
        if previous is not None:
            if previous.completed_at is None:
                return SessionWindow(
                    is_open=False, waiting_for=previous.number, washout_waived=waived, washout_days=days
                )
            completed_before = previous.completed_at
    else:
        previous_phase = session.phase.previous()
        if previous_phase is not None:
            earlier = list(siblings.filter(phase=previous_phase))
            if not earlier or any(s.completed_at is None for s in earlier):
                return SessionWindow(
                    is_open=False,
                    waiting_for_phase=previous_phase.name,
                    washout_waived=waived,
                    washout_days=days,
                )
            completed_before = max(s.completed_at for s in earlier if s.completed_at)
    if completed_before is not None and not waived:
        washout_ends = completed_before + timedelta(days=days)
        opens_at = max(opens_at, washout_ends) if opens_at else washout_ends
    if opens_at is not None and now < opens_at:
        return SessionWindow(is_open=False, opens_at=opens_at, washout_waived=waived, washout_days=days)
    return SessionWindow(is_open=True, opens_at=opens_at, washout_waived=waived, washout_days=days)


def session_washout_waiver_refusal(session: ReadingSession) -> str | None:
    """Why the washout before ``session`` cannot be waived, or None when it can."""
    if session.participation.study.status == Study.Status.LOCKED:
        return "The study is locked."
    if session.number == 1 and session.phase.previous() is None:
        return "The first session has no washout before it."
    if session.washout_waived_at is not None:
        return (
            f"The washout before session {session.number} of {session.participation.code} is already waived."
        )
    return None


def session_is_open(session: ReadingSession, now: datetime | None = None) -> bool:
    """Whether the reader may read in ``session`` now (see :func:`session_window`)."""
    return session_window(session, now).is_open
