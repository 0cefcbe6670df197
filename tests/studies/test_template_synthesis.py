"""The synthesis-comparison template end to end, through the services the pages use: blinded
readers judge real and synthetic 7T on Likert items, automated amygdala masks of each
condition are imported against the manual reference masks, the study is locked, and every
table of its paper is produced: the readers' scores with Wilcoxon tests and agreement, and
Dice, Jaccard, HD95 and volume difference per label with paired tests between conditions.
Its second, comparative phase shows the synthetic 7T (blinded, "A") beside the real 7T labelled
as the reference; those answers are ratings of the synthetic condition."""

from pathlib import Path

import numpy as np
import pytest

from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.reading.models import Reading
from readerstudy.reading.selectors import reading_answer_items
from readerstudy.reading.services import AnswerInput, answers_save, reading_open, reading_submit
from readerstudy.results.selectors import study_record
from readerstudy.segmentation.services import segmentation_mask_import
from readerstudy.studies.services import study_create_from_template, study_lock
from stats.study_tables import analyse_study
from tests import factories as f
from tests.segmentation import masks as mk

pytestmark = pytest.mark.django_db
N_CASES = 6


def _import(tmp_path: Path, case, condition, data: np.ndarray, actor, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(mk.nifti_bytes(data))
    segmentation_mask_import(
        case=case, condition=condition, path=path, file_name=f"{name}.nii", labels_text=mk.LABELS, actor=actor
    )


@pytest.fixture
def study(coordinator, tmp_path):
    study = study_create_from_template(
        template_key="synthesis-comparison",
        name="7T synthesis",
        slug="syn",
        washout_days=0,
        actor=coordinator,
    )
    real, synthetic = study.conditions.order_by("order")
    rng = np.random.default_rng(4)
    for n in range(1, N_CASES + 1):
        case = f.CaseFactory(study=study, code=f"S{n}")
        for condition in (real, synthetic):
            f.ImageSeriesFactory(case=case, condition=condition)
        _import(tmp_path, case, None, mk.REFERENCE, coordinator, f"ref-{n}")
        # The automated masks: on real 7T nearly the reference, on synthetic 7T shifted by a voxel or two.
        for condition, shift in ((real, int(rng.integers(0, 2))), (synthetic, int(rng.integers(1, 3)))):
            _import(
                tmp_path,
                case,
                condition,
                np.roll(mk.REFERENCE, shift, axis=2),
                coordinator,
                f"{condition.pk}-{n}",
            )
    for code in ("E1", "E2", "E3"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"expert-{code}")
    return study


def test_the_synthesis_design_produces_every_table_of_its_paper(study, coordinator):
    reading_phase, comparison = study.phases.order_by("order")
    assert comparison.is_comparative and comparison.reference_label == "7T" and not comparison.takes_marks
    for phase in (reading_phase, comparison):
        draft = schedule_draft_create(study=study, phase=phase, actor=coordinator, seed=2)
        assert draft.problems == []
        schedule_activate(schedule=draft, actor=coordinator)
    rng = np.random.default_rng(6)
    readings = Reading.objects.filter(session__participation__study=study).select_related(
        "series__condition", "session__participation__user", "session__phase"
    )
    scaled = ("likert", "reference_scale")
    for reading in readings.order_by(
        "session__participation__code", "session__phase__order", "session__number", "position"
    ):
        user = reading.session.participation.user
        if reading.session.phase == comparison:
            shown = [(v.label, v.series.condition.label) for v in reading.viewports.order_by("slot")]
            assert shown == [("A", "synthetic 7T"), ("Reference", "7T")]
        reading_open(reading=reading, user=user)
        answers = {
            item: AnswerInput(value=int(rng.choice(item.question.scale_values())))
            for item in reading_answer_items(reading)
            if item.question.kind in scaled
        }
        assert answers_save(reading=reading, answers=answers, user=user) == {}
        assert reading_submit(reading=reading, user=user) == []
    assert study_lock(study=study, actor=coordinator) == 0

    record = study_record(study, study.reference_sets.all())
    # The comparative readings count as one reading per case, never as readings of a condition.
    assert {(r["phase"], r["condition"]) for r in record.readings} == {
        ("reading", "7T"),
        ("reading", "synthetic 7T"),
    }
    versus_reference = [a for a in record.answers if a["phase"] == "comparison"]
    assert len(versus_reference) == 2 * 3 * N_CASES  # two questions, three experts, every case
    assert {a["condition"] for a in versus_reference} == {"synthetic 7T"}
    tables = analyse_study(record).tables
    likert = {q.key for q in study.questions.filter(kind="likert")}
    versus = {"reference_overall", "reference_fine_structures"}
    # The test-against-reference ratings are of one condition: no test between conditions,
    # but their distribution and the readers' agreement on them.
    assert {r["question"] for r in tables["likert_tests"].rows} == likert
    assert {r["comparison"] for r in tables["likert_tests"].rows} == {"7T - synthetic 7T"}
    assert {r["question"] for r in tables["likert_agreement"].rows} == likert | versus
    rated = {(r["question"], r["condition"]) for r in tables["likert_distribution"].rows if r["n"]}
    assert {(q, "synthetic 7T") for q in versus} <= rated
    assert not {(q, "7T") for q in versus} & rated

    overlap = tables["overlap"]
    assert overlap.columns == ("label", "metric", "condition", "n", "mean", "sd", "median", "q1", "q3")
    summary = {(r["label"], r["metric"], r["condition"]) for r in overlap.rows}
    for label in ("left amygdala", "right amygdala"):
        for metric in ("dice", "jaccard", "hd95_mm"):
            assert {(label, metric, "7T"), (label, metric, "synthetic 7T")} <= summary
    assert {r["n"] for r in overlap.rows} == {N_CASES}
    # Paired between conditions: paired t and Wilcoxon signed-rank per label and metric.
    tests = {(r["label"], r["metric"], r["comparison"], r["n"]) for r in tables["overlap_tests"].rows}
    for label in ("left amygdala", "right amygdala"):
        assert (label, "dice", "7T - synthetic 7T", N_CASES) in tests
    assert all(r["p_t"] is not None or r["p_wilcoxon"] is not None for r in tables["overlap_tests"].rows)
