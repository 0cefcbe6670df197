"""The washout rule: when a reader's session is open (every reader request is checked against
:func:`session_window`), and when a coordinator may waive the washout before a session."""

from dataclasses import dataclass
from datetime import datetime, timedelta

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
    closed: bool = False
    washout_waived: bool = False

    def describe(self, washout_days: int) -> str:
        """The state in words, for the reader and the coordinator."""
        if self.is_open:
            return "open"
        if self.closed:
            return "closed"
        if self.waiting_for is not None:
            return (
                f"opens {washout_days} day{'s' if washout_days != 1 else ''} after session "
                f"{self.waiting_for} is completed"
            )
        if self.opens_at is not None:
            return f"opens {timezone.localtime(self.opens_at):%Y-%m-%d %H:%M}"
        return "not open"


def session_window(session: ReadingSession, now: datetime | None = None) -> SessionWindow:
    """When ``session`` is open: the one rule every reader request is checked against.

    A session is open from ``opens_at`` (at once if unset) until ``closes_at`` (never if
    unset). Session k > 1 opens only once the reader has completed the session before it
    and the study's washout (``Study.washout_days``) has passed since then, unless a
    coordinator waived the washout for this session (``design.services``). A session
    closes once the reader has started a later one, so that nothing read before the
    washout is changed after it.
    """
    now = now or timezone.now()
    if session.closes_at is not None and now >= session.closes_at:
        return SessionWindow(is_open=False, closed=True)
    siblings = session.participation.sessions
    if siblings.filter(number__gt=session.number, started_at__isnull=False).exists():
        return SessionWindow(is_open=False, closed=True)
    opens_at = session.opens_at
    waived = session.washout_waived_at is not None
    previous = siblings.filter(number__lt=session.number).order_by("-number").first()
    if previous is not None:
        if previous.completed_at is None:
            return SessionWindow(is_open=False, waiting_for=previous.number, washout_waived=waived)
        if not waived:
            washout_ends = previous.completed_at + timedelta(days=session.participation.study.washout_days)
            opens_at = max(opens_at, washout_ends) if opens_at else washout_ends
    if opens_at is not None and now < opens_at:
        return SessionWindow(is_open=False, opens_at=opens_at, washout_waived=waived)
    return SessionWindow(is_open=True, opens_at=opens_at, washout_waived=waived)


def session_washout_waiver_refusal(session: ReadingSession) -> str | None:
    """Why the washout before ``session`` cannot be waived, or None when it can."""
    if session.participation.study.status == Study.Status.LOCKED:
        return "The study is locked."
    if not session.participation.sessions.filter(number__lt=session.number).exists():
        return "The first session has no washout before it."
    if session.washout_waived_at is not None:
        return (
            f"The washout before session {session.number} of {session.participation.code} is already waived."
        )
    return None


def session_is_open(session: ReadingSession, now: datetime | None = None) -> bool:
    """Whether the reader may read in ``session`` now (see :func:`session_window`)."""
    return session_window(session, now).is_open
