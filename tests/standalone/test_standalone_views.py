"""The standalone page: coordinators of the study manage it; readers, statisticians, other
coordinators and anonymous users cannot; its POSTs need the CSRF token."""

import pytest
from django.test import Client
from django.urls import reverse

from readerstudy.standalone.models import StandaloneAlgorithm, StandaloneMark
from tests import factories as f

from .conftest import MARKS_HR, RATINGS_LR, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def urls(study, algorithm):
    return {
        "index": reverse("readerstudy:standalone_index", args=[study.slug]),
        "create": reverse("readerstudy:standalone_create", args=[study.slug]),
        "import": reverse("readerstudy:standalone_import", args=[study.slug, algorithm.pk]),
        "delete": reverse("readerstudy:standalone_delete", args=[study.slug, algorithm.pk]),
    }


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_coordinator_creates_imports_and_deletes(study, coordinator, urls, algorithm):
    client = logged_in(coordinator)
    page = client.get(urls["index"])
    assert page.status_code == 200 and "CAD1" in page.content.decode()
    made = client.post(urls["create"], {"code": "CAD2", "name": "Rater", "file": upload(RATINGS_LR)})
    assert made.status_code == 302
    assert StandaloneAlgorithm.objects.get(code="CAD2").ratings.count() == 3
    imported = client.post(urls["import"], {"file": upload(MARKS_HR)}, follow=True)
    assert "Imported 3 rows for CAD1 (HR)" in imported.content.decode()
    html = imported.content.decode()
    assert "HR: 3 marks" in html and "cad.csv" in html
    again = client.post(urls["import"], {"file": upload(MARKS_HR)}, follow=True)
    assert "nothing changed" in again.content.decode()
    assert client.post(urls["delete"]).status_code == 302
    assert not StandaloneMark.objects.exists()
    detail = client.get(reverse("readerstudy:study_detail", args=[study.slug])).content.decode()
    assert urls["index"] in detail


def test_a_refused_file_shows_every_problem_and_writes_nothing(coordinator, urls):
    response = logged_in(coordinator).post(
        urls["import"], {"file": upload("case,condition,rating\nC9,LR,1\n")}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Line 2: unknown case" in html and "nothing was written" in html
    assert "was refused: nothing was saved (1 problem, listed at the form)" in html  # atop the page
    refused = logged_in(coordinator).post(urls["create"], {"code": "R 1", "name": "x"})
    assert refused.status_code == 400 and "The code must be" in refused.content.decode()


def test_others_cannot(study, statistician, urls):
    reader = f.ReaderParticipationFactory(study=study, code="R1").user
    coordinating_reader = f.UserFactory(roles=["coordinator", "reader"])
    study.coordinators.add(coordinating_reader)
    f.ReaderParticipationFactory(study=study, user=coordinating_reader, code="R2")
    elsewhere = f.UserFactory(roles=["coordinator"])
    f.StudyFactory(coordinators=[elsewhere])
    for user in (reader, coordinating_reader, statistician, elsewhere):
        client = logged_in(user)
        assert client.get(urls["index"]).status_code == 403
        for name in ("create", "import", "delete"):
            assert client.post(urls[name], {"code": "X1", "name": "x"}).status_code == 403, name
    anonymous = Client()
    for name, url in urls.items():
        response = anonymous.get(url) if name == "index" else anonymous.post(url)
        assert response.status_code == 302 and "/login" in response["Location"], name
    assert StandaloneAlgorithm.objects.count() == 1


def test_an_algorithm_of_another_study_is_not_found(coordinator, algorithm):
    other = f.StudyFactory(coordinators=[coordinator], slug="other")
    url = reverse("readerstudy:standalone_delete", args=[other.slug, algorithm.pk])
    assert logged_in(coordinator).post(url).status_code == 404
    assert StandaloneAlgorithm.objects.filter(pk=algorithm.pk).exists()


def test_posts_need_the_csrf_token(coordinator, urls):
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)
    assert client.post(urls["create"], {"code": "CAD2", "name": "x"}).status_code == 403
    assert client.post(urls["delete"]).status_code == 403
    assert StandaloneAlgorithm.objects.count() == 1


def test_the_results_page_links_to_the_import_page_when_no_algorithm_exists(study, coordinator, statistician):
    both = f.UserFactory(roles=["coordinator", "statistician"])
    study.coordinators.add(both)
    study.statisticians.add(both)
    results = reverse("readerstudy:study_results", args=[study.slug])
    link = reverse("readerstudy:standalone_index", args=[study.slug])
    assert link in logged_in(both).get(results).content.decode()
    assert link not in logged_in(statistician).get(results).content.decode()  # not a coordinator
    StandaloneAlgorithm.objects.create(study=study, code="CAD1", name="x")
    assert link not in logged_in(both).get(results).content.decode()


def test_a_locked_study_shows_no_forms(study, coordinator, urls):
    from readerstudy.studies.models import Study

    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)
    html = logged_in(coordinator).get(urls["index"]).content.decode()
    assert "can no longer change" in html and urls["create"] not in html and urls["delete"] not in html
    refused = logged_in(coordinator).post(urls["delete"], follow=True)
    assert "locked" in refused.content.decode() and StandaloneAlgorithm.objects.count() == 1
