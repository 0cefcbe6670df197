"""Quality metrics: hand-computed values, agreement with scikit-image, masks, grids and edge slices."""

import dataclasses

import numpy as np
import pytest
from skimage.metrics import normalized_root_mse, peak_signal_noise_ratio, structural_similarity

from sr_engine.metrics import compare, nrmse, psnr, rmse, smooth_tissue_weight, ssim, tissue_mask
from sr_engine.volume import Volume


def test_hand_computed_values():
    reference = np.array([[0.0, 10.0], [5.0, 5.0]])
    test = reference + np.array([[1.0, -1.0], [1.0, -1.0]])
    assert rmse(reference, test) == pytest.approx(1.0)
    assert nrmse(reference, test) == pytest.approx(0.1)  # range 10
    assert psnr(reference, test) == pytest.approx(20.0)  # 10 log10(100 / 1)
    mask = np.array([[True, False], [False, False]])
    test_masked = reference.copy()
    test_masked[0, 0] += 2.0
    assert rmse(reference, test_masked, mask=mask) == pytest.approx(2.0)
    assert psnr(reference, test_masked, mask=mask) == pytest.approx(20 * np.log10(10 / 2))
    assert rmse(reference, test_masked) == pytest.approx(1.0)  # sqrt(4 / 4)
    assert psnr(reference, reference) == float("inf")


def test_agree_with_scikit_image():
    rng = np.random.default_rng(0)
    reference = rng.random((3, 32, 40)) * 1000
    test = reference + rng.normal(0, 30, reference.shape)
    data_range = float(np.ptp(reference))
    assert psnr(reference, test) == pytest.approx(
        peak_signal_noise_ratio(reference, test, data_range=data_range)
    )
    assert nrmse(reference, test) == pytest.approx(
        normalized_root_mse(reference, test, normalization="min-max")
    )
    expected = np.mean(
        [structural_similarity(r, t, data_range=data_range) for r, t in zip(reference, test, strict=True)]
    )
    assert ssim(reference, test) == pytest.approx(expected, rel=1e-9)
    assert ssim(reference, reference) == pytest.approx(1.0)


def cylinder_phantom(shape=(12, 40, 40), radius=12.0, value=100.0, noise=2.0, seed=0) -> Volume:
    """A bright disc on every slice (a cylinder along the slices) in Rician-like noise."""
    rows, cols = np.indices(shape[1:]).astype(float)
    disc = np.hypot(rows - (shape[1] - 1) / 2, cols - (shape[2] - 1) / 2) <= radius
    data = np.broadcast_to(np.where(disc, value, 0.0), shape)
    data = np.abs(data + np.random.default_rng(seed).normal(0, noise, shape))
    return Volume(data.astype(np.float32), np.diag([0.5, 0.5, 2.0, 1.0]))


def test_tissue_mask_finds_the_object_and_ignores_noise_in_the_air():
    volume = cylinder_phantom()
    volume.data[:, 2, 2] = 300.0  # a bright speck in the air: a separate small component
    mask = tissue_mask(volume)
    grid = np.indices(volume.shape[1:]).astype(float)
    disc = np.hypot(grid[0] - 19.5, grid[1] - 19.5) <= 12
    assert np.mean(mask == disc[None]) > 0.99
    assert not mask[:, 2, 2].any()
    assert tissue_mask(np.stack([volume.data, np.zeros_like(volume.data)])).sum() == mask.sum()


def test_tissue_mask_fills_dark_structures_inside_the_body():
    volume = cylinder_phantom(noise=0.5)
    volume.data[:, 17:23, 17:23] = 0.0  # a dark tendon inside
    assert tissue_mask(volume)[:, 20, 20].all()


def test_smooth_tissue_weight_is_one_inside_and_zero_far_outside():
    mask = np.zeros((10, 30, 30), dtype=bool)
    mask[:, 10:20, 10:20] = True
    weight = smooth_tissue_weight(mask, sigma_voxels=1.5)
    assert weight.min() >= 0 and weight.max() <= 1
    assert weight[mask].min() > 0.97
    assert weight[:, :2, :2].max() < 1e-3
    assert 0.05 < weight[5, 22, 15] < 0.95  # a smooth transition just outside


def test_compare_excludes_edge_slices_and_reports_tissue_figures():
    reference = cylinder_phantom()
    test_data = reference.data.copy()
    test_data[0] += 500.0  # damage on an edge slice only
    test = reference.with_data(test_data)
    result = compare(reference, test)
    assert result.n_slices_used == 8
    assert result.psnr == float("inf") and result.ssim == pytest.approx(1.0)
    assert compare(reference, test, edge_slices=0).rmse > 0
    noisy = reference.with_data(reference.data + np.float32(5.0))
    result = compare(reference, noisy, edge_slices=1)
    assert result.rmse == pytest.approx(5.0, rel=1e-5) and result.rmse_tissue == pytest.approx(5.0, rel=1e-5)
    used = reference.data[1:-1]
    assert result.nrmse == pytest.approx(5.0 / np.ptp(used), rel=1e-5)
    assert result.psnr_tissue == pytest.approx(result.psnr, rel=1e-5)
    assert result.ssim_tissue < 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.psnr = 0.0  # type: ignore[misc]


def test_compare_masked_figures_use_the_given_mask():
    reference = cylinder_phantom()
    test_data = reference.data.copy()
    test_data[:, :5, :5] += 40.0  # error in the air only
    mask = tissue_mask(reference)
    result = compare(reference, reference.with_data(test_data), mask=mask)
    assert result.rmse > 0
    assert result.rmse_tissue == 0.0 and result.psnr_tissue == float("inf")


def test_compare_refuses_volumes_on_different_grids():
    reference = cylinder_phantom()
    shifted = np.array(reference.affine)
    shifted[2, 3] += 1.0
    with pytest.raises(ValueError, match="different grids"):
        compare(reference, Volume(reference.data, shifted))
    with pytest.raises(ValueError, match="different grids"):
        compare(reference, Volume(reference.data[:-1], reference.affine))
    with pytest.raises(ValueError, match="edge slices"):
        compare(reference, reference, edge_slices=6)
