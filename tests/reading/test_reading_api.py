"""The autosave API of a reading: idempotent writes, resume state, permissions, locking."""

import json
import uuid

import pytest
from django.test import Client

from readerstudy.audit.models import AuditEvent
from readerstudy.reading.models import LesionMark, Reading
from readerstudy.studies.models import Question
from tests import factories as f

pytestmark = pytest.mark.django_db
SCALE = [
    {"value": v, "label": label}
    for v, label in enumerate(["possibly", "probably", "likely", "definitely"], 1)
]


@pytest.fixture
def api(client, study, reader_setup):
    study.mark_scale = SCALE
    study.save()
    f.QuestionFactory(study=study, key="overall")
    f.QuestionFactory(study=study, key="mets", kind=Question.Kind.FINDING, scale=SCALE)
    reading = reader_setup["readings"][0]
    client.force_login(reader_setup["readers"][0])
    base = f"/api/readings/{reading.public_id}"

    def call(method, path, payload=None):
        kwargs = {"content_type": "application/json"}
        if payload is not None:
            kwargs["data"] = json.dumps(payload)
        return getattr(client, method)(base + path, **kwargs)

    return call, reading


def test_answers_autosave_idempotently(api):
    call, reading = api
    assert call("get", "/state").json()["answers"] == {}
    for _ in range(3):  # a retried request changes nothing more
        response = call("post", "/answers", {"question": "overall", "value": 4})
        assert response.status_code == 200
    assert response.json()["answers"]["overall"]["value"] == 4
    assert AuditEvent.objects.filter(action="answer.save", target_id=str(reading.pk)).count() == 1
    call("post", "/answers", {"question": "mets", "present": True, "value": 3})
    assert call("get", "/state").json()["answers"]["mets"] == {"value": 3, "present": True, "text": ""}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"question": "overall", "value": 9}, "not a point of the scale"),
        ({"question": "nope", "value": 1}, "Unknown question"),
        ({"question": "overall", "value": "4"}, "value must be an integer"),
        ({"question": "mets", "present": "yes"}, "present must be"),
    ],
)
def test_bad_answers_are_refused_and_nothing_changes(api, payload, message):
    call, reading = api
    response = call("post", "/answers", payload)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not reading.answers.exists()


def test_marks_are_placed_moved_and_deleted_by_client_id(api):
    call, reading = api
    mark_id = uuid.uuid4()
    url = f"/marks/{mark_id}"
    for _ in range(2):
        assert call("put", url, {"slice": 3, "x": 20, "y": 30, "rating": 2}).status_code == 200
    mark = LesionMark.objects.get(reading=reading)
    # Factory geometry: axial, 1 mm pixels, 2 mm slices, origin 0 at the centre of the first
    # pixel; the workstation's (20, 30) is measured from the image's corner: (19.5, 29.5, 2 * slice).
    assert (mark.patient_x, mark.patient_y, mark.patient_z) == pytest.approx((19.5, 29.5, 6))
    assert AuditEvent.objects.filter(action="mark.create").count() == 1
    call("put", url, {"slice": 4, "x": 21.5, "y": 30, "rating": 4, "label": "left frontal"})
    mark.refresh_from_db()
    assert (mark.slice_index, mark.x, mark.rating, mark.label) == (4, 21.5, 4, "left frontal")
    assert [m["client_id"] for m in call("get", "/state").json()["marks"]] == [str(mark_id)]
    assert call("delete", url).status_code == 200
    assert call("delete", url).status_code == 200  # deleting twice is harmless
    assert not LesionMark.objects.exists()
    assert AuditEvent.objects.filter(action="mark.delete").count() == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"slice": 3, "x": 20, "y": 30, "rating": 5}, "not on the study's scale"),
        ({"slice": 99, "x": 20, "y": 30, "rating": 2}, "outside the series"),
        ({"slice": 3, "x": 200, "y": 30, "rating": 2}, "outside the image"),
        ({"slice": 3, "x": "a", "y": 30, "rating": 2}, "must be numbers"),
    ],
)
def test_bad_marks_are_refused(api, payload, message):
    call, _ = api
    response = call("put", f"/marks/{uuid.uuid4()}", payload)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not LesionMark.objects.exists()


def test_position_is_remembered_for_resume(api):
    call, _ = api
    assert call("post", "/position", {"slice": 5}).status_code == 200
    assert call("get", "/state").json()["last_slice"] == 5
    assert call("post", "/position", {"slice": 500}).status_code == 400


def test_submitted_reading_is_locked(api):
    call, reading = api
    Reading.objects.filter(pk=reading.pk).update(status=Reading.Status.SUBMITTED)
    assert call("post", "/answers", {"question": "overall", "value": 4}).status_code == 409
    assert call("put", f"/marks/{uuid.uuid4()}", {"slice": 1, "x": 1, "y": 1, "rating": 1}).status_code == 409


def test_only_the_reader_may_use_it(client, api, reader_setup, coordinator):
    _, reading = api
    base = f"/api/readings/{reading.public_id}"
    for user in (reader_setup["readers"][1], coordinator):
        client.force_login(user)
        assert client.get(base + "/state").status_code == 404
        response = client.post(base + "/answers", '{"question": "overall", "value": 4}', "application/json")
        assert response.status_code == 404
    assert not reading.answers.exists()


def test_writes_need_the_csrf_token(reader_setup, api):
    _, reading = api
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(reader_setup["readers"][0])
    response = strict.post(
        f"/api/readings/{reading.public_id}/answers",
        '{"question": "overall", "value": 4}',
        "application/json",
    )
    assert response.status_code == 403
