"""Every permission rule, proven from the outside: HTTP requests as each role.

Rules (readerstudy/studies/policy.py and each domain's policy.py):
* a reader sees only their own readings, never condition labels, references,
  identities or anybody's answers;
* a statistician reads results of their studies and configures nothing;
* a coordinator configures their studies and sees no scores.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from readerstudy.reading.models import Answer, Reading
from tests import factories as f

pytestmark = pytest.mark.django_db


def client_for(client, user):
    client.force_login(user)
    return client


def study_urls(study):
    return {
        "detail": reverse("readerstudy:study_detail", args=[study.slug]),
        "identities": reverse("readerstudy:study_identities", args=[study.slug]),
        "references": reverse("readerstudy:study_references", args=[study.slug]),
        "results": reverse("readerstudy:study_results_csv", args=[study.slug]),
        "import": reverse("readerstudy:study_import", args=[study.slug]),
        "import_pacs": reverse("readerstudy:study_import_pacs", args=[study.slug]),
    }


def reading_url(reading):
    return reverse("readerstudy:reading_detail", args=[reading.public_id])


# --- anonymous -----------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_everywhere(client, study, reader_setup):
    urls = [
        reverse("readerstudy:home"),
        reverse("readerstudy:reader_sessions"),
        reading_url(reader_setup["readings"][0]),
        reverse("readerstudy:study_list"),
        *study_urls(study).values(),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


# --- readers -------------------------------------------------------------------------------------


def test_reader_sees_only_own_sessions(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    reading1, reading2 = reader_setup["readings"]
    f.ReadingSessionFactory(participation=reading2.session.participation, number=7)
    html = client_for(client, reader1).get(reverse("readerstudy:reader_sessions")).content.decode()
    assert str(reading1.public_id) in html
    assert str(reading2.public_id) not in html
    assert "Session 7" not in html


def test_reader_cannot_open_another_readers_reading(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    _, reading2 = reader_setup["readings"]
    client_for(client, reader1)
    assert client.get(reading_url(reading2)).status_code == 404
    assert client.get(reading_url(reader_setup["readings"][0])).status_code == 200


def test_reader_cannot_answer_another_readers_reading(client, study, reader_setup):
    question = f.QuestionFactory(study=study, key="overall")
    reader1, _ = reader_setup["readers"]
    _, reading2 = reader_setup["readings"]
    response = client_for(client, reader1).post(reading_url(reading2), {"q-overall": "4"})
    assert response.status_code == 404
    assert not Answer.objects.filter(question=question).exists()


def test_reader_pages_never_show_condition_labels_or_case_codes(client, study, reader_setup):
    f.QuestionFactory(study=study, key="overall")
    reader1, _ = reader_setup["readers"]
    reading1, _ = reader_setup["readings"]
    client_for(client, reader1)
    pages = [
        client.get(reverse("readerstudy:home")),
        client.get(reverse("readerstudy:reader_sessions")),
        client.get(reading_url(reading1)),
    ]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        for condition in reader_setup["conditions"]:
            assert condition.label not in html
            assert condition.code not in html
        assert reader_setup["case"].code not in html
        assert reading1.series.series_instance_uid not in html


def test_reader_cannot_see_study_pages_references_identities_or_results(client, study, reader_setup):
    reader1, _ = reader_setup["readers"]
    client_for(client, reader1)
    assert client.get(reverse("readerstudy:study_list")).status_code == 403
    for name, url in study_urls(study).items():
        assert client.get(url).status_code == 403, name


def test_reader_cannot_open_a_reading_before_its_session_opens(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    reading1, _ = reader_setup["readings"]
    session = reading1.session
    session.opens_at = timezone.now() + timedelta(days=7)
    session.save()
    client_for(client, reader1)
    assert client.get(reading_url(reading1)).status_code == 403
    page = client.get(reverse("readerstudy:reader_sessions")).content.decode()
    assert str(reading1.public_id) not in page
    assert "Opens on" in page


def test_inactive_participation_loses_access(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    reading1, _ = reader_setup["readings"]
    participation = reading1.session.participation
    participation.active = False
    participation.save()
    client_for(client, reader1)
    assert client.get(reading_url(reading1)).status_code == 404


def test_user_without_reader_role_cannot_read_even_with_a_participation(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    reader1.groups.clear()
    client_for(client, reader1)
    assert client.get(reverse("readerstudy:reader_sessions")).status_code == 403
    assert client.get(reading_url(reader_setup["readings"][0])).status_code == 404


def test_reader_cannot_use_the_admin(client, reader_setup):
    reader1, _ = reader_setup["readers"]
    response = client_for(client, reader1).get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- statisticians --------------------------------------------------------------------------------


def test_statistician_reads_results_with_condition_labels(client, study, statistician, reader_setup):
    question = f.QuestionFactory(study=study, key="overall")
    reading = reader_setup["readings"][0]
    f.AnswerFactory(reading=reading, question=question, value=4)
    # answers.csv holds the answers of submitted readings (as every result does)
    Reading.objects.filter(pk=reading.pk).update(status=Reading.Status.SUBMITTED, submitted_at=timezone.now())
    study.status = study.Status.LOCKED  # the unblinding rule: results once the study is locked
    study.save()
    response = client_for(client, statistician).get(study_urls(study)["results"])
    assert response.status_code == 200
    body = response.content.decode()
    assert "LR-secret-label" in body
    assert ",overall,4," in body


def test_statistician_configures_nothing_and_sees_no_identities(client, study, statistician):
    client_for(client, statistician)
    urls = study_urls(study)
    assert client.get(urls["detail"]).status_code == 200
    assert client.get(urls["references"]).status_code == 200
    assert client.get(urls["identities"]).status_code == 403
    assert client.get(urls["import"]).status_code == 403
    assert client.post(urls["import"], {}).status_code == 403
    assert client.get(urls["import_pacs"]).status_code == 403
    assert client.post(urls["import_pacs"], {}).status_code == 403


def test_statistician_of_another_study_sees_nothing_of_this_one(client, study):
    other = f.UserFactory(username="other-stat", roles=["statistician"])
    f.StudyFactory(statisticians=[other])
    client_for(client, other)
    for name, url in study_urls(study).items():
        assert client.get(url).status_code == 403, name
    assert study.name not in client.get(reverse("readerstudy:study_list")).content.decode()


# --- coordinators ---------------------------------------------------------------------------------


def test_coordinator_configures_but_sees_no_scores(client, study, coordinator, reader_setup):
    client_for(client, coordinator)
    urls = study_urls(study)
    for name in ("detail", "identities", "references", "import", "import_pacs"):
        assert client.get(urls[name]).status_code == 200, name
    assert client.get(urls["results"]).status_code == 403


def test_coordinator_sees_labels_that_readers_do_not(client, study, coordinator, reader_setup):
    html = client_for(client, coordinator).get(study_urls(study)["detail"]).content.decode()
    assert "LR-secret-label" in html


def test_coordinator_cannot_read(client, coordinator, reader_setup):
    client_for(client, coordinator)
    assert client.get(reverse("readerstudy:reader_sessions")).status_code == 403
    assert client.get(reading_url(reader_setup["readings"][0])).status_code == 404


def test_coordinator_of_another_study_cannot_touch_this_one(client, study):
    other = f.UserFactory(username="other-coord", roles=["coordinator"])
    f.StudyFactory(coordinators=[other])
    client_for(client, other)
    for name, url in study_urls(study).items():
        assert client.get(url).status_code == 403, name


def test_unknown_study_is_404(client, coordinator):
    client_for(client, coordinator)
    assert client.get(reverse("readerstudy:study_detail", args=["no-such-study"])).status_code == 404


def test_draft_and_locked_studies_cannot_be_read(client, study, reader_setup):
    reader1, _ = reader_setup["readers"]
    reading1, _ = reader_setup["readings"]
    client_for(client, reader1)
    for status in ("draft", "locked"):
        study.status = status
        study.save()
        assert client.get(reading_url(reading1)).status_code == 404, status
    study.status = "draft"
    study.save()
    assert "Session 1" not in client.get(reverse("readerstudy:reader_sessions")).content.decode()
