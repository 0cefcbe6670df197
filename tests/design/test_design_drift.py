"""The design cannot drift silently: a condition or case added to a study whose schedule is active
needs the coordinator's acknowledgement, and the schedule page says what the active version does
not cover and how to make a new one."""

import uuid

import pytest
from django.urls import reverse

from readerstudy.audit.models import AuditEvent
from readerstudy.design.models import ReadingSchedule
from readerstudy.design.selectors import ScheduleCoverage, schedule_coverage
from readerstudy.design.services import (
    DesignChange,
    DesignChangeUnacknowledged,
    schedule_activate,
    schedule_design_change_check,
    schedule_draft_create,
)
from readerstudy.generation.models import GenerationJob
from readerstudy.generation.services import GenerationRequest, generation_job_start
from readerstudy.imaging.dicom_import import DicomImportError, dicom_import
from readerstudy.studies.models import Condition, Study
from tests import factories as f
from tests.dicom_files import write_series

pytestmark = pytest.mark.django_db
CASES = ("C01", "C02", "C03", "C04")


@pytest.fixture
def scheduled_study(coordinator):
    """A study with conditions LR and HR, four cases with both series, two readers, schedule v1 active."""
    study = f.StudyFactory(coordinators=[coordinator], slug="knee", status=Study.Status.DRAFT)
    conditions = [
        f.ConditionFactory(study=study, label=label, order=i) for i, label in enumerate(("LR", "HR"))
    ]
    for code in CASES:
        case = f.CaseFactory(study=study, code=code)
        for condition in conditions:
            f.ImageSeriesFactory(case=case, condition=condition)
    for code in ("R1", "R2"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"reader-{code}")
    schedule_activate(
        schedule=schedule_draft_create(study=study, actor=coordinator, seed=3), actor=coordinator
    )
    study.refresh_from_db()
    return study


def _sr_request(study: Study, label: str = "SR") -> GenerationRequest:
    return GenerationRequest(
        source_condition=study.conditions.get(label="LR"), target_label=label, method="tci", factor=2
    )


def _generation_form(study: Study, **changes) -> dict:
    data = {
        "source": study.conditions.get(label="LR").pk,
        "target": "SR",
        "method": "tci",
        "factor": 2,
        "seed": 0,
        "weights": "",
        "options": "",
        "request_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


def _fill(study: Study, label: str) -> None:
    """Give every case a series of condition ``label`` (as a finished generation does)."""
    condition = study.conditions.get(label=label)
    for case in study.cases.all():
        f.ImageSeriesFactory(case=case, condition=condition)


# --- the selector -----------------------------------------------------------------------------


def test_the_selector_lists_conditions_and_cases_with_series_that_the_plan_never_names(coordinator):
    study = f.StudyFactory(coordinators=[coordinator])
    lr, _sr = (f.ConditionFactory(study=study, label=label, order=i) for i, label in enumerate(("LR", "SR")))
    f.ConditionFactory(study=study, label="HR", order=5)  # no series yet: still not covered
    for code in ("A1", "A2", "A3"):
        case = f.CaseFactory(study=study, code=code)
        f.ImageSeriesFactory(case=case, condition=lr)
    f.CaseFactory(study=study, code="A4")  # no series: nothing to read, so not listed
    plan = [["R1", 1, 1, "A1", "LR"], ["R1", 2, 1, "A2", "SR"], ["R2", 1, 1, "A2", "LR"]]
    schedule = ReadingSchedule.objects.create(
        study=study, version=2, status=ReadingSchedule.Status.ACTIVE, kind="crossed", seed="1",
        spec={}, plan=plan, balance={},
    )  # fmt: skip

    coverage = schedule_coverage(study)
    assert coverage == ScheduleCoverage(schedule=schedule, conditions=("HR",), cases=("A3",))
    assert not coverage.complete

    draft = ReadingSchedule.objects.create(
        study=study, version=3, kind="crossed", seed="2", spec={}, balance={},
        plan=[[r, 1, 1, c, k] for r in ("R1",) for c in ("A1", "A2", "A3") for k in ("LR", "SR", "HR")],
    )  # fmt: skip
    assert schedule_coverage(study, draft) == ScheduleCoverage(schedule=draft, conditions=(), cases=())
    assert schedule_coverage(study, draft).complete


def test_the_selector_has_nothing_to_say_without_an_active_schedule(coordinator):
    study = f.StudyFactory(coordinators=[coordinator])
    f.ConditionFactory(study=study, label="LR")
    assert schedule_coverage(study) is None


# --- the rule ---------------------------------------------------------------------------------


def test_the_rule_refuses_an_uncovered_condition_or_case_unless_acknowledged(scheduled_study):
    with pytest.raises(DesignChangeUnacknowledged) as refused:
        schedule_design_change_check(scheduled_study, new_condition_labels=["SR"], acknowledged=False)
    assert str(refused.value) == (
        "This study's schedule v1 is active and does not cover condition SR. "
        "Tick “I understand …” to add it; then make a new schedule version."
    )
    with pytest.raises(DesignChangeUnacknowledged, match=r"conditions SR, CT and case C09\. .* add them;"):
        schedule_design_change_check(
            scheduled_study,
            new_condition_labels=["LR", "SR", "CT", "SR"],
            new_case_codes=["C01", "C09"],
            acknowledged=False,
        )

    change = schedule_design_change_check(
        scheduled_study, new_condition_labels=["SR"], new_case_codes=["C09"], acknowledged=True
    )
    assert change == DesignChange(schedule_version=1, conditions=("SR",), cases=("C09",))
    assert change.audit_data() == {
        "acknowledged": True,
        "schedule_version": 1,
        "conditions": ["SR"],
        "cases": ["C09"],
    }


def test_the_rule_lets_through_what_the_active_schedule_covers_and_anything_without_one(
    scheduled_study, coordinator
):
    assert (
        schedule_design_change_check(
            scheduled_study, new_condition_labels=["LR", "HR"], new_case_codes=list(CASES), acknowledged=False
        )
        is None
    )
    unscheduled = f.StudyFactory(coordinators=[coordinator])
    assert schedule_design_change_check(unscheduled, new_condition_labels=["SR"], acknowledged=False) is None
    schedule_draft_create(study=scheduled_study, actor=coordinator, seed=4, reason="a draft is no schedule")
    with pytest.raises(DesignChangeUnacknowledged):
        schedule_design_change_check(scheduled_study, new_condition_labels=["SR"], acknowledged=False)


def test_a_condition_no_phase_reads_is_no_drift(scheduled_study):
    """A phase that names the conditions it reads (e.g. not a DESS second echo, used for T2
    maps only): series of another condition need no acknowledgement, a new case still does."""
    phase = scheduled_study.phases.get()
    phase.conditions.set(scheduled_study.conditions.filter(label__in=["LR", "HR"]))
    assert (
        schedule_design_change_check(
            scheduled_study, new_condition_labels=["HR echo 2", "LR echo 2"], acknowledged=False
        )
        is None
    )
    with pytest.raises(DesignChangeUnacknowledged, match=r"does not cover case C09\."):
        schedule_design_change_check(
            scheduled_study, new_condition_labels=["HR echo 2"], new_case_codes=["C09"], acknowledged=False
        )
    phase.conditions.clear()  # the phase reads every condition again: the second echo would be read
    with pytest.raises(DesignChangeUnacknowledged, match=r"does not cover condition HR echo 2\."):
        schedule_design_change_check(scheduled_study, new_condition_labels=["HR echo 2"], acknowledged=False)


# --- generation: service ----------------------------------------------------------------------


def test_generating_a_new_condition_under_an_active_schedule_is_refused_and_leaves_nothing(
    scheduled_study, coordinator
):
    events = AuditEvent.objects.count()
    with pytest.raises(DesignChangeUnacknowledged, match="does not cover condition SR"):
        generation_job_start(study=scheduled_study, request=_sr_request(scheduled_study), actor=coordinator)
    assert not Condition.objects.filter(study=scheduled_study, label="SR").exists()
    assert not GenerationJob.objects.exists()
    assert AuditEvent.objects.count() == events


def test_generating_with_the_acknowledgement_starts_the_job_and_audits_it(scheduled_study, coordinator):
    job, created = generation_job_start(
        study=scheduled_study,
        request=_sr_request(scheduled_study),
        actor=coordinator,
        acknowledge_design_change=True,
    )
    assert created and job.target_condition.label == "SR" and job.tasks.count() == len(CASES)
    event = AuditEvent.objects.get(action="generation.start")
    assert event.actor == coordinator
    assert event.data["design_change"] == {
        "acknowledged": True,
        "schedule_version": 1,
        "conditions": ["SR"],
        "cases": [],
    }
    assert schedule_coverage(scheduled_study).conditions == ("SR",)


def test_without_an_active_schedule_generation_needs_no_acknowledgement(coordinator):
    study = f.StudyFactory(coordinators=[coordinator], status=Study.Status.DRAFT)
    lr = f.ConditionFactory(study=study, label="LR")
    f.ImageSeriesFactory(case=f.CaseFactory(study=study, code="C01"), condition=lr)
    job, created = generation_job_start(study=study, request=_sr_request(study), actor=coordinator)
    assert created and job.target_condition.label == "SR"
    assert AuditEvent.objects.get(action="generation.start").data["design_change"] is None


# --- generation: the console ------------------------------------------------------------------


def test_the_console_asks_for_the_acknowledgement_only_under_an_active_schedule(
    client, scheduled_study, coordinator
):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_generation", args=[scheduled_study.slug])
    page = client.get(url).content.decode()
    assert 'id="design-drift-notice"' in page and "Schedule v1 is active." in page
    assert 'name="acknowledge_design_change"' in page
    assert reverse("readerstudy:study_schedule", args=[scheduled_study.slug]) in page

    refused = client.post(url, _generation_form(scheduled_study))
    assert refused.status_code == 200
    assert "does not cover condition SR" in refused.content.decode()
    assert not GenerationJob.objects.exists()
    assert not scheduled_study.conditions.filter(label="SR").exists()

    accepted = client.post(url, _generation_form(scheduled_study, acknowledge_design_change="on"))
    assert accepted.status_code == 302
    job = GenerationJob.objects.get()
    assert job.target_condition.label == "SR"
    event = AuditEvent.objects.get(action="generation.start")
    assert event.actor == coordinator and event.data["design_change"]["acknowledged"] is True
    assert "It already does not cover condition" in client.get(url).content.decode()

    unscheduled = f.StudyFactory(coordinators=[coordinator], slug="unscheduled")
    lr = f.ConditionFactory(study=unscheduled, label="LR")
    f.ImageSeriesFactory(case=f.CaseFactory(study=unscheduled, code="C01"), condition=lr)
    url = reverse("readerstudy:study_generation", args=[unscheduled.slug])
    page = client.get(url).content.decode()
    assert "design-drift-notice" not in page and "acknowledge_design_change" not in page
    assert client.post(url, _generation_form(unscheduled)).status_code == 302
    assert GenerationJob.objects.filter(study=unscheduled).count() == 1


def test_the_console_loads_its_script_from_a_static_file(client, scheduled_study, coordinator):
    client.force_login(coordinator)
    page = client.get(reverse("readerstudy:study_generation", args=[scheduled_study.slug])).content.decode()
    assert '<script src="/static/readerstudy/generation.js" defer></script>' in page
    assert '<script src="/static/readerstudy/jobs-follow.js" defer></script>' in page
    assert "<script>" not in page


# --- the schedule page ------------------------------------------------------------------------


def test_the_schedule_page_flags_what_the_active_version_does_not_cover_and_the_next_step(
    client, scheduled_study, coordinator
):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_schedule", args=[scheduled_study.slug])
    assert "schedule-uncovered" not in client.get(url).content.decode()

    generation_job_start(
        study=scheduled_study,
        request=_sr_request(scheduled_study),
        actor=coordinator,
        acknowledge_design_change=True,
    )
    _fill(scheduled_study, "SR")
    late = f.CaseFactory(study=scheduled_study, code="C05")
    for condition in scheduled_study.conditions.all():
        f.ImageSeriesFactory(case=late, condition=condition)

    page = client.get(url).content.decode()
    assert 'id="schedule-uncovered"' in page
    assert "Schedule v1 does not cover condition" in page
    assert '<strong class="uncovered-conditions">SR</strong>' in page
    assert 'and case <span class="uncovered-cases">C05</span>' in page
    assert 'id="uncovered-next-step" href="#schedule-form">Generate a new version</a>' in page
    assert 'id="schedule-form"' in page

    draft = schedule_draft_create(study=scheduled_study, actor=coordinator, seed=5, reason="SR and C05 added")
    assert not draft.problems
    page = client.get(url).content.decode()
    assert f'id="uncovered-next-step" href="?version={draft.version}#schedule-preview"' in page
    assert "draft-uncovered" not in page

    f.ConditionFactory(study=scheduled_study, label="CT", order=9)  # added after the draft
    page = client.get(url).content.decode()
    assert 'id="draft-uncovered"' in page and "This draft does not cover condition" in page
    assert 'href="#schedule-form">Generate a new version</a>' in page

    scheduled_study.conditions.filter(label="CT").delete()
    schedule_activate(schedule=draft, actor=coordinator)
    page = client.get(url).content.decode()
    assert "schedule-uncovered" not in page and "draft-uncovered" not in page


def test_a_locked_study_shows_what_is_not_covered_without_a_step(client, scheduled_study, coordinator):
    f.ConditionFactory(study=scheduled_study, label="SR", order=3)
    Study.objects.filter(pk=scheduled_study.pk).update(status=Study.Status.LOCKED)
    client.force_login(coordinator)
    page = client.get(reverse("readerstudy:study_schedule", args=[scheduled_study.slug])).content.decode()
    assert 'id="schedule-uncovered"' in page and "uncovered-next-step" not in page


# ---------------------------------------------------------------------------
# Importing DICOM into a study whose schedule is active


def _import_new_case(study: Study, tmp_path, **options):
    folder = tmp_path / "new-case"
    write_series(folder / "hr", slices=3)
    manifest = [{"case": "C09", "condition": "HR", "folder": "hr"}]
    return dicom_import(study=study, source=folder, manifest=manifest, **options)


def test_an_import_adding_an_uncovered_case_needs_the_acknowledgement(scheduled_study, coordinator, tmp_path):
    with pytest.raises(DicomImportError, match="does not cover case C09"):
        _import_new_case(scheduled_study, tmp_path, actor=coordinator)
    assert not scheduled_study.cases.filter(code="C09").exists()
    assert AuditEvent.objects.filter(action="dicom.import_failed", study=scheduled_study).exists()

    report = _import_new_case(scheduled_study, tmp_path, actor=coordinator, acknowledge_design_change=True)
    assert [item.case_code for item in report.imported] == ["C09"]
    event = AuditEvent.objects.get(action="dicom.import", study=scheduled_study)
    assert event.data["design_change"] == {
        "acknowledged": True,
        "schedule_version": 1,
        "conditions": [],
        "cases": ["C09"],
    }
