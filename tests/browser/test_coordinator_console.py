"""A coordinator runs a study from the console in a real browser: creates the 2-arm brain-metastasis
FROC study from its template, imports cases, invites a reader, generates and activates the
schedule, and watches progress move when the reader submits a reading."""

import csv
import zipfile
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from readerstudy.design.models import ReadingSchedule
from readerstudy.reading.models import Reading
from readerstudy.studies.models import Study
from tests import dicom_files
from tests import factories as f
from tests.factories import PASSWORD

CASES = ("BM01", "BM02")
CONDITIONS = ("LR", "SR")


def _case_archive(folder: Path) -> tuple[Path, Path]:
    """A zip with one small series per case and condition, and its manifest."""
    rows = []
    for case in CASES:
        study_uid = None
        for condition in CONDITIONS:
            subfolder = f"{case}/{condition}"
            study_uid = study_uid or f"1.2.826.0.1.3680043.8.498.{len(rows) + 1}"
            dicom_files.write_series(
                folder / "dicom" / subfolder, slices=4, rows=24, columns=24, study_uid=study_uid
            )
            rows.append({"case": case, "condition": condition, "folder": subfolder})
    archive = folder / "cases.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted((folder / "dicom").rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(folder / "dicom"))
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["case", "condition", "folder"])
        writer.writeheader()
        writer.writerows(rows)
    return archive, manifest


def test_coordinator_sets_up_the_froc_study_and_sees_progress_move(
    transactional_db, tmp_path, live_server, browser: Browser, page: Page, login
):
    f.UserFactory(username="carla", roles=["coordinator"])
    base = live_server.url

    # 1. New study from the brain-metastasis FROC template.
    login(page, "carla")
    page.goto(f"{base}/studies/")
    page.get_by_role("link", name="New study").click()
    page.locator("#template-brain-mets-froc").check()
    page.get_by_label("Name").fill("Brain mets SR trial")
    page.get_by_label("Slug").fill("brain-mets-sr")
    page.get_by_label("Washout (days)").fill("28")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("h1")).to_contain_text("Brain mets SR trial")
    study = Study.objects.get(slug="brain-mets-sr")
    assert [c.label for c in study.conditions.all()] == list(CONDITIONS)
    assert [p["value"] for p in study.mark_scale] == [1, 2, 3, 4] and study.washout_days == 28

    # 2. Import the cases: a zip of DICOM and its manifest.
    archive, manifest = _case_archive(tmp_path)
    page.get_by_role("link", name="Import cases (DICOM)").click()
    page.get_by_label("DICOM files (zip archive)").set_input_files(str(archive))
    page.get_by_label("Manifest (CSV)").set_input_files(str(manifest))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("section.card", has_text="Import report")).to_contain_text("4")
    assert study.cases.count() == 2

    # 3. Invite a reader.
    page.goto(f"{base}/studies/{study.slug}/readers/")
    page.get_by_label("Username").fill("rhea")
    page.get_by_label("Reader code").fill("R1")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("body")).to_contain_text("R1")
    reader = study.participations.get(code="R1").user
    reader.set_password(PASSWORD)  # as if rhea had followed the invitation link
    reader.save()

    # 4. Generate the schedule, preview its balance, activate it.
    page.goto(f"{base}/studies/{study.slug}/")
    page.get_by_role("link", name="Reading schedule").click()
    page.get_by_label("Seed").fill("20261122")
    page.get_by_role("button", name="Generate and preview").click()
    expect(page.locator(".messages")).to_contain_text("Draft v1 generated")
    balance = page.locator("#balance-table")
    expect(balance).to_contain_text("R1")
    expect(balance.locator("tfoot")).to_contain_text("All readers, session 2")
    page.get_by_role("button", name="Activate version 1").click()
    expect(page.locator(".messages")).to_contain_text("Schedule v1 is active")
    assert ReadingSchedule.objects.get(study=study).status == ReadingSchedule.Status.ACTIVE
    page.goto(f"{base}/studies/{study.slug}/")
    progress = page.locator("#progress")
    expect(progress.locator("tr.reader-row[data-reader=R1] .reader-done")).to_have_text("0 / 4")
    expect(progress.locator("tr.session-row[data-session='2'] .session-window")).to_contain_text(
        "28 d after session 1 is completed"
    )

    # 5. The reader submits the first reading of session 1 (in their own browser).
    reader_context = browser.new_context(viewport={"width": 1280, "height": 900})
    reader_page = reader_context.new_page()
    try:
        login(reader_page, "rhea")
        reader_page.goto(f"{base}/reading/")
        reader_page.get_by_role("link", name="Start").first.click()
        expect(reader_page.locator("body")).to_have_attribute("data-workstation", "ready")
        for key in ("overall_quality", "noise", "sharpness", "contrast", "artefacts"):
            reader_page.locator(f"input[name='q-{key}'][value='3']").check()
        reader_page.locator("input[name='q-metastasis_present-present'][value='no']").check()
        reader_page.get_by_role("button", name="Submit reading").click()
        expect(reader_page.locator("h1")).to_contain_text("Reading 2 of 2")
        assert "LR" not in reader_page.locator("h1").inner_text()
    finally:
        reader_page.goto("about:blank")
        reader_context.close()

    # 6. The coordinator sees the progress move, and no score.
    page.reload()
    expect(progress.locator("tr.reader-row[data-reader=R1] .reader-done")).to_have_text("1 / 4")
    expect(progress.locator("tr.session-row[data-session='1'] .session-done")).to_contain_text("1 / 2")
    assert Reading.objects.filter(status=Reading.Status.SUBMITTED).count() == 1
    expect(progress).not_to_contain_text("overall_quality")
