"""Classical interpolation onto the upscaled grid: the grid rule, exact ramps, no edge ringing."""

import numpy as np
import pytest

from sr_engine.interpolate import (
    OPERATORS,
    downscaled_affine,
    fi,
    fine_positions,
    fourier_operator,
    linear,
    nearest,
    tci,
    upscaled_affine,
    upscaled_shape,
)
from sr_engine.simulate import simulate_inplane, simulate_slices
from sr_engine.volume import Volume


def oblique_affine(spacing=(0.5, 0.6, 3.0)) -> np.ndarray:
    angle = np.deg2rad(25)
    row_dir = np.array([np.cos(angle), 0.0, np.sin(angle)])
    col_dir = np.array([0.0, 1.0, 0.0])
    normal = np.cross(row_dir, col_dir)
    affine = np.eye(4)
    affine[:3, 0] = row_dir * spacing[0]
    affine[:3, 1] = col_dir * spacing[1]
    affine[:3, 2] = normal * spacing[2]
    affine[:3, 3] = [-30.0, 12.5, 7.0]
    return affine


def thin_ramp(n_slices: int, shape=(5, 6), channels: int = 0) -> Volume:
    """A linear ramp along the slices (different in every row/column), optionally several channels."""
    z = np.arange(n_slices, dtype=float)[:, None, None]
    rows = np.arange(shape[0])[None, :, None]
    cols = np.arange(shape[1])[None, None, :]
    data = 100.0 + (2.0 + 0.1 * rows) * z + 3.0 * cols
    if channels:
        data = np.stack([data * (c + 1) for c in range(channels)])
    return Volume(data.astype(np.float32), oblique_affine((0.5, 0.6, 1.0)))


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_upscaled_grid_is_the_exact_inverse_of_thickening(factor):
    thin = thin_ramp(6 * factor)
    thick = simulate_slices(thin, factor=factor, profile="box")
    np.testing.assert_allclose(upscaled_affine(thick, factor), thin.affine, atol=1e-12)
    np.testing.assert_allclose(downscaled_affine(thin, factor), thick.affine, atol=1e-12)
    # The first fine centre lies (f-1)/(2f) of a thick slice before the first thick centre.
    first = upscaled_affine(thick, factor)[:3, 3]
    assert first == pytest.approx(thick.slice_position(0) - (factor - 1) / (2 * factor) * thick.affine[:3, 2])


def test_inplane_grid_rule_inverts_kspace_truncation():
    volume = Volume(np.ones((3, 8, 12), dtype=np.float32), oblique_affine())
    coarse = simulate_inplane(volume, factor=2)
    assert coarse.shape == (3, 4, 6)
    np.testing.assert_allclose(upscaled_affine(coarse, 2, "inplane"), volume.affine, atol=1e-12)
    assert upscaled_shape((2, 3, 4, 6), 2, "inplane") == (2, 3, 8, 12)
    assert upscaled_shape((3, 4, 6), 3) == (9, 4, 6)


@pytest.mark.parametrize("method", [linear, tci, fi])
@pytest.mark.parametrize(("n_thick", "factor"), [(2, 2), (3, 4), (5, 2), (8, 3), (12, 4), (33, 2)])
def test_a_linear_ramp_is_reproduced_exactly_on_every_slice(method, n_thick, factor):
    """Done-when: thicken a thin ramp, upscale it back, get the thin ramp on every slice, edges included."""
    thin = thin_ramp(n_thick * factor)
    thick = simulate_slices(thin, factor=factor, profile="box")
    upscaled = method(thick, factor)
    assert upscaled.dtype == np.float32
    assert upscaled.shape == thin.shape
    np.testing.assert_allclose(upscaled, thin.data, rtol=1e-5)


def test_multichannel_volumes_get_the_same_operator_per_channel():
    thin = thin_ramp(16, channels=2)
    thick = simulate_slices(thin, factor=4, profile="box")
    for method in (nearest, linear, tci, fi):
        both = method(thick, 4)
        assert both.shape == (2, 16, 5, 6)
        np.testing.assert_allclose(both[1], method(thick.channel(1), 4), rtol=1e-6)
    np.testing.assert_allclose(fi(thick, 4), thin.data, rtol=1e-5)


def test_nearest_repeats_the_thick_slices():
    data = np.random.default_rng(0).random((4, 3, 3)).astype(np.float32)
    result = nearest(data, 3)
    assert result.shape == (12, 3, 3)
    for j in range(12):
        np.testing.assert_array_equal(result[j], data[j // 3])


@pytest.mark.parametrize("name", ["linear", "tci", "fi"])
def test_odd_factors_pass_through_the_acquired_samples(name):
    # With an odd factor the centre fine slice of each thick slice sits on its centre.
    operator = OPERATORS[name](9, 3)
    np.testing.assert_allclose(operator[1::3], np.eye(9), atol=1e-12)


def test_fourier_interpolation_does_not_ring_at_the_edges():
    n, factor = 16, 4
    t = fine_positions(n, factor)

    def signal(x):  # smooth, not periodic
        return (x - 3.0) ** 2 / 20.0 + np.sin(x / 3.0)

    samples = signal(np.arange(n, dtype=float))
    ours = OPERATORS["fi"](n, factor) @ samples
    naive = fourier_operator(t, n, period=n) @ samples  # plain periodic zero-filling
    truth = signal(t)
    ours_error = np.abs(ours - truth)
    naive_error = np.abs(naive - truth)
    assert ours_error.max() < 0.02 * np.ptp(truth)
    assert naive_error[:factor].max() > 10 * ours_error[:factor].max()
    assert naive_error[-factor:].max() > 10 * ours_error[-factor:].max()


def test_fourier_interpolation_of_a_band_limited_signal_matches_it_in_the_middle():
    n, factor = 64, 2
    t = fine_positions(n, factor)
    samples = np.cos(2 * np.pi * 5 * np.arange(n) / n)
    result = OPERATORS["fi"](n, factor) @ samples
    middle = slice(16, -16)
    np.testing.assert_allclose(result[middle], np.cos(2 * np.pi * 5 * t / n)[middle], atol=5e-3)


def test_tci_is_cubic_along_slices_only_and_exact_for_cubics():
    n, factor = 10, 3
    z = np.arange(n, dtype=float)
    cubic = 0.01 * z**3 - 0.2 * z**2 + z + 5
    data = np.broadcast_to(cubic[:, None, None], (n, 4, 4)) * np.arange(1, 5)[None, None, :]
    result = tci(data.astype(np.float32), factor)
    t = fine_positions(n, factor)
    expected = (0.01 * t**3 - 0.2 * t**2 + t + 5)[:, None, None] * np.arange(1, 5)[None, None, :]
    np.testing.assert_allclose(result, np.broadcast_to(expected, result.shape), rtol=1e-5)


def test_inplane_upscaling_uses_the_same_grid_and_operators():
    data = thin_ramp(4).data.transpose(1, 0, 2).copy()  # ramp along rows now
    result = linear(data, 2, axis="inplane")
    assert result.shape == (5, 8, 12)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="axis"):
        tci(np.zeros((3, 3, 3)), 2, axis="diagonal")
    with pytest.raises(ValueError, match="factor"):
        fi(np.zeros((3, 3, 3)), 1.5)
    with pytest.raises(ValueError, match="3D or 4D"):
        nearest(np.zeros((3, 3)), 2)
