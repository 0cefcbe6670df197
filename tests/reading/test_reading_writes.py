"""Reader writes under hostile or careless input: locked readings, idempotent submits, limits.

What an attacker or a broken client sends to the reading API, and what must come back:
a clear JSON refusal (never a 500), nothing stored, nothing megabyte-sized in the audit log.
"""

import json
import uuid

import pytest

from readerstudy.audit.models import AuditEvent
from readerstudy.audit.services import AUDIT_TEXT_PREVIEW
from readerstudy.reading.models import Answer, LesionMark, Reading, ReadingVisit
from readerstudy.reading.services import reading_submit
from readerstudy.studies.models import Question
from tests import factories as f

pytestmark = pytest.mark.django_db
SCALE = [{"value": v, "label": str(v)} for v in (1, 2, 3, 4)]


@pytest.fixture
def api(client, study, reader_setup):
    study.mark_scale = SCALE
    study.submitted_editable = False
    study.save()
    f.QuestionFactory(study=study, key="overall")
    f.QuestionFactory(study=study, key="comment", kind=Question.Kind.TEXT, required=False, scale=[])
    reading = reader_setup["readings"][0]
    client.force_login(reader_setup["readers"][0])
    base = f"/api/readings/{reading.public_id}"

    def call(method, path, payload=None, raw=None):
        body = raw if raw is not None else json.dumps(payload) if payload is not None else None
        kwargs = {"content_type": "application/json"}
        if body is not None:
            kwargs["data"] = body
        return getattr(client, method)(base + path, **kwargs)

    return call, reading


def _submit(call, reading, client):
    assert call("post", "/answers", {"question": "overall", "value": 3}).status_code == 200
    return client.post(f"/reading/{reading.public_id}/", {"q-overall": "3", "submit": "1"})


def test_a_submitted_locked_reading_refuses_every_write(api, client):
    call, reading = api
    _submit(call, reading, client)
    reading.refresh_from_db()
    assert reading.status == Reading.Status.SUBMITTED
    before = (Answer.objects.count(), LesionMark.objects.count(), ReadingVisit.objects.count())
    visit = {"active_ms": 7 * 24 * 3600 * 1000, "slices": [1], "window_changes": 0}
    refused = [
        call("post", "/answers", {"question": "overall", "value": 1}),
        call("post", "/answers", {"question": "comment", "text": "late"}),
        call("put", f"/marks/{uuid.uuid4()}", {"slice": 1, "x": 1, "y": 1, "rating": 1}),
        call("delete", f"/marks/{uuid.uuid4()}"),
        call("post", "/position", {"slice": 2}),
        call("put", f"/visits/{uuid.uuid4()}", visit),
    ]
    assert [r.status_code for r in refused] == [409] * len(refused)
    assert all("submitted" in r.json()["error"] for r in refused)
    assert (Answer.objects.count(), LesionMark.objects.count(), ReadingVisit.objects.count()) == before
    assert Answer.objects.get(reading=reading).value == 3


def test_submit_is_idempotent(api, client):
    call, reading = api
    _submit(call, reading, client)
    reading.refresh_from_db()
    first = reading.submitted_at
    again = client.post(f"/reading/{reading.public_id}/", {"q-overall": "3", "submit": "1"})
    assert again.status_code == 302
    assert reading_submit(reading=reading, user=None) == []
    reading.refresh_from_db()
    assert reading.submitted_at == first
    assert AuditEvent.objects.filter(action="reading.submit", target_id=str(reading.pk)).count() == 1


def test_a_repeated_mark_client_id_is_an_update(api):
    call, reading = api
    client_id = uuid.uuid4()
    for rating in (1, 1, 2):
        response = call("put", f"/marks/{client_id}", {"slice": 1, "x": 2, "y": 3, "rating": rating})
        assert response.status_code == 200
    assert LesionMark.objects.get(reading=reading, client_id=client_id).rating == 2
    actions = list(AuditEvent.objects.filter(target_id=str(reading.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["mark.create", "mark.update"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"question": "comment", "text": "a\x00b"}, "NUL"),
        ({"question": "comment", "text": "x" * 10_001}, "at most 10000"),
    ],
)
def test_bad_text_is_refused_and_nothing_stored(api, payload, message):
    call, reading = api
    response = call("post", "/answers", payload)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Answer.objects.filter(reading=reading).exists()


def test_a_nul_in_a_mark_label_is_refused(api):
    call, _reading = api
    response = call(
        "put", f"/marks/{uuid.uuid4()}", {"slice": 1, "x": 1, "y": 1, "rating": 1, "label": "\x00"}
    )
    assert response.status_code == 400
    assert not LesionMark.objects.exists()


def test_the_text_cap_is_a_setting(api, settings):
    call, _reading = api
    settings.READERSTUDY_ANSWER_TEXT_MAX_LENGTH = 5
    assert call("post", "/answers", {"question": "comment", "text": "123456"}).status_code == 400
    assert call("post", "/answers", {"question": "comment", "text": "12345"}).status_code == 200


def test_long_text_goes_into_the_audit_log_as_a_preview(api):
    call, reading = api
    text = "a long comment " * 600  # 9000 characters
    assert call("post", "/answers", {"question": "comment", "text": text}).status_code == 200
    assert Answer.objects.get(reading=reading).text == text.strip()
    event = AuditEvent.objects.get(action="answer.save", target_id=str(reading.pk))
    logged = event.data["after"]["comment"]["text"]
    assert logged["length"] == len(text.strip())
    assert logged["preview"] == text[:AUDIT_TEXT_PREVIEW]
    assert len(json.dumps(event.data)) < 1000


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, 400, "nests deeper"),
        (
            '{"question": "comment", "text": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}',
            400,
            "nests",
        ),
        (json.dumps({"question": "comment", "text": "x" * 300_000}), 413, "too large"),
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "must be a JSON object"),
    ],
)
def test_hostile_bodies_get_a_clear_refusal(api, raw, status, message):
    call, _reading = api
    response = call("post", "/answers", raw=raw)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert not Answer.objects.exists()


def test_slices_are_deduplicated_and_capped(api):
    call, reading = api
    visit = f"/visits/{uuid.uuid4()}"
    report = {"active_ms": 1000, "slices": [3, 3, 1, 3, 1], "window_changes": 0}
    assert call("put", visit, report).status_code == 200
    assert ReadingVisit.objects.get(reading=reading).slices == [1, 3]
    report["slices"] = [0] * 20_000
    response = call("put", visit, report)
    assert response.status_code == 400
    assert "At most" in response.json()["error"]
