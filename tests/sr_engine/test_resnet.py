"""resnet3d / resnet2d: trained on one phantom, it beats tci on another (held out)."""

import numpy as np
import pytest
import torch

from sr_engine.brain_phantom import brain_case
from sr_engine.interpolate import tci
from sr_engine.metrics import psnr
from sr_engine.networks import ResNetSR
from sr_engine.resnet import resnet_upscale
from sr_engine.simulate import simulate_slices
from sr_engine.training import TrainConfig, train_resnet
from sr_engine.volume import Volume
from sr_engine.weights import WeightsError, weights_save

FACTOR = 2


def _phantom(seed: int) -> Volume:
    """A small brain slab (1 mm voxels) with lesions, cropped to the centre of the head.

    Little noise: with the phantom's default noise the error of tci is mostly the HR
    volume's own noise, which no method can predict.
    """
    volume = brain_case(seed, 2, first_slice=62 + 4 * seed, slices=24, noise_fraction=0.003).volume
    rows, cols = volume.shape[1:]
    r0, c0 = rows // 2 - 40, cols // 2 - 40
    affine = volume.affine.copy()
    affine[:3, 3] = volume.index_to_patient((0, r0, c0))
    return Volume(np.ascontiguousarray(volume.data[:, r0 : r0 + 80, c0 : c0 + 80]), affine)


@pytest.fixture(scope="module")
def trained():
    config = TrainConfig(factor=FACTOR, depth=4, features=8, patch=16, batch=4, steps=200, lr=5e-4, seed=0)
    return train_resnet([_phantom(0)], config)


def _scores(hr: Volume, sr: np.ndarray) -> float:
    used = slice(FACTOR, sr.shape[0] - FACTOR)
    return psnr(hr.data[: sr.shape[0]][used], sr[used], data_range=float(hr.data.max()))


def test_resnet3d_beats_tci_on_a_held_out_phantom(trained):
    test_hr = _phantom(1)
    lr = simulate_slices(test_hr, factor=FACTOR, profile="gaussian")
    sr = resnet_upscale(lr, FACTOR, weights=trained, axis="slice")
    baseline = tci(lr, FACTOR)
    assert sr.shape == baseline.shape and sr.dtype == np.float32
    gain = _scores(test_hr, sr) - _scores(test_hr, baseline)
    assert gain > 0.5, gain


def test_weights_file_round_trip_and_tiling_give_the_same_output(trained, tmp_path):
    net, metadata = trained
    path = weights_save(tmp_path / "model.pt", net, metadata)
    lr = simulate_slices(_phantom(1), factor=FACTOR, profile="gaussian")
    from_memory = resnet_upscale(lr, FACTOR, weights=trained)
    from_file = resnet_upscale(lr, FACTOR, weights=path, tile=12)
    np.testing.assert_allclose(from_file, from_memory, atol=1e-4, rtol=1e-5)
    np.testing.assert_array_equal(resnet_upscale(lr, FACTOR, weights=path), from_memory)
    with pytest.raises(ValueError, match="smaller than the network's receptive field"):
        resnet_upscale(lr, FACTOR, weights=path, halo=2)


def test_refuses_mismatched_factor_channels_and_axis(trained, tmp_path):
    path = weights_save(tmp_path / "model.pt", *trained)
    lr = simulate_slices(_phantom(1), factor=3)
    with pytest.raises(WeightsError, match="factor 2, not 3"):
        resnet_upscale(lr, 3, weights=path)
    two = lr.with_data(np.stack([lr.data, lr.data]))
    with pytest.raises(WeightsError, match="take 1 channel"):
        resnet_upscale(two, FACTOR, weights=path)
    with pytest.raises(WeightsError, match="'inplane'"):
        resnet_upscale(lr, FACTOR, weights=path, axis="inplane")


def test_multi_channel_output_per_echo():
    torch.manual_seed(0)
    net = ResNetSR(dims=3, depth=3, features=4, channels=2).eval()
    metadata = {
        "factor": 2,
        "axis": "slice",
        "architecture": net.architecture,
        "normalisation": {"kind": "percentile", "percentile": 99.5},
    }
    data = np.random.default_rng(0).random((2, 6, 10, 12)).astype(np.float32)
    out = resnet_upscale(Volume(data, np.eye(4)), 2, weights=(net, metadata))
    assert out.shape == (2, 12, 10, 12)
