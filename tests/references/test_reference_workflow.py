"""The reference workflow end to end, through the HTTP views: two reviewers draft the same case,
they disagree, the adjudicator settles it, the coordinator locks the set, and an analysis names
the locked version."""

import re
import uuid

import pytest
from django.urls import reverse

from readerstudy.references.models import ReferenceSet, ReferenceStandard
from readerstudy.results.services import analysis_run_start
from readerstudy.studies.models import Study
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting(study):
    hr = f.ConditionFactory(study=study, label="HR", order=0)
    lr = f.ConditionFactory(study=study, label="LR", order=1)
    f.QuestionFactory(study=study, key="tear", text="Meniscal tear", kind="finding", scale=[])
    case = f.CaseFactory(study=study, code="KNEE-7")
    f.ImageSeriesFactory(case=case, condition=lr)
    f.ImageSeriesFactory(case=case, condition=hr)
    reader = f.ReaderParticipationFactory(study=study, user__username="blinded-reader").user
    return {
        "case": case,
        "rev1": f.UserFactory(username="dr-ames"),
        "rev2": f.UserFactory(username="dr-bell"),
        "adj": f.UserFactory(username="dr-chen"),
        "reader": reader,
    }


def draft_as(client, user, reference_set, case, *, lesions, tear_grade):
    """The reviewer starts the case's draft, PUTs lesions, fills in the form and submits."""
    client.force_login(user)
    cases_url = reverse("readerstudy:reference_cases", args=[reference_set.pk])
    assert case.code in client.get(cases_url).content.decode()
    started = client.post(cases_url, {"case": case.pk})
    assert started.status_code == 302
    draft_url = started["Location"]
    page = client.get(draft_url)
    assert page.status_code == 200
    public_id = draft_url.rstrip("/").rsplit("/", 1)[1]
    for slice_index, x, y, size, kind in lesions:
        url = reverse("readerstudy:api_reference_lesion", args=[public_id, uuid.uuid4()])
        body = {"slice": slice_index, "x": x, "y": y, "size_mm": size, "lesion_type": kind}
        response = client.put(url, data=body, content_type="application/json")
        assert response.status_code == 200, response.content
    form = {"abnormal": "yes", "f-tear-present": "yes", "f-tear-grade": str(tear_grade), "submit": "1"}
    submitted = client.post(draft_url, form)
    assert submitted.status_code == 302 and submitted["Location"] == cases_url
    draft = ReferenceStandard.objects.get(public_id=public_id)
    assert draft.author == user and draft.series.condition.label == "HR"
    return draft


def test_two_drafts_a_discrepancy_an_adjudication_and_a_locked_version_that_analyses_name(
    client, study, coordinator, statistician, setting
):
    case = setting["case"]
    # The coordinator creates a consensus set with two reviewers and an adjudicator.
    client.force_login(coordinator)
    response = client.post(
        reverse("readerstudy:reference_set_create", args=[study.slug]),
        {
            "source": "consensus",
            "reviewers": [setting["rev1"].pk, setting["rev2"].pk],
            "adjudicator": setting["adj"].pk,
        },
    )
    assert response.status_code == 302
    reference_set = ReferenceSet.objects.get(study=study)
    assert reference_set.name == "consensus v1"

    # Both mark the same lesion (within tolerance); only the first marks a second one, and
    # they grade the tear differently.
    first = draft_as(
        client,
        setting["rev1"],
        reference_set,
        case,
        lesions=[(3, 20.0, 30.0, 8.0, "metastasis"), (5, 50.0, 12.0, 4.0, "cyst")],
        tear_grade=2,
    )
    second = draft_as(
        client,
        setting["rev2"],
        reference_set,
        case,
        lesions=[(3, 21.0, 30.0, 9.0, "metastasis")],
        tear_grade=3,
    )
    assert first.submitted_at and second.submitted_at
    # A reviewer never opens another reviewer's draft.
    assert client.get(reverse("readerstudy:reference_draft", args=[first.public_id])).status_code == 404

    # The discrepancy view lists both discrepancies with the reviewers' options.
    client.force_login(setting["adj"])
    url = reverse("readerstudy:reference_discrepancies", args=[reference_set.pk, case.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    keys = re.findall(r'name="d-([^"]+)"', html)
    assert sorted(set(keys)) == ["finding:tear", "lesion:2"]
    assert "present, grade 2" in html and "present, grade 3" in html and "no lesion" in html
    assert "dr-ames" in html and "dr-bell" in html
    assert "marked in 1 of 2 drafts" in html
    drafts_shown = re.search(r'name="drafts" value="([^"]*)"', html).group(1)

    # Undecided: refused, nothing written.
    response = client.post(url, {"drafts": drafts_shown, "d-finding:tear": "present-grade-3"}, follow=True)
    assert "still open: lesion:2" in response.content.decode()
    assert not reference_set.standards.filter(kind="final").exists()

    # Decided: the final holds the agreed lesion, the kept one and the chosen grade.
    response = client.post(
        url, {"drafts": drafts_shown, "d-finding:tear": "present-grade-3", "d-lesion:2": f"from:{first.pk}"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("readerstudy:reference_final", args=[reference_set.pk, case.pk])
    final = reference_set.standards.get(kind="final", case=case)
    assert final.is_abnormal is True
    lesions = {(lesion.lesion_type, round(lesion.size_mm, 1)) for lesion in final.lesions.all()}
    assert lesions == {("metastasis", 8.5), ("cyst", 4.0)}
    assert [(x.key, x.present, x.grade) for x in final.findings.all()] == [("tear", True, 3)]

    # The coordinator locks the set; its provenance names both drafts and the adjudicator.
    client.force_login(coordinator)
    response = client.post(reverse("readerstudy:reference_set_lock", args=[reference_set.pk]), follow=True)
    assert "consensus v1 is locked" in response.content.decode()
    reference_set.refresh_from_db()
    assert reference_set.locked and reference_set.locked_by == coordinator
    entry = reference_set.provenance["cases"]["KNEE-7"]
    assert {d["id"] for d in entry["drafts"]} == {first.pk, second.pk}
    assert {d["reviewer"]["username"] for d in entry["drafts"]} == {"dr-ames", "dr-bell"}
    assert entry["adjudication"]["by"]["username"] == "dr-chen"
    assert entry["adjudication"]["decisions"] == {
        "finding:tear": "present-grade-3",
        "lesion:2": f"from:{first.pk}",
    }
    assert reference_set.provenance["locked_by"]["username"] == "coord"

    # Locked: the reviewers' pages and API are gone, the final is readable by the statistician.
    client.force_login(setting["rev1"])
    lesion_url = reverse("readerstudy:api_reference_lesion", args=[first.public_id, uuid.uuid4()])
    assert client.delete(lesion_url).status_code == 404
    client.force_login(statistician)
    final_page = client.get(reverse("readerstudy:reference_final", args=[reference_set.pk, case.pk]))
    assert final_page.status_code == 200 and "dr-chen" in final_page.content.decode()

    # The reader of the study saw none of it.
    client.force_login(setting["reader"])
    assert client.get(reverse("readerstudy:study_references", args=[study.slug])).status_code == 403
    assert client.get(url).status_code == 403

    # An analysis names the locked version.
    study.status = Study.Status.LOCKED
    study.save(update_fields=["status"])
    run = analysis_run_start(
        study=study, user=statistician, kind="answers.csv", reference_sets=[reference_set]
    )
    assert list(run.reference_sets.all()) == [reference_set]
    assert not run.interim
    assert [s.name for s in run.reference_sets.all()] == ["consensus v1"]
