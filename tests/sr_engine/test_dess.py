"""DESS T2 maps: the analytic model inverts exactly; real knee DESS gives cartilage-range T2; agreement."""

from pathlib import Path

import numpy as np
import pytest

from sr_engine.dess import (
    SpoilerDiffusion,
    dess_signal_ratio,
    dess_t2_map,
    t1_factor,
    t2_agreement,
)
from sr_engine.metrics import tissue_mask
from sr_engine.volume import Volume
from stats.agreement import concordance_correlation

KNEE = Path(__file__).resolve().parents[3] / "shared" / "mri" / "knee-dess"
DESS = {"repetition_time_ms": 25.0, "flip_angle_deg": 30.0, "echo_times_ms": (7.48, 42.52)}


def synthetic_dess(t2_ms: np.ndarray, *, diffusion=None, t1_ms=1200.0) -> Volume:
    """Two echoes made by the forward model from a known T2 map (S1 = 1000 in the object)."""
    kwargs = {"diffusion": diffusion} if diffusion else {}
    ratio = dess_signal_ratio(t2_ms, tr_ms=25.0, te_ms=7.48, flip_deg=30.0, t1_ms=t1_ms, **kwargs)
    s1 = np.full(t2_ms.shape, 1000.0)
    return Volume(np.stack([s1, s1 * ratio]).astype(np.float64), np.eye(4), DESS)


def test_t1_factor_by_hand():
    e1 = np.exp(-25 / 1200)
    expected = np.sin(np.radians(15)) ** 2 * (1 + e1) / (1 - np.cos(np.radians(30)) * e1)
    assert t1_factor(tr_ms=25, flip_deg=30, t1_ms=1200) == pytest.approx(expected)
    # exp(-2 (TR - TE) / T2) with 2 (TR - TE) = 35.04 ms = TE2 - TE1
    ratio = dess_signal_ratio(35.04, tr_ms=25, te_ms=7.48, flip_deg=30, t1_ms=1200)
    assert ratio == pytest.approx(expected * np.exp(-1))


@pytest.mark.parametrize("diffusion", [None, SpoilerDiffusion.from_gradient_area(3132.0, 1760.0)])
def test_a_t2_map_from_the_forward_model_is_recovered_exactly(diffusion):
    t2 = np.linspace(10.0, 90.0, 4 * 6 * 5).reshape(4, 6, 5)
    volume = synthetic_dess(t2, diffusion=diffusion)
    result = dess_t2_map(
        volume, mask=np.ones(t2.shape, bool), **({"diffusion": diffusion} if diffusion else {})
    )
    np.testing.assert_allclose(result.data, t2, rtol=1e-5)
    assert result.data.dtype == np.float32
    np.testing.assert_array_equal(result.affine, volume.affine)
    assert result.acquisition["quantity"] == "T2_ms"
    assert "echo_times_ms" not in result.acquisition


def test_diffusion_weighting_is_small_but_not_nothing():
    ratio = dess_signal_ratio(40.0, tr_ms=25, te_ms=7.48, flip_deg=30)
    weighted = dess_signal_ratio(
        40.0, tr_ms=25, te_ms=7.48, flip_deg=30, diffusion=SpoilerDiffusion.from_gradient_area(3132.0, 1760.0)
    )
    assert 0.95 * ratio < weighted < ratio


def test_invalid_voxels_are_nan():
    t2 = np.full((2, 3, 3), 40.0)
    volume = synthetic_dess(t2)
    data = volume.data.copy()
    data[1, 0, 0, 0] = data[0, 0, 0, 0] * 0.9  # S2 close to S1: more than any T2 gives
    data[1, 0, 0, 1] = 0.0  # no second-echo signal
    data[1, 0, 0, 2] = data[0, 0, 0, 2] * 0.05  # T2 of about 9 ms: fine
    mask = np.ones(t2.shape, bool)
    mask[1] = False
    result = dess_t2_map(volume.with_data(data), mask=mask, max_t2_ms=100.0).data
    assert np.isnan(result[0, 0, 0]) and np.isnan(result[0, 0, 1])
    assert np.isfinite(result[0, 0, 2])
    assert np.isnan(result[1]).all()  # outside the mask
    np.testing.assert_allclose(result[0, 1:], 40.0, rtol=1e-5)
    long = dess_t2_map(synthetic_dess(np.full((2, 3, 3), 150.0)), mask=np.ones((2, 3, 3), bool)).data
    assert np.isnan(long).all()  # beyond max_t2_ms


def test_missing_acquisition_parameters_are_named():
    volume = synthetic_dess(np.full((2, 3, 3), 40.0))
    stripped = Volume(volume.data, volume.affine, {"echo_times_ms": (7.48, 42.52)})
    with pytest.raises(ValueError, match="repetition_time_ms, flip_angle_deg"):
        dess_t2_map(stripped)
    with pytest.raises(ValueError, match="two-echo"):
        dess_t2_map(volume.channel(0))


def test_agreement_uses_lins_ccc_and_the_within_voxel_cv():
    rng = np.random.default_rng(0)
    reference = rng.uniform(20, 60, (5, 8, 8))
    test = reference * (1 + rng.normal(0, 0.05, reference.shape))
    test[0, 0, 0] = np.nan  # ignored
    result = t2_agreement(reference, test)
    keep = np.isfinite(test)
    assert result.n_voxels == keep.sum()
    assert result.ccc == pytest.approx(concordance_correlation(reference[keep], test[keep]).estimate)
    pairs = np.stack([reference[keep], test[keep]], axis=1)
    by_hand = 100 * np.sqrt(np.mean((pairs.std(axis=1, ddof=1) / pairs.mean(axis=1)) ** 2))
    assert result.cv_percent == pytest.approx(by_hand)
    assert 2.5 < result.cv_percent < 5.0 and result.ccc > 0.95
    identical = t2_agreement(reference, reference)
    assert identical.cv_percent == 0.0 and identical.mean_difference_ms == 0.0


@pytest.mark.skipif(not KNEE.is_dir(), reason="the shared knee DESS exam is not present")
def test_real_knee_dess_gives_cartilage_range_t2():
    from sr_engine.volume_io import read_volume

    volume = read_volume([KNEE / "echo1", KNEE / "echo2"])
    assert volume.acquisition["echo_times_ms"] == (7.48, 42.52)
    # Every fourth row and column keeps the test fast; the T2 of a voxel is a per-voxel ratio.
    every_fourth = volume.affine.copy()
    every_fourth[:3, :2] *= 4
    volume = Volume(volume.data[:, :, ::4, ::4], every_fourth, volume.acquisition)
    mask = tissue_mask(volume)
    t2 = dess_t2_map(volume, mask=mask).data
    values = t2[mask & np.isfinite(t2)]
    assert values.size > 0.5 * mask.sum()
    median = float(np.median(values))
    print(f"knee DESS: median T2 in the tissue mask {median:.1f} ms over {values.size} voxels")
    assert 20.0 <= median <= 60.0
