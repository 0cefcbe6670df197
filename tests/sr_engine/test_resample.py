"""Resampling onto another grid through patient coordinates (``sr_engine.resample``).

A linear function of the patient position is reproduced exactly by trilinear interpolation,
so a source sampled from one on any grid (oblique, another field of view) must give that
function's values at the target's voxel centres, wherever they lie inside the source.
"""

import math

import numpy as np
import pytest

from sr_engine.resample import resample_onto, same_grid
from sr_engine.volume import Volume, dicom_affine, index_to_patient, slice_normal


def linear(points: np.ndarray) -> np.ndarray:
    return 500 + 3.0 * points[..., 0] - 2.0 * points[..., 1] + 5.0 * points[..., 2]


def sampled(affine: np.ndarray, shape: tuple[int, int, int]) -> Volume:
    index = np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij"), axis=-1)
    return Volume(linear(index_to_patient(affine, index)).astype(np.float32), affine)


def oblique_affine() -> np.ndarray:
    """A grid turned 30 degrees about z and 20 about x, 1.5 x 1.2 mm pixels, 3 mm slices."""
    a, b = math.radians(30), math.radians(20)
    row = np.array([math.cos(a), math.sin(a), 0.0])
    col = np.array([-math.sin(a) * math.cos(b), math.cos(a) * math.cos(b), math.sin(b)])
    orientation = (*row, *col)
    return dicom_affine(orientation, (1.2, 1.5), slice_normal(orientation) * 3.0, (-14.0, -16.0, -12.0))


def test_an_oblique_source_lands_where_the_patient_is_on_an_axial_grid():
    source = sampled(oblique_affine(), (10, 24, 22))
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    target_affine = dicom_affine(axial, (1.0, 1.0), slice_normal(axial) * 1.0, (-6.0, -6.0, -3.0))
    shape = (8, 12, 12)
    out = resample_onto(source, target_affine, shape, outside=-1.0)
    index = np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij"), axis=-1)
    points = index_to_patient(target_affine, index)
    inner = np.all(
        (source.patient_to_index(points) >= 0)
        & (source.patient_to_index(points) <= np.array(source.shape) - 1),
        axis=-1,
    )
    assert inner.mean() > 0.9  # the target lies (nearly) inside the source's voxel centres
    np.testing.assert_allclose(out[inner], linear(points)[inner], atol=1e-2)


def test_outside_the_source_the_given_value_and_on_the_same_grid_the_same_values():
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    affine = dicom_affine(axial, (2.0, 2.0), slice_normal(axial) * 4.0, (0.0, 0.0, 0.0))
    source = sampled(affine, (3, 4, 4))
    np.testing.assert_allclose(resample_onto(source, affine, source.shape), source.data, atol=1e-3)
    assert same_grid(affine, source.shape, affine.copy(), (3, 4, 4))
    far = affine.copy()
    far[:3, 3] += 100.0
    assert not same_grid(affine, source.shape, far, (3, 4, 4))
    assert np.all(resample_onto(source, far, (2, 2, 2), outside=-7.0) == -7.0)
    # The outer half voxel takes the edge value (a thick slice covers it).
    half = affine.copy()
    half[:3, 3] += (0.0, 0.0, -1.9)
    edge = resample_onto(source, half, (1, 4, 4))
    np.testing.assert_allclose(edge[0], source.data[0], atol=1e-3)


def test_only_3d_volumes_and_sane_shapes_are_taken():
    axial = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    affine = dicom_affine(axial, (1.0, 1.0), slice_normal(axial), (0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="3D"):
        resample_onto(Volume(np.zeros((2, 2, 3, 3), np.float32), affine), affine, (2, 3, 3))
    with pytest.raises(ValueError, match="three positive"):
        resample_onto(Volume(np.zeros((2, 3, 3), np.float32), affine), affine, (0, 3, 3))
