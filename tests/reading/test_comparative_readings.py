"""Comparative readings through the services a coordinator's and a reader's pages use: the
hanging protocol's rules, the placement drawn from the schedule's seed, comparative answers
(idempotent, validated), and what the analysis receives (from the placement, never from
``Reading.series``)."""

import pytest
from django.core.exceptions import ValidationError

from readerstudy.audit.models import AuditAction, AuditEvent
from readerstudy.design.generator import comparative_placement
from readerstudy.design.selectors import schedule_coverage
from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.reading.models import Answer, Reading, ReadingViewport
from readerstudy.reading.services import AnswerInput, answers_save, reading_open, reading_submit
from readerstudy.results.selectors import study_reading_rows, study_record
from readerstudy.studies import services as setup
from readerstudy.studies.models import Question, Study
from tests import factories as f

pytestmark = pytest.mark.django_db
CASES = [f"K{n}" for n in range(1, 9)]


@pytest.fixture
def draft_study(coordinator):
    study = f.StudyFactory(status=Study.Status.DRAFT, coordinators=[coordinator])
    for order, label in enumerate(("LR", "SR", "HR")):
        condition = f.ConditionFactory(study=study, label=label, order=order)
        for code in CASES:
            case = study.cases.filter(code=code).first() or f.CaseFactory(study=study, code=code)
            f.ImageSeriesFactory(case=case, condition=condition)
    for code in ("R1", "R2"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"reader-{code}")
    return study


def _comparative(study, coordinator, *, conditions=("LR", "SR"), reference=""):
    phase = setup.phase_update(
        phase=study.first_phase(),
        actor=coordinator,
        layout="comparative",
        takes_marks=False,
        conditions=list(conditions),
        reference=reference,
    )
    return phase


def test_the_hanging_protocol_is_validated_with_clear_errors(draft_study, coordinator):
    phase = draft_study.first_phase()
    with pytest.raises(ValidationError, match="at least two conditions"):
        setup.phase_update(
            phase=phase, actor=coordinator, layout="comparative", takes_marks=False, conditions=["LR"]
        )
    with pytest.raises(ValidationError, match="reference must be one of the conditions"):
        _comparative(draft_study, coordinator, conditions=("LR", "SR"), reference="HR")
    with pytest.raises(ValidationError, match="no lesion marks"):
        setup.phase_update(phase=phase, actor=coordinator, layout="comparative", takes_marks=True)
    with pytest.raises(ValidationError, match="Only a comparative phase"):
        setup.phase_update(phase=phase, actor=coordinator, reference="HR")
    with pytest.raises(ValidationError, match="Not a condition"):
        _comparative(draft_study, coordinator, reference="7T")
    # A comparative question needs a comparative phase...
    with pytest.raises(ValidationError, match="comparative layout"):
        setup.question_create(
            study=draft_study,
            key="pref",
            text="Which?",
            kind="preference",
            scale=[],
            actor=coordinator,
            phase=phase,
        )
    phase = _comparative(draft_study, coordinator, conditions=("LR", "SR", "HR"), reference="HR")
    event = AuditEvent.objects.filter(action=AuditAction.PHASE_UPDATE).latest("pk")
    assert event.data["after"]["layout"] == "comparative" and event.data["after"]["reference"] == "HR"
    # ... a reference scale needs one blinded test condition beside a reference (here: two).
    with pytest.raises(ValidationError, match="exactly one blinded test condition"):
        setup.question_create(
            study=draft_study,
            key="vs_ref",
            text="Compared with the reference",
            kind="reference_scale",
            scale=[{"value": 1, "label": "worse"}, {"value": 2, "label": "same"}],
            actor=coordinator,
            phase=phase,
        )
    with pytest.raises(ValidationError, match="stores the values -1, 0, 1"):
        setup.question_create(
            study=draft_study,
            key="pref",
            text="Which?",
            kind="preference",
            scale=[{"value": 1, "label": "A"}, {"value": 2, "label": "B"}],
            actor=coordinator,
            phase=phase,
        )
    question = setup.question_create(
        study=draft_study,
        key="pref",
        text="Which?",
        kind="preference",
        scale=[],
        actor=coordinator,
        phase=phase,
    )
    assert question.scale_values() == [-1, 0, 1]
    # Once it has comparative questions, the phase keeps its layout.
    with pytest.raises(ValidationError, match="need the comparative layout"):
        setup.phase_update(phase=phase, actor=coordinator, layout="single", reference="")


def test_placement_is_drawn_from_the_seed_stored_and_reproducible(draft_study, coordinator):
    phase = _comparative(draft_study, coordinator, conditions=("LR", "SR", "HR"), reference="HR")
    f.QuestionFactory(study=draft_study, phase=phase, key="pref", kind="preference", scale=[])
    draft = schedule_draft_create(study=draft_study, actor=coordinator, seed="s-42")
    assert draft.problems == []
    assert draft.spec["comparison"] == {"blinded": ["LR", "SR"], "reference": "HR"}
    schedule_activate(schedule=draft, actor=coordinator)
    readings = Reading.objects.filter(session__participation__study=draft_study).select_related(
        "series__case", "session__participation"
    )
    # One reading per reader and case, in one session, whatever the number of conditions.
    assert readings.count() == 2 * len(CASES)
    assert {r.session.number for r in readings} == {1}
    coverage = schedule_coverage(draft_study)
    assert coverage is not None and coverage.complete
    orders = set()
    for reading in readings:
        viewports = list(
            reading.viewports.select_related("series__condition", "series__case").order_by("slot")
        )
        stored = [(v.slot, v.series.condition.label, v.label, v.is_reference) for v in viewports]
        expected = comparative_placement(
            "s-42", reading.session.participation.code, reading.series.case.code, ["LR", "SR"], "HR"
        )
        assert stored == expected
        assert {v.series.case_id for v in viewports} == {reading.series.case_id}
        assert stored[-1][1:] == ("HR", "Reference", True)
        assert reading.series_id == viewports[0].series_id  # Reading.series: the series in slot 1
        orders.add(tuple(label for _, label, _, _ in stored[:2]))
    # Left/right placement is randomised: both orders occur over 16 readings.
    assert orders == {("LR", "SR"), ("SR", "LR")}
    # Same seed, same placement; another seed, another one somewhere.
    again = comparative_placement("s-42", "R1", "K1", ["LR", "SR"], "HR")
    assert again == comparative_placement("s-42", "R1", "K1", ["LR", "SR"], "HR")
    assert any(
        comparative_placement("s-42", r, c, ["LR", "SR"])
        != comparative_placement("other", r, c, ["LR", "SR"])
        for r in ("R1", "R2")
        for c in CASES
    )
    assert ReadingViewport.objects.filter(reading__in=readings).count() == 3 * readings.count()


def _activate(study, coordinator, seed=5):
    draft = schedule_draft_create(study=study, actor=coordinator, seed=seed)
    assert draft.problems == []
    schedule_activate(schedule=draft, actor=coordinator)
    return Reading.objects.filter(session__participation__study=study).select_related(
        "session__participation__user"
    )


def test_comparative_answers_are_idempotent_and_analysed_from_the_placement(draft_study, coordinator):
    phase = _comparative(draft_study, coordinator)
    pref = setup.question_create(
        study=draft_study,
        key="pref",
        text="Which is sharper?",
        kind="preference",
        scale=[],
        actor=coordinator,
        phase=phase,
    )
    grade = setup.question_create(
        study=draft_study, key="ab", text="Overall", kind="ab_scale", scale=[], actor=coordinator, phase=phase
    )
    readings = list(_activate(draft_study, coordinator))
    reading = readings[0]
    user = reading.session.participation.user
    reading_open(reading=reading, user=user)
    assert answers_save(reading=reading, answers={pref: AnswerInput(value=-1)}, user=user) == {}
    assert answers_save(reading=reading, answers={pref: AnswerInput(value=-1)}, user=user) == {}
    assert Answer.objects.filter(reading=reading, question=pref).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.ANSWER_SAVE, target_id=str(reading.pk)).count() == 1
    errors = answers_save(reading=reading, answers={grade: AnswerInput(value=3)}, user=user)
    assert "3 is not a point of the scale" in errors["ab"]
    assert [q.key for q in reading_submit(reading=reading, user=user)] == ["ab"]

    # Every reader answers: A preferred (-1) and "B much better" (+2) on every reading.
    for reading in readings:
        user = reading.session.participation.user
        reading_open(reading=reading, user=user)
        answers = {pref: AnswerInput(value=-1), grade: AnswerInput(value=2)}
        assert answers_save(reading=reading, answers=answers, user=user) == {}
        assert reading_submit(reading=reading, user=user) == []
    Study.objects.filter(pk=draft_study.pk).update(status=Study.Status.LOCKED)
    record = study_record(draft_study, [])
    # A comparative reading is no reading of the series in slot 1.
    assert record.readings == [] and record.answers == []
    assert len(record.comparisons) == 2 * len(readings)
    for row in record.comparisons:
        reading = next(
            r
            for r in readings
            if r.session.participation.code == row["reader"] and r.series.case.code == row["case"]
        )
        placed = {
            v.label: v.series.condition.label for v in reading.viewports.select_related("series__condition")
        }
        assert (row["condition_a"], row["condition_b"]) == (placed["A"], placed["B"])
        assert row["reference"] == "" and row["phase"] == phase.key
        assert row["value"] == {"pref": -1, "ab": 2}[row["question"]]
        assert row["kind"] == {"pref": "preference", "ab": "ab_scale"}[row["question"]]
    assert {(r["condition_a"], r["condition_b"]) for r in record.comparisons} == {("LR", "SR"), ("SR", "LR")}
    exported = {row["condition"] for row in study_reading_rows(draft_study)}
    assert exported == {"A=LR; B=SR", "A=SR; B=LR"}


def test_a_reference_scale_is_a_rating_of_the_blinded_test_condition(draft_study, coordinator):
    phase = _comparative(draft_study, coordinator, conditions=("SR", "HR"), reference="HR")
    question = setup.question_create(
        study=draft_study,
        key="vs_ref",
        text="Compared with the reference",
        kind=Question.Kind.REFERENCE_SCALE,
        scale=[
            {"value": -1, "label": "worse"},
            {"value": 0, "label": "comparable"},
            {"value": 1, "label": "better"},
        ],
        actor=coordinator,
        phase=phase,
    )
    readings = list(_activate(draft_study, coordinator))
    for n, reading in enumerate(readings):
        user = reading.session.participation.user
        assert [v.label for v in reading.viewports.order_by("slot")] == ["A", "Reference"]
        assert answers_save(reading=reading, answers={question: AnswerInput(value=n % 2)}, user=user) == {}
        assert reading_submit(reading=reading, user=user) == []
    record = study_record(draft_study, [])
    assert record.comparisons == []
    assert len(record.answers) == len(readings)
    assert {row["condition"] for row in record.answers} == {"SR"}
    assert {row["question"] for row in record.answers} == {"vs_ref"}
