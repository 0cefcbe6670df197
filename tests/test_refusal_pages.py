"""Refusals: the site's styled pages for people, JSON ``{"error": ...}`` for the scripts' APIs.

This module is also the URL configuration of its tests that need a failing view (it adds
two to the site's URLs and takes the site's error handlers).
"""

import uuid
from datetime import timedelta

import pytest
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.test import Client
from django.urls import path, reverse
from django.utils import timezone

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401 (used by Django)
from config.urls import urlpatterns as site_urlpatterns
from readerstudy.errors import Conflict


def _fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


def _study_locked(request: HttpRequest) -> HttpResponse:
    raise Conflict("The study is locked: its results are final, so nothing in it can change.")


urlpatterns = [
    path("test-refusals/fails/", _fails),
    path("api/test-refusals/fails", _fails),
    path("test-refusals/locked/", _study_locked),
    path("api/test-refusals/locked", _study_locked),
    *site_urlpatterns,
]

READINGS_URL = reverse("readerstudy:reader_sessions")


def reading_url(reading) -> str:
    return reverse("readerstudy:reading_detail", args=[reading.public_id])


def state_url(reading) -> str:
    return reverse("readerstudy:api_reading_state", args=[reading.public_id])


def assert_site_page(html: str) -> None:
    """The page is the site's own (its layout and stylesheet), not Django's bare refusal."""
    assert "readerstudy/site.css" in html and 'class="topbar"' in html
    assert 'class="card refusal"' in html


@pytest.fixture
def closed_reading(reader_setup):
    """Reader 1's reading in a session that opens in a week."""
    reading, _ = reader_setup["readings"]
    reading.session.opens_at = timezone.now() + timedelta(days=7)
    reading.session.save()
    return reading


@pytest.mark.django_db
def test_reading_of_a_session_not_yet_open_says_why_and_links_to_my_readings(client, closed_reading):
    client.force_login(closed_reading.session.participation.user)
    response = client.get(reading_url(closed_reading))
    html = response.content.decode()
    assert response.status_code == 403
    assert_site_page(html)
    assert "This session is not open (see your reading sessions for when it opens)." in html
    assert f'href="{READINGS_URL}"' in html and "My readings" in html


@pytest.mark.django_db
def test_someone_elses_reading_is_a_404_that_gives_nothing_away(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    _, reading2 = reader_setup["readings"]
    client.force_login(reader1)
    other = client.get(reading_url(reading2))
    missing = client.get(reverse("readerstudy:reading_detail", args=[uuid.uuid4()]))
    assert other.status_code == missing.status_code == 404
    html = other.content.decode()
    assert_site_page(html)
    assert "does not exist, or it is not yours" in html
    assert f'href="{READINGS_URL}"' in html
    assert str(reading2.public_id) not in html
    for secret in (reading2.series.condition.label, reading2.series.case.code, "reader2"):
        assert secret not in html
    # Someone else's reading and no reading at all read the same (apart from the CSRF token).
    assert html.split("csrfmiddlewaretoken")[0] == missing.content.decode().split("csrfmiddlewaretoken")[0]


@pytest.mark.django_db
def test_api_refusals_are_json_with_their_status(client, reader_setup, closed_reading):
    reader1, _ = reader_setup["readers"]
    _, reading2 = reader_setup["readings"]
    client.force_login(reader1)

    forbidden = client.get(state_url(closed_reading))
    assert forbidden.status_code == 403 and forbidden["Content-Type"] == "application/json"
    assert forbidden.json() == {
        "error": "This session is not open (see your reading sessions for when it opens)."
    }

    for url in (
        state_url(reading2),
        "/api/no-such-endpoint",
        reverse("readerstudy:wado_uri", args=[reading2.public_id]) + "?requestType=WADO",
    ):
        response = client.get(url)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", url
        assert response.json() == {"error": "This page does not exist, or it is not yours."}, url

    not_allowed = client.delete(state_url(closed_reading))
    assert not_allowed.status_code == 405 and not_allowed["Allow"] == "GET"
    assert not_allowed.json() == {"error": "DELETE is not allowed here."}


@pytest.mark.django_db
def test_api_write_without_csrf_token_is_refused_as_json(reader_setup):
    reader1, _ = reader_setup["readers"]
    reading1, _ = reader_setup["readings"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader1)
    url = reverse("readerstudy:api_position", args=[reading1.public_id])
    response = client.post(url, {"slice": 2}, content_type="application/json")
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert "reload the page" in response.json()["error"]
    page = client.post(reverse("logout"))
    assert page.status_code == 403 and "This form has expired" in page.content.decode()


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_conflict_is_a_409_page_with_its_message_or_json_on_the_api(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    client.force_login(reader1)
    message = "The study is locked: its results are final, so nothing in it can change."
    page = client.get("/test-refusals/locked/")
    assert page.status_code == 409
    assert_site_page(page.content.decode())
    assert message in page.content.decode() and f'href="{READINGS_URL}"' in page.content.decode()
    api = client.get("/api/test-refusals/locked")
    assert api.status_code == 409 and api.json() == {"error": message}


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_server_error_is_the_styled_500_page_or_json_on_the_api(reader_setup):
    reader1, _ = reader_setup["readers"]
    client = Client(raise_request_exception=False)
    client.force_login(reader1)
    page = client.get("/test-refusals/fails/")
    assert page.status_code == 500
    html = page.content.decode()
    assert_site_page(html)
    assert "Something went wrong" in html and f'href="{READINGS_URL}"' in html
    assert "a bug in a view" not in html and "RuntimeError" not in html
    api = client.get("/api/test-refusals/fails")
    assert api.status_code == 500 and api["Content-Type"] == "application/json"
    assert "went wrong" in api.json()["error"] and "bug" not in api.json()["error"]


def test_500_page_renders_without_request_or_database():
    """No ``django_db`` mark: any query while rendering would fail this test."""
    html = render_to_string("500.html")
    assert_site_page(html)
    assert "Something went wrong" in html
