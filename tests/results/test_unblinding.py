"""The unblinding rule: results only when the study and its reference are locked, or as an
interim analysis a statistician asks for with a reason; every result names its reference version."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from readerstudy.audit.models import AuditEvent
from readerstudy.reading.models import Reading
from readerstudy.references.models import ReferenceSet
from readerstudy.results.models import AnalysisRun
from readerstudy.results.services import ResultsBlinded, analysis_run_start
from readerstudy.studies.models import Study
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(study, reader_setup):
    question = f.QuestionFactory(study=study, key="overall")
    f.AnswerFactory(reading=reader_setup["readings"][0], question=question, value=4)
    return study


def answers_url(study):
    return reverse("readerstudy:study_results_csv", args=[study.slug])


def test_results_stay_blinded_while_the_study_is_open(client, answered, statistician):
    client.force_login(statistician)
    response = client.get(answers_url(answered), follow=True)
    assert response.redirect_chain[-1][0] == reverse("readerstudy:study_results", args=[answered.slug])
    html = response.content.decode()
    assert "Results are still blinded" in html and "not locked" in html
    assert "LR-secret-label" not in html
    assert not AnalysisRun.objects.exists()


def test_an_interim_analysis_needs_a_reason_and_is_logged(client, answered, statistician, reader_setup):
    client.force_login(statistician)
    assert client.post(answers_url(answered), {"interim_reason": "  "}).status_code == 302
    assert not AnalysisRun.objects.exists()
    response = client.post(answers_url(answered), {"interim_reason": "DSMB safety look at 50% accrual"})
    assert response.status_code == 200
    run = AnalysisRun.objects.get()
    assert (
        run.interim and run.reason == "DSMB safety look at 50% accrual" and run.requested_by == statistician
    )
    assert f"-interim-run{run.pk}.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows == []  # the answered reading is not submitted: not a result yet
    event = AuditEvent.objects.get(action="analysis.interim")
    assert event.actor == statistician and event.data["reason"] == run.reason
    reading = reader_setup["readings"][0]
    reading.status, reading.submitted_at = Reading.Status.SUBMITTED, timezone.now()
    reading.save()
    response = client.post(answers_url(answered), {"interim_reason": "DSMB safety look at 50% accrual"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["condition"] == "LR-secret-label" and rows[0]["value"] == "4"


def test_locked_study_and_locked_reference_unblind_and_the_result_names_the_version(
    client, answered, statistician, reader_setup
):
    reference_set = f.ReferenceSetFactory(study=answered, source=ReferenceSet.Source.CONSENSUS)
    f.ReferenceStandardFactory(case=reader_setup["case"], reference_set=reference_set)
    answered.status = Study.Status.LOCKED
    answered.save()
    client.force_login(statistician)
    blocked = client.get(answers_url(answered), follow=True).content.decode()
    assert "The reference consensus v1 is not locked" in blocked

    reference_set.status = ReferenceSet.Status.LOCKED
    reference_set.save()
    response = client.get(answers_url(answered))
    assert response.status_code == 200
    assert response["X-Reference-Versions"] == "consensus v1"
    run = AnalysisRun.objects.get()
    assert not run.interim and list(run.reference_sets.all()) == [reference_set]
    assert response["X-Analysis-Run"] == str(run.pk)
    page = client.get(reverse("readerstudy:study_results", args=[answered.slug])).content.decode()
    assert "results are unblinded" in page and "consensus v1" in page


def test_the_newest_locked_version_is_used_by_default(answered, statistician):
    answered.status = Study.Status.LOCKED
    answered.save()
    v1 = f.ReferenceSetFactory(study=answered, version=1, status=ReferenceSet.Status.LOCKED)
    f.ReferenceSetFactory(study=answered, version=2)  # being revised, not locked
    run = analysis_run_start(study=answered, user=statistician, kind="answers.csv")
    assert list(run.reference_sets.all()) == [v1] and not run.interim


def test_only_statisticians_of_the_study_compute_results(client, answered, coordinator, reader_setup):
    for user in (coordinator, reader_setup["readers"][0], f.UserFactory(roles=["statistician"])):
        client.force_login(user)
        assert client.post(answers_url(answered), {"interim_reason": "curious"}).status_code == 403
        assert client.get(reverse("readerstudy:study_results", args=[answered.slug])).status_code == 403
    with pytest.raises(PermissionError):
        analysis_run_start(study=answered, user=coordinator, kind="answers.csv", interim_reason="x")
    with pytest.raises(ResultsBlinded):
        analysis_run_start(study=answered, user=answered.statisticians.get(), kind="answers.csv")
    assert not AnalysisRun.objects.exists()
