"""The two-phase brain-metastasis design in Chromium, as its reader lives it: detection in two
sessions a washout apart, then the image-quality phase, which opens only once detection is
completed and its own washout has passed, with the median-sized lesion shown and rated."""

import re
import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.reading.models import Answer, Reading, ReadingSession
from readerstudy.reading.selectors import reading_answer_items
from readerstudy.reading.services import AnswerInput, answers_save, mark_save, reading_open, reading_submit
from readerstudy.references.models import ReferenceSet
from readerstudy.studies.models import Case
from readerstudy.studies.services import study_create_from_template
from tests import factories as f
from tests.measurement_series import import_case

pytestmark = pytest.mark.browser

#: Case P1 has three lesions: the median-sized one is L2 (8 mm), on slice z = 5 mm.
LESIONS = {"P1": ((4.0, 1.0), (8.0, 5.0), (14.0, 3.0)), "P2": ()}


@pytest.fixture
def study(transactional_db, tmp_path):
    coordinator = f.UserFactory(username="coord", roles=["coordinator"])
    study = study_create_from_template(
        template_key="brain-mets-2phase", name="Brain mets", slug="mets", washout_days=7, actor=coordinator
    )
    reference_set = f.ReferenceSetFactory(study=study)
    for n, (code, lesions) in enumerate(LESIONS.items(), start=1):
        folder = tmp_path / code
        folder.mkdir()
        import_case(study, folder, case=code, labels=("LR", "SR"), patient=f"PAT-{n}")
        standard = f.ReferenceStandardFactory(
            case=Case.objects.get(study=study, code=code),
            reference_set=reference_set,
            is_abnormal=bool(lesions),
        )
        for i, (size, z) in enumerate(lesions, start=1):
            f.ReferenceLesionFactory(
                reference=standard, label=f"L{i}", size_mm=size, x_mm=8.0 * i, y_mm=10.0, z_mm=z
            )
    ReferenceSet.objects.filter(pk=reference_set.pk).update(
        status=ReferenceSet.Status.LOCKED, locked_at=timezone.now()
    )
    f.ReaderParticipationFactory(study=study, code="R1", user__username="reader")
    for phase in study.phases.order_by("order"):
        schedule_activate(
            schedule=schedule_draft_create(study=study, phase=phase, actor=coordinator, seed=1),
            actor=coordinator,
        )
    return study


def _read_with_services(session) -> None:
    rng = np.random.default_rng(0)
    for reading in session.readings.exclude(status=Reading.Status.SUBMITTED).order_by("position"):
        user = reading.session.participation.user
        reading_open(reading=reading, user=user)
        answers = {}
        for item in reading_answer_items(reading):
            q = item.question
            answers[item] = (
                AnswerInput(value=int(rng.choice(q.scale_values())))
                if q.kind == "likert"
                else AnswerInput(present=False)
            )
        assert answers_save(reading=reading, answers=answers, user=user) == {}
        if session.phase.takes_marks:
            mark_save(reading=reading, client_id=uuid.uuid4(), slice_index=0, x=5, y=5, rating=1, user=user)
        assert reading_submit(reading=reading, user=user) == []


def _a_week_ago(session) -> None:
    """As if the reader had completed ``session`` a week and a minute ago (the washout has passed)."""
    session.refresh_from_db()
    ReadingSession.objects.filter(pk=session.pk).update(
        completed_at=session.completed_at - timedelta(days=7, minutes=1)
    )


def _session_card(page: Page, phase: str, number: int):
    return page.locator(f"section.session[data-phase='{phase}'][data-session='{number}']")


def _open_and_wait(page: Page, link) -> Reading:
    link.click()
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
    return Reading.objects.get(public_id=re.search(r"/reading/([0-9a-f-]{36})/", page.url).group(1))


def test_detection_then_image_quality_with_washouts_and_the_median_lesion(
    study, live_server, page: Page, login
):
    reader = study.participations.get(code="R1")
    detection = reader.sessions.filter(phase__key="detection").order_by("number")
    quality = reader.sessions.filter(phase__key="image-quality").order_by("number")
    login(page, "reader")
    page.goto(f"{live_server.url}/reading/")
    expect(_session_card(page, "detection", 2)).to_contain_text("Opens 7 days after you complete session 1")
    expect(_session_card(page, "image-quality", 1)).to_contain_text(
        "Opens 7 days after you complete the Detection phase"
    )

    # Detection, session 1: the first reading in the browser (a mark and its confidence),
    # the rest through the services.
    reading = _open_and_wait(
        page, _session_card(page, "detection", 1).get_by_role("link", name="Start").first
    )
    expect(page.locator("h1")).to_contain_text("Detection · Session 1")
    box = page.locator("#viewport").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator(".mark-row.selected [data-rating='3']").click()
    page.check("input[name='q-metastasis_present-present'][value='yes']")
    page.check("input[name='q-metastasis_present'][value='2']")
    with page.expect_navigation():
        page.click("#submit-button")
    reading.refresh_from_db()
    assert reading.status == Reading.Status.SUBMITTED and reading.marks.get().rating == 3
    _read_with_services(detection[0])

    _a_week_ago(detection[0])
    page.goto(f"{live_server.url}/reading/")
    expect(_session_card(page, "detection", 2).get_by_role("link", name="Start").first).to_be_visible()
    _read_with_services(detection[1])
    page.goto(f"{live_server.url}/reading/")
    # Detection completed: the image-quality phase waits for its own washout.
    expect(_session_card(page, "image-quality", 1)).to_contain_text("Opens on")
    expect(_session_card(page, "image-quality", 1).get_by_role("link")).to_have_count(0)

    _a_week_ago(detection[1])
    page.goto(f"{live_server.url}/reading/")
    expect(_session_card(page, "image-quality", 1).get_by_role("link", name="Start").first).to_be_visible()
    # The reading of case P1 (three lesions): its median-sized lesion is the one asked about.
    target = quality[0].readings.get(series__case__code="P1")
    page.goto(f"{live_server.url}/reading/{target.public_id}/")
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
    expect(page.locator("h1")).to_contain_text("Image quality · Session 1")
    fieldset = page.locator("fieldset[data-key='lesion_visibility@1']")
    expect(fieldset).to_contain_text("lesion 1")
    assert page.locator("fieldset.lesion-question").count() == 1  # one chosen lesion, not all three
    expect(page.locator("#marks-list")).to_have_count(0)  # no marks in this phase
    fieldset.get_by_role("button", name="Show the lesion").click()
    # L2 lies at z = 5 mm: slice 6 of 8 of SR (1 mm from z = 0), slice 2 of 2 of LR (z = 1.5 and 5.5).
    expected = {"SR": "Slice 6 / 8", "LR": "Slice 2 / 2"}[target.series.condition.label]
    expect(page.locator("#overlay-slice")).to_have_text(expected)
    expect(page.locator("#target-layer .lesion-target")).to_have_count(1)
    page.check("input[name='q-lesion_visibility@1'][value='4']")
    for key in ("visibility_veins", "visibility_falx", "sharpness", "noise", "overall_quality"):
        page.check(f"input[name='q-{key}'][value='3']")
    with page.expect_navigation():
        page.click("#submit-button")
    answer = Answer.objects.get(reading=target, question__key="lesion_visibility")
    assert (answer.lesion.label, answer.lesion.size_mm, answer.value) == ("L2", 8.0, 4)
