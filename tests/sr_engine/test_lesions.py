"""Synthetic lesions: drawn in mm on oblique anisotropic grids, where and as large as recorded."""

import numpy as np
import pytest

from sr_engine.lesions import Lesion, LesionSpec, insert_lesions
from sr_engine.volume import Volume


def oblique_anisotropic(shape=(24, 40, 44), spacing=(0.6, 0.5, 1.2)) -> Volume:
    """A flat background on an oblique grid with anisotropic voxels (column, row, slice spacing)."""
    a, b = np.deg2rad(25), np.deg2rad(10)
    rotation = np.array(
        [[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]]
    ) @ np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation * np.asarray(spacing)[None, :]
    affine[:3, 3] = [-12.0, 30.0, -5.0]
    return Volume(np.full(shape, 100.0, dtype=np.float32), affine)


def centre_index(volume: Volume, centre_mm) -> np.ndarray:
    """(slice, row, column) index of a patient-space point."""
    column, row, slice_ = (np.linalg.inv(volume.affine) @ np.array([*centre_mm, 1.0]))[:3]
    return np.array([slice_, row, column])


def added_signal(volume: Volume, result: Volume) -> np.ndarray:
    return result.data.astype(np.float64) - volume.data


@pytest.mark.parametrize("diameter", [3.0, 6.0, 11.0])
def test_a_lesion_sits_at_its_recorded_centre_with_its_recorded_volume(diameter):
    volume = oblique_anisotropic()
    centre = volume.index_to_patient((11.4, 19.6, 21.3))  # off the voxel centres
    spec = LesionSpec(tuple(centre), diameter, ring_enhancing=False, contrast=0.5)
    result, truth = insert_lesions(volume, [spec])
    assert truth == (Lesion(tuple(float(v) for v in centre), diameter, False),)
    added = added_signal(volume, result)
    assert added.min() >= -1e-4
    weights = added / added.sum()
    grid = np.indices(volume.shape).reshape(3, -1)
    centre_of_mass = grid @ weights.ravel()
    assert np.abs(centre_of_mass - centre_index(volume, centre)).max() < 0.5
    voxel_mm3 = abs(np.linalg.det(volume.affine[:3, :3]))
    amplitude = 0.5 * 100.0  # contrast times the median signal
    measured_mm3 = added.sum() / amplitude * voxel_mm3
    sphere_mm3 = np.pi / 6 * diameter**3
    assert measured_mm3 == pytest.approx(sphere_mm3, rel=0.1)


def test_ring_lesions_have_a_darker_core_and_a_bright_rim():
    volume = oblique_anisotropic()
    centre = volume.index_to_patient((12, 20, 22))
    result, truth = insert_lesions(volume, [LesionSpec(tuple(centre), 10.0, contrast=0.6)])
    assert truth[0].ring_enhancing  # above the 8 mm threshold
    s, r, c = np.rint(centre_index(volume, centre)).astype(int)
    assert result.data[s, r, c] == pytest.approx(50.0, rel=0.02)  # the core darkened by half
    rim = volume.index_to_patient((12, 20, 22)) + 4.0 * volume.affine[:3, 0] / np.linalg.norm(
        volume.affine[:3, 0]
    )
    rs, rr, rc = np.rint(centre_index(volume, rim)).astype(int)
    assert result.data[rs, rr, rc] > 140.0


def test_random_lesions_are_deterministic_inside_the_mask_apart_and_away_from_the_faces():
    volume = oblique_anisotropic(shape=(40, 48, 48))
    mask = np.zeros(volume.shape, dtype=bool)
    mask[5:35, 8:40, 8:40] = True
    result, truth = insert_lesions(volume, n=4, diameters_mm=(3, 8), seed=11, mask=mask, min_gap_mm=2.0)
    again, same = insert_lesions(volume, n=4, diameters_mm=(3, 8), seed=11, mask=mask, min_gap_mm=2.0)
    assert same == truth
    np.testing.assert_array_equal(again.data, result.data)
    assert insert_lesions(volume, n=4, diameters_mm=(3, 8), seed=12, mask=mask, min_gap_mm=2.0)[1] != truth
    assert len(truth) == 4
    for lesion in truth:
        assert 3 <= lesion.diameter_mm <= 8
        assert lesion.diameter_mm == round(lesion.diameter_mm, 1)
        s, r, c = np.rint(centre_index(volume, lesion.center_mm)).astype(int)
        assert mask[s, r, c]
    for i, first in enumerate(truth):
        for second in truth[i + 1 :]:
            gap = np.linalg.norm(np.subtract(first.center_mm, second.center_mm))
            assert gap >= (first.diameter_mm + second.diameter_mm) / 2 + 2.0
    # Nothing was added on the outer faces: 2 mm margins keep the spheres inside.
    added = added_signal(volume, result)
    for face in (added[0], added[-1], added[:, 0], added[:, -1], added[:, :, 0], added[:, :, -1]):
        assert np.abs(face).max() < 1e-3


def test_multi_echo_volumes_get_the_lesion_in_every_echo():
    volume = oblique_anisotropic()
    two = Volume(np.stack([volume.data, 0.5 * volume.data]), volume.affine)
    centre = volume.index_to_patient((12, 20, 22))
    result, _ = insert_lesions(two, [LesionSpec(tuple(centre), 5.0, contrast=0.4)])
    added = result.data.astype(np.float64) - two.data
    np.testing.assert_allclose(added[1], 0.5 * added[0], atol=1e-3)  # same contrast per echo's own signal


def test_impossible_requests_are_refused():
    volume = oblique_anisotropic(shape=(4, 40, 44))
    with pytest.raises(ValueError, match="too thin"):
        insert_lesions(volume, n=1, diameters_mm=(5, 10))
    with pytest.raises(ValueError, match="diameters_mm"):
        insert_lesions(volume, n=1, diameters_mm=(10, 5))
    with pytest.raises(ValueError, match="no voxel"):
        insert_lesions(oblique_anisotropic(), n=1, mask=np.zeros((24, 40, 44), bool))
