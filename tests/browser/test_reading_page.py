"""A reader opens a case, scrolls its slices, answers and submits, all in the browser."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.reading.models import Answer, Reading
from readerstudy.studies.models import Question, Study
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.browser

CONFIDENCE = [{"value": v, "label": label} for v, label in enumerate(["unlikely", "possible", "likely"], 1)]


@pytest.fixture
def two_cases(transactional_db, tmp_path):
    study = f.StudyFactory(name="Brain study", status=Study.Status.ACTIVE)
    condition = f.ConditionFactory(study=study, label="HR-secret-label")
    for name in ("a", "b"):
        dicom_files.write_series(tmp_path / name, slices=5, rows=40, columns=40)
    report = dicom_import(
        study=study,
        source=tmp_path,
        manifest=[
            {"case": "K1", "condition": condition.label, "folder": "a"},
            {"case": "K2", "condition": condition.label, "folder": "b"},
        ],
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
        f.ReadingFactory(session=session, series=series, position=i)
        for i, series in enumerate(condition.series.order_by("case__code"), start=1)
    ]
    return readings


def test_reader_scrolls_answers_and_submits(two_cases, live_server, page: Page, login):
    first, second = two_cases
    login(page, "rita")
    page.goto(f"{live_server.url}/reading/")
    page.get_by_role("link", name="Start").first.click()
    expect(page.locator("h1")).to_contain_text("Reading 1 of 2")
    expect(page.locator("#progress-label")).to_have_text("0 of 2 submitted")
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready")
    if shots := os.environ.get("READERSTUDY_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(shots) / "reading_page.png"), full_page=True)

    slice_label = page.locator("#overlay-slice")
    expect(slice_label).to_have_text("Slice 3 / 5")
    page.locator("#viewport").hover()
    page.mouse.wheel(0, 120)
    expect(slice_label).to_have_text("Slice 4 / 5")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(slice_label).to_have_text("Slice 2 / 5")
    # No lesion marking in this study: no marks panel.
    expect(page.locator("#marks-list")).to_have_count(0)

    # Submitting with a required question unanswered keeps the reader on the reading.
    page.get_by_label("4 · Good").check()
    page.get_by_role("button", name="Submit reading").click()
    expect(page.locator("fieldset[data-key='mets'] .question-error")).to_contain_text("Please answer")
    expect(page.get_by_label("4 · Good")).to_be_checked()

    page.get_by_label("Present").check()
    page.get_by_label("3 · likely").check()
    page.get_by_role("button", name="Submit reading").click()
    expect(page.locator("h1")).to_contain_text("Reading 2 of 2")
    expect(page).to_have_url(f"{live_server.url}/reading/{second.public_id}/")
    expect(page.locator("#progress-label")).to_have_text("1 of 2 submitted")

    first.refresh_from_db()
    assert first.status == Reading.Status.SUBMITTED
    answers = {a.question.key: (a.value, a.present) for a in Answer.objects.filter(reading=first)}
    assert answers == {"overall": (4, None), "mets": (3, True)}
    assert "HR-secret-label" not in page.content()
