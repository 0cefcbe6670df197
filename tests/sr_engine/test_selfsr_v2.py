"""selfsr version 2 (sr_engine.selfsr_v2): the network on the thick-slice grid, trained on the
volume's own in-plane images within a time budget; version 1 stays reachable as selfsr-v1."""

import numpy as np
import pytest
import torch

from sr_engine.interpolate import tci
from sr_engine.metrics import psnr
from sr_engine.selfsr_v2 import (
    DEFAULTS,
    _gradient_weights,
    _network,
    _Sampler,
    receptive_radius,
    selfsr_v2_upscale,
)
from sr_engine.simulate import simulate_slices
from sr_engine.upscale import upscale

from .test_selfsr import _phantom

SMALL = dict(steps=150, patch=12, batch=12, features=16, expansion=2, blocks=3, lr=2e-3)


def _inner(volume: np.ndarray, factor: int) -> np.ndarray:
    return volume[2 * factor : -2 * factor]


def test_selfsr_v2_beats_tci_on_a_held_out_phantom_and_is_deterministic():
    hr = _phantom(seed=5)  # a phantom no default was tuned on
    for factor in (2, 4):
        lr = simulate_slices(hr, factor=factor, profile="gaussian")
        reference = hr.data[: lr.shape[0] * factor]
        sr, run = selfsr_v2_upscale(lr, factor, seed=3, **SMALL)
        assert sr.shape == reference.shape and sr.dtype == np.float32
        assert run["version"] == 2 and run["steps_run"] == SMALL["steps"]
        peak = float(reference.max())
        gain = psnr(_inner(reference, factor), _inner(sr, factor), data_range=peak) - psnr(
            _inner(reference, factor), _inner(tci(lr, factor), factor), data_range=peak
        )
        assert gain > 0.3, f"x{factor}: {gain:+.2f} dB over tci"
    again, _ = selfsr_v2_upscale(lr, factor, seed=3, **SMALL)
    np.testing.assert_array_equal(again, sr)


def test_a_time_budget_sets_the_steps_and_the_record_says_how_many():
    lr = simulate_slices(_phantom(slices=16, size=48), factor=2, profile="gaussian")
    tiny = dict(patch=8, batch=2, features=4, blocks=1)
    _, run = selfsr_v2_upscale(lr, 2, seconds=0.5, **tiny)
    assert run["steps_run"] >= 1
    assert run["seconds_taken"]["training"] < 0.5 + 1.0  # the budget, and the last step begun in it
    assert set(run["seconds_taken"]) == {"pairs", "training", "inference"}
    _, capped = selfsr_v2_upscale(lr, 2, seconds=30, max_steps=3, **tiny)
    assert capped["steps_run"] == 3


def test_the_receptive_field_spans_four_thick_slices_at_the_defaults():
    assert receptive_radius(DEFAULTS["blocks"]) >= 4
    net = _network(4, 8, 2, DEFAULTS["blocks"])
    for p in net.parameters():  # a generic network: every weight nonzero
        torch.nn.init.normal_(p, std=0.2)
    lr = torch.zeros(1, 1, 32, 16, requires_grad=True)
    out = net(lr, torch.zeros(1, 1, 128, 16))
    out[0, 0, 16 * 4, 8].backward()  # a fine row inside thick slice 16
    reached = np.nonzero(lr.grad[0, 0, :, 8].numpy())[0]
    assert reached.min() <= 16 - 4 and reached.max() >= 16 + 4


def test_patches_are_drawn_where_the_image_has_edges():
    target = np.zeros((1, 64, 64), dtype=np.float32)
    target[:, :, 48:] = 1.0  # one edge, at column 48: 1/64 of the columns
    lr = target[:, ::2]
    sampler = _Sampler([(lr, target, target)], 2, patch=4, batch=1, rng=np.random.default_rng(0))
    weights = _gradient_weights(target, 2)
    assert weights[0, :, 47:49].mean() > 5 * weights[0, :, :40].mean()
    hits = 0
    for _ in range(200):
        x, _s, _y = sampler()
        hits += int(0 < x.mean() < 1)  # the patch holds the edge
    assert hits > 100  # far more than the edge's share of positions


def test_refusals():
    lr = simulate_slices(_phantom(slices=16, size=48), factor=2, profile="gaussian")
    with pytest.raises(TypeError, match="depth"):
        selfsr_v2_upscale(lr, 2, depth=3)
    with pytest.raises(ValueError, match="time budget"):
        selfsr_v2_upscale(lr, 2, seconds=0)
    with pytest.raises(ValueError, match="ensemble"):
        selfsr_v2_upscale(lr, 2, steps=1, ensemble=3)
    with pytest.raises(ValueError, match="integer of at least 2"):
        selfsr_v2_upscale(lr, 1, steps=1)


def test_upscale_runs_version_2_as_selfsr_and_version_1_as_selfsr_v1():
    lr = simulate_slices(_phantom(slices=16, size=48), factor=2, profile="gaussian")
    v2 = upscale(lr, 2, "selfsr", steps=2, patch=8, batch=2, features=4, blocks=1)
    record = v2.acquisition["provenance"]
    assert record["method"] == "selfsr" and record["method_version"] == 2
    assert record["training"][0]["steps_run"] == 2
    v1 = upscale(lr, 2, "selfsr-v1", steps=2, patch=16, batch=2, features=4, depth=2)
    assert v1.acquisition["provenance"]["method_version"] == 1
    assert v1.shape == v2.shape == (16, 48, 48)
