"""DESS T2 agreement (``measurements.services.t2_agreement_compute``) on imported two-echo series
with known T2 (``tests.dess_series``): the maps, the regions, what cannot be compared, and how
the second echoes stay out of fidelity and of the study record."""

import io
import uuid

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from readerstudy.measurements.models import T2AgreementResult
from readerstudy.measurements.selectors import dess_echo_partners, t2_agreement_rows
from readerstudy.measurements.services import (
    MeasurementInvalid,
    fidelity_compute,
    measurement_roi_save,
    t2_agreement_compute,
)
from readerstudy.reading.services import patient_position
from readerstudy.results.selectors import study_record
from sr_engine.dess import dess_t2_map, t2_agreement
from sr_engine.roi import circle_mask
from sr_engine.volume import Volume
from tests import dess_series as ds
from tests import factories as f

pytestmark = pytest.mark.django_db

ALL = ("LR", "SR", "HR", "LR echo 2", "SR echo 2", "HR echo 2")


def _conditions(study, labels=ALL):
    return {label: f.ConditionFactory(study=study, label=label, order=n) for n, label in enumerate(labels)}


def _direct_t2(echoes) -> np.ndarray:
    """The T2 map sr_engine computes from a condition's echoes before they were written as DICOM."""
    volume = Volume(
        np.stack(echoes).astype(np.float32),
        ds._affine(),
        {"echo_times_ms": ds.ECHO_TIMES_MS, "repetition_time_ms": ds.TR_MS, "flip_angle_deg": ds.FLIP_DEG},
    )
    return dess_t2_map(volume, mask=np.ones(volume.shape, dtype=bool)).data


def test_the_maps_give_the_known_t2_and_their_agreement(study, coordinator, tmp_path):
    _conditions(study)
    cases = ds.import_dess_cases(study, tmp_path / "in", {"K1": 40.0, "K2": 48.0})
    results = t2_agreement_compute(study=study, actor=coordinator)
    assert sorted((r.case.code, r.condition.label, r.region) for r in results) == [
        (case, condition, "tissue") for case in ("K1", "K2") for condition in ("LR", "SR")
    ]
    for result in results:
        case = cases[result.case.code]
        # the HR map is the true T2 (the reference mean is over every voxel of the cylinder)
        assert result.n_voxels == int(case.inside.sum())
        assert result.reference_mean_t2_ms == pytest.approx(np.nanmean(case.t2), abs=0.01)
        echoes = ds.condition_echoes(case)
        expected = t2_agreement(
            _direct_t2(echoes["HR"]), _direct_t2(echoes[result.condition.label]), case.inside
        )
        assert result.ccc == pytest.approx(expected.ccc, abs=1e-3)
        assert (result.ccc_lower, result.ccc_upper) == pytest.approx(expected.ccc_ci, abs=1e-3)
        assert result.cv_percent == pytest.approx(expected.cv_percent, abs=0.02)
        assert result.mean_t2_ms - result.reference_mean_t2_ms == pytest.approx(
            expected.mean_difference_ms, abs=0.01
        )
        assert result.note == "" and result.computed_by == coordinator
    # SR (cubic upscale) agrees better with HR than LR (repeated thick slices)
    by_key = {(r.case.code, r.condition.label): r for r in results}
    assert by_key[("K1", "SR")].ccc > by_key[("K1", "LR")].ccc
    rows = t2_agreement_rows(study)
    assert [(r["case"], r["condition"], r["reference"]) for r in rows] == [
        ("K1", "LR", "HR"),
        ("K1", "SR", "HR"),
        ("K2", "LR", "HR"),
        ("K2", "SR", "HR"),
    ]


def test_a_circle_roi_is_a_region_of_its_own(study, coordinator, tmp_path):
    _conditions(study)
    cases = ds.import_dess_cases(study, tmp_path / "in", {"K1": 40.0})
    case = study.cases.get()
    hr = case.series.get(condition__label="HR")
    lr = case.series.get(condition__label="LR")
    # drawn on the LR series: the ROI lives in patient space and lands on the HR grid's slice 5
    centre, edge = patient_position(lr, 5, 22.0, 18.0), patient_position(lr, 5, 26.0, 18.0)
    measurement_roi_save(
        case=case, client_id=uuid.uuid4(), kind="circle", series=lr, slice_index=5,
        points_mm=[centre, edge], label="femoral cartilage", actor=coordinator,
    )  # fmt: skip
    measurement_roi_save(
        case=case, client_id=uuid.uuid4(), kind="line", series=hr, slice_index=5,
        points_mm=[centre, edge], label="profile", actor=coordinator,
    )  # fmt: skip  # a line is no region
    t2_agreement_compute(study=study, actor=coordinator)
    roi = T2AgreementResult.objects.get(condition__label="SR", region="femoral cartilage")
    mask = np.zeros(hr.num_slices * hr.rows * hr.columns, dtype=bool).reshape(16, 40, 40)
    mask[5] = circle_mask((40, 40), (22.0, 18.0), 2.0, (0.5, 0.5))
    assert roi.n_voxels == int(mask.sum()) == 49
    echoes = ds.condition_echoes(cases["K1"])
    expected = t2_agreement(_direct_t2(echoes["HR"]), _direct_t2(echoes["SR"]), mask)
    # 49 voxels spanning a few ms of T2: the echoes stored as integers show in the third decimal
    assert roi.ccc == pytest.approx(expected.ccc, abs=5e-3)
    assert roi.mean_t2_ms == pytest.approx(np.mean(_direct_t2(echoes["SR"])[mask]), abs=0.05)
    assert set(T2AgreementResult.objects.values_list("region", flat=True)) == {"tissue", "femoral cartilage"}


def test_what_cannot_be_compared_says_why(study, coordinator, tmp_path):
    _conditions(study, ("LR", "SR", "HR", "SR echo 2", "HR echo 2"))  # LR has no second echo
    ds.import_dess_cases(study, tmp_path / "in", {"K1": 40.0}, series=("LR", "SR", "HR", "HR echo 2"))
    notes = {r.condition.label: r.note for r in t2_agreement_compute(study=study, actor=coordinator)}
    assert notes == {
        "LR": 'no second echo (no condition is labelled "LR echo 2")',
        "SR": "case K1 has no SR echo 2 series",
    }
    assert T2AgreementResult.objects.filter(ccc__isnull=False).count() == 0


def test_the_reference_needs_its_second_echo(study, coordinator, tmp_path):
    _conditions(study, ("SR", "HR", "SR echo 2"))
    with pytest.raises(MeasurementInvalid, match='import it as the condition "HR echo 2"'):
        t2_agreement_compute(study=study, actor=coordinator)


def test_a_case_without_the_reference_echo_is_noted(study, coordinator, tmp_path):
    _conditions(study)
    ds.import_dess_cases(study, tmp_path / "in", {"K1": 40.0}, series=("SR", "SR echo 2", "HR"))
    (result,) = t2_agreement_compute(study=study, actor=coordinator)
    assert (result.condition.label, result.ccc, result.note) == (
        "SR",
        None,
        "case K1 has no HR echo 2 series",
    )


def test_second_echoes_are_no_arms_of_the_study(study, coordinator, tmp_path):
    conditions = _conditions(study)
    assert dess_echo_partners(study) == {
        conditions[label].pk: conditions[f"{label} echo 2"] for label in ("LR", "SR", "HR")
    }
    ds.import_dess_cases(study, tmp_path / "in", {"K1": 40.0})
    fidelity = fidelity_compute(study=study, actor=coordinator)
    assert sorted(r.condition.label for r in fidelity) == ["LR", "SR"]  # echo 2 is not held against HR
    record = study_record(study, [])
    assert record.condition_ids == ["LR", "SR", "HR"]
    assert {r["condition"] for r in record.images} == set(ALL)  # their images are still accounted for


def test_the_command_computes_it_outside_a_request(study, coordinator, tmp_path):
    _conditions(study, ("SR", "HR", "SR echo 2", "HR echo 2"))
    ds.import_dess_cases(study, tmp_path / "in", {"K1": 40.0}, series=("SR", "HR", "SR echo 2", "HR echo 2"))
    out = io.StringIO()
    call_command("t2_agreement_compute", study.slug, stdout=out)
    lines = out.getvalue().splitlines()
    assert (
        lines[0].startswith("K1  SR vs HR (tissue): CCC 0.99")
        and lines[-1] == "1 of 1 maps and regions compared."
    )
    assert T2AgreementResult.objects.get().computed_by is None
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        call_command("t2_agreement_compute", "nope")
