"""Tiled inference equals untiled inference."""

import numpy as np
import pytest
import torch

from sr_engine.networks import ResNetSR, numpy_fn
from sr_engine.tiling import tile_for_budget, tiled_apply


def _random_net(dims: int, depth: int, channels: int = 1) -> ResNetSR:
    torch.manual_seed(3)
    net = ResNetSR(dims=dims, depth=depth, features=6, channels=channels).eval()
    with torch.no_grad():
        for p in net.parameters():  # bias > 0 everywhere: zero padding of a wrong tile would show
            p.mul_(2.0)
    return net


@pytest.mark.parametrize(
    ("shape", "tile"),
    [((2, 13, 17, 11), (5, 6, 4)), ((2, 9, 10, 23), 7)],
)
def test_tiled_equals_untiled_3d(shape, tile):
    net = _random_net(3, depth=4, channels=2)
    array = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    fn = numpy_fn(net, torch.device("cpu"))
    whole = fn(array)
    tiled = tiled_apply(fn, array, tile=tile, halo=net.halo_needed)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=1e-5)
    assert tiled.shape == whole.shape


def test_tiled_equals_untiled_2d_with_a_batch_axis():
    net = _random_net(2, depth=5)
    array = np.random.default_rng(1).normal(size=(3, 1, 19, 27)).astype(np.float32)  # batch of planes
    fn = numpy_fn(net, torch.device("cpu"), add_batch=False)
    whole = fn(array)
    tiled = tiled_apply(fn, array, tile=(8, 10), halo=net.halo_needed)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=1e-5)


def test_too_small_a_halo_differs_and_progress_reaches_one():
    net = _random_net(3, depth=4)
    array = np.random.default_rng(2).normal(size=(1, 12, 12, 12)).astype(np.float32)
    fn = numpy_fn(net, torch.device("cpu"))
    seen: list[float] = []
    short = tiled_apply(fn, array, tile=5, halo=1, progress=seen.append)
    assert np.abs(short - fn(array)).max() > 1e-3
    assert seen[-1] == pytest.approx(1.0)
    assert seen == sorted(seen)


def test_tile_for_budget_shrinks_with_features_and_halo():
    assert tile_for_budget(64, 3, 20, budget_bytes=512e6) < tile_for_budget(16, 3, 20, budget_bytes=512e6)
    assert tile_for_budget(64, 3, 20, budget_bytes=512e6) < tile_for_budget(64, 3, 5, budget_bytes=512e6)
    assert tile_for_budget(64, 3, 200, budget_bytes=1e6) == 8


def test_an_upsampling_function_is_tiled_with_its_output_scale():
    """A function that upsamples (a model on the LR grid): each tile's output is ``scale`` times its
    input; the halo counts input voxels. Here a 3-tap smoothing (receptive radius 1) then repeats."""

    def fn(array: np.ndarray) -> np.ndarray:
        padded = np.pad(array, [(0, 0), (1, 1), (0, 0), (0, 0)])
        smooth = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
        return np.repeat(np.repeat(smooth, 3, axis=1), 2, axis=3)

    array = np.random.default_rng(1).normal(size=(1, 11, 7, 9)).astype(np.float32)
    whole = fn(array)
    tiled = tiled_apply(fn, array, tile=(4, 3, 5), halo=1, scale=(3, 1, 2))
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    assert not np.allclose(tiled_apply(fn, array, tile=(4, 3, 5), halo=0, scale=(3, 1, 2)), whole)
    with pytest.raises(ValueError, match="times scale"):
        tiled_apply(fn, array, tile=4, halo=1, scale=(1, 1, 1))
