"""A reviewer drafts a reference case in the browser: the image, a lesion by a click, its
diameter measured by two clicks, saved, and back after a reload."""

import math
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.references.models import ReferenceLesion, ReferenceStandard
from readerstudy.references.services import reference_set_create
from readerstudy.studies.models import Study
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.browser

# Share of canvas pixels that are not (nearly) black.
CANVAS_LIT_FRACTION = """() => {
  const canvas = document.querySelector('#viewport canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
  return lit / (data.length / 4);
}"""

# The distance (mm, patient space) between two canvas points, as the viewer computes it.
VIEWER_DISTANCE_MM = """([a, b]) => {
  const viewer = window.referenceDraft.viewer;
  const [p, q] = [a, b].map(([x, y]) => viewer.canvasToImage(x, y));
  const [u, v] = [p, q].map((point) => viewer.imageToWorld(point.slice, point.x, point.y));
  return Math.hypot(u[0] - v[0], u[1] - v[1], u[2] - v[2]);
}"""


@pytest.fixture
def reference_set(transactional_db, tmp_path):
    coordinator = f.UserFactory(username="coord", roles=["coordinator"])
    study = f.StudyFactory(name="Knee study", status=Study.Status.ACTIVE, coordinators=[coordinator])
    condition = f.ConditionFactory(study=study, label="HR")
    dicom_files.write_series(tmp_path / "hr", slices=5, rows=40, columns=40)
    report = dicom_import(
        study=study, source=tmp_path, manifest=[{"case": "K1", "condition": condition.label, "folder": "hr"}]
    )
    assert report.ok, report.summary()
    return reference_set_create(
        study=study,
        source="consensus",
        actor=coordinator,
        reviewers=[f.UserFactory(username="rev1"), f.UserFactory(username="rev2")],
    )


def wait_saved(page: Page) -> None:
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    page.wait_for_function("window.referenceDraft.queue.idle")


def test_reviewer_marks_and_measures_a_lesion(reference_set, live_server, page: Page, login):
    login(page, "rev1")
    page.goto(f"{live_server.url}/references/")
    page.get_by_role("link", name="Draft cases").click()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("h1")).to_contain_text("Reference draft · case K1")
    expect(page.locator("body")).to_have_attribute("data-reference", "ready", timeout=20_000)
    draft = ReferenceStandard.objects.get(reference_set=reference_set, author__username="rev1")
    assert draft.series.condition.label == "HR"

    # The image is on the viewer's canvas.
    page.wait_for_function(f"({CANVAS_LIT_FRACTION})() > 0.05")
    expect(page.locator("#overlay-slice")).to_have_text("Slice 3 / 5")

    # A click places a lesion (without a diameter it is not saved yet).
    box = page.locator("#viewport").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(cx, cy)
    rows = page.locator("#lesions-list li")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".lesion-size")).to_have_value("")
    expect(page.locator("#mark-layer .lesion")).to_have_count(1)
    assert not ReferenceLesion.objects.filter(reference=draft).exists()

    # Measure: two clicks set the diameter from their distance in mm, the lesion at their midpoint.
    page.get_by_role("button", name="Measure").click()
    expect(page.locator("#mode-measure")).to_have_attribute("aria-pressed", "true")
    half = box["width"] / 8
    page.mouse.click(cx - half, cy)
    page.mouse.click(cx + half, cy)
    expected_mm = page.evaluate(
        VIEWER_DISTANCE_MM,
        [[box["width"] / 2 - half, box["height"] / 2], [box["width"] / 2 + half, box["height"] / 2]],
    )
    assert expected_mm > 0.5
    size = rows.first.locator(".lesion-size")
    expect(size).not_to_have_value("")
    assert float(size.input_value()) == pytest.approx(expected_mm, abs=0.06)
    expect(page.locator("#mode-point")).to_have_attribute("aria-pressed", "true")
    rows.first.locator(".lesion-type").fill("metastasis")
    rows.first.locator(".lesion-type").press("Tab")
    wait_saved(page)

    lesion = ReferenceLesion.objects.get(reference=draft)
    assert lesion.size_mm == pytest.approx(expected_mm, abs=0.06)
    assert lesion.lesion_type == "metastasis"
    assert lesion.slice_index == 2 and lesion.label == "L1"
    assert math.isfinite(lesion.x_mm) and math.isfinite(lesion.z_mm)
    # Near the image centre (the midpoint of the two clicks): 40 x 40 pixels.
    assert abs(lesion.x - 19.5) < 3 and abs(lesion.y - 19.5) < 3

    # After a reload the lesion is listed again, with its diameter and type.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-reference", "ready", timeout=20_000)
    rows = page.locator("#lesions-list li")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".lesion-size")).not_to_have_value("")
    assert float(rows.first.locator(".lesion-size").input_value()) == lesion.size_mm
    expect(rows.first.locator(".lesion-type")).to_have_value("metastasis")
    expect(page.locator("#mark-layer .lesion")).to_have_count(1)
    if shots := os.environ.get("READERSTUDY_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(shots) / "reference_drafting.png"), full_page=True)
