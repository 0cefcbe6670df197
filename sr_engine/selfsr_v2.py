"""Self-supervised through-plane SR, version 2: the network works on the low-resolution grid.

Version 1 (:mod:`sr_engine.selfsr`) runs a residual CNN on the tci-upscaled grid, ``f``
times more pixels per convolution than the acquisition has, and sees about 21 pixels.
Version 2 follows the design of ECLARE (Remedios et al., "ECLARE: Efficient cross-planar
learning for anisotropic resolution enhancement", 2024) and goes past it on a CPU budget:

* **pairs** as in version 1 (the volume's own in-plane images degraded along one axis by
  the slice profile, or by the recorded simulation when the volume says it was simulated
  from thin slices; :func:`sr_engine.selfsr.training_pairs`), but the input is the
  thick-slice image itself, not its interpolation;
* **network** (:class:`LowGridSR`) on the LR grid: a head convolution, residual blocks with
  wide activation (WDSR-A: Yu et al., "Wide activation for efficient and accurate image
  super-resolution", 2018), a tail convolution to ``f`` channels and a *pixel shuffle along
  the slice axis only* (Shi et al., "Real-time single image and video super-resolution
  using an efficient sub-pixel convolutional neural network", CVPR 2016, in one
  dimension), added to the cubic (tci) interpolation of the input: the network learns
  only what tci misses. Its receptive field is ``blocks * 2 + 2`` LR pixels along each
  axis: at the defaults 14 thick slices to either side, whatever the factor;
* **patches** drawn with probability growing with the target's gradient magnitude (edges
  carry what interpolation loses; ECLARE samples by gradient too), and random flips;
* **schedule**: Adam with a cosine learning rate over a *time budget* (``seconds``): the
  rate follows the elapsed fraction of the budget (or of ``max_steps``, whichever is further),
  so a run fits its time and ends annealed on any machine, however fast; ``steps`` fixes the
  number of steps instead (reproducible to the bit on one device), and the provenance
  records the steps run (``steps=N`` gives a run of that length that repeats exactly);
* **inference** on the LR grid of both through-plane orientations, each averaged over the
  four flips of its plane (the flip self-ensemble of Lim et al., CVPRW 2017), the two
  orientations averaged (SMORE/ECLARE's fusion as a mean).
"""

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .progress import ProgressArg, progress_reporter
from .selfsr import recorded_profile, simulated_from_thin_slices, slice_axis_tci, training_pairs
from .volume import Volume

#: Defaults chosen on 2 CPU cores for the knee DESS benchmark (bench/sr_quality.py).
DEFAULTS: dict[str, Any] = {
    "seconds": 120.0,  # the training budget (the calibration steps included); unused with steps
    "steps": None,  # a fixed number of steps instead of the budget (what a rerun gives exactly)
    "max_steps": 5000,
    "patch": 16,  # thick slices along the slice axis x (patch * factor) pixels across
    "batch": 32,
    "features": 32,
    "expansion": 2,
    "blocks": 6,
    "lr": 1e-3,
    "phases": 2,
    "normalise_percentile": 99.5,
    "ensemble": 4,
}
#: Flips of a plane (axis 0: slice axis, axis 1: in-plane) averaged at inference, by ensemble size.
ENSEMBLE_FLIPS = {1: ((),), 2: ((), (0, 1)), 4: ((), (0,), (1,), (0, 1))}


def _network(factor: int, features: int, expansion: int, blocks: int) -> Any:
    """The LR-grid network (a torch module; torch is imported here, on use)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(features, features * expansion, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(features * expansion, features, 3, padding=1),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x)

    class LowGridSR(nn.Module):
        """``(B, 1, n, w)`` thick-slice planes and their tci ``(B, 1, n f, w)`` -> ``(B, 1, n f, w)``."""

        def __init__(self) -> None:
            super().__init__()
            self.factor = factor
            self.head = nn.Conv2d(1, features, 3, padding=1)
            self.blocks = nn.Sequential(*(Block() for _ in range(blocks)))
            self.tail = nn.Conv2d(features, factor, 3, padding=1)
            with torch.no_grad():  # start at the tci input
                self.tail.weight.mul_(0.1)
                if self.tail.bias is not None:  # always: Conv2d's default bias=True
                    self.tail.bias.zero_()

        def forward(self, lr: torch.Tensor, smooth: torch.Tensor) -> torch.Tensor:
            residual = self.tail(self.blocks(self.head(lr)))  # (B, f, n, w)
            b, f, n, w = residual.shape
            # channel r of LR row i is fine row i f + r: a pixel shuffle along the slice axis only
            shuffled = residual.permute(0, 2, 1, 3).reshape(b, 1, n * f, w)
            return smooth + shuffled

    return LowGridSR()


def receptive_radius(blocks: int) -> int:
    """LR pixels an output depends on along each axis, beyond its own: head, two per block, tail."""
    return 2 * blocks + 2


def _pairs_on_lr_grid(
    data: np.ndarray, volume: Volume, factor: int, opts: dict, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(thick-slice image, its tci, thin-slice target) triples: version 1's training pairs
    (:func:`sr_engine.selfsr.training_pairs` with ``lr_inputs``) with the thick image kept."""
    col_mm, row_mm, spacing = volume.spacing
    profile = opts.get("profile") or recorded_profile(volume) or "gaussian"
    thickness = float(opts.get("thickness_mm") or volume.slice_thickness)
    pairs = training_pairs(
        data,
        pixel_mm=(row_mm, col_mm),
        spacing_mm=spacing,
        thickness_mm=thickness,
        factor=factor,
        profile=profile,
        rng=rng,
        phases=int(opts["phases"]),
        simulated=bool(opts.get("simulated", simulated_from_thin_slices(volume, factor))),
        target_fwhm_mm=opts.get("target_fwhm_mm"),
        lr_inputs=True,
    )
    return pairs  # type: ignore[return-value]


def _gradient_weights(target: np.ndarray, factor: int) -> np.ndarray:
    """Sampling weights of each LR row x column position: the target's gradient magnitude plus a floor."""
    gy, gx = np.gradient(target, axis=(1, 2))
    magnitude = np.sqrt(gy**2 + gx**2)
    k, n_fine, w = magnitude.shape
    per_lr_row = magnitude.reshape(k, n_fine // factor, factor, w).mean(axis=2)
    return (per_lr_row + 0.1 * per_lr_row.mean()).astype(np.float64)


class _Sampler:
    """Random patches of the triples, positions drawn by gradient weight, random flips."""

    def __init__(self, triples: list, factor: int, patch: int, batch: int, rng: np.random.Generator) -> None:
        self.triples, self.factor, self.batch, self.rng = triples, factor, batch, rng
        self.rows = patch
        self.cols = patch * factor
        cdfs, totals = [], []
        for _lr, _smooth, target in triples:
            weights = _gradient_weights(target, factor)
            flat = np.cumsum(weights.ravel())
            cdfs.append(flat)
            totals.append(flat[-1])
        self.cdfs = cdfs
        self.choice = np.asarray(totals) / np.sum(totals)

    def __call__(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f, rows, cols = self.factor, self.rows, self.cols
        xs, ss, ys = [], [], []
        for _ in range(self.batch):
            t = self.rng.choice(len(self.triples), p=self.choice)
            lr, smooth, target = self.triples[t]
            _, n, w = lr.shape
            flat = int(np.searchsorted(self.cdfs[t], self.rng.random() * self.cdfs[t][-1]))
            k, rest = divmod(flat, n * w)
            i, j = divmod(rest, w)
            r0 = int(np.clip(i - rows // 2, 0, max(n - rows, 0)))
            c0 = int(np.clip(j - cols // 2, 0, max(w - cols, 0)))
            x = lr[k, r0 : r0 + rows, c0 : c0 + cols]
            s = smooth[k, r0 * f : (r0 + rows) * f, c0 : c0 + cols]
            y = target[k, r0 * f : (r0 + rows) * f, c0 : c0 + cols]
            if self.rng.random() < 0.5:
                x, s, y = x[::-1], s[::-1], y[::-1]
            if self.rng.random() < 0.5:
                x, s, y = x[:, ::-1], s[:, ::-1], y[:, ::-1]
            pad_r, pad_c = rows - x.shape[0], cols - x.shape[1]
            xs.append(np.pad(x, ((0, pad_r), (0, pad_c))))
            ss.append(np.pad(s, ((0, pad_r * f), (0, pad_c))))
            ys.append(np.pad(y, ((0, pad_r * f), (0, pad_c))))
        return np.stack(xs)[:, None], np.stack(ss)[:, None], np.stack(ys)[:, None]


def _train(
    net: Any,
    sample: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]],
    opts: dict,
    device: Any,
    report: Callable[[float], None],
) -> int:
    """Adam with a cosine learning rate over the steps a time budget allows (or ``steps``); the steps run."""
    import torch
    from torch import nn

    net.to(device).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=float(opts["lr"]))

    def step(rate: float) -> None:
        for group in optimiser.param_groups:
            group["lr"] = rate
        x, s, y = (torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in sample())
        loss = nn.functional.l1_loss(net(x, s), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    base, floor = float(opts["lr"]), float(opts["lr"]) * 0.01

    def rate(progress: float) -> float:  # cosine from base down to floor over progress 0..1
        return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * min(progress, 1.0)))

    steps = opts.get("steps")
    if steps is not None:  # a fixed number of steps: the same run on the same device, bit for bit
        for n in range(int(steps)):
            step(rate(n / max(int(steps), 1)))
            report((n + 1) / int(steps))
        net.eval()
        return int(steps)
    # A time budget: the schedule follows the elapsed fraction of it, so the learning rate has
    # annealed when the time is up however fast the machine is (or becomes: shared cores).
    budget, limit = float(opts["seconds"]), int(opts["max_steps"])
    start = time.perf_counter()
    done = 0
    while done < limit:
        elapsed = (time.perf_counter() - start) / budget
        if elapsed >= 1.0:
            break
        step(rate(max(elapsed, done / limit)))
        done += 1
        report(min(max(elapsed, done / limit), 1.0))
    net.eval()
    return done


def _apply(net: Any, device: Any, lr_planes: np.ndarray, factor: int, ensemble: int, report) -> np.ndarray:
    """The network on thick-slice planes ``(P, n, w)``: fine planes ``(P, n f, w)``, flip-averaged."""
    import torch

    smooth = slice_axis_tci(lr_planes.transpose(1, 0, 2), factor).transpose(1, 0, 2)
    out = np.empty_like(smooth)
    chunk = max(1, int(64e6 // (4 * 128 * lr_planes[0].size * factor)))
    flips = ENSEMBLE_FLIPS[ensemble]
    with torch.inference_mode():
        for start in range(0, lr_planes.shape[0], chunk):
            x_block, s_block = lr_planes[start : start + chunk], smooth[start : start + chunk]
            total = np.zeros_like(s_block)
            for axes in flips:
                flip = tuple(a + 1 for a in axes)
                x = np.ascontiguousarray(np.flip(x_block, axis=flip) if axes else x_block)[:, None]
                s = np.ascontiguousarray(np.flip(s_block, axis=flip) if axes else s_block)[:, None]
                y = net(torch.from_numpy(x).to(device), torch.from_numpy(s).to(device))[:, 0].cpu().numpy()
                total += np.flip(y, axis=flip) if axes else y
            out[start : start + chunk] = total / len(flips)
            report(min(start + chunk, lr_planes.shape[0]) / lr_planes.shape[0])
    return out


def selfsr_v2_upscale(
    volume: Volume,
    factor: int,
    *,
    seed: int = 0,
    device: Any = None,
    progress: ProgressArg = None,
    **options: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Upscale a one-channel volume's slice axis (data axis 0) by ``factor``; also return what ran.

    Returns float32 ``(slices * factor, rows, columns)`` on the upscaled grid and a record
    (``version`` 2, ``steps_run``, the options used) for the provenance. Options: those of
    :data:`DEFAULTS` and ``profile``, ``thickness_mm``, ``simulated``, ``target_fwhm_mm`` as
    in version 1 (:func:`sr_engine.selfsr.selfsr_upscale`).
    """
    from .networks import configure_threads, deterministic_torch, pick_device, seed_everything

    known = set(DEFAULTS) | {"profile", "thickness_mm", "simulated", "target_fwhm_mm"}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"Unknown selfsr option(s): {', '.join(sorted(unknown))}.")
    if volume.n_channels != 1:
        raise ValueError("selfsr takes a one-channel volume; upscale() runs it per channel.")
    if int(factor) != factor or factor < 2:
        raise ValueError(f"The factor must be an integer of at least 2; got {factor}.")
    factor = int(factor)
    opts = {**DEFAULTS, **options}
    if opts["steps"] is None and not (opts["seconds"] and float(opts["seconds"]) > 0):
        raise ValueError("selfsr needs a positive time budget (seconds) or a number of steps.")
    if int(opts["ensemble"]) not in ENSEMBLE_FLIPS:
        raise ValueError(f"ensemble must be one of {sorted(ENSEMBLE_FLIPS)}; got {opts['ensemble']}.")
    configure_threads()
    device = pick_device(device)
    rng = np.random.default_rng(seed)
    data = np.asarray(volume.data, dtype=np.float32)
    scale = float(np.percentile(data, opts["normalise_percentile"])) or 1.0
    with progress_reporter(progress, "selfsr") as report, deterministic_torch():
        seed_everything(seed)
        clock = [time.perf_counter()]
        triples = _pairs_on_lr_grid(data / scale, volume, factor, opts, rng)
        report(0.05)
        net = _network(factor, int(opts["features"]), int(opts["expansion"]), int(opts["blocks"]))
        sample = _Sampler(triples, factor, int(opts["patch"]), int(opts["batch"]), rng)
        clock.append(time.perf_counter())
        steps_run = _train(net, sample, opts, device, report.part(0.05, 0.85))
        clock.append(time.perf_counter())
        triples.clear()
        lr = data / scale  # (n, rows, columns), the acquired thick slices
        along_rows = _apply(
            net,
            device,
            np.ascontiguousarray(lr.transpose(2, 0, 1)),
            factor,
            int(opts["ensemble"]),
            report.part(0.85, 0.92),
        ).transpose(1, 2, 0)
        along_cols = _apply(
            net,
            device,
            np.ascontiguousarray(lr.transpose(1, 0, 2)),
            factor,
            int(opts["ensemble"]),
            report.part(0.92, 1.0),
        ).transpose(1, 0, 2)
    clock.append(time.perf_counter())
    seconds = dict(zip(("pairs", "training", "inference"), np.diff(clock).round(1).tolist(), strict=True))
    record = {"version": 2, "steps_run": steps_run, "seconds_taken": seconds, **opts}
    return ((along_rows + along_cols) * (0.5 * scale)).astype(np.float32), record
