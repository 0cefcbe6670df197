"""The brain-mets-2phase template end to end, through the services the pages use: a study made
from the template, real series imported, a locked consensus reference, detection read in two
sessions, the image-quality phase read after it (the median-sized lesion rated per lesion), CSF
and brain ROIs measured, the study locked, and every table of the paper produced: the patient
table (age by t-test, sex by Fisher), JAFROC, sensitivity at confidence >= 2 with McNemar, the
per-lesion visibility Wilcoxon and the pooled-SD CNR."""

import uuid

import numpy as np
import pytest
from django.utils import timezone

from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.measurements import services as measure
from readerstudy.reading.models import Reading
from readerstudy.reading.selectors import reading_answer_items
from readerstudy.reading.services import AnswerInput, answers_save, mark_save, reading_open, reading_submit
from readerstudy.references.models import ReferenceSet
from readerstudy.results.selectors import study_record
from readerstudy.studies.models import Case
from readerstudy.studies.services import phase_update, study_create_from_template, study_lock
from sr_engine.volume import dicom_affine, slice_normal
from stats.study_tables import analyse_study
from tests import factories as f
from tests.measurement_series import import_case

pytestmark = pytest.mark.django_db

#: Lesions per case (sizes, mm): 8 cases, 5 with metastases, 3 without.
CASE_LESIONS = ((6.0, 11.0), (), (4.0, 7.0, 13.0), (9.0,), (), (5.0, 8.0), (), (12.0, 3.5))
FIND = {"LR": 0.5, "SR": 0.85}


def _pixel(series, point_mm):
    slice_vector = slice_normal(series.orientation) * float(series.slice_spacing or 0.0)
    affine = dicom_affine(series.orientation, series.pixel_spacing, slice_vector, series.origin)
    x, y, k, _ = np.linalg.solve(affine, [*point_mm, 1.0])
    return int(np.clip(round(k), 0, series.num_slices - 1)), float(x) + 0.5, float(y) + 0.5


@pytest.fixture
def study(coordinator, tmp_path):
    study = study_create_from_template(
        template_key="brain-mets-2phase", name="Brain mets", slug="mets", washout_days=0, actor=coordinator
    )
    phase_update(phase=study.phases.get(key="image-quality"), washout_days=0, actor=coordinator)
    reference_set = f.ReferenceSetFactory(study=study)
    rng = np.random.default_rng(11)
    for n, sizes in enumerate(CASE_LESIONS, start=1):
        code = f"P{n}"
        folder = tmp_path / code
        folder.mkdir()
        import_case(study, folder, case=code, labels=("LR", "SR"), patient=f"PAT-{n}")
        case = Case.objects.get(study=study, code=code)
        case.attributes = {"age": int(rng.integers(40, 80)), "sex": "F" if n % 3 else "M"}
        case.save()
        standard = f.ReferenceStandardFactory(case=case, reference_set=reference_set, is_abnormal=bool(sizes))
        for i, size in enumerate(sizes, start=1):
            f.ReferenceLesionFactory(
                reference=standard, label=f"L{i}", size_mm=size, x_mm=4.0 + 6 * i, y_mm=8.0, z_mm=1.0 + i
            )
    ReferenceSet.objects.filter(pk=reference_set.pk).update(
        status=ReferenceSet.Status.LOCKED, locked_at=timezone.now()
    )
    for code in ("R1", "R2", "R3"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"reader-{code}")
    return study


def _read(study, phase_key, rng):
    readings = Reading.objects.filter(
        session__participation__study=study, session__phase__key=phase_key
    ).select_related("series__case", "series__condition", "session__participation__user")
    for reading in readings.order_by("session__participation__code", "session__number", "position"):
        user = reading.session.participation.user
        reading_open(reading=reading, user=user)
        label = reading.series.condition.label
        found = 0
        if phase_key == "detection":
            for lesion in reading.series.case.references.get().lesions.all():
                if rng.random() < FIND[label]:
                    found += 1
                    k, x, y = _pixel(reading.series, (lesion.x_mm, lesion.y_mm, lesion.z_mm))
                    rating = int(rng.integers(1, 5))  # 1 = "not present" is a rating, not a detection
                    mark_save(
                        reading=reading,
                        client_id=uuid.uuid4(),
                        slice_index=k,
                        x=x,
                        y=y,
                        rating=rating,
                        user=user,
                    )
        answers = {}
        for item in reading_answer_items(reading):
            q = item.question
            if q.kind == "likert":
                values = q.scale_values()
                answers[item] = AnswerInput(
                    value=int(rng.choice(values[1:] if label == "SR" else values[:-1]))
                )
            elif q.kind == "finding":
                answers[item] = AnswerInput(
                    present=found > 0, value=int(rng.choice(q.scale_values())) if found else None
                )
        assert answers_save(reading=reading, answers=answers, user=user) == {}
        assert reading_submit(reading=reading, user=user) == []


def _measure(study, coordinator):
    """A CSF-like ROI on the bright rod and a brain-like ROI in the noisy band, per case, and their CNR."""
    for case in study.cases.all():
        series = case.series.get(condition__label="SR")
        rod, _ = measure.measurement_roi_save(
            case=case,
            client_id=uuid.uuid4(),
            kind="circle",
            series=series,
            slice_index=3,
            points_mm=[[16.0, 16.0, 3.0], [17.0, 16.0, 3.0]],
            label="CSF",
            actor=coordinator,
        )
        band, _ = measure.measurement_roi_save(
            case=case,
            client_id=uuid.uuid4(),
            kind="circle",
            series=series,
            slice_index=3,
            points_mm=[[16.0, 28.0, 3.0], [19.0, 28.0, 3.0]],
            label="brain",
            actor=coordinator,
        )
        measure.measurement_cnr_save(
            case=case,
            client_id=uuid.uuid4(),
            roi_a=rod.client_id,
            roi_b=band.client_id,
            label="CSF-brain",
            actor=coordinator,
        )


def test_the_two_phase_design_produces_every_table_of_its_paper(study, coordinator):
    rng = np.random.default_rng(5)
    for phase in study.phases.order_by("order"):
        draft = schedule_draft_create(study=study, phase=phase, actor=coordinator, seed=3)
        assert draft.problems == []
        schedule_activate(schedule=draft, actor=coordinator)
    _read(study, "detection", rng)
    _read(study, "image-quality", rng)
    _measure(study, coordinator)
    assert study_lock(study=study, actor=coordinator) == 0

    record = study_record(study, study.reference_sets.all())
    assert record.settings.detection_min_rating == 2 and record.settings.cnr_formula == "pooled_sd"
    analysis = analyse_study(record)
    tables = analysis.tables

    # Table 1: patients with and without metastases, age by t-test and sex by Fisher's exact test.
    assert {(r["characteristic"], r["group"]) for r in tables["case_characteristics"].rows} >= {
        ("age", "normal"),
        ("age", "abnormal"),
        ("sex", "normal"),
        ("sex", "abnormal"),
    }
    assert {(r["characteristic"], r["test"]) for r in tables["case_characteristic_tests"].rows} == {
        ("age", "Welch's t-test"),
        ("sex", "Fisher's exact test"),
    }
    # JAFROC: a figure of merit per reader and condition, and the RRRC test of LR against SR.
    assert tables["jafroc_fom"].columns == ("reader", "LR", "SR")
    assert [r["reader"] for r in tables["jafroc_fom"].rows] == ["R1", "R2", "R3", "Average"]
    assert ("RRRC", "LR - SR") in {(r["analysis"], r["comparison"]) for r in tables["jafroc_tests"].rows}
    # Sensitivity per reader at confidence >= 2, by size stratum, and McNemar between LR and SR.
    threshold = (
        "Detection threshold: only marks rated >= 2 count; "
        "a lesion matched only by lower-rated marks is missed."
    )
    assert threshold in tables["sensitivity"].notes and threshold in tables["sensitivity_tests"].notes
    strata = {(r["reader"], r["size"]) for r in tables["sensitivity_tests"].rows}
    assert strata == {
        (reader, size) for reader in ("R1", "R2", "R3") for size in ("all", "<5 mm", "5-10 mm", ">=10 mm")
    }
    assert {r["comparison"] for r in tables["sensitivity_tests"].rows} == {"LR - SR"}
    assert {r["lesions"] for r in tables["sensitivity_tests"].rows if r["size"] == "all"} == {10}
    # Visibility of the median-sized lesion: Wilcoxon per reader, paired by case and lesion
    # (5 abnormal cases).
    visibility = [r for r in tables["likert_tests"].rows if r["question"] == "lesion_visibility"]
    assert {(r["reader"], r["test"], r["n"]) for r in visibility} == {
        ("R1", "Wilcoxon signed-rank", 5),
        ("R2", "Wilcoxon signed-rank", 5),
        ("R3", "Wilcoxon signed-rank", 5),
        ("All", "Wilcoxon signed-rank", 15),
    }
    questions = {r["question"] for r in tables["likert_tests"].rows}
    assert questions == {
        "lesion_visibility",
        "visibility_veins",
        "visibility_falx",
        "sharpness",
        "noise",
        "overall_quality",
    }
    # CNR with the pooled SD of the two regions, and SNR per region.
    cnr = [r for r in tables["measurements"].rows if r["metric"] == "cnr_pooled_sd"]
    assert {r["condition"] for r in cnr} == {"LR", "SR"} and {r["n"] for r in cnr} == {8}
    regions = {(r["region"], r["metric"]) for r in tables["measurements_by_region"].rows}
    assert {("CSF", "snr"), ("brain", "snr")} <= regions
