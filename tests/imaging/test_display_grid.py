"""The common display grid: every condition of a case served on one matrix, field of view and slices.

A small LR series (4 mm slices, a 12x12 matrix of 2 mm pixels, a field of view shifted from
the HR's) and an HR series (1 mm slices, 24x24 of 1 mm) of one case, with pixel values that
are a smooth (non-linear) function of the patient position, imported into a study whose grid
is HR. What a reader's DICOMweb root serves is checked: the same rows, columns, slice count
and slice positions under both conditions, and LR's values equal to an independent trilinear
resampling written here (not ``sr_engine.resample``).
"""

from __future__ import annotations

import html
import io
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from pydicom.uid import generate_uid

from readerstudy.audit.models import AuditAction, AuditEvent
from readerstudy.design import services as design
from readerstudy.design.services import display_grid_problems
from readerstudy.imaging import blinding
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.display_grid import DisplayGridError, study_display_grid_set
from readerstudy.imaging.models import ImageSeries
from readerstudy.results.selectors import study_record
from readerstudy.studies import services as setup
from readerstudy.studies.models import Study
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.django_db

HR = {"slices": 16, "spacing": 1.0, "matrix": 24, "pixel": 1.0, "origin": (-12.0, -12.0, 0.0)}
LR = {"slices": 4, "spacing": 4.0, "matrix": 12, "pixel": 2.0, "origin": (-10.5, -11.5, 2.0)}


def value_at(point: np.ndarray) -> np.ndarray:
    """The 'anatomy': a smooth, non-linear function of the patient position (mm), in 100..3000."""
    x, y, z = point[..., 0], point[..., 1], point[..., 2]
    return 1500 + 40 * x + 25 * y + 30 * z + 0.8 * x * y + 200 * np.sin(z / 3.0)


def write_series(folder: Path, geometry: dict, *, study_uid: str, frame_uid: str) -> np.ndarray:
    """Write an axial series sampling ``value_at``; return its stored values (slice, row, column)."""
    series_uid = generate_uid()
    n, pixel = geometry["matrix"], geometry["pixel"]
    volume = []
    for k in range(geometry["slices"]):
        origin = np.array(geometry["origin"]) + np.array([0.0, 0.0, k * geometry["spacing"]])
        ds = dicom_files.mr_slice(
            study_uid=study_uid,
            series_uid=series_uid,
            frame_uid=frame_uid,
            position=origin,
            instance_number=k + 1,
            rows=n,
            columns=n,
            pixel_spacing=(pixel, pixel),
            slice_thickness=geometry["spacing"],
        )
        rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        points = np.stack(
            [origin[0] + cols * pixel, origin[1] + rows * pixel, np.full((n, n), origin[2])], -1
        )
        values = np.rint(value_at(points)).astype(np.int16)
        ds.PixelData = values.tobytes()
        dicom_files.write(ds, folder / f"IM{k:04d}.dcm")
        volume.append(values)
    return np.array(volume, dtype=float)


def trilinear(volume: np.ndarray, geometry: dict, point: np.ndarray) -> float:
    """An independent trilinear interpolation of a written series at a patient point (mm).

    Within the outer half voxel the nearest edge centre's value is used (as the grid promises).
    """
    index = [
        (point[2] - geometry["origin"][2]) / geometry["spacing"],
        (point[1] - geometry["origin"][1]) / geometry["pixel"],
        (point[0] - geometry["origin"][0]) / geometry["pixel"],
    ]
    index = [min(max(i, 0.0), n - 1.0) for i, n in zip(index, volume.shape, strict=True)]
    lower = [min(math.floor(i), n - 2) for i, n in zip(index, volume.shape, strict=True)]
    frac = [i - lo for i, lo in zip(index, lower, strict=True)]
    total = 0.0
    for dk in (0, 1):
        for dr in (0, 1):
            for dc in (0, 1):
                weight = (
                    (frac[0] if dk else 1 - frac[0])
                    * (frac[1] if dr else 1 - frac[1])
                    * (frac[2] if dc else 1 - frac[2])
                )
                total += weight * volume[lower[0] + dk, lower[1] + dr, lower[2] + dc]
    return total


@pytest.fixture
def conditions(study):
    return {
        label: f.ConditionFactory(study=study, label=label, order=n) for n, label in enumerate(("HR", "LR"))
    }


@pytest.fixture
def files(tmp_path):
    """The case's two series on disk and their written values."""
    study_uid, frame_uid = generate_uid(), generate_uid()
    written = {
        label: write_series(tmp_path / "upload" / label, geometry, study_uid=study_uid, frame_uid=frame_uid)
        for label, geometry in (("HR", HR), ("LR", LR))
    }
    return tmp_path / "upload", written


def import_case(study, root: Path, labels=("HR", "LR"), actor=None):
    report = dicom_import(
        study=study,
        source=root,
        manifest=[{"case": "G001", "condition": label, "folder": label} for label in labels],
        actor=actor,
    )
    assert not (report.rejected or report.rejected_series or report.manifest_errors), report.lines()
    return report


def grid_on(client, study, coordinator, condition):
    client.force_login(coordinator)
    response = client.post(
        reverse("readerstudy:study_display_grid", args=[study.slug]), {"condition": condition.pk}
    )
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.display_grid_condition == condition


def served(client, reading) -> tuple[list[dict], str]:
    """The series metadata a reader's DICOMweb root serves, and the series' URL."""
    series = reading.series
    root = reverse("readerstudy:wado_uri", args=[reading.public_id]).removesuffix("wado")
    url = (
        f"{root}studies/{blinding.reading_uid(reading, series.study_instance_uid)}"
        f"/series/{blinding.reading_uid(reading, series.series_instance_uid)}"
    )
    response = client.get(url + "/metadata")
    assert response.status_code == 200
    return response.json(), url


def value(item: dict, tag: str):
    return item[tag]["Value"]


def readings_for(study, reader_name: str = "gridreader"):
    participation = f.ReaderParticipationFactory(study=study, user__username=reader_name)
    session = f.ReadingSessionFactory(participation=participation)
    return participation.user, {
        s.condition.label: f.ReadingFactory(session=session, series=s, position=n)
        for n, s in enumerate(ImageSeries.objects.filter(case__study=study).order_by("condition__order"), 1)
    }


def pixels_served(client, url: str, sop_uid: str) -> np.ndarray:
    response = client.get(url + f"/instances/{sop_uid}")
    assert response.status_code == 200
    boundary = response["Content-Type"].split("boundary=")[1].split(";")[0].encode()
    part = response.content.split(b"--" + boundary)[1].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
    ds = pydicom.dcmread(io.BytesIO(part))
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    return ds.pixel_array.astype(float) * slope + intercept, ds


def test_with_the_grid_on_every_condition_is_served_on_one_grid_with_resampled_values(
    client, study, coordinator, conditions, files
):
    root, written = files
    grid_on(client, study, coordinator, conditions["HR"])
    import_case(study, root, actor=coordinator)

    reader, readings = readings_for(study)
    client.force_login(reader)
    metadata = {}
    urls = {}
    for label, reading in readings.items():
        metadata[label], urls[label] = served(client, reading)
    for label in ("HR", "LR"):
        items = metadata[label]
        assert len(items) == HR["slices"], label
        assert {(value(i, "00280010")[0], value(i, "00280011")[0]) for i in items} == {(24, 24)}
        assert {tuple(value(i, "00280030")) for i in items} == {(1.0, 1.0)}
        assert {value(i, "00180050")[0] for i in items} == {1.0}  # SliceThickness: the grid's
    positions = {label: sorted(tuple(value(i, "00200032")) for i in metadata[label]) for label in metadata}
    np.testing.assert_allclose(positions["LR"], positions["HR"], atol=1e-4)
    lr = ImageSeries.objects.get(condition=conditions["LR"])
    assert (lr.rows, lr.columns, lr.num_slices, lr.slice_spacing) == (24, 24, 16, pytest.approx(1.0))

    # LR's served values are an independent trilinear resampling of the LR as written.
    checked = 0
    for item in metadata["LR"][::5]:
        sop = value(item, "00080018")[0]
        pixels, ds = pixels_served(client, urls["LR"], sop)
        origin = np.array([float(v) for v in ds.ImagePositionPatient])
        for row, col in ((0, 0), (5, 7), (11, 12), (23, 23), (17, 3)):
            point = origin + np.array([col * 1.0, row * 1.0, 0.0])
            inside = (
                all(
                    LR["origin"][a] - LR["pixel"] / 2
                    <= point[a]
                    <= LR["origin"][a] + (LR["matrix"] - 0.5) * LR["pixel"]
                    for a in (0, 1)
                )
                and LR["origin"][2] - 2 <= point[2] <= LR["origin"][2] + (LR["slices"] - 0.5) * LR["spacing"]
            )
            if not inside:
                continue
            expected = trilinear(written["LR"], LR, point)
            assert pixels[row, col] == pytest.approx(expected, abs=1.0), (sop, row, col)
            checked += 1
    assert checked >= 8
    # Outside the LR's field of view the background (the LR's minimum) is shown.
    first = metadata["LR"][0]
    pixels, _ = pixels_served(client, urls["LR"], value(first, "00080018")[0])
    assert pixels[:, 23].min() >= written["LR"].min() - 1
    # HR is served as it was written.
    hr_pixels, _ = pixels_served(client, urls["HR"], value(metadata["HR"][3], "00080018")[0])
    assert any(np.array_equal(hr_pixels, plane) for plane in written["HR"])


def test_the_grid_series_arriving_last_puts_the_others_on_the_grid(
    client, study, coordinator, conditions, files
):
    root, _ = files
    grid_on(client, study, coordinator, conditions["HR"])
    import_case(study, root, labels=("LR",))
    lr = ImageSeries.objects.get(condition=conditions["LR"])
    assert (lr.rows, lr.num_slices) == (12, 4) and lr.display_grid == {}
    [problem] = display_grid_problems(study)
    assert "G001" in problem and "HR" in problem
    # The coordinator sees it on the study page, and a schedule draft cannot be activated with it.
    page = client.get(reverse("readerstudy:study_detail", args=[study.slug])).content.decode()
    assert html.escape(problem) in page
    for code in ("R1", "R2"):
        f.ReaderParticipationFactory(study=study, code=code)
    draft = design.schedule_draft_create(study=study, actor=coordinator, seed=3)
    assert problem in draft.problems

    import_case(study, root, labels=("HR",))
    lr.refresh_from_db()
    assert (lr.rows, lr.columns, lr.num_slices) == (24, 24, 16)
    assert display_grid_problems(study) == []
    draft = design.schedule_draft_create(study=study, actor=coordinator, seed=3)
    assert draft.problems == []
    # Importing the same files again finds them present and changes nothing (idempotent).
    before = list(lr.instances.values_list("sop_instance_uid", "sha256"))
    report = import_case(study, root)
    assert len(report.already_present) == 2 and not report.imported
    assert list(lr.instances.values_list("sop_instance_uid", "sha256")) == before


def test_with_the_grid_off_series_are_served_as_imported(client, study, conditions, files):
    root, _ = files
    import_case(study, root)
    reader, readings = readings_for(study)
    client.force_login(reader)
    metadata, _ = served(client, readings["LR"])
    assert len(metadata) == LR["slices"]
    assert {value(i, "00280010")[0] for i in metadata} == {12}
    assert all(s.display_grid == {} for s in ImageSeries.objects.all())
    assert display_grid_problems(study) == []
    assert not AuditEvent.objects.filter(action=AuditAction.SERIES_DISPLAY_GRID).exists()
    assert study_record(study, [], None).provenance["display_grid"] is None


def test_clearing_the_grid_restores_the_original_instances(
    study, coordinator, conditions, files, django_capture_on_commit_callbacks
):
    root, _ = files
    import_case(study, root)
    lr = ImageSeries.objects.get(condition=conditions["LR"])
    original = list(lr.instances.values_list("sop_instance_uid", "sha256", "file"))

    assert study_display_grid_set(study=study, condition=conditions["HR"], actor=coordinator) == []
    lr.refresh_from_db()
    assert lr.num_slices == 16 and lr.instances.count() == 16
    resampled_files = list(lr.instances.values_list("file", flat=True))
    assert all(default_storage.exists(name) for _, _, name in original)  # the originals are kept

    with django_capture_on_commit_callbacks(execute=True):
        assert study_display_grid_set(study=study, condition=None, actor=coordinator) == []
    lr.refresh_from_db()
    assert (lr.rows, lr.num_slices) == (12, 4) and lr.display_grid == {}
    assert list(lr.instances.values_list("sop_instance_uid", "sha256", "file")) == original
    assert not any(default_storage.exists(name) for name in resampled_files)


def test_the_setting_is_refused_once_the_study_is_locked(client, study, coordinator, conditions, files):
    root, _ = files
    import_case(study, root)
    setup.study_lock(study=study, actor=coordinator)
    client.force_login(coordinator)
    response = client.post(
        reverse("readerstudy:study_display_grid", args=[study.slug]),
        {"condition": conditions["HR"].pk},
        follow=True,
    )
    assert "The study is locked: its display grid can no longer change." in response.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.LOCKED and study.display_grid_condition is None
    with pytest.raises(DisplayGridError, match="locked"):
        study_display_grid_set(study=study, condition=conditions["HR"], actor=coordinator)
    assert ImageSeries.objects.get(condition=conditions["LR"]).num_slices == 4


def test_the_setting_is_refused_once_readers_opened_readings(study, coordinator, conditions, files):
    root, _ = files
    import_case(study, root)
    _, readings = readings_for(study)
    readings["LR"].status = "in_progress"
    readings["LR"].save()
    with pytest.raises(DisplayGridError, match="already opened"):
        study_display_grid_set(study=study, condition=conditions["HR"], actor=coordinator)


def test_provenance_lists_each_resampling(study, coordinator, conditions, files):
    root, _ = files
    study_display_grid_set(study=study, condition=conditions["HR"], actor=coordinator)
    import_case(study, root)
    provenance = study_record(study, [], None).provenance["display_grid"]
    assert provenance["condition"] == "HR"
    [record] = provenance["series"]
    assert record["case"] == "G001" and record["condition"] == "LR" and record["resampled"] is True
    assert record["grid"]["condition"] == "HR"
    assert (record["source"]["rows"], record["source"]["num_slices"], record["source"]["slice_spacing"]) == (
        12,
        4,
        4.0,
    )
    assert (record["target"]["rows"], record["target"]["num_slices"]) == (24, 16)
    assert record["interpolation"] == "trilinear"
    assert {"sr_engine", "scipy", "numpy"} <= set(record["software"])
    assert len(record["native_sha256"]) == 64 and "native_instances" not in record


def test_a_generated_condition_is_made_from_the_native_series_and_shown_on_the_grid(
    settings, study, coordinator, conditions, files, django_capture_on_commit_callbacks
):
    from readerstudy.generation import services as gen
    from readerstudy.generation.models import GenerationJob

    settings.READERSTUDY_JOBS_EAGER = True
    settings.CELERY_BROKER_URL = ""
    root, _ = files
    study.status = Study.Status.DRAFT
    study.save()
    study_display_grid_set(study=study, condition=conditions["HR"], actor=coordinator)
    import_case(study, root)
    request = gen.GenerationRequest(
        source_condition=conditions["LR"], target_label="SR", method="linear", factor=4, seed=1
    )
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = gen.generation_job_start(study=study, request=request, actor=coordinator)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE, list(job.tasks.values_list("error", flat=True))
    sr = ImageSeries.objects.get(condition__label="SR")
    # Made from the LR as imported (4 slices x4 = 16 slices of the 12x12 matrix), not from its copy
    # resampled for display (16 slices of 24x24, which x4 would make 64), then put on the grid.
    assert (sr.display_grid["source"]["num_slices"], sr.display_grid["source"]["rows"]) == (16, 12)
    assert (sr.rows, sr.columns, sr.num_slices) == (24, 24, 16)
    assert display_grid_problems(study) == []
