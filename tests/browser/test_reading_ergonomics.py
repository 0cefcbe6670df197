"""Reading-room ergonomics, as a reader finds them: orientation labels on every plane, the
zoom factor and its drag direction, the ruler on MR (acquired plane and reformats), errors
shown beside the question concerned (with and without the page script), and the login that
goes straight to the next open reading."""

import math
import re
import urllib.request
from pathlib import Path

import numpy as np
import pydicom
import pytest
from playwright.sync_api import Browser, Page, expect

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.reading.models import Reading
from readerstudy.studies.models import Question, Study
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _warm_live_server(live_server) -> None:
    """The live server's first request imports the whole site (seconds on a loaded machine,
    beyond the browser's navigation timeout): make it before the browser's first."""
    urllib.request.urlopen(f"{live_server.url}/accounts/login/", timeout=120).read()  # noqa: S310 (http)


TIMES = "\u00d7"  # the multiplication sign of the zoom readout
ZOOM_1 = f"Zoom 1{TIMES}"
CONFIDENCE = [{"value": v, "label": label} for v, label in enumerate(["unlikely", "possible", "likely"], 1)]

# The phantom: 64 x 64 pixels, PixelSpacing 0.6 mm between rows and 0.9 mm between columns,
# 8 slices 2 mm apart. Bright lines: columns 12 and 52 (on every row and slice) and rows 12
# and 52; in between it is dark.
ROWS = COLUMNS = 64
ROW_SPACING, COLUMN_SPACING = 0.6, 0.9
BRIGHT_COLUMNS = (12, 52)
BRIGHT_ROWS = (12, 52)
COS30, SIN30 = math.cos(math.radians(30)), math.sin(math.radians(30))


def _phantom_series(folder: Path, orientation=dicom_files.AXIAL) -> None:
    """Write the phantom as an MR series (geometry from tests.dicom_files.write_series)."""
    _, paths = dicom_files.write_series(
        folder,
        slices=8,
        spacing=2.0,
        rows=ROWS,
        columns=COLUMNS,
        pixel_spacing=(ROW_SPACING, COLUMN_SPACING),
        orientation=orientation,
    )
    for path in paths:
        ds = pydicom.dcmread(path)
        pixels = np.full((ROWS, COLUMNS), 50, dtype=np.int16)
        pixels[:, list(BRIGHT_COLUMNS)] = 3000
        pixels[list(BRIGHT_ROWS), :] = 3000
        ds.PixelData = pixels.tobytes()
        ds.WindowCenter, ds.WindowWidth = 1500, 3000
        ds.save_as(path, enforce_file_format=True)


def _study(tmp_path: Path, series: dict[str, tuple]) -> tuple[Study, list[Reading]]:
    """An active study with the given series (case code: orientation), read by "rita" in order."""
    study = f.StudyFactory(name="Ergonomics", status=Study.Status.ACTIVE)
    condition = f.ConditionFactory(study=study, label="HR")
    for code, orientation in series.items():
        _phantom_series(tmp_path / code, orientation)
    report = dicom_import(
        study=study,
        source=tmp_path,
        manifest=[{"case": code, "condition": "HR", "folder": code} for code in series],
    )
    assert report.ok, report.summary()
    f.QuestionFactory(study=study, key="overall", text="Overall image quality", order=1)
    f.QuestionFactory(
        study=study,
        key="mets",
        text="Metastasis present",
        kind=Question.Kind.FINDING,
        scale=CONFIDENCE,
        order=2,
    )
    participation = f.ReaderParticipationFactory(study=study, user__username="rita")
    session = f.ReadingSessionFactory(participation=participation)
    readings = [
        f.ReadingFactory(session=session, series=s, position=i)
        for i, s in enumerate(condition.series.order_by("case__code"), start=1)
    ]
    return study, readings


@pytest.fixture
def phantom(transactional_db, tmp_path):
    oblique = (COS30, SIN30, 0.0, -SIN30, COS30, 0.0)  # rotated 30 degrees about the patient's z
    return _study(tmp_path, {"K1": dicom_files.AXIAL, "K2": oblique})[1]


def open_reading(page: Page, live_server, reading: Reading) -> None:
    page.goto(f"{live_server.url}/reading/{reading.public_id}/")
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)


def labels(page: Page) -> dict[str, str]:
    return {
        edge: page.locator(f".ws-orientation[data-edge={edge}]").text_content()
        for edge in ("left", "right", "top", "bottom")
    }


def expect_labels(page: Page, expected: dict[str, str]) -> None:
    for edge, text in expected.items():
        expect(page.locator(f".ws-orientation[data-edge={edge}]")).to_have_text(text)


def test_login_goes_to_the_next_open_reading_and_next_still_wins(phantom, live_server, page: Page, login):
    first, second = phantom
    first.status = Reading.Status.SUBMITTED
    first.save(update_fields=["status"])
    login(page, "rita", next_url=None)
    expect(page).to_have_url(f"{live_server.url}/reading/{second.public_id}/")
    expect(page.locator("h1")).to_contain_text("Reading 2 of 2")
    # The sessions list is one click away.
    page.get_by_role("link", name="All sessions").click()
    expect(page).to_have_url(f"{live_server.url}/reading/")

    # ?next= wins over the reading.
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/?next=/reading/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", f.PASSWORD)
    with page.expect_navigation():
        page.click("form button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/reading/")


def test_login_without_an_open_reading_goes_home(phantom, live_server, page: Page, login):
    Reading.objects.filter(pk__in=[r.pk for r in phantom]).update(status=Reading.Status.SUBMITTED)
    login(page, "rita", next_url=None)
    expect(page).to_have_url(f"{live_server.url}/")
    f.UserFactory(username="cora", roles=["coordinator"])
    page.context.clear_cookies()
    login(page, "cora", next_url=None)
    expect(page).to_have_url(f"{live_server.url}/")


def test_orientation_labels_follow_plane_flip_and_reset(phantom, live_server, page: Page, login):
    axial, oblique = phantom
    login(page, "rita")
    open_reading(page, live_server, axial)
    # Radiological convention: the patient's right on the left of the screen, anterior up.
    expect_labels(page, {"left": "R", "right": "L", "top": "A", "bottom": "P"})
    page.get_by_role("button", name="Coronal").click()
    expect(page.locator("#overlay-slice")).to_contain_text("(coronal)")
    expect_labels(page, {"left": "R", "right": "L", "top": "S", "bottom": "I"})
    page.get_by_role("button", name="Sagittal").click()
    expect(page.locator("#overlay-slice")).to_contain_text("(sagittal)")
    expect_labels(page, {"left": "A", "right": "P", "top": "S", "bottom": "I"})
    page.get_by_role("button", name="Acquired").click()
    expect_labels(page, {"left": "R", "right": "L", "top": "A", "bottom": "P"})
    # A flipped camera swaps the labels; Reset brings them back.
    page.evaluate(
        "() => { const v = window.workstation.viewer.viewport;"
        " v.setCamera({ flipHorizontal: true }); v.render(); }"
    )
    expect_labels(page, {"left": "L", "right": "R", "top": "A", "bottom": "P"})
    page.get_by_role("button", name="Reset").click()
    expect_labels(page, {"left": "R", "right": "L", "top": "A", "bottom": "P"})
    # The labels are readable by assistive tools.
    expect(page.locator(".ws-orientation[data-edge=left]")).to_have_attribute(
        "aria-label", "Left edge: patient right"
    )

    # An oblique slice (rows 30 degrees from the patient's left towards posterior): two letters,
    # the larger component first.
    open_reading(page, live_server, oblique)
    expect_labels(page, {"left": "RA", "right": "LP", "top": "AL", "bottom": "PR"})


def test_right_drag_up_zooms_in_and_the_factor_is_shown(phantom, live_server, page: Page, login):
    login(page, "rita")
    open_reading(page, live_server, phantom[0])
    zoom = page.locator("#overlay-zoom")
    expect(zoom).to_have_text(ZOOM_1)
    box = page.locator("#viewport").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy + 60)
    page.mouse.down(button="right")
    page.mouse.move(cx, cy - 60, steps=8)
    page.mouse.up(button="right")
    expect(zoom).not_to_have_text(ZOOM_1)
    factor = float(zoom.get_attribute("data-zoom"))
    assert factor > 1.2  # upward: in
    assert zoom.text_content() == f"Zoom {float(f'{factor:.2g}'):g}{TIMES}"
    # The image really is larger: the bright columns 12 and 52 are further apart on the canvas.
    page.get_by_role("button", name="Reset").click()
    expect(zoom).to_have_text(ZOOM_1)
    page.mouse.move(cx, cy - 60)
    page.mouse.down(button="right")
    page.mouse.move(cx, cy + 60, steps=8)
    page.mouse.up(button="right")
    expect(zoom).not_to_have_text(ZOOM_1)
    assert float(zoom.get_attribute("data-zoom")) < 0.9  # downward: out
    # The keyboard help tells the gesture.
    page.keyboard.press("?")
    expect(page.locator("#help")).to_contain_text("Right-drag up · down")


# Where the phantom's bright lines cross the canvas's middle row: the centres of the lit runs.
BRIGHT_RUNS = """() => {
  const canvas = document.querySelector('#viewport canvas');
  const ctx = canvas.getContext('2d');
  const y = Math.floor(canvas.height / 2) + 3;
  const row = ctx.getImageData(0, y, canvas.width, 1).data;
  const runs = [];
  let start = null;
  for (let x = 0; x <= canvas.width; x++) {
    const lit = x < canvas.width && row[4 * x] > 128;
    if (lit && start === null) start = x;
    if (!lit && start !== null) { runs.push((start + x - 1) / 2); start = null; }
  }
  const scale = canvas.clientWidth / canvas.width;
  return { runs: runs.map((x) => x * scale), y: y * scale };
}"""


def measure_between_bright_lines(page: Page) -> tuple[float, str]:
    """Switch the ruler on, click the two bright lines on the middle row; the length and its label."""
    page.wait_for_function(f"() => ({BRIGHT_RUNS})().runs.length === 2")
    found = page.evaluate(BRIGHT_RUNS)
    box = page.locator("#viewport").bounding_box()
    if page.locator("#ruler-toggle").get_attribute("aria-pressed") != "true":
        page.get_by_role("button", name="Ruler").click()
    for x in found["runs"]:
        page.mouse.click(box["x"] + x, box["y"] + found["y"])

    label = page.locator("#ruler-layer .ruler text")
    expect(label).to_have_count(1)
    return page.evaluate("window.workstation.ruler.length"), label.text_content()


def test_the_ruler_measures_millimetres_on_the_acquired_plane_and_the_reformats(
    phantom, live_server, page: Page, login
):
    login(page, "rita")
    open_reading(page, live_server, phantom[0])
    columns_apart = (BRIGHT_COLUMNS[1] - BRIGHT_COLUMNS[0]) * COLUMN_SPACING  # 36 mm
    rows_apart = (BRIGHT_ROWS[1] - BRIGHT_ROWS[0]) * ROW_SPACING  # 24 mm

    # Acquired (axial): the bright columns, left and right.
    mm, text = measure_between_bright_lines(page)
    assert mm == pytest.approx(columns_apart, abs=0.6)
    assert text == f"{mm:.1f} mm"

    # Coronal: the same columns, across the slices.
    page.get_by_role("button", name="Coronal").click()
    expect(page.locator("#overlay-slice")).to_contain_text("(coronal)")
    mm, _ = measure_between_bright_lines(page)
    assert mm == pytest.approx(columns_apart, abs=0.6)

    # Sagittal: the bright rows, anterior to posterior.
    page.get_by_role("button", name="Sagittal").click()
    expect(page.locator("#overlay-slice")).to_contain_text("(sagittal)")
    mm, _ = measure_between_bright_lines(page)
    assert mm == pytest.approx(rows_apart, abs=0.6)


def _missing_error(page: Page, key: str):
    return page.locator(f"fieldset.question[data-key='{key}'] .question-error")


def test_submit_errors_are_shown_in_the_question_and_the_success_notice_hides_nothing(
    phantom, live_server, page: Page, login
):
    first, second = phantom
    login(page, "rita")
    open_reading(page, live_server, first)
    page.get_by_label("4 · Good").check()
    page.get_by_role("button", name="Submit reading").click()
    # The unanswered question says so itself, its answer is marked invalid and has the focus.
    error = _missing_error(page, "mets")
    expect(error).to_be_visible()
    expect(error).to_have_text("Please answer this question before submitting.")
    mets = page.locator("fieldset.question[data-key='mets']")
    expect(mets.locator(".presence")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("document.activeElement.closest('fieldset')?.dataset.key") == "mets"
    expect(_missing_error(page, "overall")).to_be_hidden()
    expect(page.locator(".messages")).to_have_count(0)
    first.refresh_from_db()
    assert first.status != Reading.Status.SUBMITTED
    # Nothing covers Submit or the error.
    assert page.evaluate(
        """() => [document.querySelector('#submit-button'),
                  document.querySelector("fieldset[data-key='mets'] .question-error")]
          .every((e) => { const r = e.getBoundingClientRect();
                          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                          return hit === e || e.contains(hit); })"""
    )

    # Answering clears the error; the submit goes through and its notice is in the bar.
    page.get_by_label("Present").check()
    page.get_by_label("3 · likely").check()
    expect(error).to_be_hidden()
    expect(mets.locator(".presence")).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Submit reading").click()
    expect(page).to_have_url(f"{live_server.url}/reading/{second.public_id}/")
    notice = page.locator(".ws-bar #ws-notice")
    expect(notice).to_have_text("Reading 1 submitted.")
    submit = page.locator("#submit-button").bounding_box()
    shown = notice.bounding_box()
    assert shown["y"] + shown["height"] <= submit["y"] or shown["x"] + shown["width"] <= submit["x"]


def test_without_the_page_script_the_server_shows_the_error_in_the_question(
    phantom, live_server, browser: Browser
):
    first, _ = phantom
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "rita")
        page.fill("#id_password", f.PASSWORD)
        with page.expect_navigation():
            page.click("form button[type=submit]")
        expect(page).to_have_url(re.compile(rf"/reading/{first.public_id}/$"))
        page.locator("input[name='q-overall'][value='4']").check(force=True)
        with page.expect_navigation():
            page.get_by_role("button", name="Submit reading").click()
        error = _missing_error(page, "mets")
        expect(error).to_be_visible()
        expect(error).to_contain_text("Please answer")
        expect(page.locator("fieldset.question[data-key='mets'] .presence")).to_have_attribute(
            "aria-invalid", "true"
        )
        expect(_missing_error(page, "overall")).to_be_hidden()
        expect(page.locator("input[name='q-overall'][value='4']")).to_be_checked()  # saved, shown again
        expect(page.locator(".messages")).to_have_count(0)
        first.refresh_from_db()
        assert first.status != Reading.Status.SUBMITTED
    finally:
        context.close()


def test_a_radiograph_is_labelled_from_its_patient_orientation(
    transactional_db, tmp_path, live_server, page, login
):
    """A projection image has no patient geometry: its Patient Orientation (rows towards the
    patient's right, columns towards the feet: ["R", "F"]) names its edges."""
    study = f.StudyFactory(name="Radiographs", status=Study.Status.ACTIVE)
    f.ConditionFactory(study=study, label="DX")
    dicom_files.write_dx(tmp_path / "dx" / "K1")
    report = dicom_import(
        study=study, source=tmp_path / "dx", manifest=[{"case": "K1", "condition": "DX", "folder": "K1"}]
    )
    assert report.ok, report.lines()
    f.QuestionFactory(study=study, key="overall", text="Overall image quality", order=1)
    participation = f.ReaderParticipationFactory(study=study, user__username="rita")
    reading = f.ReadingFactory(
        session=f.ReadingSessionFactory(participation=participation), series=study.cases.get().series.get()
    )
    login(page, "rita")
    open_reading(page, live_server, reading)
    expect_labels(page, {"left": "L", "right": "R", "top": "S", "bottom": "I"})
    page.evaluate(
        "() => { const v = window.workstation.viewer.viewport;"
        " v.setCamera({ flipVertical: true }); v.render(); }"
    )
    expect_labels(page, {"left": "L", "right": "R", "top": "I", "bottom": "S"})
