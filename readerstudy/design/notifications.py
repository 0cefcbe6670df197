"""Telling readers that a session is open for them: one email per session, once.

``sessions_open_notify`` is the one service: it finds every session that is open now for an
active reader of a study whose reading is open (``design.washout.session_window``), not yet
completed and not yet notified, emails the reader and records when (``ReadingSession.
opened_notified_at``, and a ``session.open_notify`` audit event). Run it from cron with
``manage.py notify_readers``, or let Celery beat run it (``readerstudy.tasks.sessions_open_notify``,
scheduled in the settings when ``CELERY_BROKER_URL`` is set). Each session is claimed under a
row lock and skipped by a concurrent run (``skip_locked``), so that two runs never send the
same email twice; a reader without an email address is reported and tried again next time.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_event_create
from readerstudy.design.washout import session_window
from readerstudy.reading.models import ReadingSession
from readerstudy.studies.models import Study


@dataclass(frozen=True)
class SessionNotice:
    """One reader told (or not: ``error`` says why) that a session is open."""

    session: ReadingSession
    address: str
    sent_at: datetime | None
    error: str = ""

    def describe(self) -> str:
        """One line for the console: who, which session, when, or why not."""
        session = self.session
        participation = session.participation
        where = f"{participation.study.slug} {participation.code}"
        what = f"{where}: {session.phase.name} session {session.number}"
        if self.error:
            return f"not sent, {what}: {self.error}"
        assert self.sent_at is not None
        return f"sent {timezone.localtime(self.sent_at):%Y-%m-%d %H:%M:%S} to {self.address}, {what}"


def _message(session: ReadingSession) -> tuple[str, str]:
    study = session.participation.study
    several = study.phases.count() > 1
    what = f"{session.phase.name} session {session.number}" if several else f"Session {session.number}"
    link = settings.READERSTUDY_SITE_URL.rstrip("/") + reverse("readerstudy:reader_sessions")
    lines = [
        f'{what} of the reader study "{study.name}" is open for you (reader {session.participation.code}).',
        "",
        f"Your sessions: {link}",
    ]
    return f"{study.name}: {what} is open", "\n".join(lines) + "\n"


def _candidates(now: datetime) -> list[int]:
    """Sessions that may be due: not notified, not completed, of active readers of open studies."""
    return list(
        ReadingSession.objects.filter(
            opened_notified_at__isnull=True,
            completed_at__isnull=True,
            participation__active=True,
            participation__study__status=Study.Status.ACTIVE,
            readings__isnull=False,
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _notify_one(pk: int, now: datetime) -> SessionNotice | None:
    with transaction.atomic():
        session = (
            ReadingSession.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("participation__user", "participation__study", "phase")
            .filter(pk=pk, opened_notified_at__isnull=True)
            .first()
        )
        if session is None or not session_window(session, now).is_open:
            return None
        address = session.participation.user.email
        if not address:
            return SessionNotice(session, "", None, error="the reader has no email address")
        subject, body = _message(session)
        try:
            send_mail(subject=subject, message=body, from_email=None, recipient_list=[address])
        except OSError as exc:  # smtplib errors are OSErrors; the next run tries again
            return SessionNotice(session, address, None, error=f"the email could not be sent ({exc})")
        sent_at = timezone.now()
        ReadingSession.objects.filter(pk=session.pk).update(opened_notified_at=sent_at)
        audit_event_create(
            actor=None,
            action=AuditAction.SESSION_OPEN_NOTIFY,
            target=session,
            study=session.participation.study,
            data={
                "reader": session.participation.code,
                "phase": session.phase.key,
                "session": session.number,
                "to": address,
            },
        )
        return SessionNotice(session, address, sent_at)


def sessions_open_notify(now: datetime | None = None) -> list[SessionNotice]:
    """Email every reader whose session is open now and who was not told yet; what happened, per session."""
    now = now or timezone.now()
    notices = [_notify_one(pk, now) for pk in _candidates(now)]
    return [notice for notice in notices if notice is not None]
