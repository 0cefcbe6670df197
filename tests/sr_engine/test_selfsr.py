"""selfsr: self-supervised through-plane SR trained on the volume's own in-plane slices."""

import numpy as np
import pytest

from sr_engine.brain_phantom import brain_case
from sr_engine.interpolate import tci
from sr_engine.metrics import psnr
from sr_engine.selfsr import (
    profile_kernel,
    recorded_profile,
    selfsr_upscale,
    simulated_from_thin_slices,
    training_pairs,
)
from sr_engine.simulate import simulate_slices
from sr_engine.volume import Volume

FACTOR = 2


def _phantom(seed: int = 0, slices: int = 32, size: int = 96) -> Volume:
    """A brain slab (1 mm voxels) with lesions and little noise, cropped in-plane to the head's centre."""
    volume = brain_case(seed, 3, first_slice=56, slices=slices, noise_fraction=0.003).volume
    rows, cols = volume.shape[1:]
    r0, c0 = rows // 2 - size // 2, cols // 2 - size // 2
    affine = volume.affine.copy()
    affine[:3, 3] = volume.index_to_patient((0, r0, c0))
    return Volume(np.ascontiguousarray(volume.data[:, r0 : r0 + size, c0 : c0 + size]), affine)


def test_profile_kernels_have_the_requested_width():
    gaussian = profile_kernel(6.0, "gaussian")
    x = np.arange(gaussian.size) - gaussian.size // 2
    sigma = np.sqrt((gaussian * x**2).sum())
    assert gaussian.sum() == pytest.approx(1.0)
    assert 2 * np.sqrt(2 * np.log(2)) * sigma == pytest.approx(6.0, rel=1e-3)
    box = profile_kernel(2.5, "box")  # 1 full pixel and two at 3/4 weight
    np.testing.assert_allclose(box * 2.5, [0.0, 0.75, 1.0, 0.75, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="slice profile"):
        profile_kernel(2.0, "triangle")


@pytest.mark.parametrize("simulated", [False, True])
def test_training_pairs_are_aligned_on_the_upscaled_grid(simulated):
    """On a linear ramp every blur and tci are exact, so input and target must agree (mm geometry)."""
    rows, cols = np.meshgrid(np.arange(60.0), np.arange(50.0), indexing="ij")
    images = (100 + 3 * rows + 2 * cols)[None].repeat(2, axis=0).astype(np.float32)
    pairs = training_pairs(
        images,
        pixel_mm=(0.7, 0.9),
        spacing_mm=2.9,  # a non-integer number of pixels
        thickness_mm=2.9,
        factor=3,
        profile="gaussian",
        rng=np.random.default_rng(0),
        simulated=simulated,
    )
    assert len(pairs) == 4  # two in-plane axes x two sampling phases
    for inputs, targets in pairs:
        inner = np.s_[:, 8:-8]  # away from the ends, where the blur sees the mirrored image
        np.testing.assert_allclose(inputs[inner], targets[inner], rtol=1e-4)
        assert inputs.shape == targets.shape and inputs.shape[1] > 10


def test_selfsr_beats_tci_on_a_phantom_and_is_deterministic():
    hr = _phantom()
    lr = simulate_slices(hr, factor=FACTOR, profile="gaussian")
    options = dict(steps=120, patch=32, batch=8, features=16, depth=6, lr=1e-3)
    sr = selfsr_upscale(lr, FACTOR, seed=3, **options)
    baseline = tci(lr, FACTOR)
    assert sr.shape == baseline.shape == hr.shape and sr.dtype == np.float32
    used = slice(FACTOR, hr.shape[0] - FACTOR)

    def score(x):
        return psnr(hr.data[used], x[used], data_range=float(hr.data.max()))

    gain = score(sr) - score(baseline)
    assert gain > 0.3, gain
    small = Volume(np.ascontiguousarray(lr.data[:, :48, :48]), lr.affine, lr.acquisition)
    quick = dict(steps=4, patch=16, batch=2, features=4, depth=3)
    first = selfsr_upscale(small, FACTOR, seed=5, **quick)
    np.testing.assert_array_equal(first, selfsr_upscale(small, FACTOR, seed=5, **quick))
    assert not np.array_equal(first, selfsr_upscale(small, FACTOR, seed=6, **quick))


def test_refuses_what_it_cannot_do():
    lr = Volume(np.ones((8, 40, 40), np.float32), np.diag([1.0, 1.0, 3.0, 1.0]))
    with pytest.raises(TypeError, match="Unknown selfsr option"):
        selfsr_upscale(lr, 2, step=3)
    with pytest.raises(ValueError, match="one-channel"):
        selfsr_upscale(lr.with_data(np.ones((2, 8, 40, 40), np.float32)), 2)
    with pytest.raises(ValueError, match="at least 2"):
        selfsr_upscale(lr, 1)
    with pytest.raises(ValueError, match="ensemble must be one of"):
        selfsr_upscale(lr, 2, ensemble=3)


def test_the_four_flip_self_ensemble_commutes_with_flips():
    """Averaged over all four flips, even an untrained network's output flips with its input."""
    import torch

    from sr_engine.networks import ResNetSR
    from sr_engine.selfsr import _apply_planes

    torch.manual_seed(0)
    net = ResNetSR(dims=2, depth=3, features=4, channels=1).eval()
    planes = np.random.default_rng(0).random((3, 20, 24)).astype(np.float32)

    def run(x, ensemble):
        return _apply_planes(
            net,
            torch.device("cpu"),
            np.ascontiguousarray(x),
            chunk=2,
            report=lambda _: None,
            ensemble=ensemble,
        )

    flipped = planes[:, ::-1, :]
    np.testing.assert_allclose(run(flipped, 4), run(planes, 4)[:, ::-1, :], atol=1e-5)
    assert not np.allclose(run(flipped, 1), run(planes, 1)[:, ::-1, :], atol=1e-5)


def test_the_slice_profile_comes_from_the_simulation_record():
    hr = Volume(np.ones((8, 10, 10), np.float32), np.eye(4))
    assert recorded_profile(simulate_slices(hr, factor=2, profile="box")) == "box"
    assert recorded_profile(hr.with_data(hr.data, slice_profile="gaussian")) == "gaussian"
    assert recorded_profile(hr) is None


def test_a_simulated_volume_is_recognised_as_such():
    hr = Volume(np.ones((12, 10, 10), np.float32), np.diag([1.0, 1.0, 1.5, 1.0]))
    lr = simulate_slices(hr, factor=3)
    assert simulated_from_thin_slices(lr, 3)
    assert not simulated_from_thin_slices(lr, 2)  # upscaling to another grid than the thin one
    assert not simulated_from_thin_slices(simulate_slices(hr, thickness_mm=3.0, gap_mm=1.5), 3)
    assert not simulated_from_thin_slices(hr.with_data(hr.data[::3]), 3)
