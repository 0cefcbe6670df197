"""The reader workstation in headless Chromium, as a reader of the demo study.

Cornerstone3D renders with WebGL in software (SwiftShader): the canvas is read back to
check that an image is really on it.
"""

import re

import numpy as np
import pydicom
import pytest
from playwright.sync_api import Browser, Page, expect

from readerstudy.audit.models import AuditEvent
from readerstudy.demo import demo_study_create
from readerstudy.reading.models import Answer, LesionMark, Reading, ReadingVisit

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo"

# Share of canvas pixels that are not (nearly) black.
CANVAS_LIT_FRACTION = """() => {
  const canvas = document.querySelector('#viewport canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 30) lit++;
  return lit / (data.length / 4);
}"""


@pytest.fixture
def demo(transactional_db):
    # One phase with marks and the Likert items in one reading (the workstation's every part).
    return demo_study_create(n_cases=2, slices=24, template="brain-mets-froc")


def open_first_reading(page: Page, login, live_server) -> Reading:
    login(page, "reader1", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/reading/")
    page.get_by_role("link", name="Start").first.click()
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
    public_id = re.search(r"/reading/([0-9a-f-]{36})/", page.url).group(1)
    return Reading.objects.get(public_id=public_id)


def wait_for_image(page: Page) -> None:
    """Wait until an image is on the canvas (a reformat fills in as its volume streams in)."""
    page.wait_for_function(f"() => ({CANVAS_LIT_FRACTION})() > 0.05")


def viewport_centre(page: Page) -> tuple[float, float]:
    box = page.locator("#viewport").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def first_value(value) -> float:
    return float(value[0] if isinstance(value, pydicom.multival.MultiValue) else value)


def wait_saved(page: Page) -> None:
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    page.wait_for_function("() => window.workstation.queue.idle")


def test_reader_reads_marks_resumes_and_submits(demo, live_server, page: Page, browser: Browser, login):
    reading = open_first_reading(page, login, live_server)
    expect(page.locator("h1")).to_contain_text(f"Reading 1 of {reading.session.readings.count()}")

    # The first image is on the viewer's canvas; the page's own first image (the server's PNG)
    # made way for it, and came before the viewer was ready.
    assert page.evaluate(CANVAS_LIT_FRACTION) > 0.05
    expect(page.locator("#first-paint")).to_be_hidden()
    expect(page.locator("#first-image")).to_have_count(0)
    marks = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))"
    )
    assert marks["workstation:first-image"] < marks["workstation:viewer-ready"]

    # Scroll with the wheel and the keyboard.
    slice_label = page.locator("#overlay-slice")
    start = slice_label.text_content()
    cx, cy = viewport_centre(page)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, 120)
    expect(slice_label).not_to_have_text(start)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    shown = slice_label.text_content()

    # Window/level by dragging.
    window_label = page.locator("#overlay-window")
    before = page.evaluate("window.workstation.viewer.window")
    page.mouse.move(cx - 150, cy + 100)
    page.mouse.down()
    page.mouse.move(cx - 90, cy + 140, steps=6)
    page.mouse.up()
    assert page.evaluate("window.workstation.viewer.window") != before
    expect(window_label).to_contain_text("W ")

    # Two marks, each with its confidence (number keys act on the selected mark).
    page.mouse.click(cx - 40, cy - 10)
    page.keyboard.press("3")
    page.mouse.click(cx + 45, cy + 20)
    page.locator(".mark-row.selected [data-rating='2']").click()
    rows = page.locator("#marks-list li")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("[aria-checked=true]")).to_have_text("3")
    expect(rows.nth(1).locator("[aria-checked=true]")).to_have_text("2")
    expect(page.locator("#mark-layer .mark")).to_have_count(2)

    # Likert items: one by clicking, the others by number keys (each answers the next open one).
    page.keyboard.press("Escape")  # no mark selected: digits answer questions
    page.get_by_label("4 · good").check()
    page.keyboard.press("3")
    page.keyboard.press("2")
    page.keyboard.press("4")
    page.keyboard.press("4")
    wait_saved(page)

    # Reload: answers, marks and slice come back.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
    expect(page.locator("#overlay-slice")).to_have_text(shown)
    expect(page.get_by_label("4 · good")).to_be_checked()
    expect(page.locator("input[name='q-noise'][value='3']")).to_be_checked()
    expect(page.get_by_label("2 · moderately sharp")).to_be_checked()
    expect(page.get_by_label("4 · excellent")).to_be_checked()
    expect(page.locator("input[name='q-artefacts'][value='4']")).to_be_checked()
    rows = page.locator("#marks-list li")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("[aria-checked=true]")).to_have_text("3")
    expect(rows.nth(1).locator("[aria-checked=true]")).to_have_text("2")

    # The finding, then submit: on to the next reading.
    page.get_by_label("Present").check()
    page.get_by_label("3 · likely").check()
    page.get_by_role("button", name="Submit reading").click()
    expect(page.locator("h1")).to_contain_text("Reading 2 of")
    expect(page.locator("#progress-label")).to_contain_text("1 of")

    reading.refresh_from_db()
    assert reading.status == Reading.Status.SUBMITTED
    answers = {a.question.key: (a.value, a.present) for a in Answer.objects.filter(reading=reading)}
    assert answers == {
        "overall_quality": (4, None),
        "noise": (3, None),
        "sharpness": (2, None),
        "contrast": (4, None),
        "artefacts": (4, None),
        "metastasis_present": (3, True),
    }
    marks = list(LesionMark.objects.filter(reading=reading).order_by("created_at"))
    assert [m.rating for m in marks] == [3, 2]
    assert all(m.patient_x is not None for m in marks)
    assert AuditEvent.objects.filter(action="mark.create", target_id=str(reading.pk)).count() == 2
    visits = ReadingVisit.objects.filter(reading=reading)
    assert visits.count() == 2  # before and after the reload
    assert sum(v.active_ms for v in visits) > 0
    assert len(set().union(*(v.slices for v in visits))) >= 3
    assert sum(v.window_changes for v in visits) >= 1
    assert any(v.first_mark_ms is not None for v in visits)

    # The coordinator sees the reading counted.
    context = browser.new_context()
    try:
        coordinator = context.new_page()
        login(coordinator, "coordinator", DEMO_PASSWORD)
        coordinator.goto(f"{live_server.url}/studies/{demo.slug}/")
        total = Reading.objects.filter(session__participation=reading.session.participation).count()
        row = coordinator.locator("tr", has_text="reader1")
        expect(row).to_contain_text(f"1 / {total}")
    finally:
        context.close()


def test_answers_made_offline_are_saved_when_the_network_returns(demo, live_server, page: Page, login):
    reading = open_first_reading(page, login, live_server)
    wait_saved(page)
    page.context.set_offline(True)
    page.get_by_label("5 · excellent").check()
    expect(page.locator("#save-state")).to_have_attribute("data-state", "retrying")
    assert not Answer.objects.filter(reading=reading, question__key="overall_quality").exists()
    page.context.set_offline(False)
    wait_saved(page)
    assert Answer.objects.get(reading=reading, question__key="overall_quality").value == 5


def test_a_placed_mark_needs_a_confidence_before_submitting(demo, live_server, page: Page, login):
    reading = open_first_reading(page, login, live_server)
    cx, cy = viewport_centre(page)
    page.mouse.click(cx, cy)
    expect(page.locator("#marks-list li")).to_have_count(1)
    expect(page.locator("#marks-list li")).to_contain_text("choose a confidence")
    page.get_by_role("button", name="Submit reading").click()
    expect(page.locator("#viewer-message")).to_contain_text("Choose a confidence for every mark")
    assert not LesionMark.objects.filter(reading=reading).exists()
    # Delete removes it again.
    page.keyboard.press("Delete")
    expect(page.locator("#marks-list li")).to_have_count(0)


def test_coronal_and_sagittal_reformats_render(demo, live_server, page: Page, login):
    open_first_reading(page, login, live_server)
    page.get_by_role("button", name="Coronal").click()
    expect(page.locator("#overlay-slice")).to_contain_text("(coronal)")
    wait_for_image(page)
    page.keyboard.press("s")
    expect(page.locator("#overlay-slice")).to_contain_text("(sagittal)")
    wait_for_image(page)
    page.keyboard.press("a")
    expect(page.locator("#overlay-slice")).not_to_contain_text("(")


@pytest.mark.parametrize("resumed", [False, True], ids=["new-reading-png", "resumed-elsewhere-canvas"])
def test_the_first_image_is_drawn_before_and_without_the_viewer(
    demo, live_server, page: Page, login, resumed
):
    """With the viewer's bundle unreachable, the page still shows the start slice, windowed as DICOM says:
    a new reading as the server's PNG (an <img>), one resumed on another slice drawn by the page script."""
    page.route("**/readerstudy/build/viewer.js", lambda route: route.abort())
    login(page, "reader1", DEMO_PASSWORD)
    if resumed:
        first = (
            Reading.objects.filter(session__participation__user__username="reader1")
            .order_by("session__number", "position")
            .first()
        )
        first.last_slice = 3
        first.save(update_fields=["last_slice"])
    page.goto(f"{live_server.url}/reading/")
    page.get_by_role("link", name="Start").first.click()
    expect(page.locator("body")).to_have_attribute("data-workstation", "error", timeout=20_000)
    shown = page.locator("#first-paint" if resumed else "#first-image")
    expect(shown).to_be_visible()
    expect(page.locator("#first-image")).to_have_count(0 if resumed else 1)
    expect(page.locator("#viewer-message")).to_contain_text("could not be shown")

    reading = Reading.objects.get(public_id=re.search(r"/reading/([0-9a-f-]{36})/", page.url).group(1))
    series = reading.series
    start = reading.last_slice if reading.last_slice is not None else series.num_slices // 2
    assert (start != series.num_slices // 2) == resumed
    with series.instances.get(slice_index=start).file.open("rb") as handle:
        ds = pydicom.dcmread(handle)
    # PS3.3 C.11.1 (rescale) and C.11.2.1.2.1 (linear VOI) with the header's first window.
    values = ds.pixel_array.astype(float) * float(getattr(ds, "RescaleSlope", 1)) + float(
        getattr(ds, "RescaleIntercept", 0)
    )
    if "WindowCenter" in ds:
        center, width = first_value(ds.WindowCenter), first_value(ds.WindowWidth)
    else:  # the frame's full range
        center, width = (values.max() + values.min()) / 2, max(values.max() - values.min(), 1)
    grey = np.clip(((values - (center - 0.5)) / (width - 1) + 0.5) * 255, 0, 255)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    image_w, image_h = ds.Columns * column_spacing, ds.Rows * row_spacing

    if not resumed:
        # The PNG holds the slice's grey levels exactly; it is shown fitted, centred, not stretched.
        png = page.evaluate(
            """() => {
              const img = document.querySelector('#first-image');
              const canvas = document.createElement('canvas');
              canvas.width = img.naturalWidth;
              canvas.height = img.naturalHeight;
              const context = canvas.getContext('2d');
              context.drawImage(img, 0, 0);
              const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
              const grey = [];
              for (let i = 0; i < data.length; i += 4) grey.push(data[i]);
              const box = img.getBoundingClientRect();
              return { grey, width: canvas.width, height: canvas.height, fit: getComputedStyle(img).objectFit,
                       boxWidth: box.width, boxHeight: box.height };
            }"""
        )
        assert (png["width"], png["height"]) == (ds.Columns, ds.Rows)  # square pixels in the demo
        assert np.abs(np.array(png["grey"]).reshape(ds.Rows, ds.Columns) - np.rint(grey)).max() <= 1
        assert png["fit"] == "contain"
        viewport = page.locator("#viewport").bounding_box()
        assert (png["boxWidth"], png["boxHeight"]) == pytest.approx(
            (viewport["width"], viewport["height"]), abs=1
        )
        assert grey.mean() > 10
    else:
        drawn = page.evaluate(
            """() => {
              const canvas = document.querySelector('#first-paint');
              const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
              let sum = 0;
              for (let i = 0; i < data.length; i += 4) sum += data[i];
              return { mean: sum / (data.length / 4), width: canvas.width, height: canvas.height };
            }"""
        )
        # The image is fitted inside the canvas (aspect from Pixel Spacing); the rest is black.
        fit = min(drawn["width"] / image_w, drawn["height"] / image_h)
        covered = (image_w * fit) * (image_h * fit) / (drawn["width"] * drawn["height"])
        assert drawn["mean"] == pytest.approx(grey.mean() * covered, abs=2.0)
        assert grey.mean() > 10  # a real image, not a black one

    # Scoring still works: the answer is saved.
    page.get_by_label("5 · excellent").check()
    wait_saved(page)
    assert Answer.objects.get(reading=reading, question__key="overall_quality").value == 5
