"""The axis a method upscales comes from the geometry, whatever the storage order (sr_engine.axes).

A thick-slice volume is stored in each of the six axis orders (as NIfTI files may store it);
every order gives the same voxels in patient space, upscaled along the thick axis, back in
the input's own order. Volumes without one coarsest axis are refused unless the axis is
named, and a named axis finer than another is refused.
"""

import itertools

import nibabel as nib
import numpy as np
import pytest

from sr_engine.axes import AxisError, choose_axes, inplane_axes, through_plane_axis
from sr_engine.cli import main
from sr_engine.dicom_series import SeriesInfo, VolumeError, read_dicom_series, write_dicom_series
from sr_engine.nifti_io import read_nifti, write_nifti
from sr_engine.upscale import upscale
from sr_engine.volume import Volume

ORDERS = list(itertools.permutations(range(3)))


def thick_volume(spacing=(5.0, 1.0, 1.0), shape=(6, 12, 10), seed=0) -> Volume:
    """A smooth random volume, thick axis first (data order), oblique-free but with an offset."""
    rng = np.random.default_rng(seed)
    data = rng.random(shape).astype(np.float32) * 100
    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])  # (column, row, slice) steps
    affine[:3, 3] = (-20.0, 7.5, 33.0)
    return Volume(data, affine, {"slice_thickness_mm": spacing[0]})


def voxel_world(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """Every voxel's patient position and value, sorted by position (storage order removed)."""
    index = np.stack(np.meshgrid(*(np.arange(n) for n in volume.shape), indexing="ij"), axis=-1)
    points = volume.index_to_patient(index.reshape(-1, 3)).round(6)
    values = volume.data.reshape(-1)
    order = np.lexsort(points.T[::-1])
    return points[order], values[order]


@pytest.mark.parametrize("order", ORDERS)
def test_every_storage_order_upscales_the_thick_axis_and_keeps_the_order(order):
    canonical = thick_volume()
    stored = canonical.permute_axes(order)
    thick_axis = order.index(0)  # where the 5 mm axis is stored
    assert through_plane_axis(stored) == thick_axis
    result = upscale(stored, 2, "tci")
    expected_shape = list(stored.shape)
    expected_shape[thick_axis] *= 2
    assert result.shape == tuple(expected_shape)
    spacing = np.array(stored.axis_spacing)
    spacing[thick_axis] /= 2
    np.testing.assert_allclose(result.axis_spacing, spacing, rtol=1e-12)
    assert result.acquisition["slice_thickness_mm"] == pytest.approx(2.5)
    assert result.acquisition["provenance"]["axis"] == ("slice", "row", "column")[thick_axis]
    assert result.acquisition["provenance"]["axis_rule"] == "spacing"
    # The same voxels in patient space as upscaling the thick-first volume.
    reference = upscale(canonical, 2, "tci")
    for got, want in zip(voxel_world(result), voxel_world(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("order", ORDERS)
def test_inplane_upscaling_finds_the_image_plane_in_every_order(order):
    canonical = thick_volume(spacing=(3.0, 0.8, 0.8))
    stored = canonical.permute_axes(order)
    plane = tuple(sorted(order.index(a) for a in (1, 2)))
    assert inplane_axes(stored) == plane
    result = upscale(stored, 2, "nearest", axis="inplane")
    expected = list(stored.shape)
    for a in plane:
        expected[a] *= 2
    assert result.shape == tuple(expected)
    reference = upscale(canonical, 2, "nearest", axis="inplane")
    for got, want in zip(voxel_world(result), voxel_world(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_inplane_rules_for_coarse_pixels_isotropic_and_all_different():
    assert inplane_axes(thick_volume(spacing=(1.0, 4.0, 4.0))) == (1, 2)  # coarse in-plane pixels
    assert inplane_axes(thick_volume(spacing=(1.0, 1.0, 1.0))) == (1, 2)  # the stored image plane
    assert inplane_axes(thick_volume(spacing=(0.6, 3.0, 0.8))) == (0, 2)  # not the coarsest


@pytest.mark.parametrize(
    ("spacing", "tied"),
    [((5.0, 5.0, 1.0), "slice and row"), ((1.0, 4.0, 4.0), "row and column"), ((2.0, 2.0, 2.0), "slice")],
)
def test_no_single_thick_axis_is_refused_with_the_spacing(spacing, tied):
    volume = thick_volume(spacing=spacing)
    with pytest.raises(AxisError, match=tied) as error:
        upscale(volume, 2, "tci")
    assert "Name the axis" in str(error.value)


def test_a_named_axis_resolves_a_tie_and_is_recorded():
    volume = thick_volume(spacing=(5.0, 5.0, 1.0))
    result = upscale(volume, 2, "linear", axis="row")
    assert result.shape == (6, 24, 10)
    assert result.acquisition["provenance"]["axis"] == "row"
    assert result.acquisition["provenance"]["axis_rule"] == "named"
    iso = upscale(thick_volume(spacing=(2.0, 2.0, 2.0)), 2, "linear", axis="slice")
    assert iso.shape == (12, 12, 10)


def test_a_named_axis_finer_than_another_is_refused():
    stored = thick_volume().permute_axes((2, 1, 0))  # the 5 mm axis stored last (column)
    with pytest.raises(AxisError, match="axis=slice disagrees with the volume's spacing"):
        upscale(stored, 2, "tci", axis="slice")
    with pytest.raises(AxisError, match="in-plane method"):
        choose_axes(stored, "row", inplane=True)
    with pytest.raises(AxisError, match="axis must be"):
        through_plane_axis(stored, "k")


def test_the_nifti_of_the_issue_comes_out_along_its_5_mm_axis(tmp_path):
    """A 5 mm phantom stored as (12, 256, 256) with voxel sizes (5, 1, 1) mm (here 12 x 32 x 32)."""
    rng = np.random.default_rng(3)
    array = rng.random((12, 32, 32)).astype(np.float32) * 50
    ras = np.diag([5.0, 1.0, 1.0, 1.0])
    path = tmp_path / "thick_i.nii.gz"
    nib.save(nib.Nifti1Image(array, ras), str(path))
    volume = read_nifti(path)
    assert volume.acquisition["slice_thickness_mm"] == 5.0  # the thick axis, not pixdim k
    out = tmp_path / "sr.nii.gz"
    assert main(["upscale", str(path), str(out), "--factor", "5", "--method", "tci"]) == 0
    image = nib.load(str(out))
    assert image.shape == (60, 32, 32)
    np.testing.assert_allclose(image.header.get_zooms()[:3], (1.0, 1.0, 1.0))
    assert read_nifti(out).acquisition["provenance"]["axis"] == "column"  # NIfTI i


def test_the_cli_refuses_an_ambiguous_volume_and_takes_axis(tmp_path, capsys):
    path = write_nifti(thick_volume(spacing=(2.0, 2.0, 2.0)), tmp_path / "iso.nii.gz")
    out = tmp_path / "out.nii.gz"
    assert main(["upscale", str(path), str(out), "--factor", "2"]) == 1  # unusable input
    assert "no single thick axis" in capsys.readouterr().err
    assert not out.exists()
    assert main(["upscale", str(path), str(out), "--factor", "2", "--axis", "row"]) == 0
    assert read_nifti(out).shape == (6, 24, 10)


def test_a_dicom_file_cut_off_inside_its_header_is_named_as_corrupt(tmp_path):
    volume = thick_volume(spacing=(3.0, 1.0, 1.0))
    info = SeriesInfo(patient_name="AXES^TEST", patient_id="AX1", series_description="cut")
    paths = write_dicom_series(volume, tmp_path / "series", info)
    victim = paths[2]
    raw = victim.read_bytes()
    header_end = raw.index(b"\xe0\x7f\x10\x00")  # the Pixel Data tag (7FE0,0010), little endian
    for cut in (220, 420, header_end - 8):
        victim.write_bytes(raw[:cut])
        with pytest.raises(VolumeError, match=f"{victim.name} is a corrupt DICOM file"):
            read_dicom_series(tmp_path / "series")
    victim.write_bytes(raw)
    assert read_dicom_series(tmp_path / "series").shape == volume.shape
