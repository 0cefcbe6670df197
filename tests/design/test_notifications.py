"""Readers are emailed once when a session opens for them (manage.py notify_readers, or Celery beat)."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from readerstudy.design.notifications import sessions_open_notify
from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.reading.models import Reading
from readerstudy.studies.models import Study
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_study(coordinator):
    """Two conditions (two sessions per reader, a 7-day washout), two cases, readers R1 and R2 (no email)."""
    study = f.StudyFactory(
        coordinators=[coordinator], status=Study.Status.DRAFT, washout_days=7, name="Knee SR"
    )
    conditions = [f.ConditionFactory(study=study, label=label) for label in ("LR", "SR")]
    for n in range(1, 3):
        case = f.CaseFactory(study=study, code=f"C{n}")
        for condition in conditions:
            f.ImageSeriesFactory(case=case, condition=condition)
    f.ReaderParticipationFactory(study=study, code="R1", user__email="r1@example.org")
    f.ReaderParticipationFactory(study=study, code="R2", user__email="")
    schedule_activate(
        schedule=schedule_draft_create(study=study, actor=coordinator, seed=3), actor=coordinator
    )
    return study


def _complete(session):
    now = timezone.now()
    session.readings.update(status=Reading.Status.SUBMITTED, submitted_at=now)
    session.completed_at = now
    session.save(update_fields=["completed_at"])


def test_the_command_emails_each_open_session_once_and_says_what_it_sent(active_study):
    out = StringIO()
    call_command("notify_readers", stdout=out)
    assert [m.to for m in mail.outbox] == [["r1@example.org"]]
    message = mail.outbox[0]
    assert message.subject == "Knee SR: Session 1 is open"
    assert "http://127.0.0.1:8000/reading/" in message.body
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("sent ") and lines[0].endswith(
        f"to r1@example.org, {active_study.slug} R1: Reading session 1"
    )
    assert lines[1] == f"not sent, {active_study.slug} R2: Reading session 1: the reader has no email address"
    assert lines[2] == "1 email sent, 1 not sent."
    session = active_study.participations.get(code="R1").sessions.get(number=1)
    assert session.opened_notified_at is not None

    call_command("notify_readers", stdout=StringIO())  # a second run (cron again) sends nothing new
    assert len(mail.outbox) == 1


def test_a_session_is_announced_only_once_its_washout_has_passed(active_study):
    r1 = active_study.participations.get(code="R1")
    first, second = r1.sessions.order_by("number")
    sessions_open_notify()
    _complete(first)
    mail.outbox.clear()
    assert sessions_open_notify() == [] or all(
        n.session.participation.code == "R2" for n in sessions_open_notify()
    )
    assert mail.outbox == []
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        notices = [n for n in sessions_open_notify() if not n.error]
    assert [(n.session.pk, n.address) for n in notices] == [(second.pk, "r1@example.org")]
    assert mail.outbox[0].subject == "Knee SR: Session 2 is open"


def test_inactive_readers_and_locked_studies_are_not_emailed(active_study):
    active_study.participations.filter(code="R1").update(active=False)
    assert [n.session.participation.code for n in sessions_open_notify()] == ["R2"]
    assert mail.outbox == []
    active_study.participations.filter(code="R1").update(active=True)
    Study.objects.filter(pk=active_study.pk).update(status=Study.Status.LOCKED)
    assert sessions_open_notify() == []
    assert mail.outbox == []
