"""Acquisition simulation: slice profiles and their centres, k-space truncation, Rician noise, the chain."""

import numpy as np
import pytest

from sr_engine.interpolate import upscaled_affine
from sr_engine.simulate import (
    FWHM_TO_SIGMA,
    add_noise,
    kspace_truncation_operator,
    simulate_acquisition,
    simulate_inplane,
    simulate_slices,
    slice_profile_operator,
    voxel_sha256,
)
from sr_engine.slice_profile import thicken_slices
from sr_engine.volume import Volume


def oblique_affine(spacing=(0.5, 0.6, 1.0)) -> np.ndarray:
    angle = np.deg2rad(20)
    row_dir = np.array([np.cos(angle), np.sin(angle), 0.0])
    col_dir = np.array([-np.sin(angle), np.cos(angle), 0.0])
    affine = np.eye(4)
    affine[:3, 0] = row_dir * spacing[0]
    affine[:3, 1] = col_dir * spacing[1]
    affine[:3, 2] = np.cross(row_dir, col_dir) * spacing[2]
    affine[:3, 3] = [-40.0, 12.5, 7.0]
    return affine


def ramp_volume(n_slices: int, shape=(4, 5)) -> Volume:
    data = np.broadcast_to(np.arange(n_slices, dtype=np.float32)[:, None, None] * 2 + 10, (n_slices, *shape))
    return Volume(data.copy(), oblique_affine())


def thin_index_of(thick: Volume, thin: Volume, m: int) -> float:
    """The thin-slice index at which thick slice ``m`` is centred."""
    inverse = np.linalg.inv(thin.affine)
    return float((inverse @ np.array([*thick.slice_position(m), 1.0]))[2])


def test_box_factor_averages_thin_slices_like_thicken_slices():
    volume = Volume(np.random.default_rng(1).random((10, 3, 4)).astype(np.float32), oblique_affine())
    thick = simulate_slices(volume, factor=3, profile="box")
    assert thick.shape == (3, 3, 4)  # the tenth slice does not fill a thick slice
    np.testing.assert_allclose(thick.data, volume.data[:9].reshape(3, 3, 3, 4).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(thicken_slices(volume, 3).data, thick.data)
    assert [thin_index_of(thick, volume, m) for m in range(3)] == pytest.approx([1.0, 4.0, 7.0])
    assert thick.acquisition["slice_thickness_mm"] == pytest.approx(3.0)
    np.testing.assert_allclose(upscaled_affine(thick, 3), volume.affine, atol=1e-12)


@pytest.mark.parametrize("profile", ["gaussian", "box"])
def test_symmetric_profiles_put_a_ramp_value_at_the_thick_centre(profile):
    volume = ramp_volume(40)
    thick = simulate_slices(volume, thickness_mm=3.0, gap_mm=1.0, profile=profile)
    assert thick.spacing[2] == pytest.approx(4.0)
    assert thick.acquisition["slice_thickness_mm"] == pytest.approx(3.0)
    assert thick.shape[0] == 10  # centres 1, 5, ..., 37; the profile of the next would pass slice 39
    centres = [thin_index_of(thick, volume, m) for m in range(thick.shape[0])]
    assert centres == pytest.approx(np.arange(10) * 4 + 1.0)
    inner = slice(1, -1)  # the Gaussian's tails reach past the ends, where the volume is mirrored
    np.testing.assert_allclose(thick.data[inner, 0, 0], 10 + 2 * np.array(centres)[inner], rtol=1e-6)


def test_edges_are_mirrored_so_a_uniform_volume_stays_uniform():
    volume = Volume(np.full((12, 3, 3), 7.0, dtype=np.float32), oblique_affine())
    thick = simulate_slices(volume, factor=4, profile="gaussian")
    np.testing.assert_allclose(thick.data, 7.0, rtol=1e-6)


def test_gaussian_profile_has_the_thickness_as_its_fwhm():
    # 24 thin slices of 0.25 mm in a 3 mm slice: the weights trace the profile finely.
    operator = slice_profile_operator(
        200, thickness=12.0, spacing=12.0, first_center=50.0, profile="gaussian"
    )
    weights = operator[0]
    above_half = np.flatnonzero(weights >= weights.max() / 2)
    assert above_half[-1] - above_half[0] + 1 == pytest.approx(12, abs=1)
    assert weights.sum() == pytest.approx(1.0)
    centre = np.sum(weights * np.arange(200))
    assert centre == pytest.approx(50.0)
    spread = np.sqrt(np.sum(weights * (np.arange(200) - centre) ** 2))
    assert spread == pytest.approx(np.sqrt((12 * FWHM_TO_SIGMA) ** 2 + 1 / 12), rel=1e-3)


def test_partial_overlap_of_a_box_is_weighted_exactly():
    operator = slice_profile_operator(6, thickness=2.5, spacing=2.5, first_center=0.75, profile="box")
    np.testing.assert_allclose(operator[0, :4], [0.4, 0.4, 0.2, 0.0])
    np.testing.assert_allclose(operator[1, :6], [0.0, 0.0, 0.2, 0.4, 0.4, 0.0])


def test_slice_arguments_are_checked():
    volume = ramp_volume(8)
    with pytest.raises(ValueError, match="exactly one"):
        simulate_slices(volume)
    with pytest.raises(ValueError, match="exactly one"):
        simulate_slices(volume, factor=2, thickness_mm=2.0)
    with pytest.raises(ValueError, match="gap"):
        simulate_slices(volume, factor=2, gap_mm=1.0)
    with pytest.raises(ValueError, match="profile"):
        simulate_slices(volume, factor=2, profile="sinc")
    with pytest.raises(ValueError, match="thinner"):
        simulate_slices(volume, thickness_mm=12.0)


def cosine_image(n_rows: int, n_cols: int, cycles: tuple[float, float], shift=0.3) -> np.ndarray:
    rows = np.arange(n_rows)[:, None]
    cols = np.arange(n_cols)[None, :]
    return np.cos(2 * np.pi * cycles[0] * rows / n_rows + 2 * np.pi * cycles[1] * cols / n_cols + shift)


def test_kspace_truncation_keeps_low_frequencies_at_the_coarse_centres():
    factor = 4
    fine = cosine_image(32, 48, (2, 3))
    volume = Volume(np.stack([fine, 2 * fine]).astype(np.float32), oblique_affine())
    coarse = simulate_inplane(volume, factor=factor)
    assert coarse.shape == (2, 8, 12)
    # Coarse pixel m is centred at fine index m*f + (f-1)/2: the cosine evaluated there.
    centres_r = np.arange(8) * factor + (factor - 1) / 2
    centres_c = np.arange(12) * factor + (factor - 1) / 2
    expected = np.cos(2 * np.pi * 2 * centres_r[:, None] / 32 + 2 * np.pi * 3 * centres_c[None, :] / 48 + 0.3)
    np.testing.assert_allclose(coarse.data[0], expected, atol=1e-6)
    np.testing.assert_allclose(coarse.data[1], 2 * expected, atol=1e-6)  # signed data stay signed
    np.testing.assert_allclose(upscaled_affine(coarse, factor, "inplane"), volume.affine, atol=1e-12)


def test_keep_matrix_removes_high_frequencies_on_the_same_grid():
    low = cosine_image(32, 32, (2, 1))
    high = cosine_image(32, 32, (12, 0))
    volume = Volume((low + high)[None].astype(np.float32), oblique_affine())
    result = simulate_inplane(volume, factor=2, keep_matrix=True)
    assert result.shape == volume.shape
    np.testing.assert_allclose(result.affine, volume.affine)
    np.testing.assert_allclose(result.data[0], low, atol=1e-6)


def test_apodization_reduces_truncation_ringing_of_a_magnitude_edge():
    edge = np.zeros((1, 64, 64), dtype=np.float32)
    edge[:, :, 24:40] = 100.0
    volume = Volume(edge, oblique_affine())
    plain = simulate_inplane(volume, factor=4, keep_matrix=True).data
    hann = simulate_inplane(volume, factor=4, keep_matrix=True, apodization="hann").data
    assert plain.min() >= 0  # magnitude data stay magnitude
    assert plain.max() > 105  # Gibbs overshoot
    assert hann.max() - 100 < (plain.max() - 100) / 4
    assert np.abs(hann[0, :, 8]).max() < np.abs(plain[0, :, 8]).max()
    with pytest.raises(ValueError, match="apodization"):
        simulate_inplane(volume, factor=4, apodization="kaiser")
    with pytest.raises(ValueError, match="multiple"):
        kspace_truncation_operator(30, 4)


def two_region_volume(echoes: int = 1) -> Volume:
    data = np.zeros((4, 60, 60), dtype=np.float32)
    data[:, :, 30:] = 100.0
    if echoes > 1:
        data = np.stack([data * 0.5**e for e in range(echoes)])
    return Volume(data, oblique_affine(), {"echo_times_ms": (7.0, 42.0)[:echoes]})


def test_rician_noise_has_the_requested_snr_and_a_positive_background():
    volume = two_region_volume()
    noisy = add_noise(volume, snr=20, seed=3)
    sigma = 100.0 / 20
    tissue = noisy.data[:, :, 32:]
    background = noisy.data[:, :, :28]
    assert tissue.std() == pytest.approx(sigma, rel=0.05)
    assert background.min() >= 0
    assert background.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.05)  # Rayleigh mean
    again = add_noise(volume, snr=20, seed=3)
    np.testing.assert_array_equal(again.data, noisy.data)
    assert not np.array_equal(add_noise(volume, snr=20, seed=4).data, noisy.data)
    gaussian = add_noise(volume, snr=20, seed=3, rician=False)
    assert gaussian.data[:, :, :28].mean() == pytest.approx(0.0, abs=0.2)
    assert add_noise(volume, snr=10, seed=3, reference=50.0).acquisition["provenance"]["simulation"][0][
        "sigma"
    ] == pytest.approx(5.0)


def test_multi_echo_noise_has_one_sigma_and_independent_draws():
    volume = two_region_volume(echoes=2)
    noisy = add_noise(volume, snr=20, seed=5, rician=False)
    first = noisy.data[0, :, :, 32:] - 100.0
    second = noisy.data[1, :, :, 32:] - 50.0
    assert second.std() == pytest.approx(first.std(), rel=0.08)  # sigma set by the first echo
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.05


def test_the_chain_degrades_echoes_consistently_and_records_its_steps():
    rng = np.random.default_rng(2)
    echo = rng.random((16, 8, 8)).astype(np.float32) * 100
    volume = Volume(np.stack([echo, 0.5 * echo]), oblique_affine(), {"echo_times_ms": (7.48, 42.52)})
    result = simulate_acquisition(volume, factor=4, inplane_factor=2, apodization="hann")
    assert result.data.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(result.data[1], 0.5 * result.data[0], rtol=1e-5)
    provenance = result.acquisition["provenance"]
    assert [s["operation"] for s in provenance["simulation"]] == ["simulate_slices", "simulate_inplane"]
    assert provenance["input_sha256"] == voxel_sha256(volume.data)
    assert result.acquisition["echo_times_ms"] == (7.48, 42.52)
    noisy = simulate_acquisition(volume, factor=2, snr=30, seed=9)
    assert noisy.acquisition["provenance"]["simulation"][-1]["seed"] == 9
    np.testing.assert_array_equal(noisy.data, simulate_acquisition(volume, factor=2, snr=30, seed=9).data)
