"""The measurement mode in the browser: every condition of a case side by side, slices that follow
each other by patient position, a line ROI drawn on one condition shown on the others, and an
FWHM stored and listed for each condition."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from readerstudy.measurements.models import MeasurementROI
from readerstudy.studies.models import Study
from tests import factories as f
from tests import measurement_series as ms

pytestmark = pytest.mark.browser

READY_MS = 40_000

# Share of a viewport's canvas pixels that are not (nearly) black.
CANVAS_LIT_FRACTION = """(label) => {
  const canvas = document.querySelector(`.measure-cell[data-condition="${label}"] .measure-viewport canvas`);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
  return lit / (data.length / 4);
}"""

# Canvas position (CSS pixels in the viewport element) of a pixel centre (column, row) on a slice.
PIXEL_ON_CANVAS = """([index, slice, x, y]) => {
  const viewer = window.measurePage.panels[index].viewer;
  // Cornerstone's image coordinates put pixel centres at +0.5.
  const where = viewer.worldToCanvas(viewer.imageToWorld(slice, x + 0.5, y + 0.5));
  return [where.x, where.y];
}"""


@pytest.fixture
def measured_study(transactional_db, tmp_path):
    coordinator = f.UserFactory(username="coord", roles=["coordinator"])
    study = f.StudyFactory(name="Rod phantom", status=Study.Status.ACTIVE, coordinators=[coordinator])
    for order, label in enumerate(ms.SIGMA_MM):
        f.ConditionFactory(study=study, label=label, order=order)
    ms.import_case(study, tmp_path / "k1")
    return study


def cell(page: Page, label: str):
    return page.locator(f'.measure-cell[data-condition="{label}"]')


def test_a_line_roi_drawn_on_one_condition_is_measured_on_all(measured_study, live_server, page: Page, login):
    study = measured_study
    case = study.cases.get(code="K1")
    series = {s.condition.label: s for s in case.series.select_related("condition")}
    login(page, "coord")
    page.goto(f"{live_server.url}/studies/{study.slug}/")
    page.locator("#measurement-link").click()
    expect(page.locator("#measurement-cases tr[data-case=K1] .roi-count")).to_have_text("0")
    page.get_by_role("link", name="Measure").click()
    expect(page.locator("h1")).to_contain_text("Measure · case K1")
    expect(page.locator("body")).to_have_attribute("data-measure", "ready", timeout=READY_MS)

    # Every condition, labelled and shown, on the slice nearest to the first one's middle (z = 4 mm).
    for label in ("HR", "SR", "LR"):
        expect(cell(page, label).locator(".measure-title")).to_contain_text(label)
        page.wait_for_function(f"({CANVAS_LIT_FRACTION})({label!r}) > 0.05")
    expect(cell(page, "HR").locator(".overlay-slice")).to_have_text("Slice 5 / 8")
    expect(cell(page, "SR").locator(".overlay-slice")).to_have_text("Slice 5 / 8")
    expect(cell(page, "LR").locator(".overlay-slice")).to_have_text("Slice 2 / 2")

    # Scrolling one viewport scrolls the others to their nearest slice (z = 3 mm: LR's first 4 mm slice).
    cell(page, "HR").locator(".measure-slider").fill("3")
    expect(cell(page, "HR").locator(".overlay-slice")).to_have_text("Slice 4 / 8")
    expect(cell(page, "SR").locator(".overlay-slice")).to_have_text("Slice 4 / 8")
    expect(cell(page, "LR").locator(".overlay-slice")).to_have_text("Slice 1 / 2")

    # A line across the rod, drawn on HR with two clicks.
    page.locator("#roi-label").fill("rod")
    page.get_by_role("button", name="Line").click()
    expect(page.locator("#tool-line")).to_have_attribute("aria-pressed", "true")
    box = cell(page, "HR").locator(".measure-viewport").bounding_box()
    for x in (4, 60):
        cx, cy = page.evaluate(PIXEL_ON_CANVAS, [0, 3, x, 32])
        page.mouse.click(box["x"] + cx, box["y"] + cy)

    # It appears at once on every condition, at the same patient position.
    for label in ("HR", "SR", "LR"):
        expect(cell(page, label).locator(".measure-layer g.roi.line")).to_have_count(1)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")

    # Its FWHM is computed on the server for each condition and listed beside the images.
    fwhm_row = page.locator('tr.roi-value[data-metric="fwhm_mm"]')
    for label in ("HR", "SR", "LR"):
        expect(fwhm_row.locator(f'td[data-series="{series[label].public_id}"]')).to_have_text(
            re.compile(r"^\d+\.\d\d$")
        )
    roi = MeasurementROI.objects.get(case=case)
    assert roi.kind == "line" and roi.label == "rod" and roi.drawn_on == series["HR"] and roi.drawn_slice == 3
    values = {v.series.condition.label: v for v in roi.values.select_related("series__condition")}
    assert set(values) == {"HR", "SR", "LR"}
    for label, value in values.items():
        assert value.error == ""
        assert value.fwhm_mm == pytest.approx(ms.FWHM_PER_SIGMA * ms.SIGMA_MM[label], rel=0.03), label
        cell_text = fwhm_row.locator(f'td[data-series="{series[label].public_id}"]').inner_text()
        assert cell_text == f"{value.fwhm_mm:.2f}"
    assert (values["HR"].slice_index, values["SR"].slice_index, values["LR"].slice_index) == (3, 3, 0)
    # The clicks were on pixel centres (4, 32) and (60, 32): within a canvas pixel.
    (x0, y0), (x1, y1) = roi.drawn_points
    assert abs(x0 - 4) < 0.5 and abs(x1 - 60) < 0.5 and abs(y0 - 32) < 0.5 and abs(y1 - 32) < 0.5

    # After a reload the ROI is listed again; on the neighbouring slice it is drawn dashed, and
    # "go to" brings every viewport to it.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-measure", "ready", timeout=READY_MS)
    expect(page.locator("tr.roi-head")).to_have_count(1)
    expect(page.locator("tr.roi-head .roi-go")).to_contain_text("rod · line")
    expect(cell(page, "HR").locator(".overlay-slice")).to_have_text("Slice 5 / 8")
    expect(cell(page, "HR").locator(".measure-layer g.roi.off-plane")).to_have_count(1)
    page.locator("tr.roi-head .roi-go").click()
    expect(cell(page, "HR").locator(".overlay-slice")).to_have_text("Slice 4 / 8")
    expect(cell(page, "LR").locator(".overlay-slice")).to_have_text("Slice 1 / 2")
    for label in ("HR", "SR", "LR"):
        expect(cell(page, label).locator(".measure-layer g.roi:not(.off-plane)")).to_have_count(1)
    if shots := os.environ.get("READERSTUDY_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(shots) / "measurement_mode.png"), full_page=True)
