"""Reading DICOM series into Volumes (single- and multi-frame, multi-echo), writing them back, provenance."""

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, generate_uid

from sr_engine.dicom_series import (
    SeriesInfo,
    VolumeError,
    read_dicom_series,
    series_info_from_source,
    write_dicom_series,
)
from sr_engine.provenance import (
    INTACT,
    NOT_SEALED,
    PIXELS_MODIFIED,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    RECORD_MODIFIED,
    provenance_verify,
    read_provenance,
)
from sr_engine.volume import Volume
from sr_engine.volume_io import read_volume, write_volume

KNEE = Path(__file__).resolve().parents[3] / "shared" / "mri" / "knee-dess"


def oblique_affine(spacing=(0.45, 0.7, 2.5), origin=(-40.25, 12.5, 7.125)) -> np.ndarray:
    """An orientation rotated about two axes, anisotropic spacing and an offset origin."""
    a, b = np.deg2rad(17.0), np.deg2rad(-28.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rotation = rx @ rz
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.asarray(spacing)
    affine[:3, 3] = origin
    return affine


def multi_echo_volume(shape=(6, 9, 7)) -> Volume:
    """A two-echo volume with integer values, a slice gap and a full acquisition record."""
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4000, size=(2, *shape)).astype(np.float32)
    acquisition = {
        "echo_times_ms": (7.48, 42.52),
        "repetition_time_ms": 25.0,
        "flip_angle_deg": 30.0,
        "slice_thickness_mm": 2.0,  # 2 mm slices every 2.5 mm: a 0.5 mm gap
        "magnetic_field_t": 3.0,
        "slice_profile": "gaussian",
    }
    return Volume(data, oblique_affine(), acquisition)


def info(**changes) -> SeriesInfo:
    fields = {"patient_name": "TEST^IO", "patient_id": "IO1", "series_description": "io"}
    return SeriesInfo(**{**fields, **changes})


def world_coordinates(volume: Volume) -> np.ndarray:
    """Patient coordinates (LPS mm) of every voxel centre, shape (slices, rows, columns, 3)."""
    s, r, c = np.meshgrid(*(np.arange(n) for n in volume.shape), indexing="ij")
    index = np.stack([c, r, s, np.ones_like(c)], axis=-1).astype(float)
    return (index @ volume.affine.T)[..., :3]


def test_every_voxel_keeps_its_world_position_and_value_through_dicom(tmp_path):
    volume = multi_echo_volume()
    paths = write_dicom_series(volume, tmp_path, info())
    assert len(paths) == 2 * 6
    back = read_volume(tmp_path)
    assert back.data.shape == volume.data.shape and back.data.dtype == np.float32
    np.testing.assert_allclose(world_coordinates(back), world_coordinates(volume), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(back.data, volume.data)
    assert back.acquisition["echo_times_ms"] == (7.48, 42.52)
    assert back.acquisition["slice_thickness_mm"] == pytest.approx(2.0)
    assert back.spacing[2] == pytest.approx(2.5)  # spacing from positions, thickness kept apart
    assert back.acquisition["repetition_time_ms"] == 25.0 and back.acquisition["flip_angle_deg"] == 30.0
    assert back.acquisition["magnetic_field_t"] == 3.0 and back.acquisition["modality"] == "MR"
    assert back.acquisition["slice_profile"] == "gaussian"  # no DICOM attribute: kept in the private block
    datasets = [pydicom.dcmread(p) for p in paths]
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert [int(ds.EchoNumbers) for ds in datasets] == [1] * 6 + [2] * 6
    assert all("RescaleSlope" not in ds for ds in datasets)  # integers in range are stored as they are


def test_a_slice_axis_against_the_normal_reads_back_flipped_with_every_voxel_in_place(tmp_path):
    volume = multi_echo_volume()
    affine = volume.affine.copy()
    affine[:3, 2] *= -1  # slices run against row x column: a left-handed index space
    volume = Volume(volume.data, affine, volume.acquisition)
    write_dicom_series(volume, tmp_path, info())
    back = read_dicom_series(tmp_path)  # sorted along the normal: the slice order reverses
    np.testing.assert_allclose(back.affine[:3, 2], -affine[:3, 2], atol=1e-9)
    np.testing.assert_allclose(world_coordinates(back)[::-1], world_coordinates(volume), atol=1e-6)
    np.testing.assert_array_equal(back.data[:, ::-1], volume.data)


def test_echoes_are_ordered_by_echo_time_not_by_file_order(tmp_path):
    volume = multi_echo_volume()
    reversed_echoes = Volume(volume.data[::-1].copy(), volume.affine, {"echo_times_ms": (42.52, 7.48)})
    write_dicom_series(reversed_echoes, tmp_path, info())
    back = read_dicom_series(tmp_path)
    assert back.acquisition["echo_times_ms"] == (7.48, 42.52)
    np.testing.assert_array_equal(back.data, volume.data)


def test_slices_are_sorted_along_the_normal_not_by_instance_number(tmp_path):
    volume = multi_echo_volume().channel(0)
    paths = write_dicom_series(volume, tmp_path, info())
    for path in paths:  # scramble the instance numbers
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = 100 - ds.InstanceNumber
        ds.save_as(path)
    back = read_dicom_series(tmp_path)
    np.testing.assert_array_equal(back.data, volume.data)


def test_values_outside_uint16_or_with_a_small_range_survive_through_a_rescale(tmp_path):
    affine = oblique_affine()
    wide = np.linspace(-500.0, 90000.0, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    write_dicom_series(Volume(wide, affine), tmp_path / "wide", info())
    back = read_dicom_series(tmp_path / "wide")
    slope = float(pydicom.dcmread(next((tmp_path / "wide").iterdir())).RescaleSlope)
    assert slope == pytest.approx((90000.0 + 500.0) / 65535, rel=1e-6)
    assert np.abs(back.data - wide).max() <= slope / 2 + 1e-3

    small = np.linspace(0.0, 1.0, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    write_dicom_series(Volume(small, affine), tmp_path / "small", info())
    back = read_dicom_series(tmp_path / "small")
    assert np.abs(back.data - small).max() < 1e-4  # rounding would have left 0 and 1

    forced = write_dicom_series(Volume(wide, affine), tmp_path / "forced", info(), scaling="integer")
    assert pydicom.dcmread(forced[0]).pixel_array.min() == 0  # the old rule: negatives clip to 0


def test_files_without_suffix_are_read_and_non_dicom_files_are_skipped(tmp_path):
    volume = multi_echo_volume().channel(1)
    for path in write_dicom_series(volume, tmp_path, info()):
        path.rename(path.with_suffix(""))
    (tmp_path / "README.txt").write_text("exported by a PACS")
    (tmp_path / "DICOMDIR").write_bytes(b"not really a directory record")
    shutil.copy(get_testdata_file("dicomdirtests/DICOMDIR", download=False), tmp_path / "index")
    back = read_dicom_series(tmp_path)
    np.testing.assert_array_equal(back.data, volume.data)
    assert back.acquisition["echo_times_ms"] == (42.52,)


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter")  # pydicom's, on the garbage file
def test_a_corrupt_dicom_file_is_named_in_the_error(tmp_path):
    paths = write_dicom_series(multi_echo_volume().channel(0), tmp_path, info())
    paths[3].write_bytes(paths[3].read_bytes()[:-40])  # pixel data cut short
    with pytest.raises(VolumeError, match=paths[3].name):
        read_dicom_series(tmp_path)
    paths[3].write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 20)  # the DICOM mark, then garbage
    with pytest.raises(VolumeError, match=f"{paths[3].name} is a corrupt DICOM file"):
        read_dicom_series(tmp_path)
    paths[3].write_text("hello")  # named .dcm but not DICOM
    with pytest.raises(VolumeError, match=paths[3].name):
        read_dicom_series(tmp_path)


def test_two_series_in_one_folder_are_refused_with_a_listing_and_one_can_be_picked(tmp_path):
    volume = multi_echo_volume().channel(0)
    first, second = info(series_description="first"), info(series_description="second", series_number=2)
    write_dicom_series(volume, tmp_path / "a", first)
    write_dicom_series(thin(volume, 2), tmp_path / "b", second)
    with pytest.raises(VolumeError) as error:
        read_dicom_series(tmp_path)
    message = str(error.value)
    assert "2 series" in message and "'first'" in message and "'second'" in message
    assert "6 file(s)" in message and "3 file(s)" in message and "Pick one series" in message
    picked = read_dicom_series(tmp_path, series_instance_uid=second.series_instance_uid)
    assert picked.shape == (3, 9, 7)


def thin(volume: Volume, step: int) -> Volume:
    """Every ``step``-th slice of a volume (a coarser but regular series)."""
    affine = volume.affine.copy()
    affine[:3, 2] *= step
    return Volume(volume.data[::step].copy(), affine, volume.acquisition)


def test_a_missing_slice_is_reported_with_where_the_gap_is(tmp_path):
    volume = multi_echo_volume().channel(0)
    paths = write_dicom_series(volume, tmp_path, info())
    distances = [float(np.dot(volume.affine[:3, 2] / 2.5, volume.slice_position(i))) for i in range(6)]
    paths[2].unlink()
    paths[3].unlink()
    with pytest.raises(VolumeError, match="not evenly spaced") as error:
        read_dicom_series(tmp_path)
    assert f"2 slice(s) missing between {distances[1]:.3f} and {distances[4]:.3f} mm" in str(error.value)


def test_uneven_spacing_duplicates_and_mixed_geometry_are_refused(tmp_path):
    volume = multi_echo_volume().channel(0)
    paths = write_dicom_series(volume, tmp_path / "uneven", info())
    ds = pydicom.dcmread(paths[-1])
    ds.ImagePositionPatient = [float(v) for v in volume.slice_position(5 - 0.3)]
    ds.save_as(paths[-1])
    with pytest.raises(VolumeError, match="not evenly spaced: the step between slice centres"):
        read_dicom_series(tmp_path / "uneven")

    same = info()
    write_dicom_series(volume, tmp_path / "twice" / "a", same)
    write_dicom_series(volume, tmp_path / "twice" / "b", same)
    with pytest.raises(VolumeError, match="two slices at the same position"):
        read_dicom_series(tmp_path / "twice")

    rotated = Volume(volume.data, oblique_affine(origin=(0, 0, 0)) @ np.diag([1, 1, 1, 1.0])[[1, 0, 2, 3]])
    write_dicom_series(volume, tmp_path / "mixed" / "a", same)
    write_dicom_series(rotated, tmp_path / "mixed" / "b", same)
    with pytest.raises(VolumeError, match=r"mixes image orientations: 6 with .*, 6 with"):
        read_dicom_series(tmp_path / "mixed")

    coarse = Volume(volume.data[:, ::2, ::2].copy(), volume.affine)
    write_dicom_series(volume, tmp_path / "sizes" / "a", same)
    write_dicom_series(coarse, tmp_path / "sizes" / "b", same)
    with pytest.raises(VolumeError, match="mixes image sizes"):
        read_dicom_series(tmp_path / "sizes")

    finer = Volume(volume.data, volume.affine @ np.diag([0.5, 0.5, 1.0, 1.0]))
    write_dicom_series(volume, tmp_path / "spacings" / "a", same)
    write_dicom_series(finer, tmp_path / "spacings" / "b", same)
    with pytest.raises(VolumeError, match=r"mixes pixel spacings: 6 with 0.7x0.45 mm, 6 with 0.35x0.225 mm"):
        read_dicom_series(tmp_path / "spacings")


def test_not_an_image_and_empty_folders_are_refused(tmp_path):
    shutil.copy(get_testdata_file("test-SR.dcm", download=False), tmp_path / "report.dcm")
    with pytest.raises(VolumeError, match=r"no image with pixel data .*Comprehensive SR"):
        read_dicom_series(tmp_path)
    (tmp_path / "report.dcm").unlink()
    with pytest.raises(VolumeError, match="No DICOM files"):
        read_dicom_series(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_volume(tmp_path / "absent")


def test_a_single_slice_is_a_one_slice_volume():
    path = get_testdata_file("MR_small.dcm", download=False)
    ds = pydicom.dcmread(path)
    volume = read_volume(path)
    assert volume.shape == (1, 64, 64)
    assert volume.spacing == pytest.approx((0.3125, 0.3125, float(ds.SliceThickness)))
    assert volume.slice_position(0) == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    expected = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    np.testing.assert_array_equal(volume.data[0], expected.astype(np.float32))


def enhanced_mr(volume: Volume, path: Path, slopes: tuple[float, ...]) -> None:
    """Write ``volume`` as one Enhanced MR Image Storage file, geometry in functional groups.

    Frames are stored echo after echo in reverse slice order (a reader must sort them),
    each echo with its own rescale slope (PixelValueTransformationSequence).
    """
    data = volume.data if volume.data.ndim == 4 else volume.data[None]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = EnhancedMRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality, ds.MagneticFieldStrength = "MR", 1.5
    ds.Rows, ds.Columns = volume.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    col_spacing, row_spacing, _ = volume.spacing
    shared = Dataset()
    measures, orientation, timing = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing = [row_spacing, col_spacing]
    measures.SliceThickness = volume.acquisition["slice_thickness_mm"]
    orientation.ImageOrientationPatient = list(volume.orientation)
    timing.RepetitionTime, timing.FlipAngle = 12.0, 20.0
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [orientation]
    shared.MRTimingAndRelatedParametersSequence = [timing]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame, frames = [], []
    for echo, echo_data in enumerate(data):
        for index in reversed(range(volume.shape[0])):
            item, position, mr_echo, transform = Dataset(), Dataset(), Dataset(), Dataset()
            position.ImagePositionPatient = [float(v) for v in volume.slice_position(index)]
            mr_echo.EffectiveEchoTime = volume.acquisition["echo_times_ms"][echo]
            transform.RescaleSlope, transform.RescaleIntercept = slopes[echo], -10.0
            item.PlanePositionSequence = [position]
            item.MREchoSequence = [mr_echo]
            item.PixelValueTransformationSequence = [transform]
            per_frame.append(item)
            frames.append(np.rint((echo_data[index] + 10.0) / slopes[echo]).astype(np.uint16))
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.NumberOfFrames = len(frames)
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_an_enhanced_multi_frame_mr_file_reads_as_a_multi_echo_volume(tmp_path):
    volume = multi_echo_volume(shape=(5, 8, 6))
    slopes = (0.5, 0.25)
    volume = volume.with_data(np.rint(volume.data * 4) / 4)  # values the slopes store exactly
    enhanced_mr(volume, tmp_path / "enhanced", slopes)
    back = read_volume(tmp_path / "enhanced")
    assert back.data.shape == (2, 5, 8, 6)
    np.testing.assert_allclose(world_coordinates(back), world_coordinates(volume), atol=1e-6)
    np.testing.assert_array_equal(back.data, volume.data)
    assert back.acquisition["echo_times_ms"] == (7.48, 42.52)
    assert back.acquisition["repetition_time_ms"] == 12.0 and back.acquisition["flip_angle_deg"] == 20.0
    assert back.acquisition["slice_thickness_mm"] == 2.0 and back.acquisition["magnetic_field_t"] == 1.5


def test_the_writers_own_derivation_text_is_kept_beside_the_sealed_record(tmp_path):
    volume = multi_echo_volume().channel(0)
    derived = volume.with_data(volume.data, provenance={"method": "selfsr", "factor": 2})
    paths = write_dicom_series(derived, tmp_path, info(derivation="SR of condition LR"))
    assert pydicom.dcmread(paths[0]).DerivationDescription == "SR of condition LR"
    assert provenance_verify(tmp_path).status == INTACT


def test_a_derived_series_is_sealed_and_the_seal_tells_what_changed(tmp_path):
    record = {"method": "tci", "factor": 2, "seed": 0, "options": {}, "sr_engine_version": "test"}
    source_uid = generate_uid()
    volume = multi_echo_volume().with_data(
        multi_echo_volume().data, provenance=record, source_series_instance_uid=source_uid
    )
    paths = write_volume(volume, tmp_path / "sr", info=info())
    first = pydicom.dcmread(paths[0])
    assert first.ImageType == ["DERIVED", "SECONDARY"]
    assert "tci" in first.DerivationDescription and "x2" in first.DerivationDescription
    assert first.ReferencedSeriesSequence[0].SeriesInstanceUID == source_uid
    assert first.private_block(PRIVATE_GROUP, PRIVATE_CREATOR) is not None
    check = provenance_verify(tmp_path / "sr")
    assert check.status == INTACT and check.record == record
    assert read_provenance(tmp_path / "sr") == record
    assert read_volume(tmp_path / "sr").acquisition["provenance"] == record  # intact: kept on reading

    ds = pydicom.dcmread(paths[4])
    pixels = ds.pixel_array.copy()
    pixels[2, 3] += 1
    ds.PixelData = pixels.tobytes()
    ds.save_as(paths[4])
    assert provenance_verify(tmp_path / "sr").status == PIXELS_MODIFIED
    with pytest.warns(UserWarning, match="provenance record .* is not kept"):
        assert "provenance" not in read_volume(tmp_path / "sr").acquisition

    shutil.rmtree(tmp_path / "sr")
    paths = write_volume(volume, tmp_path / "sr", info=info())
    for path in paths:  # the same edit of the record in every file
        ds = pydicom.dcmread(path)
        element = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x01]
        element.value = element.value.replace('"factor":2', '"factor":4')
        ds.save_as(path)
    assert provenance_verify(tmp_path / "sr").status == RECORD_MODIFIED

    paths[0].unlink()
    assert provenance_verify(tmp_path / "sr").status == RECORD_MODIFIED  # the record is judged first

    plain = write_volume(multi_echo_volume(), tmp_path / "plain", info=info())
    assert provenance_verify(tmp_path / "plain").status == NOT_SEALED
    assert pydicom.dcmread(plain[0]).ImageType == ["ORIGINAL", "PRIMARY"]


def test_a_removed_slice_breaks_the_seal(tmp_path):
    volume = multi_echo_volume().channel(0)
    volume = volume.with_data(volume.data, provenance={"method": "fi"})
    paths = write_dicom_series(volume, tmp_path, info())
    paths[1].unlink()
    check = provenance_verify(tmp_path)
    assert check.status == PIXELS_MODIFIED and "sealed with 6 images but has 5" in check.message


def test_a_derived_series_keeps_the_patient_and_study_of_its_source(tmp_path):
    source_info = info(study_description="knee")
    write_dicom_series(multi_echo_volume().channel(0), tmp_path / "source", source_info)
    derived = series_info_from_source(tmp_path / "source", "SR tci x2")
    assert derived.study_instance_uid == source_info.study_instance_uid
    assert derived.frame_of_reference_uid == source_info.frame_of_reference_uid
    assert derived.series_instance_uid != source_info.series_instance_uid
    assert (derived.patient_name, derived.patient_id, derived.series_number) == ("TEST^IO", "IO1", 101)


@pytest.mark.skipif(not KNEE.is_dir(), reason="the knee DESS exam in ../shared is not present")
def test_the_knee_dess_echoes_read_apart_and_together():
    echo1 = read_volume(KNEE / "echo1")
    assert echo1.shape == (80, 512, 512)
    assert echo1.spacing == pytest.approx((0.3125, 0.3125, 1.5), abs=1e-4)
    assert echo1.acquisition["echo_times_ms"] == (7.48,)
    assert echo1.acquisition["repetition_time_ms"] == 25.0 and echo1.acquisition["flip_angle_deg"] == 30.0
    both = read_volume([KNEE / "echo2", KNEE / "echo1"])
    assert both.data.shape == (2, 80, 512, 512)
    assert both.acquisition["echo_times_ms"] == (7.48, 42.52)
    np.testing.assert_array_equal(both.data[0], echo1.data)
    np.testing.assert_allclose(both.affine, echo1.affine)
