"""The knee-3arm template end to end, through the services the pages use: LR, SR and HR read
by three readers (Likert items and pathology findings), arthroscopy as the reference in 10 of
the cases, the study locked, and every table of its paper produced: Likert scores per
condition with Friedman and pairwise Wilcoxon tests, inter-reader agreement, and sensitivity,
specificity and AUC of each finding against arthroscopy with McNemar and DeLong tests."""

import numpy as np
import pytest
from django.utils import timezone

from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.reading.models import Reading
from readerstudy.reading.selectors import reading_answer_items
from readerstudy.reading.services import AnswerInput, answers_save, reading_open, reading_submit
from readerstudy.references.models import ReferenceFinding, ReferenceSet
from readerstudy.results.selectors import study_record
from readerstudy.studies.services import study_create_from_template, study_lock
from readerstudy.studies.study_templates import study_template_get
from stats.study_tables import analyse_study
from tests import factories as f

pytestmark = pytest.mark.django_db
N_CASES = 12
WITH_ARTHROSCOPY = 10
#: How often a reader calls a finding right, per condition.
CORRECT = {"LR": 0.6, "SR": 0.8, "HR": 0.9}


@pytest.fixture
def study(coordinator):
    study = study_create_from_template(
        template_key="knee-3arm", name="Knee 7T", slug="knee", washout_days=0, actor=coordinator
    )
    conditions = list(study.conditions.order_by("order"))
    arthroscopy = f.ReferenceSetFactory(study=study, source=ReferenceSet.Source.ARTHROSCOPY)
    findings = [q.key for q in study.questions.filter(kind="finding")]
    rng = np.random.default_rng(2)
    for n in range(1, N_CASES + 1):
        case = f.CaseFactory(study=study, code=f"K{n:02d}")
        for condition in conditions:
            f.ImageSeriesFactory(case=case, condition=condition)
        if n <= WITH_ARTHROSCOPY:
            standard = f.ReferenceStandardFactory(case=case, reference_set=arthroscopy, is_abnormal=True)
            for key in findings:
                ReferenceFinding.objects.create(reference=standard, key=key, present=bool(rng.random() < 0.5))
    ReferenceSet.objects.filter(pk=arthroscopy.pk).update(
        status=ReferenceSet.Status.LOCKED, locked_at=timezone.now()
    )
    for code in ("R1", "R2", "R3"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"reader-{code}")
    return study


def _read_all(study, rng):
    truth = {
        (finding.reference.case.code, finding.key): finding.present
        for finding in ReferenceFinding.objects.filter(reference__case__study=study).select_related(
            "reference__case"
        )
    }
    readings = Reading.objects.filter(session__participation__study=study).select_related(
        "series__case", "series__condition", "session__participation__user"
    )
    for reading in readings.order_by("session__participation__code", "session__number", "position"):
        user = reading.session.participation.user
        reading_open(reading=reading, user=user)
        label, case = reading.series.condition.label, reading.series.case.code
        answers = {}
        for item in reading_answer_items(reading):
            q = item.question
            if q.kind == "likert":
                values = q.scale_values()
                shift = {"LR": 0, "SR": 1, "HR": 1}[label]
                answers[item] = AnswerInput(value=int(rng.choice(values[shift : len(values) - 1 + shift])))
            elif q.kind == "finding":
                present = truth.get((case, q.key), bool(rng.random() < 0.5))
                called = present if rng.random() < CORRECT[label] else not present
                answers[item] = AnswerInput(
                    present=called, value=int(rng.choice(q.scale_values())) if called else None
                )
        assert answers_save(reading=reading, answers=answers, user=user) == {}
        assert reading_submit(reading=reading, user=user) == []


def test_the_template_names_arthroscopy_as_its_reference():
    template = study_template_get("knee-3arm")
    assert template.reference == "arthroscopy" and "subset" in template.reference_note
    assert template.condition_labels == ["LR", "SR", "HR"] and not template.has_lesion_marks


def test_the_3arm_design_produces_every_table_of_its_paper(study, coordinator):
    draft = schedule_draft_create(study=study, actor=coordinator, seed=4)
    assert draft.problems == []
    schedule_activate(schedule=draft, actor=coordinator)
    _read_all(study, np.random.default_rng(8))
    assert study_lock(study=study, actor=coordinator) == 0

    tables = analyse_study(study_record(study, study.reference_sets.all())).tables
    likert = [q.key for q in study.questions.filter(kind="likert")]
    findings = [q.key for q in study.questions.filter(kind="finding")]

    distribution = tables["likert_distribution"]
    assert {(r["question"], r["condition"]) for r in distribution.rows} == {
        (q, c) for q in likert for c in ("LR", "SR", "HR")
    }
    tests = tables["likert_tests"]
    assert {r["question"] for r in tests.rows} == set(likert)
    # Three conditions: Friedman over all three, then Holm-adjusted Wilcoxon for each pair.
    overall = {(r["question"], r["reader"]) for r in tests.rows if r["test"] == "Friedman"}
    assert overall == {(q, reader) for q in likert for reader in ("R1", "R2", "R3", "All")}
    pairs = {r["comparison"] for r in tests.rows if r["test"] != "Friedman"}
    assert pairs == {"LR - SR", "LR - HR", "SR - HR"}
    assert {r["question"] for r in tables["likert_agreement"].rows} == set(likert)

    diagnostic = tables["diagnostic"]
    assert {
        (r["reference"], r["finding"], r["condition"]) for r in diagnostic.rows if r["reader"] == "R1"
    } == {("arthroscopy v1", key, c) for key in findings for c in ("LR", "SR", "HR")}
    # Only the cases with arthroscopy count against it.
    assert {r["tp"] + r["fn"] + r["tn"] + r["fp"] for r in diagnostic.rows} == {WITH_ARTHROSCOPY}
    assert {r["finding"] for r in tables["diagnostic_tests"].rows} == set(findings)
