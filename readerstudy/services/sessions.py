"""Writes a coordinator makes to one reader's session: waiving the washout."""

from django.db import transaction
from django.utils import timezone

from ..models import AuditAction, ReadingSession
from ..selectors import session_washout_waiver_refusal
from .audit import audit_event_create

#: A waiver's reason must say something: at least this many characters.
MIN_REASON_LENGTH = 10


class SessionError(ValueError):
    """The session cannot be changed this way; the message says why."""


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
        },
    )
    return session
