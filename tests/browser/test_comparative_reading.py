"""A comparative reading in Chromium, as its reader lives it: two conditions of one case side by
side, blinded as A and B, their slices following each other by patient position (and their
window), the "Linked" toggle letting each go its own way; a preference and an A-versus-B scale answered
and submitted; the placement stored, and the analysis' comparisons rows naming the conditions
that were shown as A and B."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.reading.models import Answer, Reading
from readerstudy.results.selectors import study_record
from readerstudy.studies.models import FIXED_SCALES, ReadingPhase, Study
from tests import factories as f
from tests import measurement_series as ms
from tests.browser.test_reading_layout import LAYOUT_PROBLEMS, SIZES

pytestmark = pytest.mark.browser

READY_MS = 40_000
#: Slice positions (z, mm) of each condition (tests/measurement_series.py): HR 0..7, LR 1.5 and 5.5.
Z = {"HR": [float(z) for z in range(8)], "LR": [1.5, 5.5]}


@pytest.fixture
def comparative_study(transactional_db, tmp_path):
    coordinator = f.UserFactory(username="coord", roles=["coordinator"])
    study = f.StudyFactory(name="Side by side", status=Study.Status.ACTIVE, coordinators=[coordinator])
    for order, label in enumerate(("HR", "LR")):
        f.ConditionFactory(study=study, label=label, order=order)
    ms.import_case(study, tmp_path / "k1", labels=("HR", "LR"))
    phase = study.first_phase()
    ReadingPhase.objects.filter(pk=phase.pk).update(layout=ReadingPhase.Layout.COMPARATIVE, takes_marks=False)
    f.QuestionFactory(
        study=study,
        phase=phase,
        key="sharper",
        text="Which is sharper?",
        kind="preference",
        scale=fixed("preference"),
    )
    f.QuestionFactory(
        study=study,
        phase=phase,
        key="overall",
        text="Overall quality",
        kind="ab_scale",
        scale=fixed("ab_scale"),
    )
    f.ReaderParticipationFactory(study=study, code="R1", user__username="reader")
    draft = schedule_draft_create(study=study, actor=coordinator, seed="browser")
    assert draft.problems == []
    schedule_activate(schedule=draft, actor=coordinator)
    return study


def fixed(kind: str) -> list[dict]:
    return [dict(point) for point in FIXED_SCALES[kind]]


def cell(page: Page, label: str):
    return page.locator(f'.ws-compare-cell[data-label="{label}"]')


def slice_of(page: Page, label: str) -> int:
    return int(cell(page, label).locator(".compare-viewport").get_attribute("data-slice"))


def wheel_until_still(page: Page, label: str, delta: int) -> int:
    """Turn the wheel over viewport ``label`` until its slice stops changing; return the slice."""
    box = cell(page, label).locator(".compare-viewport").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    last = None
    for _ in range(12):
        page.mouse.wheel(0, delta)
        page.wait_for_timeout(120)
        now = slice_of(page, label)
        if now == last:
            break
        last = now
    return last


def nearest(z: float, label: str) -> int:
    return min(range(len(Z[label])), key=lambda k: abs(Z[label][k] - z))


def test_a_reader_compares_two_linked_viewports_and_the_answer_is_analysed(
    comparative_study, live_server, page: Page, login
):
    study = comparative_study
    reading = Reading.objects.get(session__participation__study=study)
    placed = {
        v.label: v.series.condition.label for v in reading.viewports.select_related("series__condition")
    }
    assert sorted(placed) == ["A", "B"] and sorted(placed.values()) == ["HR", "LR"]
    hr = next(label for label, condition in placed.items() if condition == "HR")
    lr = next(label for label, condition in placed.items() if condition == "LR")

    # Two viewers start at once: give a loaded machine (2 shared cores) time.
    page.set_default_navigation_timeout(READY_MS)
    page.set_default_timeout(READY_MS // 2)
    login(page, "reader")
    page.goto(f"{live_server.url}/reading/{reading.public_id}/")
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=READY_MS)
    # Two viewports, labelled A and B on the image, naming no condition.
    expect(page.locator(".ws-compare-cell")).to_have_count(2)
    # "Image A", never a bare "A" that could be read as the anterior orientation label.
    expect(cell(page, "A").locator(".compare-label")).to_have_text("Image A")
    expect(cell(page, "B").locator(".compare-label")).to_have_text("Image B")
    # At the reading room's screen sizes, both viewports and every question are on screen.
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        if shots := os.environ.get("READERSTUDY_SCREENSHOT_DIR"):
            page.screenshot(path=str(Path(shots) / f"comparative-{width}x{height}.png"))
        assert page.evaluate(LAYOUT_PROBLEMS) == [], f"at {width}x{height}"
        for label in ("A", "B"):
            box = cell(page, label).locator(".compare-viewport").bounding_box()
            assert box and box["width"] >= 0.3 * width and box["x"] + box["width"] <= width, (label, box)
    body = page.content()
    for secret in ("HR", "LR", "series"):
        assert not re.search(rf"\b{secret}\b", page.locator(".ws-comparison").inner_text())
    assert "HR series" not in body and "LR series" not in body
    # Each viewport has its orientation labels and zoom factor, the same for both (one plane).
    edges = {}
    for label in ("A", "B"):
        labels = cell(page, label).locator(".ws-orientation")
        expect(labels).to_have_count(4)
        expect(labels.first).not_to_have_text("")
        edges[label] = [labels.nth(i).inner_text() for i in range(4)]
        expect(cell(page, label).locator(".overlay-zoom")).to_have_text(re.compile(r"^Zoom [0-9.]+\u00d7$"))
    assert edges["A"] == edges["B"] and all(edges["A"])

    # Linked: scrolling the HR viewport to either end takes the LR one to its slice nearest to
    # the same patient position.
    for delta in (100, -100):
        end = wheel_until_still(page, hr, delta)
        assert end in (0, 7)
        expect(cell(page, lr).locator(".compare-viewport")).to_have_attribute(
            "data-slice", str(nearest(Z["HR"][end], "LR"))
        )
    # The window follows too: a drag on one viewport sets the same window on the other.
    box = cell(page, hr).locator(".compare-viewport").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 40, steps=5)
    page.mouse.up()
    hr_window = cell(page, hr).locator(".overlay-window")
    expect(hr_window).not_to_have_text("")
    expect(cell(page, lr).locator(".overlay-window")).to_have_text(hr_window.inner_text())

    # Unlinked: the LR viewport stays where it is while the HR one scrolls.
    page.click("#link-toggle")
    expect(page.locator("#link-toggle")).to_have_attribute("aria-pressed", "false")
    held = slice_of(page, lr)
    first = wheel_until_still(page, hr, 100)
    second = wheel_until_still(page, hr, -100)
    assert {first, second} == {0, 7}
    assert slice_of(page, lr) == held
    # L links them again (the keymap); the LR viewport catches up with the HR one.
    page.locator("body").press("l")
    expect(page.locator("#link-toggle")).to_have_attribute("aria-pressed", "true")

    # Answers: A is sharper; B much better overall. They autosave; then the reading is submitted.
    page.locator('fieldset[data-key="sharper"] input[value="-1"]').check()
    page.locator('fieldset[data-key="overall"] input[value="2"]').check()
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved", timeout=READY_MS)
    with page.expect_navigation():
        page.click("#submit-button")
    assert "/complete/" in page.url

    reading.refresh_from_db()
    assert reading.status == Reading.Status.SUBMITTED
    values = dict(Answer.objects.filter(reading=reading).values_list("question__key", "value"))
    assert values == {"sharper": -1, "overall": 2}
    # The placement is what the reader saw; the analysis names the conditions in A and B.
    assert {v.label: v.series.condition.label for v in reading.viewports.all()} == placed
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)
    rows = {row["question"]: row for row in study_record(study, []).comparisons}
    assert set(rows) == {"sharper", "overall"}
    for key, value in (("sharper", -1), ("overall", 2)):
        assert (rows[key]["condition_a"], rows[key]["condition_b"]) == (placed["A"], placed["B"])
        assert rows[key]["value"] == value and rows[key]["reader"] == "R1"
