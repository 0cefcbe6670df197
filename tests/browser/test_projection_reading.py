"""A radiograph study end to end: DX images imported, read in the workstation, analysed.

Four knees (two with bright lesions, two normal) are imported as generated DX radiographs
under two conditions that cover the same field of view: HR (ImagerPixelSpacing 0.4 mm with
a magnification factor of 1.25, so 0.32 mm at the patient) and LR (0.64 mm, no factor). The
reference places the lesions in image millimetres. One reader reads the first knee in headless
Chromium: one image, no slice scrolling or reformats, window/level, zoom, pan and the ruler
(in image mm) work, and the marks placed on the lesions are stored at the lesions' image
millimetres. The other readings
go through the services, and the locked study's analysis matches the marks in image mm and
produces the JAFROC table.
"""

import os
import uuid
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.models import ImageSeries
from readerstudy.reading.models import LesionMark, Reading
from readerstudy.reading.services import mark_save, reading_open, reading_submit
from readerstudy.references.models import ReferenceLesion, ReferenceSet, ReferenceStandard
from readerstudy.studies.models import Study
from readerstudy.studies.services import study_lock
from tests import dicom_files as dcm
from tests import factories as f
from tests.browser.test_workstation import CANVAS_LIT_FRACTION

pytestmark = pytest.mark.browser

#: Matrix (rows, columns) and DX spacing attributes per condition: one field of view, 102.4 x 81.92 mm.
CONDITIONS = {
    "HR": {"rows": 320, "columns": 256, "imager_pixel_spacing": (0.4, 0.4), "magnification": 1.25},
    "LR": {"rows": 160, "columns": 128, "imager_pixel_spacing": (0.64, 0.64)},
}
SPACING_MM = {"HR": 0.32, "LR": 0.64}
CASES = {"KNEE-1": dcm.KNEE_LESIONS, "KNEE-2": dcm.KNEE_LESIONS[:2], "KNEE-3": (), "KNEE-4": ()}
SCALE = [{"value": v, "label": f"confidence {v}"} for v in range(1, 6)]


def lesion_mm(lesion: tuple) -> tuple[float, float, float]:
    """Where a ``KNEE_LESIONS`` lesion lies in image mm (x across, y down, from the corner), z = 0."""
    row_f, col_f, _ = lesion
    rows, columns = CONDITIONS["HR"]["rows"], CONDITIONS["HR"]["columns"]
    return col_f * columns * SPACING_MM["HR"], row_f * rows * SPACING_MM["HR"], 0.0


@pytest.fixture
def radiograph_study(transactional_db, tmp_path):
    coordinator = f.UserFactory(username="dxcoord", roles=["coordinator"])
    statistician = f.UserFactory(username="dxstat", roles=["statistician"])
    study = f.StudyFactory(
        name="Knee radiographs",
        slug="knee-dx",
        mark_scale=SCALE,
        coordinators=[coordinator],
        statisticians=[statistician],
    )
    for order, label in enumerate(CONDITIONS):
        f.ConditionFactory(study=study, label=label, order=order)
    manifest = []
    for number, (case, lesions) in enumerate(CASES.items()):
        for label, geometry in CONDITIONS.items():
            dcm.write_dx(tmp_path / "dx" / case / label, seed=number, lesions=lesions, **geometry)
            manifest.append({"case": case, "condition": label, "folder": f"{case}/{label}"})
    report = dicom_import(study=study, source=tmp_path / "dx", manifest=manifest, actor=coordinator)
    assert report.ok and len(report.imported) == 8, report.lines()

    reference_set = ReferenceSet.objects.create(
        study=study, source=ReferenceSet.Source.SIMULATION, status=ReferenceSet.Status.LOCKED
    )
    for case in study.cases.all():
        lesions = CASES[case.code]
        reference = ReferenceStandard.objects.create(
            reference_set=reference_set,
            case=case,
            kind=ReferenceStandard.Kind.FINAL,
            is_abnormal=bool(lesions),
        )
        for n, lesion in enumerate(lesions, start=1):
            x, y, z = lesion_mm(lesion)
            diameter = 2 * lesion[2] * CONDITIONS["HR"]["columns"] * SPACING_MM["HR"]
            ReferenceLesion.objects.create(
                reference=reference, label=f"L{n}", size_mm=diameter, x_mm=x, y_mm=y, z_mm=z
            )

    readings = {}
    for code in ("R1", "R2"):
        participation = f.ReaderParticipationFactory(
            study=study, user__username=f"dx{code.lower()}", code=code
        )
        session = f.ReadingSessionFactory(participation=participation, number=1)
        series = ImageSeries.objects.filter(case__study=study).order_by("case__code", "condition__label")
        # KNEE-1 under HR first: the reading the browser test reads.
        ordered = sorted(series, key=lambda s: (s.case.code != "KNEE-1" or s.condition.label != "HR", s.pk))
        readings[code] = [
            f.ReadingFactory(session=session, series=s, position=position)
            for position, s in enumerate(ordered, start=1)
        ]
    study.status = Study.Status.ACTIVE
    study.save(update_fields=["status"])
    return study, readings


#: The rating of the false positive a reader puts on a normal knee: one knee looks normal, the
#: other suspicious, and more so to R2 on LR, so that no reader separates the cases perfectly
#: and the readers' condition effects differ (the analysis then has variance to work with).
FALSE_POSITIVE = {"KNEE-3": 1, "KNEE-4": 4}
FALSE_POSITIVE_R2_LR = {"KNEE-3": 3, "KNEE-4": 5}


def read_through_services(reading: Reading, found: float) -> None:
    """Mark the share ``found`` of the lesions of the reading's case (at least one; confidence 3,
    5 on KNEE-2 under HR), put a false positive on a normal knee (``FALSE_POSITIVE``), and
    submit. Marks are image points (x, y) from the corner, a little off the lesions' centres."""
    user = reading.session.participation.user
    reading_open(reading=reading, user=user)
    series = reading.series
    spacing = SPACING_MM[series.condition.label]
    lesions = CASES[series.case.code]
    for lesion in lesions[: max(1, round(found * len(lesions)))]:
        x_mm, y_mm, _ = lesion_mm(lesion)
        mark_save(
            reading=reading,
            client_id=uuid.uuid4(),
            slice_index=0,
            x=x_mm / spacing + 0.7,
            y=y_mm / spacing - 0.4,
            rating=5 if (series.case.code, series.condition.label) == ("KNEE-2", "HR") else 3,
            user=user,
        )
    if not lesions:
        r2_lr = (reading.session.participation.code, series.condition.label) == ("R2", "LR")
        rating = (FALSE_POSITIVE_R2_LR if r2_lr else FALSE_POSITIVE)[series.case.code]
        mark_save(
            reading=reading, client_id=uuid.uuid4(), slice_index=0, x=10.2, y=12.7, rating=rating, user=user
        )
    assert reading_submit(reading=reading, user=user) == []


def canvas_point(page: Page, world: tuple[float, float, float]) -> tuple[float, float]:
    """The page position of an image point (mm) as the viewer shows it now."""
    box = page.locator("#viewport").bounding_box()
    where = page.evaluate("(w) => window.workstation.viewer.worldToCanvas(w)", list(world))
    return box["x"] + where["x"], box["y"] + where["y"]


def test_a_radiograph_is_read_as_one_image_and_its_marks_are_matched_in_image_mm(
    radiograph_study, live_server, page: Page, login, client
):
    study, readings = radiograph_study
    first = readings["R1"][0]
    assert (first.series.case.code, first.series.condition.label) == ("KNEE-1", "HR")

    login(page, "dxr1")
    page.goto(f"{live_server.url}/reading/{first.public_id}/")
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
    page.wait_for_function(f"() => ({CANVAS_LIT_FRACTION})() > 0.05")

    # One image: no slider, no planes, nothing to scroll to with the wheel or the keys.
    expect(page.locator("#overlay-slice")).to_have_text("Single image")
    expect(page.locator("#overlay-position")).to_have_text("0.32 mm/pixel")
    expect(page.locator("#slice-slider")).to_be_hidden()
    expect(page.locator("[data-plane]")).to_have_count(0)
    assert page.evaluate("window.workstation.viewer.single") is True
    box = page.locator("#viewport").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    camera = (
        "(() => { const c = window.workstation.viewer.viewport.getCamera();"
        " return [c.parallelScale, ...c.focalPoint]; })()"
    )
    before = page.evaluate(camera)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, 240)
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(200)
    assert page.evaluate(camera) == before
    expect(page.locator("#overlay-slice")).to_have_text("Single image")
    assert page.evaluate("window.workstation.viewer.sliceIndex()") == 0

    # Window/level (left drag), zoom (right drag) and pan (middle drag).
    window = page.evaluate("window.workstation.viewer.window")
    page.mouse.move(cx - 100, cy + 80)
    page.mouse.down()
    page.mouse.move(cx - 40, cy + 120, steps=6)
    page.mouse.up()
    assert page.evaluate("window.workstation.viewer.window") != window
    expect(page.locator("#overlay-window")).to_contain_text("W ")
    page.mouse.move(cx + 60, cy - 60)
    page.mouse.down(button="right")
    page.mouse.move(cx + 60, cy - 140, steps=6)
    page.mouse.up(button="right")
    zoomed = page.evaluate(camera)
    assert zoomed[0] != before[0]
    page.mouse.move(cx, cy)
    page.mouse.down(button="middle")
    page.mouse.move(cx + 30, cy + 20, steps=4)
    page.mouse.up(button="middle")
    assert page.evaluate(camera)[1:] != zoomed[1:]

    # The viewer's image points are image millimetres at the corrected spacing (0.32 mm).
    assert page.evaluate("window.workstation.viewer.imageToWorld(0, 100, 50)") == pytest.approx(
        [32.0, 16.0, 0.0]
    )

    # The ruler: two clicks 20 mm apart (image mm) read 20.0 mm, and place no mark.
    page.get_by_role("button", name="Ruler").click()
    expect(page.locator("#ruler-toggle")).to_have_attribute("aria-pressed", "true")
    page.mouse.click(*canvas_point(page, (20.0, 30.0, 0.0)))
    page.mouse.click(*canvas_point(page, (32.0, 46.0, 0.0)))
    expect(page.locator("#ruler-layer .ruler text")).to_have_text("20.0 mm")
    assert page.evaluate("window.workstation.ruler.length") == pytest.approx(20.0, abs=0.1)
    expect(page.locator("#marks-list li")).to_have_count(0)
    page.keyboard.press("m")  # off again: clicks mark lesions
    expect(page.locator("#ruler-toggle")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#ruler-layer .ruler")).to_have_count(0)

    # A mark on each of two lesions, zoomed and panned as the view is now.
    for rating, lesion in zip((4, 2), dcm.KNEE_LESIONS[:2], strict=True):
        page.mouse.click(*canvas_point(page, lesion_mm(lesion)))
        page.keyboard.press(str(rating))
    expect(page.locator("#marks-list li")).to_have_count(2)
    expect(page.locator("#mark-layer .mark")).to_have_count(2)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved")
    page.wait_for_function("() => window.workstation.queue.idle")
    marks = list(LesionMark.objects.filter(reading=first).order_by("rating"))
    assert [m.rating for m in marks] == [2, 4]
    for mark, lesion in zip(marks, reversed(dcm.KNEE_LESIONS[:2]), strict=True):
        assert mark.slice_index == 0 and mark.patient_z == 0.0
        x, y, _ = lesion_mm(lesion)
        assert abs(mark.patient_x - x) < 0.5 and abs(mark.patient_y - y) < 0.5, (
            mark.patient_x,
            mark.patient_y,
        )
        assert mark.patient_x == pytest.approx(mark.x * 0.32) and mark.patient_y == pytest.approx(
            mark.y * 0.32
        )

    if shots := os.environ.get("READERSTUDY_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(shots) / "radiograph_reading.png"), full_page=True)
    page.get_by_role("button", name="Submit reading").click()
    expect(page.locator("h1")).to_contain_text("Reading 2 of")
    first.refresh_from_db()
    assert first.status == Reading.Status.SUBMITTED

    # The other readings, through the services; then the study is locked and analysed.
    for reading in readings["R1"][1:] + readings["R2"]:
        read_through_services(reading, found=1.0 if reading.series.condition.label == "HR" else 0.5)
    assert study_lock(study=study, actor=study.coordinators.get()) == 0

    client.force_login(study.statisticians.get())
    response = client.get(reverse("readerstudy:study_analysis", args=[study.slug]))
    assert response.status_code == 200
    analysis = response.context["analysis"]
    matches = analysis.tables["lesion_matches"].as_dicts()
    browser_marks = [
        m for m in matches if m["reader"] == "R1" and m["case"] == "KNEE-1" and m["condition"] == "HR"
    ]
    assert sorted(m["outcome"] for m in browser_marks) == ["LL", "LL"]
    assert all(m["distance_mm"] < 0.5 for m in browser_marks)
    # LR marks (0.64 mm pixels) land on the same lesions, in the same image millimetres.
    lr = [m for m in matches if m["condition"] == "LR" and m["case"] == "KNEE-1"]
    assert lr and all(m["outcome"] == "LL" and m["distance_mm"] < 1.0 for m in lr)
    normal = [m for m in matches if m["case"] in ("KNEE-3", "KNEE-4")]
    assert len(normal) == 8 and all(m["outcome"] == "NL" for m in normal)
    fom = analysis.tables["jafroc_fom"].as_dicts()
    assert {row["reader"] for row in fom} >= {"R1", "R2"}
    assert "wAFROC figure of merit per reader and condition" in response.content.decode()
