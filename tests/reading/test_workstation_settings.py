"""What the workstation relies on besides images: telemetry, the study's navigation and
editing rules, the progress shown to the reader, and the statistician's readings table."""

import csv
import io
import json
import uuid

import pytest
from django.urls import reverse

from readerstudy.audit.models import AuditEvent
from readerstudy.reading.models import Answer, Reading, ReadingVisit
from readerstudy.reading.selectors import reading_telemetry
from readerstudy.studies.models import Question, Study
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def session_of_two(study):
    """One reader with one session of two readings (two cases, one condition)."""
    condition = f.ConditionFactory(study=study, label="HR-secret-label")
    f.QuestionFactory(study=study, key="overall")
    participation = f.ReaderParticipationFactory(study=study, user__username="rita", code="R1")
    session = f.ReadingSessionFactory(participation=participation)
    readings = [
        f.ReadingFactory(
            session=session, series=f.ImageSeriesFactory(case__study=study, condition=condition), position=i
        )
        for i in (1, 2)
    ]
    return participation.user, readings


def api(client, reading, method, path, payload=None):
    url = f"/api/readings/{reading.public_id}{path}"
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


def visit(client, reading, client_id, **report):
    payload = {"active_ms": 0, "first_mark_ms": None, "slices": [], "window_changes": 0, **report}
    return api(client, reading, "put", f"/visits/{client_id}", payload)


# ---- telemetry --------------------------------------------------------------------------


def test_visit_reports_are_cumulative_and_idempotent(client, session_of_two):
    user, (reading, _) = session_of_two
    client.force_login(user)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert visit(client, reading, first, active_ms=4000, slices=[3, 4], window_changes=1).status_code == 200
    # A retried or late (older) report changes nothing; a newer one grows the figures.
    visit(client, reading, first, active_ms=4000, slices=[3, 4], window_changes=1)
    visit(client, reading, first, active_ms=2000, slices=[3], window_changes=0)
    visit(client, reading, first, active_ms=9000, first_mark_ms=7000, slices=[4, 5], window_changes=2)
    stored = ReadingVisit.objects.get(reading=reading, client_id=first)
    assert (stored.active_ms, stored.first_mark_ms, stored.slices, stored.window_changes) == (
        9000,
        7000,
        [3, 4, 5],
        2,
    )
    # A second visit (a reload) adds to the totals in the readings table.
    visit(client, reading, second, active_ms=1000, slices=[0], window_changes=3)
    telemetry = reading_telemetry(reading)
    assert telemetry.visits == 2
    assert telemetry.active_seconds == 10.0
    assert telemetry.time_to_first_mark_seconds == 7.0
    assert telemetry.slices_visited == 4
    assert telemetry.window_changes == 5


def test_time_to_first_mark_counts_the_active_time_of_earlier_visits(client, session_of_two):
    user, (reading, _) = session_of_two
    client.force_login(user)
    visit(client, reading, uuid.uuid4(), active_ms=30_000, slices=[1])
    visit(client, reading, uuid.uuid4(), active_ms=20_000, first_mark_ms=5_000, slices=[2])
    assert reading_telemetry(reading).time_to_first_mark_seconds == 35.0


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ({"active_ms": -1}, "between 0 and one week"),
        ({"active_ms": "5"}, "whole numbers"),
        ({"slices": [99]}, "Slices must lie between 0 and 7"),
        ({"slices": "1,2"}, "list of slice numbers"),
        ({"first_mark_ms": 1.5}, "first_mark_ms"),
    ],
)
def test_bad_visit_reports_are_refused(client, session_of_two, report, message):
    user, (reading, _) = session_of_two
    client.force_login(user)
    response = visit(client, reading, uuid.uuid4(), **report)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not ReadingVisit.objects.exists()


def test_only_the_reader_reports_telemetry(client, session_of_two, coordinator):
    _, (reading, _) = session_of_two
    client.force_login(coordinator)
    assert visit(client, reading, uuid.uuid4(), active_ms=5).status_code == 404
    assert not ReadingVisit.objects.exists()


def test_statistician_downloads_readings_with_telemetry(
    client, study, session_of_two, statistician, coordinator
):
    user, (reading, _) = session_of_two
    client.force_login(user)
    visit(
        client, reading, uuid.uuid4(), active_ms=12_345, first_mark_ms=2_000, slices=[1, 2], window_changes=4
    )
    url = reverse("readerstudy:study_readings_csv", args=[study.slug])
    client.force_login(coordinator)
    assert client.get(url).status_code == 403
    client.force_login(statistician)
    study.status = Study.Status.LOCKED  # results are unblinded once the study is locked
    study.save()
    response = client.get(url)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2
    first = rows[0]
    assert first["reader"] == "R1" and first["position"] == "1" and first["condition"] == "HR-secret-label"
    assert first["active_seconds"] == "12.345"
    assert first["time_to_first_mark_seconds"] == "2.0"
    assert (first["slices_visited"], first["window_changes"], first["visits"]) == ("2", "4", "1")
    assert rows[1]["time_to_first_mark_seconds"] == ""


# ---- navigation and editing rules -----------------------------------------------------


def test_sequential_study_keeps_readers_in_order(client, study, session_of_two):
    study.navigation = Study.Navigation.SEQUENTIAL
    study.save()
    user, (first, second) = session_of_two
    client.force_login(user)
    # The second reading redirects to the first, and its API and images are refused.
    response = client.get(reverse("readerstudy:reading_detail", args=[second.public_id]))
    assert response.status_code == 302
    assert response.url == reverse("readerstudy:reading_detail", args=[first.public_id])
    assert api(client, second, "get", "/state").status_code == 403
    page = client.get(reverse("readerstudy:reading_detail", args=[first.public_id]))
    assert 'id="next-reading"' not in page.content.decode()
    # Once the first is submitted, the second opens and has no way back.
    client.post(
        reverse("readerstudy:reading_detail", args=[first.public_id]), {"q-overall": "3", "submit": "1"}
    )
    page = client.get(reverse("readerstudy:reading_detail", args=[second.public_id]))
    assert page.status_code == 200
    assert 'id="previous-reading"' not in page.content.decode()


def test_free_study_lets_readers_open_any_reading(client, session_of_two):
    user, (first, second) = session_of_two
    client.force_login(user)
    page = client.get(reverse("readerstudy:reading_detail", args=[second.public_id]))
    assert page.status_code == 200
    assert reverse("readerstudy:reading_detail", args=[first.public_id]) in page.content.decode()


def test_submitted_reading_stays_editable_when_the_study_allows(client, study, session_of_two):
    study.submitted_editable = True
    study.mark_scale = [{"value": 1, "label": "possible"}, {"value": 2, "label": "sure"}]
    study.save()
    f.QuestionFactory(study=study, key="mets", kind=Question.Kind.FINDING, required=True)
    user, (reading, _) = session_of_two
    client.force_login(user)
    api(client, reading, "post", "/answers", {"question": "overall", "value": 2})
    api(client, reading, "post", "/answers", {"question": "mets", "present": False})
    form = {"submit": "1", "q-overall": "2", "q-mets-present": "no"}
    client.post(reverse("readerstudy:reading_detail", args=[reading.public_id]), form)
    reading.refresh_from_db()
    assert reading.status == Reading.Status.SUBMITTED

    assert api(client, reading, "get", "/state").json()["editable"] is True
    assert api(client, reading, "post", "/answers", {"question": "overall", "value": 4}).status_code == 200
    mark = {"slice": 1, "x": 5, "y": 5, "rating": 2}
    assert api(client, reading, "put", f"/marks/{uuid.uuid4()}", mark).status_code == 200
    # A required answer cannot be taken back from a submitted reading.
    response = api(client, reading, "post", "/answers", {"question": "mets", "present": None})
    assert response.status_code == 400 and "required" in response.json()["error"]
    reading.refresh_from_db()
    assert reading.status == Reading.Status.SUBMITTED
    assert Answer.objects.get(reading=reading, question__key="overall").value == 4
    assert Answer.objects.get(reading=reading, question__key="mets").present is False
    assert AuditEvent.objects.filter(action="answer.save", target_id=str(reading.pk)).count() == 3


def test_submitted_reading_locks_by_default(client, session_of_two):
    user, (reading, _) = session_of_two
    client.force_login(user)
    client.post(
        reverse("readerstudy:reading_detail", args=[reading.public_id]), {"submit": "1", "q-overall": "2"}
    )
    assert api(client, reading, "get", "/state").json()["editable"] is False
    assert api(client, reading, "post", "/answers", {"question": "overall", "value": 4}).status_code == 409
    page = client.get(reverse("readerstudy:reading_detail", args=[reading.public_id])).content.decode()
    assert "can no longer be changed" in page


def test_reading_page_shows_progress_and_configures_the_workstation(client, session_of_two):
    user, (first, second) = session_of_two
    client.force_login(user)
    client.post(
        reverse("readerstudy:reading_detail", args=[first.public_id]), {"submit": "1", "q-overall": "2"}
    )
    response = client.get(reverse("readerstudy:reading_detail", args=[second.public_id]))
    html = response.content.decode()
    assert "Reading 2 of 2" in html
    assert "1 of 2 submitted" in html
    config = json.loads(
        html.split('id="workstation-config" type="application/json">')[1].split("</script>")[0]
    )
    assert config["reading"] == str(second.public_id)
    assert config["numSlices"] == 8 and config["startSlice"] == 4
    assert config["api"]["marks"] == f"/api/readings/{second.public_id}/marks/"
    assert config["previousUrl"] == reverse("readerstudy:reading_detail", args=[first.public_id])
    assert "HR-secret-label" not in html
