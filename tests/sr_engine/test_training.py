"""Training resnet3d / resnet2d: aligned pairs, determinism, transfer learning, in-plane models."""

import numpy as np
import pytest
import torch

from sr_engine.brain_phantom import brain_case
from sr_engine.interpolate import tci
from sr_engine.metrics import psnr
from sr_engine.resnet import resnet_upscale
from sr_engine.simulate import simulate_inplane
from sr_engine.training import TrainConfig, train_and_save, train_resnet, training_pair
from sr_engine.volume import Volume
from sr_engine.weights import weights_describe, weights_load

TINY = dict(depth=3, features=4, patch=12, batch=2, steps=5)


def _ramp(shape=(24, 20, 18)) -> Volume:
    s, r, c = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    return Volume((200 + 5 * s + 2 * r + c).astype(np.float32), np.diag([0.5, 0.5, 1.0, 1.0]))


def _phantom(seed: int, size: int = 72) -> Volume:
    volume = brain_case(seed, 2, first_slice=64 + 6 * seed, slices=12, noise_fraction=0.003).volume
    rows, cols = volume.shape[1:]
    r0, c0 = rows // 2 - size // 2, cols // 2 - size // 2
    return Volume(np.ascontiguousarray(volume.data[:, r0 : r0 + size, c0 : c0 + size]), volume.affine)


def test_pairs_are_aligned_a_ramp_gives_input_equal_to_target():
    """The slice profile and tci are exact on a ramp: a misaligned target would differ."""
    inputs, targets, scale = training_pair(_ramp(), TrainConfig(factor=2))
    assert inputs.shape == targets.shape and inputs.shape[0] == 1 and scale > 0
    inner = np.s_[:, 2:-2, 2:-2, 2:-2]  # away from where the simulation mirrors the volume
    np.testing.assert_allclose(inputs[inner], targets[inner], rtol=1e-4)


def test_training_is_deterministic_and_records_its_metadata():
    data = [_ramp()]
    net_a, meta_a = train_resnet(data, TrainConfig(factor=2, seed=1, **TINY))
    net_b, _ = train_resnet(data, TrainConfig(factor=2, seed=1, **TINY))
    net_c, _ = train_resnet(data, TrainConfig(factor=2, seed=2, **TINY))
    for key, value in net_a.state_dict().items():
        torch.testing.assert_close(net_b.state_dict()[key], value, rtol=0, atol=0)
    assert any(not torch.equal(net_c.state_dict()[k], v) for k, v in net_a.state_dict().items())
    assert meta_a["factor"] == 2 and meta_a["axis"] == "slice" and meta_a["profile"] == "gaussian"
    assert meta_a["training"]["seed"] == 1 and meta_a["loss"]["steps"] == 5
    assert len(meta_a["training_data_sha256"]) == 64
    assert meta_a["architecture"] == {"dims": 3, "depth": 3, "features": 4, "channels": 1}


def test_transfer_learning_starts_a_dual_echo_model_from_a_single_echo_one(tmp_path):
    single_path = train_and_save([_ramp()], TrainConfig(factor=2, seed=0, **TINY), tmp_path / "one.pt")
    single, _ = weights_load(single_path)
    echoes = _ramp()
    dual_hr = echoes.with_data(np.stack([echoes.data, 0.5 * echoes.data]))
    config = TrainConfig(factor=2, channels=2, init_weights=str(single_path), **{**TINY, "steps": 0})
    dual, metadata = train_resnet([dual_hr], config)
    assert metadata["init_weights"]["sha256"] == weights_describe(single_path)["sha256"]
    x = torch.rand(1, 1, 10, 11, 12)
    with torch.no_grad():
        expected = single(x)
        got = dual(torch.cat([x, x], dim=1))
    torch.testing.assert_close(got, torch.cat([expected, expected], dim=1), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="init_weights are a"):
        train_resnet([dual_hr], TrainConfig(factor=2, channels=2, init_weights=str(single_path), depth=4))
    with pytest.raises(ValueError, match="1-channel model cannot train on a 2-channel"):
        train_resnet([dual_hr], TrainConfig(factor=2, **TINY))


def test_resnet2d_inplane_beats_tci_on_a_held_out_phantom():
    config = TrainConfig(factor=2, dims=2, depth=4, features=8, patch=32, batch=4, steps=300, lr=1e-3, seed=0)
    net_meta = train_resnet([_phantom(0)], config)
    assert net_meta[1]["axis"] == "inplane"
    test_hr = _phantom(1)
    lr = simulate_inplane(test_hr, factor=2)
    sr = resnet_upscale(lr, 2, weights=net_meta, axis="inplane")
    baseline = tci(lr, 2, axis="inplane")
    assert sr.shape == baseline.shape == test_hr.shape
    inner = np.s_[:, 2:-2, 2:-2]
    scale = float(test_hr.data.max())
    gain = psnr(test_hr.data[inner], sr[inner], data_range=scale) - psnr(
        test_hr.data[inner], baseline[inner], data_range=scale
    )
    assert gain > 0.3, gain
