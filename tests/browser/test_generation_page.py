"""The generation page in a real browser: its script (a static file, no inline code) follows a
running job, and under an active schedule a new condition needs the coordinator's tick."""

import uuid

from playwright.sync_api import Browser, Page, expect

from readerstudy.design.services import (
    DESIGN_CHANGE_ACKNOWLEDGEMENT,
    schedule_activate,
    schedule_draft_create,
)
from readerstudy.generation.models import GenerationJob, GenerationTask
from readerstudy.studies.models import Study
from tests import factories as f


def test_the_page_script_follows_a_running_job_until_it_is_done(
    transactional_db, live_server, browser: Browser, page: Page, login
):
    coordinator = f.UserFactory(username="gina", roles=["coordinator"])
    study = f.StudyFactory(coordinators=[coordinator], slug="knee-sr", status=Study.Status.DRAFT)
    lr = f.ConditionFactory(study=study, label="LR")
    sr = f.ConditionFactory(study=study, label="SR")
    case = f.CaseFactory(study=study, code="K001")
    f.ImageSeriesFactory(case=case, condition=lr)
    job = GenerationJob.objects.create(
        study=study,
        source_condition=lr,
        target_condition=sr,
        method="tci",
        factor=2,
        request_key=uuid.uuid4(),
    )
    task = GenerationTask.objects.create(
        job=job, case=case, status=GenerationTask.Status.RUNNING, progress=0.2
    )

    login(page, "gina")
    page.goto(f"{live_server.url}/studies/knee-sr/generate/")
    bar = page.locator(f'tr[data-task="{task.pk}"] progress')
    assert abs(bar.evaluate("bar => bar.value") - 0.2) < 1e-6

    GenerationTask.objects.filter(pk=task.pk).update(progress=0.6)
    page.wait_for_function(
        f"() => Math.abs(document.querySelector('tr[data-task=\"{task.pk}\"] progress').value - 0.6) < 1e-6"
    )
    GenerationTask.objects.filter(pk=task.pk).update(status=GenerationTask.Status.DONE, progress=1.0)
    GenerationJob.objects.filter(pk=job.pk).update(status=GenerationJob.Status.DONE)
    expect(page.locator(".generation-job .job-status")).to_have_text("Done")  # the page reloaded
    expect(page.locator(f'tr[data-task="{task.pk}"] .task-status')).to_have_text("Done")


def test_a_new_condition_under_an_active_schedule_needs_the_tick_and_the_schedule_page_says_what_next(
    transactional_db, live_server, settings, browser: Browser, page: Page, login
):
    settings.READERSTUDY_JOBS_EAGER = True  # the cases run (and fail: no files) within the request
    settings.CELERY_BROKER_URL = ""
    coordinator = f.UserFactory(username="gina", roles=["coordinator"])
    study = f.StudyFactory(coordinators=[coordinator], slug="knee-sr", status=Study.Status.DRAFT)
    conditions = [
        f.ConditionFactory(study=study, label=label, order=i) for i, label in enumerate(("LR", "HR"))
    ]
    for code in ("K001", "K002"):
        case = f.CaseFactory(study=study, code=code)
        for condition in conditions:
            f.ImageSeriesFactory(case=case, condition=condition)
    f.ReaderParticipationFactory(study=study, code="R1")
    schedule_activate(
        schedule=schedule_draft_create(study=study, actor=coordinator, seed=1), actor=coordinator
    )

    login(page, "gina")
    page.goto(f"{live_server.url}/studies/knee-sr/generate/")
    expect(page.locator("#design-drift-notice")).to_contain_text("Schedule v1 is active.")
    page.get_by_label("Source condition").select_option(label="LR")
    page.get_by_label("New condition").fill("SR")
    page.get_by_label("Method").select_option("tci")
    page.get_by_role("button", name="Start generating").click()
    expect(page.locator("#generation-form")).to_contain_text(
        "This study's schedule v1 is active and does not cover condition SR."
    )
    assert not GenerationJob.objects.exists()

    page.get_by_label(DESIGN_CHANGE_ACKNOWLEDGEMENT).check()
    page.get_by_role("button", name="Start generating").click()
    expect(page.locator(".messages")).to_contain_text("Generating SR for 2 cases")
    assert GenerationJob.objects.get().target_condition.label == "SR"

    page.goto(f"{live_server.url}/studies/knee-sr/schedule/")
    notice = page.locator("#schedule-uncovered")
    expect(notice).to_contain_text("Schedule v1 does not cover condition SR")
    notice.get_by_role("link", name="Generate a new version").click()
    assert page.url.endswith("/schedule/#schedule-form")
    expect(page.locator("#schedule-form")).to_be_visible()
