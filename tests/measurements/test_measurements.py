"""Objective image-quality measurements: ROIs in patient space measured on every condition's
stored pixels, idempotent writes, CNRs, the selectors' rows, image fidelity against a
reference condition, and who may reach which page (never a reader of the study)."""

import hashlib
import io
import json
import math
import uuid

import numpy as np
import pydicom
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from readerstudy.audit.models import AuditEvent
from readerstudy.imaging.models import DicomInstance
from readerstudy.measurements import services as svc
from readerstudy.measurements.models import (
    FidelityResult,
    MeasurementCNR,
    MeasurementCNRValue,
    MeasurementROI,
    MeasurementValue,
)
from readerstudy.measurements.selectors import (
    fidelity_reference_condition,
    fidelity_rows,
    measurement_case_state,
    measurement_rows,
)
from readerstudy.reading.services import patient_position
from sr_engine import roi as sr_roi
from sr_engine.dicom_series import read_dicom_series
from sr_engine.metrics import compare
from tests import dicom_files
from tests import factories as f
from tests import measurement_series as ms

pytestmark = pytest.mark.django_db

#: 10-90 % rise of one side of a Gaussian, in units of its sigma.
ERD_PER_SIGMA_GAUSSIAN = math.sqrt(2 * math.log(10)) - math.sqrt(2 * math.log(10 / 9))
#: The rod's centre in pixels (column, row) of every series.
ROD = (ms.CENTRE_MM[0] / ms.PIXEL_MM, ms.CENTRE_MM[1] / ms.PIXEL_MM)


# ----------------------------------------------------------------------------- fixtures and helpers


def mm(series, slice_index, *points):
    """Patient coordinates of pixel points (column, row) on a slice of ``series``."""
    return [list(patient_position(series, slice_index, x, y)) for x, y in points]


def draw_line(case, series, coordinator, *, slice_index=3, start=(4, ROD[1]), end=(60, ROD[1]), **kwargs):
    kwargs.setdefault("client_id", uuid.uuid4())
    return svc.measurement_roi_save(
        case=case,
        kind="line",
        series=series,
        slice_index=slice_index,
        points_mm=mm(series, slice_index, start, end),
        actor=coordinator,
        **kwargs,
    )


def draw_circle(case, series, coordinator, centre, radius_px, *, slice_index=3, **kwargs):
    kwargs.setdefault("client_id", uuid.uuid4())
    edge = (centre[0] + radius_px, centre[1])
    return svc.measurement_roi_save(
        case=case,
        kind="circle",
        series=series,
        slice_index=slice_index,
        points_mm=mm(series, slice_index, centre, edge),
        actor=coordinator,
        **kwargs,
    )


# ----------------------------------------------------------------------------- geometry


def test_patient_points_map_back_to_each_series_grid(case_series):
    _, series, _ = case_series
    point = patient_position(series["HR"], 3, 10.25, 20.5)
    assert svc.series_coordinates(series["HR"], point) == pytest.approx((10.25, 20.5, 3.0))
    # LR: 4 mm slices centred at z = 1.5 and 5.5 mm; z = 3 mm is 0.375 of the way to the second.
    assert svc.series_coordinates(series["LR"], point) == pytest.approx((10.25, 20.5, 0.375))


# ----------------------------------------------------------------------------- line ROIs


def test_a_line_roi_is_measured_on_every_condition_from_the_stored_pixels(case_series, coordinator):
    case, series, _ = case_series
    roi, created = draw_line(case, series["HR"], coordinator, label="rod")
    assert created and roi.number == 1 and roi.kind == "line"
    assert roi.drawn_on == series["HR"] and roi.drawn_slice == 3
    assert roi.points_mm[0] == pytest.approx([2.0, 16.0, 3.0]) and roi.points_mm[1] == pytest.approx(
        [30.0, 16.0, 3.0]
    )
    values = {v.series.condition.label: v for v in roi.values.select_related("series__condition")}
    assert set(values) == {"HR", "SR", "LR"}
    for label, value in values.items():
        sigma = ms.SIGMA_MM[label]
        assert value.error == "" and value.notes == {}
        assert value.length_mm == pytest.approx(28.0)
        assert value.fwhm_mm == pytest.approx(ms.FWHM_PER_SIGMA * sigma, rel=0.02), label
        assert value.edge_rise_distance_mm == pytest.approx(ERD_PER_SIGMA_GAUSSIAN * sigma, rel=0.03), label
        assert value.edge_rise_slope == pytest.approx(0.8 * 400 / value.edge_rise_distance_mm, rel=0.03)
        assert value.mean is None and value.snr is None
        assert len(value.profile["mm"]) == len(value.profile["values"]) > 10
    # Each series on its nearest slice: HR and SR slice 4 (index 3); LR's first 4 mm slice
    # (centred at 1.5 mm, 1.5 mm from the ROI).
    assert (values["HR"].slice_index, values["HR"].plane_distance_mm) == (3, 0.0)
    assert values["SR"].slice_index == 3
    assert (values["LR"].slice_index, values["LR"].plane_distance_mm) == (0, pytest.approx(1.5))
    assert values["LR"].points == [[4.0, 32.0], [60.0, 32.0]]
    # Sharper conditions have the narrower profile.
    assert values["HR"].fwhm_mm < values["SR"].fwhm_mm < values["LR"].fwhm_mm
    event = AuditEvent.objects.get(action="measurement.roi.create")
    assert event.study == case.study
    assert event.data["after"]["label"] == "rod" and event.data["after"]["kind"] == "line"


def test_the_same_roi_sent_twice_is_stored_once(case_series, coordinator):
    case, series, _ = case_series
    client_id = uuid.uuid4()
    first, created = draw_line(case, series["HR"], coordinator, client_id=client_id, label="rod")
    again, created_again = draw_line(case, series["HR"], coordinator, client_id=client_id, label="rod")
    assert created and not created_again and again.pk == first.pk
    assert MeasurementROI.objects.count() == 1 and MeasurementValue.objects.count() == 3
    assert AuditEvent.objects.filter(action__startswith="measurement.").count() == 1
    # A change (here: its label and where it lies) updates the same ROI and its values.
    moved, created = draw_line(
        case, series["SR"], coordinator, client_id=client_id, label="rod edge", slice_index=5
    )
    assert not created and moved.pk == first.pk and moved.number == 1 and moved.label == "rod edge"
    assert moved.drawn_on == series["SR"]
    assert MeasurementValue.objects.get(roi=moved, series=series["HR"]).slice_index == 5
    assert AuditEvent.objects.filter(action="measurement.roi.update").count() == 1
    # A client id names one ROI: it keeps its kind.
    with pytest.raises(svc.MeasurementInvalid, match="keeps its kind"):
        draw_circle(case, series["HR"], coordinator, (32, 56), 6, client_id=client_id)


@pytest.mark.parametrize(
    "start, end, slice_index, message",
    [
        ((10, 10), (10, 10), 3, "zero length"),
        ((10, 10), (10.4, 10), 3, "at least half a pixel"),
        ((10, 10), (70, 10), 3, "outside the image"),
        ((-2, 10), (30, 10), 3, "outside the image"),
        ((10, 10), (20, 10), 9, "outside the series"),
    ],
)
def test_bad_lines_are_refused(case_series, coordinator, start, end, slice_index, message):
    case, series, _ = case_series
    hr = series["HR"]
    points = mm(hr, min(slice_index, 7), start, end)
    with pytest.raises(svc.MeasurementInvalid, match=message):
        svc.measurement_roi_save(
            case=case,
            client_id=uuid.uuid4(),
            kind="line",
            series=hr,
            slice_index=slice_index,
            points_mm=points,
            actor=coordinator,
        )
    assert not MeasurementROI.objects.exists()


def test_points_must_lie_on_the_slice_and_the_series_in_the_case(case_series, coordinator, study):
    case, series, _ = case_series
    hr = series["HR"]
    off_slice = [mm(hr, 3, (10, 10))[0], mm(hr, 5, (20, 10))[0]]
    with pytest.raises(svc.MeasurementInvalid, match="not on slice 4"):
        svc.measurement_roi_save(
            case=case,
            client_id=uuid.uuid4(),
            kind="line",
            series=hr,
            slice_index=3,
            points_mm=off_slice,
            actor=coordinator,
        )
    other_case = f.CaseFactory(study=study, code="K2")
    with pytest.raises(svc.MeasurementInvalid, match="series of this case"):
        draw_line(other_case, hr, coordinator)
    with pytest.raises(svc.MeasurementInvalid, match="kind must be"):
        svc.measurement_roi_save(
            case=case,
            client_id=uuid.uuid4(),
            kind="polygon",
            series=hr,
            slice_index=3,
            points_mm=mm(hr, 3, (1, 1), (9, 9)),
            actor=coordinator,
        )
    with pytest.raises(svc.MeasurementInvalid, match="at most 100"):
        draw_line(case, hr, coordinator, label="x" * 101)


def test_a_line_across_one_edge_has_no_fwhm_and_says_why(case_series, coordinator):
    case, series, _ = case_series
    # From the rod's centre outwards: one falling edge, no structure.
    roi, _ = draw_line(case, series["HR"], coordinator, start=ROD, end=(60, ROD[1]))
    value = roi.values.get(series=series["HR"])
    assert value.fwhm_mm is None and "half its maximum" in value.notes["fwhm_mm"]
    # The edge rise is still measured (between the levels at the two ends of the line).
    assert value.edge_rise_distance_mm > 0 and value.edge_rise_slope > 0


def test_series_without_pixels_or_outside_the_roi_get_a_reason(case_series, coordinator, study, tmp_path):
    case, series, _ = case_series
    hr = series["HR"]
    geometry = dict(rows=64, columns=64, pixel_spacing=[0.5, 0.5], slice_spacing=1.0, num_slices=8)
    empty = f.ImageSeriesFactory(
        case=case, condition=f.ConditionFactory(study=study, label="EMPTY", order=5), **geometry
    )
    far = f.ImageSeriesFactory(
        case=case,
        condition=f.ConditionFactory(study=study, label="FAR", order=6),
        origin=[0, 0, 80.0],
        **geometry,
    )
    headers = f.ImageSeriesFactory(
        case=case, condition=f.ConditionFactory(study=study, label="HEADERS", order=7), **geometry
    )
    path = dicom_files.write_without_pixels(tmp_path / "nopixels.dcm")
    data = path.read_bytes()
    instance = DicomInstance(
        series=headers,
        sop_instance_uid="2.25.4242",
        slice_index=3,
        image_position=[0, 0, 3.0],
        sha256=hashlib.sha256(data).hexdigest(),
        source_sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    instance.file.save("nopixels.dcm", ContentFile(data), save=False)
    instance.save()

    roi, _ = draw_line(case, hr, coordinator)
    values = {v.series_id: v for v in roi.values.all()}
    assert len(values) == 6
    assert values[empty.pk].error == "This series has no stored image for slice 4."
    assert values[empty.pk].fwhm_mm is None and values[empty.pk].slice_index == 3
    assert "outside this series' slices" in values[far.pk].error
    assert values[headers.pk].error == "Slice 4 has no pixel data."
    assert values[hr.pk].error == "" and values[hr.pk].fwhm_mm is not None
    # A damaged file is refused by its checksum.
    stored = DicomInstance.objects.filter(series=hr, slice_index=3).get()
    stored.sha256 = "0" * 64
    stored.save()
    svc.measurement_case_recompute(case=case, actor=coordinator)
    assert "checksum" in MeasurementValue.objects.get(roi=roi, series=hr).error


# ----------------------------------------------------------------------------- circles and CNR


def mask_stats(volume, slice_index, centre, radius_mm):
    image = volume.data[slice_index].astype(np.float64)
    mask = sr_roi.circle_mask(image.shape, centre, radius_mm, ms.PIXEL_MM)
    return image[mask].mean(), image[mask].std(ddof=1), int(mask.sum())


def test_circle_rois_mean_sd_snr_and_cnr(case_series, coordinator):
    case, series, volumes = case_series
    noise, _ = draw_circle(case, series["HR"], coordinator, (32, 56), 6, label="background")
    rod, _ = draw_circle(case, series["HR"], coordinator, ROD, 2, label="rod")
    flat, _ = draw_circle(case, series["HR"], coordinator, (8, 40), 4, label="flat")
    assert noise.radius_mm == pytest.approx(3.0) and noise.points_mm[0] == pytest.approx([16.0, 28.0, 3.0])
    for label, index in (("HR", 3), ("SR", 3), ("LR", 0)):
        value = noise.values.get(series=series[label])
        mean, sd, n = mask_stats(volumes[label], index, (32, 56), 3.0)
        assert value.n_pixels == n == 113
        # The stored pixels are the written ones to within DICOM's rescale step.
        assert value.mean == pytest.approx(mean, abs=0.01) and value.sd == pytest.approx(sd, abs=0.01)
        assert value.sd == pytest.approx(ms.NOISE_SD, rel=0.2)
        assert value.snr == pytest.approx(value.mean / value.sd)
        assert value.fwhm_mm is None
    # A region of constant background has no SD, hence no SNR, and says so.
    flat_value = flat.values.get(series=series["HR"])
    assert flat_value.mean == pytest.approx(ms.BACKGROUND, abs=0.01) and flat_value.sd == pytest.approx(
        0, abs=0.01
    )
    assert flat_value.sd == 0.0 and flat_value.snr is None
    assert "SD is zero" in flat_value.notes["snr"]

    cnr, created = svc.measurement_cnr_save(
        case=case,
        client_id=uuid.uuid4(),
        roi_a=rod.client_id,
        roi_b=noise.client_id,
        label="rod/noise",
        actor=coordinator,
    )
    assert created
    for label in ("HR", "SR", "LR"):
        a = rod.values.get(series=series[label])
        b = noise.values.get(series=series[label])
        value = cnr.values.get(series=series[label])
        assert value.value == pytest.approx(abs(a.mean - b.mean) / b.sd) and value.error == ""
    # The rod (400 above the background at its centre) against noise of SD 10: CNR about 35.
    for value in cnr.values.all():
        assert 25 < value.value < 50
    # Sent again: nothing new.
    again, created = svc.measurement_cnr_save(
        case=case,
        client_id=cnr.client_id,
        roi_a=rod.client_id,
        roi_b=noise.client_id,
        label="rod/noise",
        actor=coordinator,
    )
    assert not created and again.pk == cnr.pk and MeasurementCNR.objects.count() == 1
    assert AuditEvent.objects.filter(action="measurement.cnr.create").count() == 1
    # Moving a circle measures its CNRs again.
    draw_circle(case, series["HR"], coordinator, (40, 56), 6, client_id=noise.client_id, label="background")
    b = MeasurementValue.objects.get(roi=noise, series=series["HR"])
    a = MeasurementValue.objects.get(roi=rod, series=series["HR"])
    assert cnr.values.get(series=series["HR"]).value == pytest.approx(abs(a.mean - b.mean) / b.sd)


def test_cnr_needs_two_different_circles_of_the_case(case_series, coordinator):
    case, series, _ = case_series
    line, _ = draw_line(case, series["HR"], coordinator)
    circle, _ = draw_circle(case, series["HR"], coordinator, (32, 56), 6)
    for a, b, message in (
        (line.client_id, circle.client_id, "two circle ROIs"),
        (circle.client_id, circle.client_id, "two different ROIs"),
        (circle.client_id, uuid.uuid4(), "two ROIs of this case"),
    ):
        with pytest.raises(svc.MeasurementInvalid, match=message):
            svc.measurement_cnr_save(case=case, client_id=uuid.uuid4(), roi_a=a, roi_b=b, actor=coordinator)
    assert not MeasurementCNR.objects.exists()


def test_deleting_an_roi_deletes_its_values_and_cnrs(case_series, coordinator):
    case, series, _ = case_series
    a, _ = draw_circle(case, series["HR"], coordinator, ROD, 2)
    b, _ = draw_circle(case, series["HR"], coordinator, (32, 56), 6)
    cnr, _ = svc.measurement_cnr_save(
        case=case, client_id=uuid.uuid4(), roi_a=a.client_id, roi_b=b.client_id, actor=coordinator
    )
    assert MeasurementValue.objects.count() == 6 and MeasurementCNRValue.objects.count() == 3
    assert svc.measurement_roi_delete(case=case, client_id=b.client_id, actor=coordinator)
    assert not svc.measurement_roi_delete(case=case, client_id=b.client_id, actor=coordinator)
    assert MeasurementValue.objects.count() == 3 and not MeasurementCNR.objects.exists()
    assert not MeasurementCNRValue.objects.exists()
    event = AuditEvent.objects.get(action="measurement.roi.delete")
    assert event.data["cnrs_deleted"] == [str(cnr.client_id)]
    # The next ROI gets the number after the largest one in use.
    c, _ = draw_line(case, series["HR"], coordinator)
    assert c.number == 2


def test_recompute_measures_a_series_imported_later(study, conditions, coordinator, tmp_path):
    ms.import_case(study, tmp_path / "first", labels=("HR", "LR"))
    case = study.cases.get(code="K1")
    hr = case.series.get(condition__label="HR")
    roi, _ = draw_line(case, hr, coordinator)
    assert roi.values.count() == 2
    ms.import_case(study, tmp_path / "later", labels=("SR",))
    assert roi.values.count() == 2
    assert svc.measurement_case_recompute(case=case, actor=coordinator) == 1
    sr_value = roi.values.get(series__condition__label="SR")
    assert sr_value.fwhm_mm == pytest.approx(ms.FWHM_PER_SIGMA * ms.SIGMA_MM["SR"], rel=0.02)
    assert AuditEvent.objects.filter(action="measurement.recompute").count() == 1


# ----------------------------------------------------------------------------- selectors


def test_measurement_rows(case_series, coordinator):
    case, series, _ = case_series
    draw_line(case, series["HR"], coordinator, label="rod")
    a, _ = draw_circle(case, series["HR"], coordinator, ROD, 2, label="muscle")
    b, _ = draw_circle(case, series["HR"], coordinator, (32, 56), 6, label="muscle")
    draw_circle(case, series["HR"], coordinator, (40, 56), 4)
    svc.measurement_cnr_save(
        case=case, client_id=uuid.uuid4(), roi_a=a.client_id, roi_b=b.client_id, actor=coordinator
    )
    rows = measurement_rows(case.study)
    assert all(list(row) == ["case", "condition", "roi", "kind", "metric", "value"] for row in rows)
    assert all(isinstance(row["value"], float) and row["case"] == "K1" for row in rows)
    names = list(dict.fromkeys(row["roi"] for row in rows))
    assert names == ["rod", "muscle #2", "muscle #3", "ROI 4", "muscle #2 vs muscle #3"]
    line_rows = [r for r in rows if r["roi"] == "rod"]
    assert [(r["condition"], r["metric"]) for r in line_rows] == [
        (c, m) for c in ("HR", "SR", "LR") for m in ("fwhm_mm", "edge_rise_distance_mm", "edge_rise_slope")
    ]
    assert {r["kind"] for r in rows} == {"line", "circle", "cnr"}
    hr_fwhm = next(r for r in line_rows if r["condition"] == "HR" and r["metric"] == "fwhm_mm")
    assert hr_fwhm["value"] == MeasurementValue.objects.get(series=series["HR"], roi__label="rod").fwhm_mm
    # The flat-free circles have mean, sd and snr on every condition; the CNR one value per condition.
    assert len([r for r in rows if r["kind"] == "cnr"]) == 3
    assert {r["metric"] for r in rows if r["roi"] == "ROI 4"} == {"mean", "sd", "snr"}
    # A value that is not defined has no row.
    draw_line(case, series["HR"], coordinator, start=ROD, end=(60, ROD[1]), label="edge only")
    edge_rows = [r for r in measurement_rows(case.study) if r["roi"] == "edge only"]
    assert edge_rows and all(r["metric"] != "fwhm_mm" for r in edge_rows)


def test_case_state_lists_values_by_series(case_series, coordinator):
    case, series, _ = case_series
    roi, _ = draw_line(case, series["HR"], coordinator, label="rod")
    state = measurement_case_state(case)
    assert [r["client_id"] for r in state["rois"]] == [str(roi.client_id)]
    entry = state["rois"][0]
    assert entry["drawn_on"] == str(series["HR"].public_id) and entry["name"] == "rod"
    assert set(entry["values"]) == {str(s.public_id) for s in series.values()}
    assert entry["values"][str(series["LR"].public_id)]["slice"] == 0
    json.dumps(state)  # JSON-able


# ----------------------------------------------------------------------------- image fidelity


def test_fidelity_against_hr_only_on_its_grid(case_series, coordinator, study, conditions):
    _case, series, _ = case_series
    assert fidelity_reference_condition(study) == conditions["HR"]
    results = svc.fidelity_compute(study=study, actor=coordinator)
    assert len(results) == 2
    rows = {row["condition"]: row for row in fidelity_rows(study)}
    assert list(rows["SR"]) == [
        "case",
        "condition",
        "reference",
        "psnr",
        "ssim",
        "rmse",
        "psnr_tissue",
        "ssim_tissue",
        "note",
    ]
    assert rows["LR"]["note"] == "not on the reference grid" and rows["LR"]["psnr"] is None
    sr = rows["SR"]
    assert sr["reference"] == "HR" and sr["case"] == "K1" and sr["note"] == ""
    expected = compare(_stored_volume(series["HR"]), _stored_volume(series["SR"]))
    assert sr["psnr"] == pytest.approx(expected.psnr)
    assert sr["ssim"] == pytest.approx(expected.ssim)
    assert sr["rmse"] == pytest.approx(expected.rmse)
    assert sr["psnr_tissue"] == pytest.approx(expected.psnr_tissue)
    assert sr["ssim_tissue"] == pytest.approx(expected.ssim_tissue)
    assert 0 < sr["ssim"] < 1 and sr["psnr"] > 10
    assert AuditEvent.objects.get(action="fidelity.compute").data == {
        "reference": "HR",
        "results": 2,
        "compared": 1,
    }

    # A coordinator may choose another reference; computing again replaces the results.
    svc.fidelity_reference_set(study=study, condition=conditions["SR"], actor=coordinator)
    assert fidelity_reference_condition(study) == conditions["SR"]
    svc.fidelity_compute(study=study, actor=coordinator)
    rows = {row["condition"]: row for row in fidelity_rows(study)}
    assert set(rows) == {"HR", "LR"} and rows["HR"]["reference"] == "SR"
    assert rows["HR"]["psnr"] == pytest.approx(sr["psnr"])  # PSNR is symmetric but for the data range
    assert FidelityResult.objects.count() == 2


def _stored_volume(series):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        for instance in series.instances.all():
            (Path(tmp) / f"{instance.slice_index}.dcm").write_bytes(instance.file.read())
        return read_dicom_series(tmp)


def test_fidelity_needs_a_reference(study, coordinator):
    f.ConditionFactory(study=study, label="LR")
    assert fidelity_reference_condition(study) is None
    with pytest.raises(svc.MeasurementInvalid, match="no reference condition"):
        svc.fidelity_compute(study=study, actor=coordinator)
    other = f.StudyFactory()
    with pytest.raises(svc.MeasurementInvalid, match="condition of this study"):
        svc.fidelity_reference_set(study=study, condition=f.ConditionFactory(study=other), actor=coordinator)


def test_fidelity_command(case_series, study):
    out = io.StringIO()
    call_command("fidelity_compute", study.slug, stdout=out)
    assert "K1  LR vs HR: not on the reference grid" in out.getvalue()
    assert "K1  SR vs HR: PSNR" in out.getvalue() and "1 of 2 series compared." in out.getvalue()
    with pytest.raises(CommandError, match="No study"):
        call_command("fidelity_compute", "no-such-study")


def test_fidelity_reports_a_case_without_reference_series(study, conditions, coordinator, tmp_path):
    ms.import_case(study, tmp_path / "k2", case="K2", labels=("SR", "LR"), patient="PAT-2")
    svc.fidelity_compute(study=study, actor=coordinator)
    assert [row["note"] for row in fidelity_rows(study)] == ["case K2 has no HR series"] * 2


# ----------------------------------------------------------------------------- pages, API and permissions


@pytest.fixture
def people(study):
    """Users around the study: a reader of it, a coordinator of another study, a coordinator of
    this one who also reads in it, a superuser."""
    reader = f.ReaderParticipationFactory(study=study, user__username="studyreader").user
    other = f.UserFactory(username="othercoord", roles=["coordinator"])
    f.StudyFactory(coordinators=[other])
    reading_coordinator = f.UserFactory(username="readingcoord", roles=["coordinator"])
    study.coordinators.add(reading_coordinator)
    f.ReaderParticipationFactory(study=study, user=reading_coordinator)
    admin = f.UserFactory(username="admin")
    admin.is_superuser = True
    admin.save()
    return {"reader": reader, "other": other, "reading_coordinator": reading_coordinator, "admin": admin}


def urls(study, case, series, client_id):
    """(method, url, body) of every measurement view; GETs first."""
    slug = study.slug
    return {
        "reads": [
            ("get", reverse("readerstudy:measurement_index", args=[slug]), None),
            ("get", reverse("readerstudy:measurement_case", args=[slug, case.pk]), None),
            ("get", reverse("readerstudy:api_measurement_state", args=[slug, case.pk]), None),
        ],
        "writes": [
            (
                "post",
                reverse("readerstudy:measurement_reference", args=[slug]),
                {"condition": series.condition_id},
            ),
            ("post", reverse("readerstudy:measurement_fidelity", args=[slug]), {}),
            ("post", reverse("readerstudy:measurement_recompute", args=[slug, case.pk]), {}),
            (
                "put",
                reverse("readerstudy:api_measurement_roi", args=[slug, case.pk, client_id]),
                _roi_body(series),
            ),
            ("delete", reverse("readerstudy:api_measurement_roi", args=[slug, case.pk, client_id]), None),
            (
                "put",
                reverse("readerstudy:api_measurement_cnr", args=[slug, case.pk, client_id]),
                {"a": "x", "b": "y"},
            ),
            ("delete", reverse("readerstudy:api_measurement_cnr", args=[slug, case.pk, client_id]), None),
        ],
    }


def _roi_body(series, slice_index=3, start=(4, ROD[1]), end=(60, ROD[1]), kind="line", label="rod"):
    return {
        "kind": kind,
        "series": str(series.public_id),
        "slice": slice_index,
        "points_mm": mm(series, slice_index, start, end),
        "label": label,
    }


def call(client, method, url, body):
    if method in ("put", "delete"):
        return getattr(client, method)(
            url, data=json.dumps(body) if body is not None else "", content_type="application/json"
        )
    return getattr(client, method)(url, body or {})


def test_readers_and_other_coordinators_reach_nothing(client, case_series, people):
    case, series, _ = case_series
    views = urls(case.study, case, series["HR"], uuid.uuid4())
    for name in ("reader", "other", "reading_coordinator"):
        client.force_login(people[name])
        for method, url, body in views["reads"] + views["writes"]:
            assert call(client, method, url, body).status_code == 403, (name, method, url)
    assert not MeasurementROI.objects.exists() and not FidelityResult.objects.exists()


def test_statisticians_may_look_but_not_change(client, case_series, statistician):
    case, series, _ = case_series
    views = urls(case.study, case, series["HR"], uuid.uuid4())
    client.force_login(statistician)
    for method, url, body in views["reads"]:
        assert call(client, method, url, body).status_code == 200, url
    for method, url, body in views["writes"]:
        assert call(client, method, url, body).status_code == 403, (method, url)
    page = client.get(views["reads"][1][1])
    config = page.context["config"]
    assert config["editable"] is False
    assert b'id="tool-line"' not in page.content


def test_anonymous_is_sent_to_login(client, case_series):
    case, series, _ = case_series
    views = urls(case.study, case, series["HR"], uuid.uuid4())
    for method, url, body in views["reads"] + views["writes"]:
        response = call(client, method, url, body)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


@pytest.mark.parametrize("who", ["coordinator", "admin"])
def test_coordinators_and_superusers_measure(client, case_series, coordinator, people, who):
    case, _series, _ = case_series
    client.force_login(coordinator if who == "coordinator" else people["admin"])
    study = case.study
    index = client.get(reverse("readerstudy:measurement_index", args=[study.slug]))
    assert index.status_code == 200
    assert reverse("readerstudy:measurement_case", args=[study.slug, case.pk]).encode() in index.content
    page = client.get(reverse("readerstudy:measurement_case", args=[study.slug, case.pk]))
    assert page.status_code == 200
    config = page.context["config"]
    assert config["editable"] is True
    assert [v["condition"] for v in config["viewports"]] == ["HR", "SR", "LR"]
    # Every viewport starts on the slice nearest to the first one's middle slice (z = 4 mm).
    assert [v["startSlice"] for v in config["viewports"]] == [4, 4, 1]
    for label in ("HR", "SR", "LR"):
        assert f"<strong>{label}</strong>".encode() in page.content
    detail = client.get(reverse("readerstudy:study_detail", args=[study.slug]))
    assert b'id="measurement-link"' in detail.content


def test_the_roi_api_is_idempotent_and_answers_with_the_state(client, case_series, coordinator):
    case, series, _ = case_series
    client.force_login(coordinator)
    client_id = uuid.uuid4()
    url = reverse("readerstudy:api_measurement_roi", args=[case.study.slug, case.pk, client_id])
    body = _roi_body(series["HR"])
    first = call(client, "put", url, body)
    second = call(client, "put", url, body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    (roi,) = first.json()["rois"]
    assert roi["client_id"] == str(client_id) and roi["label"] == "rod"
    hr_value = roi["values"][str(series["HR"].public_id)]
    assert hr_value["fwhm_mm"] == pytest.approx(ms.FWHM_PER_SIGMA * ms.SIGMA_MM["HR"], rel=0.02)
    assert MeasurementROI.objects.count() == 1
    state = client.get(reverse("readerstudy:api_measurement_state", args=[case.study.slug, case.pk]))
    assert state.json() == first.json()

    for bad, message in (
        ({**body, "points_mm": [[0, 0, 3]]}, "points_mm must be two"),
        ({**body, "slice": 2.5}, "slice must be a whole number"),
        ({**body, "series": str(uuid.uuid4())}, "series must be one of this case's series"),
        ({**body, "label": 7}, "label must be text"),
        ({**body, "kind": "polygon"}, "kind must be"),
        (_roi_body(series["HR"], start=(4, 10), end=(90, 10)), "outside the image"),
        (_roi_body(series["HR"], start=(4, 10), end=(4, 10)), "zero length"),
    ):
        response = call(
            client,
            "put",
            reverse("readerstudy:api_measurement_roi", args=[case.study.slug, case.pk, uuid.uuid4()]),
            bad,
        )
        assert response.status_code == 400 and message in response.json()["error"], message
    response = client.put(url, data=b"{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    assert MeasurementROI.objects.count() == 1

    deleted = call(client, "delete", url, None)
    assert deleted.status_code == 200 and deleted.json()["rois"] == []
    assert call(client, "delete", url, None).status_code == 200  # twice is harmless
    assert not MeasurementValue.objects.exists()


def test_the_cnr_api(client, case_series, coordinator):
    case, series, _ = case_series
    client.force_login(coordinator)
    slug = case.study.slug
    ids = [uuid.uuid4(), uuid.uuid4()]
    for client_id, centre, radius in zip(ids, (ROD, (32, 56)), (2, 6), strict=True):
        body = _roi_body(
            series["HR"], start=centre, end=(centre[0] + radius, centre[1]), kind="circle", label=""
        )
        assert (
            call(
                client,
                "put",
                reverse("readerstudy:api_measurement_roi", args=[slug, case.pk, client_id]),
                body,
            ).status_code
            == 200
        )
    cnr_id = uuid.uuid4()
    url = reverse("readerstudy:api_measurement_cnr", args=[slug, case.pk, cnr_id])
    response = call(client, "put", url, {"a": str(ids[0]), "b": str(ids[1]), "label": ""})
    assert response.status_code == 200
    (cnr,) = response.json()["cnrs"]
    assert cnr["name"] == "ROI 1 vs ROI 2" and cnr["a"] == str(ids[0])
    assert cnr["values"][str(series["HR"].public_id)]["value"] > 10
    assert call(client, "put", url, {"a": "nope", "b": str(ids[1])}).status_code == 400
    assert call(client, "put", url, {"a": str(ids[0]), "b": str(ids[0])}).status_code == 400
    assert call(client, "delete", url, None).json()["cnrs"] == []


def test_reference_and_fidelity_forms(client, case_series, coordinator, conditions):
    case, _series, _ = case_series
    client.force_login(coordinator)
    slug = case.study.slug
    response = client.post(reverse("readerstudy:measurement_fidelity", args=[slug]))
    assert response.status_code == 302
    page = client.get(reverse("readerstudy:measurement_index", args=[slug]))
    assert b"not on the reference grid" in page.content and b"1 of 2 series compared" in page.content
    client.post(reverse("readerstudy:measurement_reference", args=[slug]), {"condition": conditions["SR"].pk})
    assert fidelity_reference_condition(case.study) == conditions["SR"]
    response = client.post(
        reverse("readerstudy:measurement_reference", args=[slug]), {"condition": "x"}, follow=True
    )
    assert b"Choose one of the study" in response.content


def test_the_measurement_dicomweb_root(client, case_series, coordinator, statistician, people):
    case, series, _ = case_series
    hr = series["HR"]
    client.force_login(coordinator)
    page = client.get(reverse("readerstudy:measurement_case", args=[case.study.slug, case.pk]))
    viewport = page.context["config"]["viewports"][0]
    metadata_url = viewport["metadataUrl"]
    assert metadata_url.startswith(f"/dicomweb/m/{hr.public_id}/studies/")
    response = client.get(metadata_url)
    assert response.status_code == 200
    metadata = json.loads(b"".join(response.streaming_content) if response.streaming else response.content)
    assert len(metadata) == hr.num_slices
    sop = metadata[3]["00080018"]["Value"][0]
    frames = client.get(metadata_url.removesuffix("metadata") + f"instances/{sop}/frames/1")
    assert frames.status_code == 200 and frames["Content-Type"].startswith("multipart/related")
    # Served through the same imaging.blinding as a reader's: the stored UIDs never leave.
    assert hr.series_instance_uid.encode() not in response.content
    client.force_login(statistician)
    assert client.get(metadata_url).status_code == 200
    for name in ("reader", "other", "reading_coordinator"):
        client.force_login(people[name])
        assert client.get(metadata_url).status_code == 404, name
    pixels = pydicom.dcmread(DicomInstance.objects.get(series=hr, slice_index=3).file.open("rb"))
    assert pixels.Rows == ms.MATRIX
