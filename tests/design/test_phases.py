"""Reading phases: the two-phase brain-metastasis design run through the services the pages use.

Detection first (two sessions with the study's washout between them), then the image-quality
phase, which opens only once the reader completed detection and the phase's washout passed;
its lesion question is asked about the median-sized lesion of the locked reference and
answered per lesion; a practice phase shows the reference after each case and is never analysed.
"""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from readerstudy.design.services import ScheduleError, schedule_activate, schedule_draft_create
from readerstudy.design.washout import session_window
from readerstudy.reading.models import Answer, ReadingSession
from readerstudy.reading.selectors import reading_answer_items
from readerstudy.reading.services import (
    AnswerInput,
    MarkInvalid,
    answers_save,
    mark_save,
    reading_open,
    reading_submit,
)
from readerstudy.references.models import ReferenceSet
from readerstudy.results.selectors import study_record
from readerstudy.studies.models import ReadingPhase
from readerstudy.studies.services import study_create_from_template
from tests import factories as f

pytestmark = pytest.mark.django_db
N_CASES = 4
#: Lesion sizes per case: the median-sized lesion is the smaller middle one (L2 of 4, L2 of 3).
LESION_SIZES = {"C01": (4.0, 6.0, 9.0, 15.0), "C02": (12.0, 5.0, 8.0), "C03": (), "C04": (7.0,)}


@pytest.fixture
def two_phase(coordinator):
    """The brain-mets-2phase template with four cases, LR and SR series, two readers and a
    locked consensus reference whose lesions have the sizes of ``LESION_SIZES``."""
    study = study_create_from_template(
        template_key="brain-mets-2phase", name="Mets", slug="mets", washout_days=7, actor=coordinator
    )
    conditions = list(study.conditions.order_by("order"))
    reference_set = f.ReferenceSetFactory(study=study)
    for code, sizes in LESION_SIZES.items():
        case = f.CaseFactory(study=study, code=code)
        for condition in conditions:
            f.ImageSeriesFactory(case=case, condition=condition)
        standard = f.ReferenceStandardFactory(case=case, reference_set=reference_set, is_abnormal=bool(sizes))
        for n, size in enumerate(sizes, start=1):
            f.ReferenceLesionFactory(reference=standard, label=f"L{n}", size_mm=size, z_mm=2.0 * n)
    for code in ("R1", "R2"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"reader-{code}")
    return study, reference_set


def _lock(reference_set):
    ReferenceSet.objects.filter(pk=reference_set.pk).update(
        status=ReferenceSet.Status.LOCKED, locked_at=timezone.now()
    )


def _activate(study, phase, coordinator):
    draft = schedule_draft_create(study=study, phase=phase, actor=coordinator, seed=7)
    assert draft.problems == []
    return schedule_activate(schedule=draft, actor=coordinator)


def _read(session: ReadingSession, user, *, with_mark: bool = False) -> None:
    for reading in session.readings.order_by("position"):
        reading_open(reading=reading, user=user)
        answers = {item: AnswerInput(value=2, present=True) for item in reading_answer_items(reading)}
        for item in answers:
            if item.question.kind == "likert":
                answers[item] = AnswerInput(value=3)
        assert answers_save(reading=reading, answers=answers, user=user) == {}
        if with_mark:
            mark_save(
                reading=reading, client_id=uuid.uuid4(), slice_index=2, x=10.0, y=10.0, rating=2, user=user
            )
        assert reading_submit(reading=reading, user=user) == []


def test_the_template_makes_two_phases_with_their_own_questions(two_phase):
    study, _ = two_phase
    detection, quality = study.phases.order_by("order")
    assert (detection.key, detection.marks_enabled, detection.washout_days) == ("detection", True, 0)
    assert (quality.key, quality.marks_enabled, quality.washout_days) == ("image-quality", False, 7)
    assert list(detection.questions.values_list("key", flat=True)) == ["metastasis_present"]
    assert quality.questions.get(key="lesion_visibility").lesion_rule == "median"
    assert study.analysis_settings == {"detection_min_rating": 2, "cnr_formula": "pooled_sd"}


def test_a_study_with_several_phases_needs_the_phase_named(two_phase, coordinator):
    study, _ = two_phase
    with pytest.raises(ScheduleError, match="several reading phases"):
        schedule_draft_create(study=study, actor=coordinator, seed=1)


def test_the_lesion_phase_cannot_be_scheduled_before_the_reference_is_locked(two_phase, coordinator):
    study, reference_set = two_phase
    quality = study.phases.get(key="image-quality")
    draft = schedule_draft_create(study=study, phase=quality, actor=coordinator, seed=1)
    assert draft.problems == [
        "The question(s) lesion_visibility are about chosen reference lesions: "
        "lock the detection reference before this phase is scheduled."
    ]
    with pytest.raises(ScheduleError, match="1 problem"):
        schedule_activate(schedule=draft, actor=coordinator)
    _lock(reference_set)
    assert schedule_draft_create(study=study, phase=quality, actor=coordinator, seed=1).problems == []


def test_detection_then_image_quality_with_the_washouts(two_phase, coordinator, client):
    study, reference_set = two_phase
    _lock(reference_set)
    detection, quality = study.phases.order_by("order")
    _activate(study, detection, coordinator)
    _activate(study, quality, coordinator)
    r1 = study.participations.get(code="R1")
    d1, d2 = r1.sessions.filter(phase=detection).order_by("number")
    q1, q2 = r1.sessions.filter(phase=quality).order_by("number")
    # Each session holds every case once: a case's LR and SR are never in one session.
    for session in (d1, d2):
        cases = [r.series.case.code for r in session.readings.all()]
        assert sorted(cases) == sorted(LESION_SIZES)
    assert session_window(q1).waiting_for_phase == "Detection"

    start = timezone.now()
    _read(d1, r1.user, with_mark=True)
    assert not session_window(d2).is_open  # the study's washout between detection sessions
    with time_machine.travel(start + timedelta(days=7, minutes=1)):
        assert session_window(d2).is_open
        assert session_window(q1).waiting_for_phase == "Detection"
        _read(d2, r1.user, with_mark=True)
        window = session_window(q1)
        assert not window.is_open and window.washout_days == 7
        assert window.opens_at == ReadingSession.objects.get(pk=d2.pk).completed_at + timedelta(days=7)
        client.force_login(r1.user)
        page = client.get(reverse("readerstudy:reader_sessions")).content.decode()
        assert "Opens on" in page and "Image quality" in page
    with time_machine.travel(start + timedelta(days=14, minutes=2)):
        assert session_window(q1).is_open
        reading = q1.readings.get(series__case__code="C01")
        items = reading_answer_items(reading)
        lesion_items = [i for i in items if i.lesion is not None]
        assert [(i.key, i.lesion.label) for i in lesion_items] == [("lesion_visibility@1", "L2")]
        client.force_login(r1.user)
        page = client.get(reverse("readerstudy:reading_detail", args=[reading.public_id])).content.decode()
        assert "Image quality" in page and 'data-key="lesion_visibility@1"' in page
        assert "Show the lesion" in page
        # Only the chosen lesion's centre reaches the page: not the other lesions of the case.
        config = page.split('id="workstation-config" type="application/json">')[1].split("</script>")[0]
        assert config.count('"point"') == 1 and "L1" not in config and "L3" not in config
        no_lesion = q1.readings.get(series__case__code="C03")
        assert all(i.lesion is None for i in reading_answer_items(no_lesion))
        _read(q1, r1.user)
    stored = Answer.objects.filter(question__key="lesion_visibility", reading__session=q1)
    # Session 1 of the phase holds each case once (under one condition): one answer per chosen lesion.
    assert sorted((a.reading.series.case.code, a.lesion.label) for a in stored) == [
        ("C01", "L2"),
        ("C02", "L3"),
        ("C04", "L1"),
    ]
    assert not session_window(q2).is_open  # the study's washout between the phase's sessions
    record = study_record(study, [reference_set])
    visibility = [a for a in record.answers if a["question"] == "lesion_visibility"]
    assert {(a["case"], a["lesion"]) for a in visibility} == {("C01", "L2"), ("C02", "L3"), ("C04", "L1")}


def test_marks_are_refused_in_a_phase_without_marks(coordinator):
    study = f.StudyFactory(coordinators=[coordinator], mark_scale=[{"value": 1, "label": "possibly"}])
    phase = study.first_phase()
    phase.takes_marks, phase.name = False, "Image quality"
    phase.save()
    case = f.CaseFactory(study=study, code="A1")
    f.ImageSeriesFactory(case=case, condition=f.ConditionFactory(study=study, label="HR"))
    f.QuestionFactory(study=study, key="q", kind="text", scale=[], required=False)
    reader = f.ReaderParticipationFactory(study=study, code="R1")
    _activate(study, phase, coordinator)
    reading = reader.sessions.get().readings.get()

    with pytest.raises(MarkInvalid, match="not marked in the Image quality phase"):
        mark_save(
            reading=reading, client_id=uuid.uuid4(), slice_index=1, x=5.0, y=5.0, rating=1, user=reader.user
        )


def test_a_practice_phase_shows_the_reference_and_is_never_analysed(coordinator, client):
    study = f.StudyFactory(coordinators=[coordinator])
    practice = study.first_phase()
    practice.kind, practice.key, practice.name = ReadingPhase.Kind.PRACTICE, "practice", "Practice"
    practice.save()
    main = ReadingPhase.objects.create(study=study, order=2, key="main", name="Main")
    condition = f.ConditionFactory(study=study, label="HR")
    reference_set = f.ReferenceSetFactory(study=study)
    case = f.CaseFactory(study=study, code="P1")
    f.ImageSeriesFactory(case=case, condition=condition)
    standard = f.ReferenceStandardFactory(case=case, reference_set=reference_set, is_abnormal=True)
    f.ReferenceLesionFactory(reference=standard, label="L1", size_mm=8.0)
    _lock(reference_set)
    for phase in (practice, main):
        f.QuestionFactory(
            study=study,
            phase=phase,
            key=f"quality-{phase.key}",
            kind="likert",
            scale=[{"value": v, "label": str(v)} for v in (1, 2, 3)],
        )
    reader = f.ReaderParticipationFactory(study=study, code="R1")
    _activate(study, practice, coordinator)
    _activate(study, main, coordinator)
    session = reader.sessions.get(phase=practice)
    reading = session.readings.get()
    client.force_login(reader.user)
    url = reverse("readerstudy:reading_detail", args=[reading.public_id])
    page = client.get(url).content.decode()
    assert "Practice case: the reference" not in page  # nothing before the reader submits
    response = client.post(url, {"q-quality-practice": "2", "submit": "1"})
    assert response.status_code == 302 and response["Location"] == url  # back to the case, with feedback
    page = client.get(url).content.decode()
    assert "Practice case: the reference" in page and "Lesion L1: 8.0 mm" in page
    assert session_window(reader.sessions.get(phase=main)).is_open  # practice done: the main phase opens
    record = study_record(study, [reference_set])
    assert record.readings == [] and record.answers == []
