"""A reader answers a case's questions and submits it (the plain form; autosave comes later)."""

import pytest
from django.urls import reverse

from readerstudy.audit.models import AuditEvent
from readerstudy.reading.models import Answer, Reading
from readerstudy.studies.models import Question
from tests import factories as f

pytestmark = pytest.mark.django_db

CONFIDENCE = [{"value": v, "label": str(v)} for v in range(1, 5)]


@pytest.fixture
def reading_with_questions(study, reader_setup):
    f.QuestionFactory(study=study, key="overall", order=1)
    f.QuestionFactory(study=study, key="mets", kind=Question.Kind.FINDING, scale=CONFIDENCE, order=2)
    f.QuestionFactory(study=study, key="comment", kind=Question.Kind.TEXT, scale=[], required=False, order=3)
    reading = reader_setup["readings"][0]
    second = f.ReadingFactory(
        session=reading.session,
        series=f.ImageSeriesFactory(case__study=study, condition=reader_setup["conditions"][1]),
        position=2,
    )
    return reading, second, reader_setup["readers"][0]


def url(reading):
    return reverse("readerstudy:reading_detail", args=[reading.public_id])


def test_opening_a_reading_marks_it_in_progress(client, reading_with_questions):
    reading, _, reader = reading_with_questions
    client.force_login(reader)
    assert client.get(url(reading)).status_code == 200
    reading.refresh_from_db()
    assert reading.status == Reading.Status.IN_PROGRESS
    assert reading.opened_at is not None
    assert AuditEvent.objects.filter(action="reading.open", target_id=str(reading.pk)).count() == 1


def test_save_keeps_answers_and_submit_requires_all_required(client, reading_with_questions):
    reading, second, reader = reading_with_questions
    client.force_login(reader)
    client.post(url(reading), {"q-overall": "4", "save": "1"})
    assert Answer.objects.get(reading=reading, question__key="overall").value == 4

    response = client.post(url(reading), {"q-overall": "4", "submit": "1"}, follow=True)
    assert "Please answer" in response.content.decode()
    reading.refresh_from_db()
    assert reading.status != Reading.Status.SUBMITTED

    response = client.post(
        url(reading), {"q-overall": "4", "q-mets-present": "yes", "q-mets": "3", "submit": "1"}
    )
    assert response.status_code == 302
    assert response["Location"] == url(second)
    reading.refresh_from_db()
    assert reading.status == Reading.Status.SUBMITTED
    mets = Answer.objects.get(reading=reading, question__key="mets")
    assert (mets.present, mets.value) == (True, 3)


def test_values_outside_the_scale_are_refused_without_losing_valid_ones(client, reading_with_questions):
    reading, _, reader = reading_with_questions
    client.force_login(reader)
    response = client.post(url(reading), {"q-overall": "9", "q-mets-present": "no", "save": "1"}, follow=True)
    assert "not a point of the scale" in response.content.decode()
    assert not Answer.objects.filter(reading=reading, question__key="overall").exists()
    assert Answer.objects.get(reading=reading, question__key="mets").present is False


def test_submitted_reading_is_locked_and_double_submit_is_harmless(client, reading_with_questions):
    reading, _, reader = reading_with_questions
    client.force_login(reader)
    data = {"q-overall": "2", "q-mets-present": "no", "submit": "1"}
    client.post(url(reading), data)
    client.post(url(reading), {**data, "q-overall": "5"})
    assert Answer.objects.get(reading=reading, question__key="overall").value == 2
    assert AuditEvent.objects.filter(action="reading.submit", target_id=str(reading.pk)).count() == 1


def test_session_completes_when_all_readings_are_submitted(client, reading_with_questions):
    reading, second, reader = reading_with_questions
    client.force_login(reader)
    for r in (reading, second):
        client.post(url(r), {"q-overall": "3", "q-mets-present": "no", "submit": "1"})
    reading.session.refresh_from_db()
    assert reading.session.completed_at is not None


def test_last_submission_leads_to_the_completion_page_with_the_next_session_date(
    client, reading_with_questions
):
    from datetime import timedelta

    from django.utils import timezone

    reading, second, reader = reading_with_questions
    opens = timezone.now() + timedelta(days=7)
    f.ReadingSessionFactory(participation=reading.session.participation, number=2, opens_at=opens)
    client.force_login(reader)
    data = {"q-overall": "3", "q-mets-present": "no", "submit": "1"}
    assert client.post(url(second), data)["Location"] == url(reading)  # back to the one not yet submitted
    response = client.post(url(reading), data, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("readerstudy:session_complete", args=[reading.public_id])
    assert "Session 1 complete" in html and "2 of 2" in html
    assert "Session 2 opens on" in html
