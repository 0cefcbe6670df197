"""NIfTI volumes: the RAS (i, j, k) <-> LPS (column, row, slice) conversion, round trips, sidecars."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sr_engine.brain_phantom import TEMPLATE, _template_path, brain_slab
from sr_engine.nifti_io import nifti_provenance, read_nifti, write_nifti
from sr_engine.volume import Volume
from sr_engine.volume_io import read_volume, write_volume

from .test_dicom_io import multi_echo_volume, world_coordinates

PHANTOMS = Path(__file__).resolve().parents[3] / "shared" / "mri" / "phantoms-vendor-dl"


def test_a_nifti_written_by_nibabel_reads_with_every_voxel_at_its_world_position(tmp_path):
    rng = np.random.default_rng(0)
    nifti_data = rng.normal(size=(7, 5, 4)).astype(np.float32)  # i, j, k
    rotation = np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([0.9, 1.2, 3.0])
    ras = np.eye(4)
    ras[:3, :3] = rotation
    ras[:3, 3] = [10.0, -20.0, 35.5]
    nib.save(nib.Nifti1Image(nifti_data, ras), tmp_path / "plain.nii.gz")

    volume = read_nifti(tmp_path / "plain.nii.gz")
    assert volume.shape == (4, 5, 7)  # slices = k, rows = j, columns = i
    for i, j, k in [(0, 0, 0), (6, 4, 3), (3, 1, 2)]:
        assert volume.data[k, j, i] == nifti_data[i, j, k]
        x, y, z = (ras @ [i, j, k, 1.0])[:3]
        assert volume.index_to_patient((k, j, i)) == pytest.approx([-x, -y, z])  # RAS -> LPS
    assert volume.spacing == pytest.approx((0.9, 1.2, 3.0))
    assert volume.slice_thickness == pytest.approx(3.0)  # from pixdim


def test_every_voxel_keeps_its_world_position_value_and_echoes_through_nifti(tmp_path):
    volume = multi_echo_volume()
    write_nifti(volume, tmp_path / "echoes.nii.gz")
    header = nib.load(tmp_path / "echoes.nii.gz")
    assert header.shape == (7, 9, 6, 2) and header.header["sform_code"] == 1
    back = read_volume(tmp_path / "echoes.nii.gz")
    np.testing.assert_array_equal(back.affine, volume.affine)  # exact, from the float64 extension
    np.testing.assert_array_equal(world_coordinates(back), world_coordinates(volume))
    np.testing.assert_array_equal(back.data, volume.data)
    assert back.acquisition["echo_times_ms"] == (7.48, 42.52)
    assert back.slice_thickness == 2.0 and back.spacing[2] == pytest.approx(2.5)


def test_the_header_alone_places_voxels_to_float32_precision(tmp_path):
    volume = multi_echo_volume().channel(0)
    path = write_nifti(volume, tmp_path / "one.nii")
    image = nib.load(path)
    image.header.extensions.clear()  # as another tool might write it
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), image.affine, image.header), tmp_path / "bare.nii")
    back = read_nifti(tmp_path / "bare.nii")
    np.testing.assert_allclose(world_coordinates(back), world_coordinates(volume), atol=1e-4)
    assert "echo_times_ms" not in back.acquisition


def test_nifti_and_dicom_agree_on_world_coordinates(tmp_path):
    volume = multi_echo_volume()
    write_volume(volume, tmp_path / "series")
    via_dicom = read_volume(tmp_path / "series")
    write_volume(via_dicom, tmp_path / "v.nii.gz")
    via_both = read_volume(tmp_path / "v.nii.gz")
    np.testing.assert_allclose(world_coordinates(via_both), world_coordinates(volume), atol=1e-6)
    np.testing.assert_array_equal(via_both.data, volume.data)


def test_the_mni_template_read_here_matches_the_brain_phantoms_own_conversion():
    slab, _ = brain_slab(first_slice=70, slices=4)
    template = read_nifti(Path(str(_template_path(TEMPLATE))))
    inverse = np.linalg.inv(template.affine)
    for c, r, s in [(10, 20, 0), (60, 80, 2), (100, 30, 3)]:
        column, row, slice_ = np.rint(inverse @ [*slab.index_to_patient((s, r, c)), 1.0])[:3].astype(int)
        assert template.data[slice_, row, column] * 10.0 == pytest.approx(slab.data[s, r, c])


def test_a_bids_sidecar_gives_the_acquisition_record(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.float32), np.eye(4)), tmp_path / "sub-01_T2w.nii.gz")
    sidecar = {"EchoTime": 0.09, "RepetitionTime": 3.2, "FlipAngle": 90, "SliceThickness": 4.0}
    (tmp_path / "sub-01_T2w.json").write_text(json.dumps(sidecar))
    volume = read_nifti(tmp_path / "sub-01_T2w.nii.gz")
    assert volume.acquisition["echo_times_ms"] == pytest.approx((90.0,))
    assert volume.acquisition["repetition_time_ms"] == pytest.approx(3200.0)
    assert volume.acquisition["flip_angle_deg"] == 90.0 and volume.slice_thickness == 4.0


def test_several_nifti_echoes_stack_by_echo_time_and_provenance_is_kept(tmp_path):
    volume = multi_echo_volume()
    write_nifti(volume.channel(1), tmp_path / "e2.nii.gz")
    write_nifti(volume.channel(0), tmp_path / "e1.nii.gz")
    both = read_volume([tmp_path / "e2.nii.gz", tmp_path / "e1.nii.gz"])
    np.testing.assert_array_equal(both.data, volume.data)
    assert both.acquisition["echo_times_ms"] == (7.48, 42.52)

    record = {"method": "fi", "factor": 2}
    derived = Volume(volume.data[0], volume.affine, {"provenance": record})
    write_volume(derived, tmp_path / "sr.nii")
    assert nifti_provenance(tmp_path / "sr.nii") == record
    assert read_nifti(tmp_path / "sr.nii").acquisition["provenance"] == record

    image = nib.load(tmp_path / "sr.nii")  # voxels changed by another tool, the extension kept
    changed = np.asarray(image.dataobj) + 1
    nib.save(nib.Nifti1Image(changed, image.affine, image.header), tmp_path / "changed.nii")
    assert "provenance" not in read_nifti(tmp_path / "changed.nii").acquisition


@pytest.mark.skipif(not PHANTOMS.is_dir(), reason="the vendor phantoms in ../shared are not present")
@pytest.mark.parametrize(
    "name",
    [
        "Ph_201_T1W_TSE_Sno_CSno_CSAIno.nii.gz",
        "GE_14_Ax_T2_FLAIR_FS_DL_Off.nii.gz",
    ],
)
def test_the_vendor_phantoms_keep_the_spacing_of_their_header(name):
    path = PHANTOMS / name
    header = nib.load(path)
    volume = read_nifti(path)
    zooms = header.header.get_zooms()[:3]
    assert volume.spacing == pytest.approx(zooms, rel=1e-4)
    assert volume.shape == tuple(header.shape[:3][::-1])
    corner = header.affine @ [*(np.array(header.shape[:3]) - 1), 1.0]
    assert volume.index_to_patient(np.array(volume.shape) - 1) == pytest.approx(
        [-corner[0], -corner[1], corner[2]], abs=1e-3
    )
