"""Reference drafting and the measurement mode on radiographs (DX): both in image millimetres.

The knees of ``test_projection_reading``: HR at 0.32 mm (ImagerPixelSpacing 0.4 mm over a
magnification factor of 1.25), LR at 0.64 mm, one field of view.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from readerstudy.measurements.models import MeasurementROI
from readerstudy.references.models import ReferenceLesion, ReferenceStandard
from readerstudy.references.services import reference_set_create
from tests import dicom_files as dcm
from tests import factories as f
from tests.browser.test_projection_reading import CONDITIONS, SPACING_MM, lesion_mm, radiograph_study

pytestmark = pytest.mark.browser
__all__ = ["radiograph_study"]  # the fixture, shared

#: The largest lesion of the knees, its radius in mm.
LESION = dcm.KNEE_LESIONS[1]
RADIUS_MM = LESION[2] * CONDITIONS["HR"]["columns"] * SPACING_MM["HR"]


def page_point(page: Page, viewport: str, hook: str, world) -> tuple[float, float]:
    """Where on the page a point (image mm) is shown by the viewer that ``hook`` names."""
    box = page.locator(viewport).bounding_box()
    where = page.evaluate(f"(w) => {hook}.worldToCanvas(w)", list(world))
    return box["x"] + where["x"], box["y"] + where["y"]


def test_a_reviewer_measures_a_lesion_on_a_radiograph_in_mm(radiograph_study, live_server, page: Page, login):
    study, _ = radiograph_study
    reference_set = reference_set_create(
        study=study,
        source="consensus",
        actor=study.coordinators.get(),
        reviewers=[f.UserFactory(username="dxrev"), f.UserFactory(username="dxrev2")],
    )
    login(page, "dxrev")
    page.goto(f"{live_server.url}/references/")
    page.get_by_role("link", name="Draft cases").click()
    page.get_by_role("button", name="Start").first.click()
    expect(page.locator("body")).to_have_attribute("data-reference", "ready", timeout=20_000)
    draft = ReferenceStandard.objects.get(reference_set=reference_set, author__username="dxrev")
    spacing = SPACING_MM[draft.series.condition.label]
    expect(page.locator("#overlay-slice")).to_have_text("Single image")
    expect(page.locator("#slice-slider")).to_be_hidden()

    # Measure: the two ends of the lesion across (its centre +- its radius along x).
    page.get_by_role("button", name="Measure").click()
    x, y, z = lesion_mm(LESION)
    hook = "window.referenceDraft.viewer"
    for end in (x - RADIUS_MM, x + RADIUS_MM):
        page.mouse.click(*page_point(page, "#viewport", hook, [end, y, z]))
    size = page.locator("#lesions-list li").first.locator(".lesion-size")
    expect(size).not_to_have_value("")
    assert float(size.input_value()) == pytest.approx(2 * RADIUS_MM, abs=0.15)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    page.wait_for_function("window.referenceDraft.queue.idle")

    lesion = ReferenceLesion.objects.get(reference=draft)
    assert lesion.size_mm == pytest.approx(2 * RADIUS_MM, abs=0.15)
    assert (lesion.x_mm, lesion.y_mm) == (pytest.approx(x, abs=0.2), pytest.approx(y, abs=0.2))
    assert lesion.z_mm == 0.0 and lesion.slice_index == 0
    assert lesion.x_mm == pytest.approx(lesion.x * spacing)


def test_a_line_across_a_lesion_is_measured_on_both_radiographs(
    radiograph_study, live_server, page: Page, login
):
    study, _ = radiograph_study
    case = study.cases.get(code="KNEE-1")
    series = {s.condition.label: s for s in case.series.select_related("condition")}
    login(page, "dxcoord")
    page.goto(f"{live_server.url}{reverse('readerstudy:measurement_case', args=[study.slug, case.pk])}")
    expect(page.locator("body")).to_have_attribute("data-measure", "ready", timeout=40_000)
    hr = page.locator('.measure-cell[data-condition="HR"]')
    expect(hr.locator(".overlay-slice")).to_have_text("Single image")
    expect(hr.locator(".measure-slider")).to_be_hidden()

    page.locator("#roi-label").fill("lesion")
    page.get_by_role("button", name="Line").click()
    x, y, z = lesion_mm(LESION)
    index = page.evaluate(
        "[...document.querySelectorAll('.measure-cell')].findIndex((c) => c.dataset.condition === 'HR')"
    )
    hook = f"window.measurePage.panels[{index}].viewer"
    viewport = '.measure-cell[data-condition="HR"] .measure-viewport'
    for end in (x - 2 * RADIUS_MM, x + 2 * RADIUS_MM):
        page.mouse.click(*page_point(page, viewport, hook, [end, y, z]))
    for label in CONDITIONS:
        expect(
            page.locator(f'.measure-cell[data-condition="{label}"] .measure-layer g.roi.line')
        ).to_have_count(1)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    fwhm_row = page.locator('tr.roi-value[data-metric="fwhm_mm"]')
    for label in CONDITIONS:
        cell = fwhm_row.locator(f'td[data-series="{series[label].public_id}"]')
        expect(cell).to_have_text(re.compile(r"^\d+\.\d\d$"))

    roi = MeasurementROI.objects.get(case=case)
    (a, b) = roi.points_mm
    assert a[2] == b[2] == 0.0
    assert abs(b[0] - a[0]) == pytest.approx(4 * RADIUS_MM, abs=0.2)
    values = {v.series.condition.label: v for v in roi.values.select_related("series__condition")}
    for label, value in values.items():
        assert value.error == "", (label, value.error)
        # The bright disk's width along the line, on each grid (to within one pixel).
        assert value.fwhm_mm == pytest.approx(2 * RADIUS_MM, abs=SPACING_MM[label]), label
