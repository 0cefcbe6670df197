"""sr_engine's Volume geometry and its DICOM series writer/reader."""

import subprocess
import sys

import numpy as np
import pydicom
import pytest

from sr_engine.dicom_series import SeriesInfo, read_dicom_series, write_dicom_series
from sr_engine.slice_profile import thicken_slices
from sr_engine.volume import Volume


def oblique_volume(shape=(5, 7, 6)) -> Volume:
    """A volume with an oblique orientation, anisotropic spacing and an offset origin."""
    angle = np.deg2rad(20)
    row_dir = np.array([np.cos(angle), np.sin(angle), 0.0])
    col_dir = np.array([-np.sin(angle), np.cos(angle), 0.0])
    normal = np.cross(row_dir, col_dir)
    affine = np.eye(4)
    affine[:3, 0] = row_dir * 0.5
    affine[:3, 1] = col_dir * 0.6
    affine[:3, 2] = normal * 3.0
    affine[:3, 3] = [-40.0, 12.5, 7.0]
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) * 3 + 100
    return Volume(data, affine)


def test_volume_geometry():
    volume = oblique_volume()
    assert volume.spacing == pytest.approx((0.5, 0.6, 3.0))
    assert np.linalg.norm(volume.orientation[:3]) == pytest.approx(1)
    assert volume.slice_position(2) == pytest.approx(volume.index_to_patient((2, 0, 0)))
    with pytest.raises(ValueError):
        Volume(np.zeros((2, 2)), np.eye(4))


def test_dicom_round_trip_keeps_geometry_and_values(tmp_path):
    volume = oblique_volume()
    info = SeriesInfo(patient_name="TEST^ONE", patient_id="T1", series_description="test")
    paths = write_dicom_series(volume, tmp_path, info)
    assert len(paths) == 5
    first = pydicom.dcmread(paths[0])
    assert first.Rows == 7 and first.Columns == 6
    assert [float(v) for v in first.PixelSpacing] == pytest.approx([0.6, 0.5])
    assert float(first.SpacingBetweenSlices) == pytest.approx(3.0)
    assert first.SeriesInstanceUID == info.series_instance_uid
    assert first.ImageType == ["ORIGINAL", "PRIMARY"]
    assert first.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    back = read_dicom_series(tmp_path)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-5)
    np.testing.assert_array_equal(back.data, volume.data)


def test_every_slice_is_a_valid_mr_file_at_its_own_position(tmp_path):
    volume = oblique_volume()
    info = SeriesInfo(
        patient_name="TEST^TWO", patient_id="T2", series_description="thick", slice_thickness=3.0
    )
    paths = write_dicom_series(volume, tmp_path, info)
    datasets = [pydicom.dcmread(path) for path in paths]  # strict read: preamble and file meta
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(paths)
    assert len({ds.FrameOfReferenceUID for ds in datasets}) == 1
    for index, ds in enumerate(datasets):
        assert ds.file_meta.MediaStorageSOPClassUID == pydicom.uid.MRImageStorage
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.Modality == "MR" and ds.InstanceNumber == index + 1
        assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx(volume.slice_position(index))
        assert [float(v) for v in ds.ImageOrientationPatient] == pytest.approx(volume.orientation)
        assert float(ds.SliceThickness) == pytest.approx(3.0)
        assert float(ds.WindowWidth) > 0
        np.testing.assert_array_equal(ds.pixel_array, volume.data[index].astype(np.uint16))


def test_round_trip_rounds_values_to_the_stored_integers(tmp_path):
    volume = oblique_volume()
    noisy = Volume(volume.data + np.float32(0.3), volume.affine)
    write_dicom_series(noisy, tmp_path, SeriesInfo(patient_name="A", patient_id="B", series_description="c"))
    back = read_dicom_series(tmp_path)
    assert np.abs(back.data - noisy.data).max() <= 0.5


def test_reader_refuses_a_series_with_a_missing_slice(tmp_path):
    paths = write_dicom_series(
        oblique_volume(), tmp_path, SeriesInfo(patient_name="A", patient_id="B", series_description="c")
    )
    paths[2].unlink()
    with pytest.raises(ValueError, match="evenly spaced"):
        read_dicom_series(tmp_path)


def test_thick_slices_average_their_thin_slices_and_sit_at_their_centre():
    volume = oblique_volume(shape=(9, 4, 4))
    ramp = np.arange(9, dtype=np.float32)[:, None, None] * np.ones((9, 4, 4), dtype=np.float32)
    thick = thicken_slices(Volume(ramp, volume.affine), 4)
    assert thick.shape == (2, 4, 4)  # the ninth slice does not fill a thick slice
    assert thick.data[:, 0, 0] == pytest.approx([1.5, 5.5])
    # A linear ramp's mean sits at the mean position: the thick centres are thin indexes 1.5 and 5.5.
    assert thick.slice_position(0) == pytest.approx(volume.index_to_patient((1.5, 0, 0)))
    assert thick.slice_position(1) == pytest.approx(volume.index_to_patient((5.5, 0, 0)))
    assert thick.spacing[2] == pytest.approx(12.0)
    with pytest.raises(ValueError):
        thicken_slices(volume, 0)


def test_sr_engine_does_not_import_django():
    code = (
        "import sys, sr_engine.volume, sr_engine.dicom_series, sr_engine.slice_profile, "
        "sr_engine.brain_phantom, sr_engine.volume_io, sr_engine.provenance, sr_engine.cli, stats; "
        "assert 'django' not in sys.modules, 'django imported'; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
