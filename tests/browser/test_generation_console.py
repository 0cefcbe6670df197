"""A coordinator generates an SR condition in a real browser and watches the cases finish.

The job runs on the embedded runner's worker thread (no broker), as on the demo site; the
page polls the state endpoint and reloads when the job is done.
"""

from playwright.sync_api import Browser, Page, expect

from readerstudy import jobs
from readerstudy.generation.models import GenerationJob
from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Study
from tests import factories as f
from tests.generation.cases import SLICES, import_cases


def test_coordinator_generates_a_condition_and_sees_every_case_done(
    transactional_db, tmp_path, settings, live_server, browser: Browser, page: Page, login
):
    settings.READERSTUDY_JOBS_EAGER = False
    settings.CELERY_BROKER_URL = ""
    coordinator = f.UserFactory(username="gina", roles=["coordinator"])
    study = f.StudyFactory(coordinators=[coordinator], slug="knee-sr", status=Study.Status.DRAFT)
    f.ConditionFactory(study=study, label="LR")
    import_cases(study, tmp_path / "upload", coordinator, codes=("K001", "K002"))

    login(page, "gina")
    page.goto(f"{live_server.url}/studies/knee-sr/")
    page.locator("#generation-link").click()
    page.get_by_label("Source condition").select_option(label="LR")
    page.get_by_label("New condition").fill("SR")
    page.get_by_label("Method").select_option("tci")
    page.get_by_label("Factor").select_option("2")
    page.get_by_role("button", name="Start generating").click()
    expect(page.locator(".messages")).to_contain_text("Generating SR for 2 cases")

    job = page.locator(".generation-job")
    expect(job.locator(".job-status")).to_have_text("Done", timeout=30_000)
    expect(job.locator("tr[data-task] .task-status")).to_have_text(["Done", "Done"])
    expect(job.locator("progress")).to_have_count(2)
    for bar in job.locator("progress").all():
        assert bar.evaluate("bar => bar.value") == 1
    expect(job.locator("button.retry")).to_have_count(0)

    assert jobs.jobs_wait(timeout=30)
    generated = GenerationJob.objects.get(study=study)
    assert generated.created_by == coordinator
    counts = ImageSeries.objects.filter(condition=generated.target_condition).values_list(
        "num_slices", flat=True
    )
    assert list(counts) == [2 * SLICES, 2 * SLICES]
