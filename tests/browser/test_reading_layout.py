"""The answer panel at the reading room's screen sizes: every question of every study template
is on screen, uncovered, without scrolling, at 1440x900 and 1280x720.

Each template's study is built as a coordinator would (``study_create_from_template``), with
one imported series read by one reader; the brain-metastasis templates use the demo study,
whose locked reference gives the lesion questions of the image-quality phase their lesion.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from readerstudy.demo import demo_study_create
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.reading.models import Reading, ReadingSession
from readerstudy.studies.models import Study
from readerstudy.studies.services import study_create_from_template
from readerstudy.studies.study_templates import STUDY_TEMPLATES
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.browser


SIZES = [(1440, 900), (1280, 720)]

# What is not where it should be: every question's fieldset and every scale point (and the
# Submit button) must lie inside the viewport, with the element at its centre being itself
# or inside it (nothing covers it), and nothing may have been scrolled.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const W = window.innerWidth, H = window.innerHeight;
  const check = (element, what) => {
    const r = element.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) { problems.push(`${what}: not shown`); return; }
    if (r.left < 0 || r.top < 0 || r.right > W + 0.5 || r.bottom > H + 0.5) {
      const at = [r.left, r.top, r.right, r.bottom].map(Math.round);
      problems.push(`${what}: outside the viewport (${at[0]},${at[1]})-(${at[2]},${at[3]})`);
      return;
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === element || element.contains(hit))) {
      problems.push(`${what}: covered by ${hit ? hit.tagName + '.' + hit.className : 'nothing'}`);
    }
  };
  const fieldsets = [...document.querySelectorAll('#reading-form fieldset.question')];
  if (!fieldsets.length) problems.push('no questions');
  for (const fieldset of fieldsets) {
    const name = fieldset.dataset.key;
    check(fieldset, `question ${name}`);
    for (const point of fieldset.querySelectorAll('label.point')) {
      check(point, `question ${name}, point "${point.textContent.trim()}"`);
    }
    for (const box of fieldset.querySelectorAll('textarea')) check(box, `question ${name}, text box`);
  }
  const submit = document.querySelector('#submit-button');
  if (submit) check(submit, 'Submit'); else problems.push('no Submit button');
  const scrolled = document.scrollingElement.scrollTop + document.querySelector('.ws-questions').scrollTop;
  if (scrolled) problems.push(`scrolled by ${scrolled}px`);
  return problems;
}"""


def _template_reading(template: str, tmp_path: Path) -> tuple[str, Reading]:
    """A reader and their reading of ``template``'s (first) phase, in an active study."""
    coordinator = f.UserFactory(username="coord", roles=["coordinator"])
    study = study_create_from_template(
        template_key=template,
        name=f"Layout {template}",
        slug=f"layout-{template}",
        washout_days=0,
        actor=coordinator,
    )
    condition = study.conditions.order_by("order").first()
    dicom_files.write_series(tmp_path / "a", slices=6, rows=48, columns=48)
    report = dicom_import(
        study=study, source=tmp_path, manifest=[{"case": "K1", "condition": condition.label, "folder": "a"}]
    )
    assert report.ok, report.summary()
    Study.objects.filter(pk=study.pk).update(status=Study.Status.ACTIVE)
    participation = f.ReaderParticipationFactory(study=study, user__username="rita")
    session = f.ReadingSessionFactory(
        participation=participation, phase=study.phases.order_by("order").first()
    )
    reading = f.ReadingFactory(session=session, series=condition.series.get(), position=1)
    return "rita", reading


def _demo_reading(template: str) -> tuple[str, Reading]:
    """reader1's first reading of the demo study's last phase (earlier phases completed long ago)."""
    demo_study_create(n_cases=2, slices=24, template=template)
    last_phase = Study.objects.get(slug="demo-brain-mets").phases.order_by("-order").first()
    sessions = ReadingSession.objects.filter(participation__user__username="reader1")
    sessions.exclude(phase=last_phase).update(completed_at=timezone.now() - timedelta(days=60))
    session = sessions.filter(phase=last_phase).order_by("number").first()
    return "reader1", session.readings.order_by("position").first()


DEMO_TEMPLATES = {"brain-mets-froc", "brain-mets-2phase"}


@pytest.mark.parametrize("template", sorted(STUDY_TEMPLATES))
def test_every_question_and_scale_point_is_on_screen_without_scrolling(
    template, transactional_db, tmp_path, live_server, page: Page, login
):
    if template in DEMO_TEMPLATES:
        username, reading = _demo_reading(template)
        password = "demo"
    else:
        username, reading = _template_reading(template, tmp_path)
        password = f.PASSWORD
    login(page, username, password)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}/reading/{reading.public_id}/")
        expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
        expect(page.locator("fieldset.question").first).to_be_visible()
        if template == "brain-mets-2phase":  # the image-quality phase asks about a shown lesion
            expect(page.locator("fieldset.lesion-question")).not_to_have_count(0)
        if shots := os.environ.get("READERSTUDY_SCREENSHOT_DIR"):
            page.screenshot(path=str(Path(shots) / f"layout-{template}-{width}x{height}.png"))
        problems = page.evaluate(LAYOUT_PROBLEMS)
        assert problems == [], f"{template} at {width}x{height}:\n" + "\n".join(problems)
