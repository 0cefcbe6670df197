"""The reference standard: services (sets, drafts, adjudication, locking, CSV import) and who
may reach which page. Readers of a study never reach any of it."""

import io
import re
from types import SimpleNamespace

import pydicom
import pytest
from django.urls import reverse

from readerstudy.audit.models import AuditEvent
from readerstudy.imaging import blinding
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.reading.services import viewer_patient_position
from readerstudy.references import services as svc
from readerstudy.references.models import ReferenceFinding, ReferenceSet, ReferenceStandard
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.django_db


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def reader(study):
    """An active reader of the study."""
    return f.ReaderParticipationFactory(study=study, user__username="studyreader").user


def draft_of(reference_set, case, reviewer):
    return svc.reference_draft_get_or_create(reference_set=reference_set, case=case, reviewer=reviewer)[0]


def complete_draft(draft, *, abnormal=True, tear=(True, 2), lesions=((3, 20.0, 30.0, 8.0, "metastasis"),)):
    for n, (slice_index, x, y, size, kind) in enumerate(lesions):
        svc.reference_lesion_save(
            draft=draft,
            client_id=f"00000000-0000-0000-0000-{n + 1:012d}",
            slice_index=slice_index,
            x=x,
            y=y,
            size_mm=size,
            lesion_type=kind,
            actor=draft.author,
        )
    svc.reference_draft_findings_save(
        draft=draft, is_abnormal=abnormal, findings={"tear": tear}, actor=draft.author
    )
    return svc.reference_draft_submit(draft=draft, actor=draft.author)


# ----------------------------------------------------------------------------- sets


def test_versions_count_per_study_and_source(study, coordinator, people, cases):
    first = svc.reference_set_create(
        study=study, source="consensus", actor=coordinator, reviewers=[people.rev1, people.rev2]
    )
    second = svc.reference_set_create(
        study=study, source="consensus", actor=coordinator, reviewers=[people.rev1, people.rev2]
    )
    follow_up = svc.reference_set_create(
        study=study, source="follow_up", actor=coordinator, reviewers=[people.rev1]
    )
    assert (first.version, second.version, follow_up.version) == (1, 2, 1)
    assert second.name == "consensus v2"
    assert first.created_by == coordinator and first.status == ReferenceSet.Status.OPEN
    assert AuditEvent.objects.filter(action="reference_set.create", target_id=str(first.pk)).exists()


def test_a_consensus_needs_two_reviewers(study, coordinator, people):
    with pytest.raises(svc.ReferenceInvalid, match="at least two reviewers"):
        svc.reference_set_create(study=study, source="consensus", actor=coordinator, reviewers=[people.rev1])


def test_readers_of_the_study_may_not_review_or_adjudicate(study, coordinator, people, reader):
    with pytest.raises(
        svc.ReviewerIsReader, match=r"studyreader reads in this study.*readers never see references"
    ):
        svc.reference_set_create(
            study=study, source="consensus", actor=coordinator, reviewers=[people.rev1, reader]
        )
    with pytest.raises(svc.ReviewerIsReader):
        svc.reference_set_create(
            study=study,
            source="consensus",
            actor=coordinator,
            reviewers=[people.rev1, people.rev2],
            adjudicator=reader,
        )
    assert not ReferenceSet.objects.exists()


# ----------------------------------------------------------------------------- drafts


def test_draft_is_made_on_the_hr_series_once(consensus, cases, people):
    draft, created = svc.reference_draft_get_or_create(
        reference_set=consensus, case=cases[0], reviewer=people.rev1
    )
    again, created_again = svc.reference_draft_get_or_create(
        reference_set=consensus, case=cases[0], reviewer=people.rev1
    )
    assert created and not created_again and again == draft
    assert draft.series.condition.label == "HR"
    assert draft.kind == ReferenceStandard.Kind.DRAFT and draft.author == people.rev1


def test_without_hr_the_highest_order_condition_is_drafted_on(study):
    case = f.CaseFactory(study=study)
    for label, order in (("LR", 0), ("SR", 2), ("SR-lite", 1)):
        f.ImageSeriesFactory(case=case, condition=f.ConditionFactory(study=study, label=label, order=order))
    assert svc.reference_series_choose(case).condition.label == "SR"
    with pytest.raises(svc.ReferenceInvalid, match="no images"):
        svc.reference_series_choose(f.CaseFactory(study=study))


def test_only_reviewers_draft_and_a_reviewer_who_becomes_a_reader_stops(
    study, consensus, cases, coordinator, people
):
    with pytest.raises(svc.ReferenceInvalid, match="not a reviewer"):
        svc.reference_draft_get_or_create(reference_set=consensus, case=cases[0], reviewer=coordinator)
    f.ReaderParticipationFactory(study=study, user=people.rev2)
    with pytest.raises(svc.ReviewerIsReader):
        svc.reference_draft_get_or_create(reference_set=consensus, case=cases[0], reviewer=people.rev2)


def test_lesion_put_is_idempotent_and_stores_patient_coordinates(consensus, cases, people):
    draft = draft_of(consensus, cases[0], people.rev1)
    kwargs = dict(
        draft=draft,
        client_id="11111111-1111-1111-1111-111111111111",
        slice_index=3,
        x=20.0,
        y=30.0,
        size_mm=8.0,
        lesion_type=" metastasis ",
        actor=people.rev1,
    )
    lesion, created = svc.reference_lesion_save(**kwargs)
    assert created and lesion.label == "L1" and lesion.lesion_type == "metastasis"
    assert (lesion.x_mm, lesion.y_mm, lesion.z_mm) == pytest.approx(
        viewer_patient_position(draft.series, 3, 20.0, 30.0)
    )
    # The workstation's (20, 30) is measured from the image's corner: pixel index (19.5, 29.5).
    assert (lesion.x_mm, lesion.y_mm, lesion.z_mm) == pytest.approx((9.5, 49.5, 11.0))
    events = AuditEvent.objects.filter(action__startswith="reference.lesion").count()
    assert svc.reference_lesion_save(**kwargs) == (lesion, False)
    assert AuditEvent.objects.filter(action__startswith="reference.lesion").count() == events
    moved, created = svc.reference_lesion_save(**{**kwargs, "size_mm": 9.5})
    assert not created and moved.size_mm == 9.5 and moved.label == "L1"
    other, _ = svc.reference_lesion_save(**{**kwargs, "client_id": "22222222-2222-2222-2222-222222222222"})
    assert other.label == "L2"
    assert svc.reference_lesion_delete(draft=draft, client_id=other.client_id, actor=people.rev1)
    assert not svc.reference_lesion_delete(draft=draft, client_id=other.client_id, actor=people.rev1)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"slice_index": 8}, "outside the series"),
        ({"x": 64.0}, "outside the image"),
        ({"size_mm": 0.0}, "diameter"),
        ({"size_mm": float("nan")}, "diameter"),
        ({"lesion_type": "x" * 101}, "at most 100"),
    ],
)
def test_lesions_outside_the_image_or_without_a_diameter_are_refused(
    consensus, cases, people, change, message
):
    draft = draft_of(consensus, cases[0], people.rev1)
    values = dict(slice_index=3, x=20.0, y=30.0, size_mm=8.0, lesion_type="")
    with pytest.raises(svc.ReferenceInvalid, match=message):
        svc.reference_lesion_save(
            draft=draft,
            client_id="11111111-1111-1111-1111-111111111111",
            actor=people.rev1,
            **{**values, **change},
        )


def test_findings_are_the_studys_finding_questions_and_replace_the_previous_ones(consensus, cases, people):
    draft = draft_of(consensus, cases[0], people.rev1)
    with pytest.raises(svc.ReferenceInvalid, match="not a finding question"):
        svc.reference_draft_findings_save(
            draft=draft, is_abnormal=True, findings={"nope": (True, None)}, actor=people.rev1
        )
    with pytest.raises(svc.ReferenceInvalid, match="absent finding takes no grade"):
        svc.reference_draft_findings_save(
            draft=draft, is_abnormal=True, findings={"tear": (False, 2)}, actor=people.rev1
        )
    svc.reference_draft_findings_save(
        draft=draft, is_abnormal=True, findings={"tear": (True, 1)}, actor=people.rev1
    )
    assert [(x.key, x.present, x.grade) for x in draft.findings.all()] == [("tear", True, 1)]
    svc.reference_draft_findings_save(draft=draft, is_abnormal=False, findings={}, actor=people.rev1)
    draft.refresh_from_db()
    assert draft.is_abnormal is False and not draft.findings.exists()


def test_a_draft_is_submitted_only_when_complete_and_then_never_changes(consensus, cases, people):
    draft = draft_of(consensus, cases[0], people.rev1)
    with pytest.raises(svc.DraftIncomplete) as caught:
        svc.reference_draft_submit(draft=draft, actor=people.rev1)
    assert caught.value.problems == [
        "Say whether the case is abnormal.",
        "Record 'Meniscal tear' as present or absent.",
    ]
    svc.reference_lesion_save(
        draft=draft,
        client_id="11111111-1111-1111-1111-111111111111",
        slice_index=1,
        x=1.0,
        y=1.0,
        size_mm=5.0,
        lesion_type="",
        actor=people.rev1,
    )
    svc.reference_draft_findings_save(
        draft=draft, is_abnormal=False, findings={"tear": (False, None)}, actor=people.rev1
    )
    with pytest.raises(svc.DraftIncomplete, match="A normal case has no lesions"):
        svc.reference_draft_submit(draft=draft, actor=people.rev1)
    svc.reference_draft_findings_save(
        draft=draft, is_abnormal=True, findings={"tear": (False, None)}, actor=people.rev1
    )
    submitted = svc.reference_draft_submit(draft=draft, actor=people.rev1)
    assert submitted.submitted_at is not None
    assert svc.reference_draft_submit(draft=draft, actor=people.rev1).submitted_at == submitted.submitted_at
    with pytest.raises(svc.DraftNotEditable):
        svc.reference_lesion_save(
            draft=draft,
            client_id="22222222-2222-2222-2222-222222222222",
            slice_index=1,
            x=1.0,
            y=1.0,
            size_mm=5.0,
            lesion_type="",
            actor=people.rev1,
        )
    with pytest.raises(svc.DraftNotEditable):
        svc.reference_lesion_delete(
            draft=draft, client_id="11111111-1111-1111-1111-111111111111", actor=people.rev1
        )
    with pytest.raises(svc.DraftNotEditable):
        svc.reference_draft_findings_save(draft=draft, is_abnormal=False, findings={}, actor=people.rev1)


# ----------------------------------------------------------------------------- adjudication and locking


def test_adjudication_waits_for_every_draft_and_every_decision(consensus, cases, people):
    case = cases[0]
    one = complete_draft(draft_of(consensus, case, people.rev1), tear=(True, 2))
    two = draft_of(consensus, case, people.rev2)
    with pytest.raises(svc.AdjudicationInvalid, match="still drafting: rev2"):
        svc.reference_adjudicate(reference_set=consensus, case=case, decisions={}, actor=people.adj)
    complete_draft(
        two, tear=(True, 3), lesions=((3, 20.5, 30.0, 8.5, "Metastasis"), (5, 50.0, 10.0, 4.0, "cyst"))
    )
    with pytest.raises(svc.AdjudicationInvalid, match="still open: finding:tear, lesion:"):
        svc.reference_adjudicate(reference_set=consensus, case=case, decisions={}, actor=people.adj)
    from readerstudy.references.selectors import reference_discrepancies

    result = reference_discrepancies(consensus, case)
    keys = [v.item.key for v in result.discrepancies]
    lesion_key = next(k for k in keys if k.startswith("lesion:"))
    assert keys == ["finding:tear", lesion_key]
    final = svc.reference_adjudicate(
        reference_set=consensus,
        case=case,
        decisions={"finding:tear": "present-grade-2", lesion_key: "none"},
        actor=people.adj,
    )
    assert final.kind == ReferenceStandard.Kind.FINAL and final.author is None and final.is_abnormal is True
    (lesion,) = final.lesions.all()
    assert (
        lesion.label == "L1" and lesion.size_mm == pytest.approx(8.25) and lesion.lesion_type == "metastasis"
    )
    assert [(x.key, x.present, x.grade) for x in final.findings.all()] == [("tear", True, 2)]
    # Deciding again replaces the final.
    again = svc.reference_adjudicate(
        reference_set=consensus,
        case=case,
        decisions={"finding:tear": "present-grade-3", lesion_key: f"from:{two.pk}"},
        actor=people.adj,
    )
    assert again.pk == final.pk and again.lesions.count() == 2
    assert ReferenceFinding.objects.get(reference=again).grade == 3
    record = ReferenceSet.objects.get(pk=consensus.pk).provenance["adjudications"]["C1"]
    assert record["by"]["username"] == "adj" and record["drafts"] == sorted([one.pk, two.pk])
    assert record["decisions"] == {"finding:tear": "present-grade-3", lesion_key: f"from:{two.pk}"}


def test_locking_needs_every_draft_submitted_and_adjudicated(consensus, cases, people, coordinator):
    case = cases[0]
    complete_draft(draft_of(consensus, case, people.rev1))
    pending = draft_of(consensus, case, people.rev2)
    with pytest.raises(svc.SetNotLockable) as caught:
        svc.reference_set_lock(reference_set=consensus, actor=coordinator)
    assert caught.value.problems == [
        "Case C1: rev2 has not submitted the draft.",
        "Case C1 has no final version yet: adjudicate it.",
        "No case has a final version.",
    ]
    pending.delete()
    svc.reference_adjudicate(reference_set=consensus, case=case, decisions={}, actor=people.adj)
    # A draft started after the adjudication makes the final stale.
    complete_draft(draft_of(consensus, case, people.rev2))
    with pytest.raises(svc.SetNotLockable, match="drafts changed since it was adjudicated"):
        svc.reference_set_lock(reference_set=consensus, actor=coordinator)
    svc.reference_adjudicate(reference_set=consensus, case=case, decisions={}, actor=people.adj)
    locked = svc.reference_set_lock(reference_set=consensus, actor=coordinator)
    assert locked.locked and locked.locked_by == coordinator and locked.locked_at is not None
    provenance = locked.provenance
    assert provenance["locked_by"]["username"] == "coord"
    assert "adjudications" not in provenance
    assert [d["reviewer"]["username"] for d in provenance["cases"]["C1"]["drafts"]] == ["rev1", "rev2"]
    assert all(d["submitted_at"] for d in provenance["cases"]["C1"]["drafts"])
    assert provenance["cases"]["C1"]["adjudication"]["by"]["username"] == "adj"
    assert provenance["adjudicator"]["username"] == "adj"
    assert AuditEvent.objects.filter(action="reference_set.lock", target_id=str(locked.pk)).exists()


def test_a_locked_set_never_changes_a_change_is_a_new_version(study, consensus, cases, people, coordinator):
    case = cases[0]
    draft = complete_draft(draft_of(consensus, case, people.rev1))
    svc.reference_adjudicate(reference_set=consensus, case=case, decisions={}, actor=people.adj)
    svc.reference_set_lock(reference_set=consensus, actor=coordinator)
    writes = [
        lambda: svc.reference_draft_get_or_create(
            reference_set=consensus, case=cases[1], reviewer=people.rev2
        ),
        lambda: svc.reference_lesion_save(
            draft=draft,
            client_id="33333333-3333-3333-3333-333333333333",
            slice_index=1,
            x=1.0,
            y=1.0,
            size_mm=5.0,
            lesion_type="",
            actor=people.rev1,
        ),
        lambda: svc.reference_lesion_delete(
            draft=draft, client_id="00000000-0000-0000-0000-000000000001", actor=people.rev1
        ),
        lambda: svc.reference_draft_findings_save(
            draft=draft, is_abnormal=False, findings={}, actor=people.rev1
        ),
        lambda: svc.reference_draft_submit(draft=draft, actor=people.rev1),
        lambda: svc.reference_adjudicate(reference_set=consensus, case=case, decisions={}, actor=people.adj),
        lambda: svc.reference_set_lock(reference_set=consensus, actor=coordinator),
    ]
    for write in writes:
        with pytest.raises(svc.ReferenceLocked, match="consensus v1 is locked"):
            write()
    assert draft.lesions.count() == 1
    following = svc.reference_set_create(
        study=study, source="consensus", actor=coordinator, reviewers=[people.rev1, people.rev2]
    )
    assert following.name == "consensus v2" and not following.locked


# ----------------------------------------------------------------------------- CSV import

GOOD_CSV = (
    "\ufeffCase,Finding,Present,Grade\n"  # a byte order mark, as spreadsheet programs write
    "C1,medial_meniscus,Yes,2\n"
    "C1,acl,absent,\n"
    "C2,acl,1,\n"
    "C2,medial_meniscus,FALSE,\n"
)


def upload(text: str | bytes, name: str = "arthroscopy.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_import_of_a_good_csv_makes_a_locked_version_with_provenance(study, cases, coordinator):
    reference_set = svc.reference_import_csv(
        study=study, source="arthroscopy", file=upload(GOOD_CSV), actor=coordinator
    )
    assert reference_set.locked and reference_set.name == "arthroscopy v1"
    assert reference_set.locked_by == coordinator
    imported = reference_set.provenance["import"]
    assert imported["file"] == "arthroscopy.csv" and imported["rows"] == 4 and len(imported["sha256"]) == 64
    findings = {
        (x.reference.case.code, x.key): (x.present, x.grade)
        for x in ReferenceFinding.objects.filter(reference__reference_set=reference_set)
    }
    assert findings == {
        ("C1", "medial_meniscus"): (True, 2),
        ("C1", "acl"): (False, None),
        ("C2", "acl"): (True, None),
        ("C2", "medial_meniscus"): (False, None),
    }
    assert set(reference_set.standards.values_list("kind", flat=True)) == {"final"}
    # The same file again is refused; another file is the next version.
    with pytest.raises(svc.ReferenceImportInvalid, match="already imported as arthroscopy v1"):
        svc.reference_import_csv(study=study, source="arthroscopy", file=upload(GOOD_CSV), actor=coordinator)
    second = svc.reference_import_csv(
        study=study,
        source="arthroscopy",
        file=upload("case,finding,present\nC1,acl,yes\n"),
        actor=coordinator,
    )
    assert second.version == 2


def test_a_bad_csv_lists_every_bad_line_and_writes_nothing(study, cases, coordinator):
    bad = (
        "case,finding,present,grade\n"
        "C1,acl,yes,1\n"
        "C9,acl,yes,\n"
        "C1,medial meniscus,yes,\n"
        "C2,acl,maybe,\n"
        "C2,pcl,no,3\n"
        "C2,lcl,yes,high\n"
        "C1,acl,no,\n"
        "C2,mcl,yes,,extra\n"
    )
    with pytest.raises(svc.ReferenceImportInvalid) as caught:
        svc.reference_import_csv(study=study, source="arthroscopy", file=upload(bad), actor=coordinator)
    assert caught.value.errors == [
        "Line 3: unknown case 'C9'.",
        "Line 4: finding 'medial meniscus' is not a key (letters, digits, - and _).",
        "Line 5: present must be yes/no, 1/0, true/false or present/absent, not 'maybe'.",
        "Line 6: an absent finding takes no grade.",
        "Line 7: grade must be a whole number, not 'high'.",
        "Line 8: case C1 finding acl appears again (first on line 2).",
        "Line 9: more cells than columns.",
    ]
    assert not ReferenceSet.objects.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("case,structure,present\nC1,acl,yes\n", r"lacks the column\(s\) finding"),
        ("case,finding,present\n", "no rows"),
        ("case,finding,present\nC1,acl,yes\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_csv_without_the_columns_rows_or_encoding_is_refused(study, cases, coordinator, content, message):
    with pytest.raises(svc.ReferenceImportInvalid, match=message):
        svc.reference_import_csv(study=study, source="arthroscopy", file=upload(content), actor=coordinator)


# ----------------------------------------------------------------------------- pages: who may reach what


def urls_of(reference_set, case, draft=None):
    study = reference_set.study
    urls = {
        "overview": ("get", reverse("readerstudy:study_references", args=[study.slug])),
        "create": ("post", reverse("readerstudy:reference_set_create", args=[study.slug])),
        "import": ("post", reverse("readerstudy:reference_import", args=[study.slug])),
        "lock": ("post", reverse("readerstudy:reference_set_lock", args=[reference_set.pk])),
        "cases": ("get", reverse("readerstudy:reference_cases", args=[reference_set.pk])),
        "start": ("post", reverse("readerstudy:reference_cases", args=[reference_set.pk])),
        "discrepancies": (
            "get",
            reverse("readerstudy:reference_discrepancies", args=[reference_set.pk, case.pk]),
        ),
        "adjudicate": (
            "post",
            reverse("readerstudy:reference_discrepancies", args=[reference_set.pk, case.pk]),
        ),
        "final": ("get", reverse("readerstudy:reference_final", args=[reference_set.pk, case.pk])),
    }
    if draft is not None:
        lesion = reverse(
            "readerstudy:api_reference_lesion", args=[draft.public_id, "11111111-1111-1111-1111-111111111111"]
        )
        series = draft.series
        study_uid = blinding.reading_uid(draft, series.study_instance_uid)
        series_uid = blinding.reading_uid(draft, series.series_instance_uid)
        root = reverse("readerstudy:draft_wado_uri", args=[draft.public_id]).removesuffix("wado")
        urls |= {
            "draft": ("get", reverse("readerstudy:reference_draft", args=[draft.public_id])),
            "draft-save": ("post", reverse("readerstudy:reference_draft", args=[draft.public_id])),
            "state": ("get", reverse("readerstudy:api_reference_draft_state", args=[draft.public_id])),
            "lesion-put": ("put", lesion),
            "lesion-delete": ("delete", lesion),
            "qido": ("get", f"{root}studies/{study_uid}/series/{series_uid}/instances"),
            "metadata": ("get", f"{root}studies/{study_uid}/series/{series_uid}/metadata"),
            "wado": (
                "get",
                f"{root}wado?requestType=WADO&studyUID={study_uid}&seriesUID={series_uid}&objectUID=1.2",
            ),
        }
    return urls


def fetch(client, method, url):
    if method == "put":
        return client.put(
            url, data={"slice": 1, "x": 1, "y": 1, "size_mm": 4}, content_type="application/json"
        )
    return getattr(client, method)(url)


@pytest.fixture
def drafted(consensus, cases, people):
    """A case with a final (adjudicated from rev1's submitted draft) and rev2's open draft."""
    complete_draft(draft_of(consensus, cases[0], people.rev1))
    svc.reference_adjudicate(reference_set=consensus, case=cases[0], decisions={}, actor=people.adj)
    return SimpleNamespace(case=cases[0], draft=draft_of(consensus, cases[1], people.rev2))


def test_readers_of_the_study_reach_no_reference_page_or_data(client, consensus, drafted, reader):
    client.force_login(reader)
    for name, (method, url) in urls_of(consensus, drafted.case, drafted.draft).items():
        assert fetch(client, method, url).status_code in (403, 404), name
    mine = client.get(reverse("readerstudy:reference_mine"))
    assert mine.status_code == 200
    assert consensus.study.name not in mine.content.decode()


def test_a_reader_who_was_made_a_reviewer_still_reaches_nothing(client, study, consensus, drafted, people):
    f.ReaderParticipationFactory(study=study, user=people.rev2)
    client.force_login(people.rev2)
    for name, (method, url) in urls_of(consensus, drafted.case, drafted.draft).items():
        assert fetch(client, method, url).status_code in (403, 404), name
    page = client.get(reverse("readerstudy:reference_mine")).content.decode()
    # The page's random CSRF tokens may contain "C1" by chance; the case code must not appear.
    assert "C1" not in re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)


def test_a_coordinator_who_reads_in_the_study_sees_no_reference(client, study, consensus, coordinator):
    f.ReaderParticipationFactory(study=study, user=coordinator)
    client.force_login(coordinator)
    assert client.get(reverse("readerstudy:study_references", args=[study.slug])).status_code == 403


EXPECTED = {
    # view: statuses for coordinator, statistician, adjudicator, reviewer (not the draft's), draft's reviewer
    "overview": (200, 200, 403, 403, 403),
    "create": (400, 403, 403, 403, 403),
    "import": (400, 403, 403, 403, 403),
    "cases": (403, 403, 403, 200, 200),
    "discrepancies": (200, 403, 200, 403, 403),
    "final": (200, 200, 200, 403, 403),
    "draft": (404, 404, 404, 404, 200),
    "state": (404, 404, 404, 404, 200),
    "lesion-put": (404, 404, 404, 404, 200),
    "metadata": (404, 404, 404, 404, 200),
    # The search is let in, and finds nothing: the factory's series has no instances (204, PS3.18 8.3.4.4.1).
    "qido": (404, 404, 404, 404, 204),
}


def test_each_view_lets_in_exactly_its_roles(client, consensus, drafted, coordinator, statistician, people):
    urls = urls_of(consensus, drafted.case, drafted.draft)
    users = [coordinator, statistician, people.adj, people.rev1, people.rev2]
    for name, statuses in EXPECTED.items():
        method, url = urls[name]
        for user, expected in zip(users, statuses, strict=True):
            client.force_login(user)
            assert fetch(client, method, url).status_code == expected, (name, user.username)


def test_only_the_named_adjudicator_decides_and_only_coordinators_lock(
    client, consensus, drafted, coordinator, people
):
    urls = urls_of(consensus, drafted.case)
    client.force_login(coordinator)
    assert client.post(urls["adjudicate"][1]).status_code == 403  # an adjudicator is named
    client.force_login(people.adj)
    assert client.post(urls["lock"][1]).status_code == 403


def test_without_a_named_adjudicator_a_coordinator_adjudicates(client, study, coordinator, people, cases):
    reference_set = svc.reference_set_create(
        study=study, source="consensus", actor=coordinator, reviewers=[people.rev1, people.rev2]
    )
    complete_draft(draft_of(reference_set, cases[0], people.rev1))
    url = reverse("readerstudy:reference_discrepancies", args=[reference_set.pk, cases[0].pk])
    drafts = ",".join(
        str(d.pk) for d in reference_set.standards.filter(kind="draft").order_by("author__username")
    )
    client.force_login(people.adj)
    assert client.get(url).status_code == 403
    client.force_login(coordinator)
    response = client.post(url, {"drafts": drafts})
    assert response.status_code == 302
    assert reference_set.standards.filter(kind="final", case=cases[0]).exists()


def test_the_draft_dicomweb_root_serves_the_reviewer_blinded_images(
    client, tmp_path, study, coordinator, people, reader
):
    condition = f.ConditionFactory(study=study, label="HR")
    dicom_files.write_series(tmp_path / "hr", slices=3, rows=16, columns=16)
    report = dicom_import(
        study=study, source=tmp_path, manifest=[{"case": "K9", "condition": "HR", "folder": "hr"}]
    )
    assert report.ok, report.summary()
    series = condition.series.get()
    reference_set = svc.reference_set_create(
        study=study, source="consensus", actor=coordinator, reviewers=[people.rev1, people.rev2]
    )
    draft = draft_of(reference_set, series.case, people.rev1)
    urls = urls_of(reference_set, series.case, draft)
    client.force_login(people.rev1)
    page = client.get(urls["draft"][1])
    assert page.status_code == 200
    assert blinding.reading_uid(draft, series.series_instance_uid) in page.content.decode()
    instances = client.get(urls["qido"][1]).json()
    assert len(instances) == 3
    sop_uid = instances[0]["00080018"]["Value"][0]
    metadata_url = urls["metadata"][1]
    frame = client.get(metadata_url.removesuffix("metadata") + f"instances/{sop_uid}/frames/1")
    assert frame.status_code == 200 and frame["Content-Type"].startswith("multipart/related")
    study_uid = blinding.reading_uid(draft, series.study_instance_uid)
    series_uid = blinding.reading_uid(draft, series.series_instance_uid)
    wado = client.get(
        urls["wado"][1].replace("objectUID=1.2", f"objectUID={sop_uid}"),
    )
    assert wado.status_code == 200
    served = pydicom.dcmread(io.BytesIO(wado.content))
    assert (served.StudyInstanceUID, served.SeriesInstanceUID) == (study_uid, series_uid)
    assert served.SeriesInstanceUID != series.series_instance_uid
    assert "K9" not in str(served.PatientName)
    # The draft's root is not a reading's: the reader path does not know it.
    assert client.get(metadata_url.replace("/dicomweb/d/", "/dicomweb/r/")).status_code == 404
    client.force_login(people.rev2)
    assert client.get(metadata_url).status_code == 404


def test_overview_shows_sets_progress_and_finals(client, consensus, drafted, statistician, coordinator):
    client.force_login(statistician)
    html = client.get(reverse("readerstudy:study_references", args=[consensus.study.slug])).content.decode()
    assert "consensus v1" in html and "rev1" in html and "rev2" in html
    assert "metastasis 8.0 mm" in html and "tear: present, grade 2" in html
    assert "Lock consensus v1" not in html and "New reference set" not in html
    client.force_login(coordinator)
    html = client.get(reverse("readerstudy:study_references", args=[consensus.study.slug])).content.decode()
    assert (
        "Lock consensus v1" in html and "New reference set" in html and "Import an external reference" in html
    )


def test_the_import_form_reports_every_bad_line(client, study, cases, coordinator):
    client.force_login(coordinator)
    url = reverse("readerstudy:reference_import", args=[study.slug])
    bad = upload("case,finding,present\nC9,acl,yes\nC1,acl,perhaps\n")
    response = client.post(url, {"source": "arthroscopy", "file": bad})
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        "Line 2: unknown case" in html and "Line 3: present must be" in html and "nothing was written" in html
    )
    good = upload(GOOD_CSV)
    response = client.post(url, {"source": "arthroscopy", "file": good})
    assert response.status_code == 302
    assert ReferenceSet.objects.get(study=study, source="arthroscopy").locked


def test_the_create_form_refuses_a_single_consensus_reviewer(client, study, cases, coordinator, people):
    client.force_login(coordinator)
    url = reverse("readerstudy:reference_set_create", args=[study.slug])
    response = client.post(url, {"source": "consensus", "reviewers": [people.rev1.pk]})
    assert response.status_code == 400
    assert "at least two reviewers" in response.content.decode()
    response = client.post(url, {"source": "consensus", "reviewers": [people.rev1.pk, people.rev2.pk]})
    assert response.status_code == 302
    assert ReferenceSet.objects.get(study=study).reviewers.count() == 2


def test_the_lesion_api_refuses_bad_bodies_and_submitted_drafts(client, consensus, cases, people):
    draft = draft_of(consensus, cases[0], people.rev1)
    url = reverse(
        "readerstudy:api_reference_lesion", args=[draft.public_id, "11111111-1111-1111-1111-111111111111"]
    )
    client.force_login(people.rev1)
    assert client.put(url, data="nope", content_type="application/json").status_code == 400
    bad = {"slice": 1.5, "x": 1, "y": 1, "size_mm": 4}
    assert client.put(url, data=bad, content_type="application/json").status_code == 400
    assert (
        client.put(url, data={**bad, "slice": 1, "size_mm": -1}, content_type="application/json").status_code
        == 400
    )
    ok = client.put(url, data={**bad, "slice": 1, "lesion_type": "cyst"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["lesions"][0]["lesion_type"] == "cyst"
    svc.reference_draft_findings_save(
        draft=draft, is_abnormal=True, findings={"tear": (False, None)}, actor=people.rev1
    )
    svc.reference_draft_submit(draft=draft, actor=people.rev1)
    assert client.delete(url).status_code == 409
