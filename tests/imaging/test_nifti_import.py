"""NIfTI rows of an import manifest: an SR output written by a researcher's own tools becomes a
series of its case, on its source's grid and frame of reference; a misaligned, damaged or
oversized file is refused with its reason and nothing else is lost."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage

from readerstudy.imaging.dicom_import import DicomImportError, dicom_import, manifest_parse
from readerstudy.imaging.models import ImageSeries
from readerstudy.imaging.nifti_import import _box_corners, _reference_affine
from readerstudy.studies.models import Study
from sr_engine.dicom_series import read_dicom_series
from sr_engine.interpolate import upscaled_affine
from sr_engine.nifti_io import write_nifti
from sr_engine.upscale import upscale
from sr_engine.volume import Volume
from tests import factories as f
from tests.generation.cases import import_cases

pytestmark = pytest.mark.django_db


@pytest.fixture
def lr_case(coordinator, tmp_path):
    """A study with case K001 imported under LR (an oblique phantom), and an empty SR condition."""
    study = f.StudyFactory(coordinators=[coordinator], status=Study.Status.DRAFT)
    f.ConditionFactory(study=study, label="LR", order=0)
    f.ConditionFactory(study=study, label="SR", order=1)
    volumes = import_cases(study, tmp_path / "lr", coordinator, codes=("K001",))
    return study, volumes["K001"]


def _import_nifti(study, coordinator, root: Path, name: str = "K001_sr.nii.gz"):
    return dicom_import(
        study=study,
        source=root,
        manifest=[{"case": "K001", "condition": "SR", "nifti": name}],
        actor=coordinator,
    )


def _stored_volume(series: ImageSeries, folder: Path) -> Volume:
    folder.mkdir(parents=True)
    for instance in series.instances.all():
        (folder / f"{instance.slice_index:04d}.dcm").write_bytes(
            default_storage.open(instance.file.name).read()
        )
    return read_dicom_series(folder)


def _first_file(series: ImageSeries) -> pydicom.Dataset:
    return pydicom.dcmread(default_storage.open(series.instances.first().file.name))


def test_an_sr_output_becomes_a_series_on_its_sources_grid_and_frame(lr_case, coordinator, tmp_path):
    study, lr = lr_case
    sr = upscale(lr, 2, "tci", seed=1)
    write_nifti(sr, tmp_path / "sr" / "K001_sr.nii.gz")

    report = _import_nifti(study, coordinator, tmp_path / "sr")

    assert report.ok, report.lines()
    source = ImageSeries.objects.get(case__code="K001", condition__label="LR")
    series = ImageSeries.objects.get(case__code="K001", condition__label="SR")
    assert series.num_slices == 2 * source.num_slices
    assert series.slice_spacing == pytest.approx(source.slice_spacing / 2)
    assert series.orientation == pytest.approx(source.orientation, abs=1e-6)
    # The same field of view, voxel edge for voxel edge, in the source's frame of reference.
    np.testing.assert_allclose(
        _box_corners(_reference_affine(series), (series.num_slices, series.rows, series.columns)),
        _box_corners(_reference_affine(source), (source.num_slices, source.rows, source.columns)),
        atol=1e-3,
    )
    assert _first_file(series).FrameOfReferenceUID == _first_file(source).FrameOfReferenceUID
    assert series.study_instance_uid == source.study_instance_uid
    back = _stored_volume(series, tmp_path / "back")
    np.testing.assert_allclose(back.affine, upscaled_affine(lr, 2), atol=1e-3)
    np.testing.assert_allclose(back.data, sr.data, atol=0.6)
    # De-identified like any import: the patient is the case code, nothing names the file.
    ds = _first_file(series)
    assert str(ds.PatientName) == "K001" and "sr" not in str(ds.get("SeriesDescription", "")).lower()


def test_importing_the_same_file_again_changes_nothing(lr_case, coordinator, tmp_path):
    study, lr = lr_case
    write_nifti(upscale(lr, 2, "tci", seed=1), tmp_path / "sr" / "K001_sr.nii.gz")
    assert _import_nifti(study, coordinator, tmp_path / "sr").ok
    again = _import_nifti(study, coordinator, tmp_path / "sr")
    assert again.ok and not again.imported and len(again.already_present) == 1
    assert ImageSeries.objects.filter(case__study=study).count() == 2


def test_a_flipped_nifti_is_turned_back_onto_the_sources_axes(lr_case, coordinator, tmp_path):
    study, lr = lr_case
    sr = upscale(lr, 2, "tci", seed=1)
    # Rows stored bottom-up, as RAS-minded writers do: the same voxels in space.
    affine = sr.affine.copy()
    affine[:3, 3] += affine[:3, 1] * (sr.shape[1] - 1)
    affine[:3, 1] *= -1
    write_nifti(Volume(sr.data[:, ::-1, :].copy(), affine), tmp_path / "sr" / "K001_sr.nii.gz")

    assert _import_nifti(study, coordinator, tmp_path / "sr").ok
    series = ImageSeries.objects.get(case__code="K001", condition__label="SR")
    source = ImageSeries.objects.get(case__code="K001", condition__label="LR")
    assert series.orientation == pytest.approx(source.orientation, abs=1e-6)
    np.testing.assert_allclose(_stored_volume(series, tmp_path / "back").data, sr.data, atol=0.6)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("shift", "field of view is 10.0 mm away from the case's reference series"),
        ("rotate", "orientation differs from the case's reference series by 5.0°"),
    ],
)
def test_a_misaligned_nifti_is_refused_with_its_reason(lr_case, coordinator, tmp_path, change, reason):
    study, lr = lr_case
    sr = upscale(lr, 2, "tci", seed=1)
    affine = sr.affine.copy()
    if change == "shift":
        affine[:3, 3] += 10.0 * affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    else:
        angle = np.deg2rad(5.0)
        normal = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
        # Rodrigues: turn the in-plane axes about the slice normal by 5 degrees.
        k = np.array([[0, -normal[2], normal[1]], [normal[2], 0, -normal[0]], [-normal[1], normal[0], 0]])
        turn = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
        affine[:3, :2] = turn @ affine[:3, :2]
    write_nifti(Volume(sr.data, affine), tmp_path / "sr" / "K001_sr.nii.gz")

    report = _import_nifti(study, coordinator, tmp_path / "sr")

    assert not report.imported and len(report.rejected_series) == 1
    assert reason in report.rejected_series[0].reason
    assert "K001_sr.nii.gz" in "\n".join(report.lines())
    assert not ImageSeries.objects.filter(condition__label="SR").exists()


def test_a_case_without_a_dicom_series_has_nothing_to_place_the_nifti_in(coordinator, tmp_path):
    study = f.StudyFactory(coordinators=[coordinator], status=Study.Status.DRAFT)
    f.ConditionFactory(study=study, label="SR")
    write_nifti(Volume(np.zeros((4, 8, 8), np.float32), np.eye(4)), tmp_path / "sr" / "K001_sr.nii.gz")
    report = _import_nifti(study, coordinator, tmp_path / "sr")
    assert "has no DICOM series to place the NIfTI in" in report.rejected_series[0].reason


def test_a_damaged_or_oversized_nifti_is_refused_and_the_rest_imports(
    lr_case, coordinator, tmp_path, settings
):
    study, lr = lr_case
    f.ConditionFactory(study=study, label="HR", order=2)
    (tmp_path / "sr").mkdir()
    (tmp_path / "sr" / "K001_sr.nii.gz").write_bytes(b"\x1f\x8b" + b"not really gzip" * 50)
    write_nifti(upscale(lr, 2, "tci", seed=1), tmp_path / "sr" / "K001_hr.nii.gz")
    rows = [
        {"case": "K001", "condition": "SR", "nifti": "K001_sr.nii.gz"},
        {"case": "K001", "condition": "HR", "nifti": "K001_hr.nii.gz"},
    ]
    report = dicom_import(study=study, source=tmp_path / "sr", manifest=rows, actor=coordinator)
    assert [s.condition_label for s in report.imported] == ["HR"]
    assert "not a readable NIfTI file" in report.rejected_series[0].reason

    settings.READERSTUDY_MAX_NIFTI_VOXELS = 100  # the same volume, now too large, as SR
    report = _import_nifti(study, coordinator, tmp_path / "sr", name="K001_hr.nii.gz")
    assert "voxels; at most 100 are imported" in report.rejected_series[0].reason
    assert not ImageSeries.objects.filter(condition__label="SR").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"case": "K1", "condition": "SR", "nifti": "../outside.nii.gz"}, "must be a relative path"),
        ({"case": "K1", "condition": "SR", "nifti": "volume.mha"}, "must end in .nii or .nii.gz"),
        ({"case": "K1", "condition": "SR", "nifti": "a.nii", "folder": "a"}, "give one of"),
    ],
)
def test_bad_nifti_rows_are_refused_before_anything_is_read(row, message):
    with pytest.raises(DicomImportError, match=message):
        manifest_parse([row])


def test_a_nifti_row_naming_no_file_is_a_manifest_error(lr_case, coordinator, tmp_path):
    study, _ = lr_case
    (tmp_path / "empty").mkdir()
    report = _import_nifti(study, coordinator, tmp_path / "empty")
    assert report.manifest_errors == ["row 1: no NIfTI file 'K001_sr.nii.gz' in the import"]
