"""Training the supervised residual CNN (resnet3d through-plane, resnet2d in-plane).

The recipe of DeepResolve (Chaudhari et al., "Super-resolution musculoskeletal MRI
using deep learning", Magn Reson Med 80(5), 2018):

* pairs from high-resolution (HR) volumes: the low-resolution (LR) input is simulated
  from the HR volume (:func:`sr_engine.simulate.simulate_slices` with the slice
  profile, or :func:`sr_engine.simulate.simulate_inplane` for in-plane models), then
  brought back onto the HR grid by tricubic interpolation (TCI); the target is the HR
  volume on the grid they share; ``factor`` slices (pixels) at each edge are left out;
* random patches (32^3 in the paper), most of them centred in tissue;
* an L2 loss, the Adam optimiser (Kingma & Ba, ICLR 2015), here with a cosine
  learning-rate decay (Loshchilov & Hutter, "SGDR", ICLR 2017);
* multi-channel models (dual-echo DESS) stack the echoes as channels; transfer
  learning starts them from a one-channel model (``init_weights``) by
  :func:`sr_engine.networks.transfer_first_layer`.

Intensities are divided by a percentile of the LR volume, the same rule that
:func:`sr_engine.resnet.resnet_upscale` applies at inference (recorded in the weights).
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .extras import require_torch
from .progress import ProgressArg, progress_reporter
from .volume import Volume


@dataclass(frozen=True)
class TrainConfig:
    """How to train a :class:`sr_engine.networks.ResNetSR` (defaults: the published 20 x 64 design)."""

    factor: int
    profile: str = "gaussian"
    dims: int = 3
    depth: int = 20
    features: int = 64
    channels: int = 1
    patch: int = 32
    batch: int = 4
    steps: int = 2000
    lr: float = 3e-4
    seed: int = 0
    device: str | None = None
    init_weights: str | None = None
    normalise_percentile: float = 99.5
    tissue_fraction: float = 0.9

    @property
    def axis(self) -> str:
        """``"slice"`` for 3D (through-plane) models, ``"inplane"`` for 2D ones."""
        return "slice" if self.dims == 3 else "inplane"


def training_pair(hr: Volume, config: TrainConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Normalised (input, target) arrays ``(channels, slices, rows, columns)`` of an HR volume; the scale.

    Input = TCI of the simulated LR volume on the HR grid; both cropped to the grid
    they share, without ``factor`` slices (pixels, in-plane) at each edge.
    """
    from .interpolate import tci
    from .simulate import simulate_inplane, simulate_slices

    if hr.n_channels != config.channels:
        raise ValueError(
            f"A {config.channels}-channel model cannot train on a {hr.n_channels}-channel volume."
        )
    f = int(config.factor)
    if config.axis == "slice":
        lr = simulate_slices(hr, factor=f, profile=config.profile)
    else:
        usable = tuple(n - n % f for n in hr.shape[1:])
        hr = hr.with_data(hr.data[..., : usable[0], : usable[1]])
        lr = simulate_inplane(hr, factor=f)
    lr_data = np.asarray(lr.data, dtype=np.float32)
    scale = float(np.percentile(lr_data, config.normalise_percentile)) or 1.0
    stacked = lr_data[None] if lr_data.ndim == 3 else lr_data
    upscaled = tci(stacked / scale, f, axis=config.axis)
    target = np.asarray(hr.data, dtype=np.float32) / scale
    target = target[None] if target.ndim == 3 else target
    s, r, c = (min(a, b) for a, b in zip(upscaled.shape[1:], target.shape[1:], strict=True))
    through_plane = config.axis == "slice"
    box = np.s_[:, f : s - f, :r, :c] if through_plane else np.s_[:, :s, f : r - f, f : c - f]
    inputs, targets = np.ascontiguousarray(upscaled[box]), np.ascontiguousarray(target[box])
    if min(inputs.shape[1:]) < 1:
        raise ValueError(f"The volume of shape {hr.shape} is too small to train factor {f}.")
    return inputs, targets, scale


class PatchSampler:
    """Random patches from training pairs, centred in tissue with probability ``tissue_fraction``."""

    def __init__(
        self, pairs: list[tuple[np.ndarray, np.ndarray]], config: TrainConfig, rng: np.random.Generator
    ):
        from .metrics import tissue_mask

        self.pairs, self.rng, self.config = pairs, rng, config
        self.tissue = [np.argwhere(tissue_mask(target)) for _, target in pairs]

    def _corner(self, index: int, size: tuple[int, ...]) -> tuple[int, ...]:
        shape = self.pairs[index][0].shape[1:]
        candidates = self.tissue[index]
        if len(candidates) and self.rng.random() < self.config.tissue_fraction:
            centre = candidates[self.rng.integers(len(candidates))]
        else:
            centre = [self.rng.integers(n) for n in shape]
        return tuple(int(np.clip(c - s // 2, 0, n - s)) for c, s, n in zip(centre, size, shape, strict=True))

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """``(batch, channels, *patch)`` inputs and targets (3D patches, or 2D ones from one slice)."""
        xs, ys = [], []
        p = self.config.patch
        for _ in range(self.config.batch):
            index = int(self.rng.integers(len(self.pairs)))
            inputs, targets = self.pairs[index]
            shape = inputs.shape[1:]
            if self.config.dims == 3:
                size = tuple(min(p, n) for n in shape)
            else:
                size = (1, min(p, shape[1]), min(p, shape[2]))
            corner = self._corner(index, size)
            box = (slice(None), *(slice(c, c + s) for c, s in zip(corner, size, strict=True)))
            x, y = inputs[box], targets[box]
            if self.config.dims == 2:
                x, y = x[:, 0], y[:, 0]
            pad = [(0, 0)] + [(0, p - n) for n in x.shape[1:]]
            xs.append(np.pad(x, pad))
            ys.append(np.pad(y, pad))
        return np.stack(xs), np.stack(ys)


def _initial_network(config: TrainConfig):
    """A fresh ResNetSR, or one started from ``config.init_weights`` (transferred to more channels)."""
    from .networks import ResNetSR, transfer_first_layer
    from .weights import weights_load

    net = ResNetSR(dims=config.dims, depth=config.depth, features=config.features, channels=config.channels)
    if not config.init_weights:
        return net, None
    start, metadata = weights_load(config.init_weights)
    arch = metadata["architecture"]
    wanted = {"dims": config.dims, "depth": config.depth, "features": config.features}
    if {key: arch[key] for key in wanted} != wanted:
        raise ValueError(f"init_weights are a {arch} network; this training asks for {wanted}.")
    state = start.state_dict()
    if arch["channels"] != config.channels:
        state = transfer_first_layer(state, config.channels)
    net.load_state_dict(state)
    return net, metadata


def train_resnet(
    hr_volumes: Sequence[Volume], config: TrainConfig, *, progress: ProgressArg = None
) -> tuple[Any, dict[str, Any]]:
    """Train a ResNetSR on pairs simulated from ``hr_volumes``; returns (module in eval mode, metadata).

    The metadata is what :func:`sr_engine.weights.weights_save` stores: factor, axis,
    profile, normalisation, the training data's sha256, the config and the loss
    history's summary. The same seed and data give the same weights on the same device.
    """

    require_torch("Training")
    from .networks import configure_threads, deterministic_torch, fit_l2, pick_device, seed_everything
    from .weights import file_sha256, volumes_sha256

    if not hr_volumes:
        raise ValueError("train_resnet needs at least one high-resolution volume.")
    if config.dims not in (2, 3):
        raise ValueError("dims must be 2 (in-plane) or 3 (through-plane).")
    configure_threads()
    device = pick_device(config.device)
    rng = np.random.default_rng(config.seed)
    with progress_reporter(progress, "train") as report, deterministic_torch():
        seed_everything(config.seed)
        pairs = [training_pair(hr, config)[:2] for hr in hr_volumes]
        sampler = PatchSampler(pairs, config, rng)
        report(0.05)
        net, init_metadata = _initial_network(config)
        losses = fit_l2(
            net,
            sampler.batch,
            steps=config.steps,
            lr=config.lr,
            eta_min=config.lr / 100,
            device=device,
            report=report.part(0.05, 1.0),
        )
    tail = losses[-max(len(losses) // 10, 1) :] if losses else [float("nan")]
    training = {**asdict(config), "axis": config.axis, "n_volumes": len(hr_volumes)}
    metadata: dict[str, Any] = {
        "architecture": net.architecture,
        "factor": int(config.factor),
        "axis": config.axis,
        "profile": config.profile,
        "thickness_ratio": 1.0,
        "normalisation": {"kind": "percentile", "percentile": config.normalise_percentile, "of": "input"},
        "training_data_sha256": volumes_sha256(hr_volumes),
        "training": training,
        "loss": {
            "kind": "mse",
            "steps": len(losses),
            "first": losses[0] if losses else None,
            "last_10pct_mean": float(np.mean(tail)),
            "min": float(min(losses)) if losses else None,
        },
    }
    if config.init_weights:
        metadata["init_weights"] = {
            "name": Path(config.init_weights).name,
            "sha256": file_sha256(config.init_weights),
            "channels": init_metadata["architecture"]["channels"] if init_metadata else None,
        }
    return net, metadata


def train_and_save(
    hr_volumes: Sequence[Volume], config: TrainConfig, path: str | Path, *, progress: ProgressArg = None
) -> Path:
    """Train (:func:`train_resnet`) and write the weight file at ``path``."""
    from .weights import weights_save

    net, metadata = train_resnet(hr_volumes, config, progress=progress)
    return weights_save(path, net, metadata)
