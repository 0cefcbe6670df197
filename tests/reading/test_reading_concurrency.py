"""Reader writes under real concurrency: two HTTP requests at once against a live server.

Each trial starts two requests on two threads behind a barrier, as two tabs of one reader
would (or a tab whose autosave is still in flight when Submit is pressed), then checks
the database: nothing is written after a reading is submitted, a reading is submitted
once, and a new mark PUT twice at once is one mark, never a 500.

They run on both databases of `.ci/run`: PostgreSQL serialises the writes with row locks,
SQLite (a file, as the embedded default) with its database lock, taken when a transaction
begins (``transaction_mode`` IMMEDIATE in the settings).
"""

import json
import threading
import urllib.error
import urllib.request
import uuid

import pytest

from readerstudy.audit.models import AuditEvent
from readerstudy.reading.models import Answer, LesionMark, Reading
from readerstudy.studies.models import Question, Study
from tests import factories as f

TRIALS = 200
CSRF = "a" * 32  # Django accepts a 32-character cookie secret sent back in X-CSRFToken

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reader(client, study):
    """A reader of a free-navigation, lock-on-submit study, logged in; and a way to add readings."""
    study.navigation = Study.Navigation.FREE
    study.submitted_editable = False
    study.mark_scale = [{"value": v, "label": str(v)} for v in (1, 2, 3, 4)]
    study.save()
    f.QuestionFactory(study=study, key="overall")
    f.QuestionFactory(study=study, key="comment", kind=Question.Kind.TEXT, required=False, scale=[])
    condition = f.ConditionFactory(study=study, label="HR")
    session = f.ReadingSessionFactory(participation__study=study, participation__code="R1")
    client.force_login(session.participation.user)
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}"
    counter = iter(range(1, 10_000))

    def new_reading() -> Reading:
        n = next(counter)
        series = f.ImageSeriesFactory(case=f.CaseFactory(study=study, code=f"C{n:04d}"), condition=condition)
        return f.ReadingFactory(session=session, series=series, position=n)

    return cookie, new_reading


def _request(url: str, cookie: str, method: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (the live server's http URL)
    request.add_header("Cookie", cookie)
    request.add_header("X-CSRFToken", CSRF)
    request.add_header("Content-Type", content_type)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _at_once(*calls) -> list[int]:
    """Run the calls on threads that start together; their HTTP statuses, in order."""
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def run(i: int, call) -> None:
        barrier.wait()
        statuses[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def _submit_call(live_server, cookie, reading):
    url = f"{live_server.url}/reading/{reading.public_id}/"
    body = b"q-overall=3&submit=1"
    return lambda: _request(url, cookie, "POST", body, "application/x-www-form-urlencoded")


def _answer_call(live_server, cookie, reading, payload):
    url = f"{live_server.url}/api/readings/{reading.public_id}/answers"
    return lambda: _request(url, cookie, "POST", json.dumps(payload).encode(), "application/json")


def _submit_events(reading) -> int:
    return AuditEvent.objects.filter(action="reading.submit", target_id=str(reading.pk)).count()


def test_no_autosave_lands_after_submit(live_server, reader):
    cookie, new_reading = reader
    outcomes = {200: 0, 409: 0}
    for trial in range(TRIALS):
        reading = new_reading()
        Answer.objects.create(reading=reading, question=Question.objects.get(key="overall"), value=3)
        statuses = _at_once(
            _submit_call(live_server, cookie, reading),
            _answer_call(live_server, cookie, reading, {"question": "comment", "text": f"late {trial}"}),
        )
        assert statuses[0] == 302, statuses
        assert statuses[1] in (200, 409), statuses
        outcomes[statuses[1]] += 1
        reading.refresh_from_db()
        assert reading.status == Reading.Status.SUBMITTED
        late = Answer.objects.filter(reading=reading, updated_at__gt=reading.submitted_at)
        assert not late.exists(), f"trial {trial}: an answer was written after submit"
        assert _submit_events(reading) == 1
    print(f"autosave during submit, {TRIALS} trials: autosave first {outcomes[200]}, refused {outcomes[409]}")


def test_two_tabs_submitting_at_once_submit_once(live_server, reader):
    cookie, new_reading = reader
    for trial in range(TRIALS):
        reading = new_reading()
        Answer.objects.create(reading=reading, question=Question.objects.get(key="overall"), value=3)
        statuses = _at_once(
            _submit_call(live_server, cookie, reading), _submit_call(live_server, cookie, reading)
        )
        assert statuses == [302, 302], f"trial {trial}: {statuses}"
        reading.refresh_from_db()
        assert reading.status == Reading.Status.SUBMITTED
        assert _submit_events(reading) == 1, f"trial {trial}: submitted twice"
        assert not Answer.objects.filter(reading=reading, updated_at__gt=reading.submitted_at).exists()


def test_one_new_mark_put_twice_at_once_is_one_mark(live_server, reader):
    cookie, new_reading = reader
    reading = new_reading()
    for trial in range(TRIALS // 4):
        client_id = uuid.uuid4()
        url = f"{live_server.url}/api/readings/{reading.public_id}/marks/{client_id}"
        body = json.dumps({"slice": 1, "x": 2.5, "y": 3.5, "rating": 2}).encode()

        def put(url=url, body=body) -> int:
            return _request(url, cookie, "PUT", body, "application/json")

        assert _at_once(put, put) == [200, 200], f"trial {trial}"
        assert LesionMark.objects.filter(reading=reading, client_id=client_id).count() == 1
    creates = AuditEvent.objects.filter(action="mark.create", target_id=str(reading.pk)).count()
    assert creates == TRIALS // 4
