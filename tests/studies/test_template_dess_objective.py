"""The dess-objective template end to end: a knee DESS super-resolution study with objective
quality (fidelity and T2 agreement with HR) and Likert image-quality grades.

A coordinator creates the study from the template, imports four synthetic DESS cases (each
condition's two echoes as two series: ``tests.dess_series``), draws a cartilage ROI, computes
image fidelity and T2 agreement from the measurement page, activates the reading schedule;
two readers grade every reading; the study is locked and analysed. Every table of the
published design is produced: fidelity, fidelity_tests, t2_agreement, likert_distribution and
likert_tests (their rows and columns; the values are tested where they are computed).
"""

import io
import uuid
import zipfile
from datetime import timedelta

import numpy as np
import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.measurements.services import measurement_roi_save
from readerstudy.reading.selectors import reading_answer_items
from readerstudy.reading.services import (
    AnswerInput,
    answers_save,
    patient_position,
    reading_open,
    reading_submit,
)
from readerstudy.results.selectors import study_record
from readerstudy.studies.models import Study
from readerstudy.studies.services import study_create_from_template, study_lock
from readerstudy.studies.study_templates import study_template_get
from stats.study_tables import SECTIONS, analyse_study
from tests import dess_series as ds
from tests import factories as f

pytestmark = pytest.mark.django_db

LEVELS = {"K1": 32.0, "K2": 38.0, "K3": 45.0, "K4": 52.0}
LIKERT = ("overall_quality", "sharpness", "noise", "artefacts")
#: Readers grade HR best and LR worst (the answers' values are not what is tested).
GRADE = {"LR": (1, 3), "SR": (2, 4), "HR": (3, 5)}


def test_the_template_is_the_published_design():
    template = study_template_get("dess-objective")
    assert template is not None
    assert template.condition_labels[:3] == ["LR", "SR", "HR"]
    assert not template.has_lesion_marks and template.reference == ""
    (phase,) = template.phases
    assert phase.conditions == ("LR", "SR", "HR") and not phase.takes_marks
    assert [q.key for q in template.all_questions] == list(LIKERT)
    assert all(q.kind == "likert" and len(q.scale) == 5 for q in template.all_questions)


@pytest.fixture
def dess_study(coordinator, tmp_path):
    study = study_create_from_template(
        template_key="dess-objective", name="Knee DESS", slug="knee-dess", washout_days=7, actor=coordinator
    )
    ds.import_dess_cases(study, tmp_path / "dess", LEVELS)
    for code in ("R1", "R2"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"reader-{code}")
    return study


def _cartilage_roi(study: Study, coordinator) -> None:
    """A circle ROI "cartilage" on every case's HR series, inside the cylinder on slice 8."""
    for case in study.cases.all():
        hr = case.series.get(condition__label="HR")
        centre = patient_position(hr, 8, 19.5, 19.5)
        edge = patient_position(hr, 8, 25.5, 19.5)
        measurement_roi_save(
            case=case,
            client_id=uuid.uuid4(),
            kind="circle",
            series=hr,
            slice_index=8,
            points_mm=[centre, edge],
            label="cartilage",
            actor=coordinator,
        )


def _read_everything(study: Study) -> None:
    """Both readers read every session in turn, each a washout after the one before."""
    rng = np.random.default_rng(5)
    start = timezone.now()
    numbers = sorted(set(study.participations.values_list("sessions__number", flat=True)))
    for k, number in enumerate(numbers):
        with time_machine.travel(start + timedelta(days=8 * k, minutes=1)):
            for participation in study.participations.order_by("code"):
                session = participation.sessions.get(number=number)
                for reading in session.readings.order_by("position"):
                    user = participation.user
                    reading_open(reading=reading, user=user)
                    low, high = GRADE[reading.series.condition.label]
                    answers = {
                        item: AnswerInput(value=int(rng.integers(low, high + 1)))
                        for item in reading_answer_items(reading)
                    }
                    assert answers_save(reading=reading, answers=answers, user=user) == {}
                    assert reading_submit(reading=reading, user=user) == []


def test_a_dess_study_runs_end_to_end(dess_study, coordinator, statistician, client):
    study = dess_study
    assert sorted(study.conditions.values_list("label", flat=True)) == sorted(
        ["LR", "SR", "HR", "LR echo 2", "SR echo 2", "HR echo 2"]
    )
    _cartilage_roi(study, coordinator)

    client.force_login(coordinator)
    page = client.get(reverse("readerstudy:measurement_index", args=[study.slug])).content.decode()
    assert "Compute T2 agreement" in page and "Compute image fidelity" in page
    assert client.post(reverse("readerstudy:measurement_fidelity", args=[study.slug])).status_code == 302
    response = client.post(reverse("readerstudy:measurement_t2_agreement", args=[study.slug]), follow=True)
    page = response.content.decode()
    assert "T2 agreement computed: 16 of 16 maps and regions compared." in page
    assert 'class="t2-agreement-table"' in page and "cartilage" in page

    phase = study.phases.get()
    draft = schedule_draft_create(study=study, phase=phase, actor=coordinator, seed=3)
    assert draft.problems == []
    schedule_activate(schedule=draft, actor=coordinator)
    read_conditions = {
        r.series.condition.label
        for p in study.participations.all()
        for s in p.sessions.all()
        for r in s.readings.select_related("series__condition")
    }
    assert read_conditions == {"LR", "SR", "HR"}  # no reader is shown a second echo
    _read_everything(study)
    assert study_lock(study=study, actor=coordinator) == 0

    record = study_record(study, [])
    assert record.condition_ids == ["LR", "SR", "HR"]
    assert {(r["condition"], r["region"]) for r in record.t2_agreement} == {
        (c, region) for c in ("LR", "SR") for region in ("tissue", "cartilage")
    }
    analysis = analyse_study(record)
    tables = analysis.tables
    assert analysis.included_cases == tuple(LEVELS)

    fidelity = tables["fidelity"]
    assert fidelity.columns == ("metric", "condition", "n", "mean", "sd")
    assert {(r["metric"], r["condition"], r["n"]) for r in fidelity.rows} == {
        (m, c, 4) for m in ("psnr", "ssim", "rmse", "psnr_tissue", "ssim_tissue") for c in ("LR", "SR")
    }
    assert {(r["metric"], r["comparison"]) for r in tables["fidelity_tests"].rows} == {
        (m, "LR - SR") for m in ("psnr", "ssim", "rmse", "psnr_tissue", "ssim_tissue")
    }

    t2 = tables["t2_agreement"]
    assert t2.columns == (
        "region",
        "condition",
        "case",
        "n",
        "ccc",
        "ccc_lower",
        "ccc_upper",
        "cv_percent",
        "mean_t2_ms",
        "reference_mean_t2_ms",
    )
    assert [(r["region"], r["condition"], r["case"]) for r in t2.rows] == [
        (region, condition, case)
        for region in ("tissue", "cartilage")
        for condition in ("LR", "SR")
        for case in (*LEVELS, "mean", "pooled")
    ]
    assert all(r["ccc"] is not None and np.isfinite(r["ccc"]) for r in t2.rows)
    assert {(r["region"], r["metric"], r["comparison"]) for r in tables["t2_agreement_tests"].rows} == {
        (region, m, "LR - SR")
        for region in ("tissue", "cartilage")
        for m in ("ccc", "cv_percent", "mean_t2_ms")
    }

    distribution = tables["likert_distribution"]
    assert {r["question"] for r in distribution.rows} == set(LIKERT)
    assert {r["condition"] for r in distribution.rows} == {"LR", "SR", "HR"}
    assert {r["question"] for r in tables["likert_tests"].rows} == set(LIKERT)

    objective = next(s for s in SECTIONS if s.key == "measurements")
    assert {"fidelity", "fidelity_tests", "t2_agreement", "t2_agreement_tests"} <= set(objective.tables)

    # The statistician's analysis page shows them, and the bundle carries the record's rows.
    study.statisticians.add(statistician)
    client.force_login(statistician)
    html = client.get(reverse("readerstudy:study_analysis", args=[study.slug])).content.decode()
    assert "DESS T2 agreement with HR per condition" in html and "Image fidelity against HR" in html
    response = client.get(reverse("readerstudy:study_export", args=[study.slug, "bundle.zip"]))
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        lines = bundle.read("record/t2_agreement.csv").decode().splitlines()
        assert lines[0].startswith("case,condition,reference,region,ccc,") and len(lines) == 1 + 16
        assert "tables/t2_agreement.csv" in bundle.namelist()
