"""The audit event each reading service writes (one test per service)."""

import uuid
from unittest.mock import ANY

import pytest

from readerstudy.audit.models import AuditAction
from readerstudy.reading import services as reading_services
from readerstudy.reading.services import AnswerInput
from tests import factories as f
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db

MARK_SCALE = [{"value": 1, "label": "possibly"}, {"value": 2, "label": "definitely"}]


@pytest.fixture
def reading(reader_setup, study):
    study.mark_scale = MARK_SCALE
    study.save(update_fields=["mark_scale"])
    return reader_setup["readings"][0]


@pytest.fixture
def reader(reader_setup):
    return reader_setup["readers"][0]


def test_reading_open(reading, reader, study):
    reading_services.reading_open(reading=reading, user=reader)
    reading_services.reading_open(reading=reading, user=reader)  # only the first open is recorded
    event_written(AuditAction.READING_OPEN, actor=reader, target=reading, study=study, data={})


def test_answers_save_records_each_answer_before_and_after(reading, reader, study):
    question = f.QuestionFactory(study=study, key="sharpness", required=True)
    reading_services.answers_save(reading=reading, answers={question: AnswerInput(value=2)}, user=reader)
    reading_services.answers_save(reading=reading, answers={question: AnswerInput(value=4)}, user=reader)
    events = study.audit_events.filter(action=AuditAction.ANSWER_SAVE).order_by("id")
    assert [e.data for e in events] == [
        {"before": {"sharpness": None}, "after": {"sharpness": {"value": 2, "present": None, "text": ""}}},
        {
            "before": {"sharpness": {"value": 2, "present": None, "text": ""}},
            "after": {"sharpness": {"value": 4, "present": None, "text": ""}},
        },
    ]
    assert {(e.actor, e.target_id) for e in events} == {(reader, str(reading.pk))}


def test_reading_submit(reading, reader, study):
    reading_services.reading_submit(reading=reading, user=reader)
    reading_services.reading_submit(reading=reading, user=reader)  # a second submit changes nothing
    event_written(
        AuditAction.READING_SUBMIT,
        actor=reader,
        target=reading,
        study=study,
        data={
            "before": {"status": "pending", "submitted_at": None},
            "after": {"status": "submitted", "submitted_at": reading.submitted_at.isoformat()},
        },
    )


def test_mark_save_creates_then_updates(reading, reader, study):
    client_id = uuid.uuid4()
    mark = dict(reading=reading, client_id=client_id, slice_index=2, x=10.5, y=20.5, label="", user=reader)
    reading_services.mark_save(rating=1, **mark)
    values = {"slice_index": 2, "x": 10.5, "y": 20.5, "rating": 1, "label": ""}
    patient = {"patient_x": ANY, "patient_y": ANY, "patient_z": ANY}
    event_written(
        AuditAction.MARK_CREATE,
        actor=reader,
        target=reading,
        study=study,
        data={"client_id": str(client_id), "before": None, "after": {**values, **patient}},
    )
    reading_services.mark_save(rating=2, **mark)
    event_written(
        AuditAction.MARK_UPDATE,
        actor=reader,
        target=reading,
        study=study,
        data={"client_id": str(client_id), "before": {"rating": 1}, "after": {"rating": 2}},
    )


def test_mark_delete(reading, reader, study):
    client_id = uuid.uuid4()
    reading_services.mark_save(
        reading=reading, client_id=client_id, slice_index=0, x=1.0, y=2.0, rating=2, user=reader
    )
    reading_services.mark_delete(reading=reading, client_id=client_id, user=reader)
    reading_services.mark_delete(reading=reading, client_id=client_id, user=reader)  # nothing left: no event
    event = event_written(
        AuditAction.MARK_DELETE,
        actor=reader,
        target=reading,
        study=study,
        data={"client_id": str(client_id), "before": ANY, "after": None},
    )
    assert {k: event.data["before"][k] for k in ("slice_index", "x", "y", "rating", "label")} == {
        "slice_index": 0,
        "x": 1.0,
        "y": 2.0,
        "rating": 2,
        "label": "",
    }
