"""The demo's brain phantom: deterministic, lesions in the brain where it says they are."""

import numpy as np
import pytest

from sr_engine.brain_phantom import brain_case, brain_slab


@pytest.fixture(scope="module")
def case():
    return brain_case(7, 3, slices=40)


def test_same_seed_same_case(case):
    again = brain_case(7, 3, slices=40)
    np.testing.assert_array_equal(again.volume.data, case.volume.data)
    assert again.lesions == case.lesions
    assert brain_case(8, 3, slices=40).lesions != case.lesions


def test_lesions_are_bright_spots_inside_brain_tissue(case):
    _, tissue = brain_slab(slices=40)
    inverse = np.linalg.inv(case.volume.affine)
    grid = np.indices(case.volume.shape)
    assert len(case.lesions) == 3
    for lesion in case.lesions:
        center = (inverse @ np.array([*lesion.center_mm, 1.0]))[:3]
        column, row, slice_ = np.rint(center).astype(int)
        assert tissue[slice_, row, column] > 0.8
        assert 3 <= lesion.diameter_mm <= 15
        # 1 mm voxels: the distance in voxels is the distance in mm.
        distance = np.sqrt(
            (grid[0] - center[2]) ** 2 + (grid[1] - center[1]) ** 2 + (grid[2] - center[0]) ** 2
        )
        radius = lesion.diameter_mm / 2
        low = 0.65 * radius if lesion.ring_enhancing else 0.0
        enhancing = (distance >= low) & (distance <= 0.9 * radius)
        surrounding = (distance >= radius + 1.5) & (distance <= radius + 3)
        data = case.volume.data
        assert data[enhancing].mean() > 1.05 * data[surrounding].mean()


def test_shape_type_and_lesions_inside_the_slab(case):
    assert case.volume.data.dtype == np.float32
    assert case.volume.shape[0] == 40
    assert case.volume.spacing == pytest.approx((1.0, 1.0, 1.0))
    first_z = case.volume.slice_position(0)[2]
    last_z = case.volume.slice_position(39)[2]
    for lesion in case.lesions:
        radius = lesion.diameter_mm / 2
        assert first_z + radius <= lesion.center_mm[2] <= last_z - radius


def test_normal_case_has_no_lesions():
    assert brain_case(1, 0, slices=20).lesions == ()


def test_noise_is_rician_so_background_is_positive(case):
    corner = case.volume.data[:, :4, :4]
    assert corner.min() >= 0
    assert corner.mean() > 0


def test_slab_outside_template_is_an_error():
    with pytest.raises(ValueError, match="outside the template"):
        brain_slab(first_slice=180, slices=40)
