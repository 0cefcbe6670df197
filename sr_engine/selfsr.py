"""Self-supervised through-plane super-resolution, in the style of SMORE and ECLARE.

SMORE (Zhao et al., "SMORE: A Self-supervised Anti-aliasing and Super-resolution
Algorithm for MRI Using Deep Learning", IEEE Trans Med Imaging 40(3), 2021) and ECLARE
(Remedios et al., "ECLARE: Efficient cross-planar learning for anisotropic resolution
enhancement", 2024) observe that an anisotropic volume carries its own training data:
its in-plane images have the fine resolution that the through-plane direction lacks.
Degrading an in-plane image along one axis the way the scanner degraded the slice
axis gives pairs (low-resolution input, high-resolution target) from which a network
learns to undo exactly that degradation; applied to the through-plane planes it
restores the slice axis. No training set and no download: it works on any body part
and contrast.

This implementation, all in millimetres so that non-integer ratios of slice spacing
``s`` to pixel size ``p`` work:

* input of a pair: an in-plane image blurred along one axis by the slice profile
  (FWHM = the volume's slice thickness), sampled every ``s`` mm, then interpolated
  onto the target spacing ``s / factor`` by the very tricubic interpolation (``tci``)
  that the method is later applied after;
* target: the same image blurred by a profile of width ``s / factor`` and sampled at
  ``s / factor`` on the same grid (the upscaled-grid rule of
  :func:`sr_engine.interpolate.upscaled_affine`), i.e. what a thin-slice acquisition
  would record;
* when the volume's provenance says it was itself simulated from thin slices
  (:func:`sr_engine.simulate.simulate_slices`, e.g. the LR arm of a study or a
  benchmark), the input is made from the target by that same simulation, which then
  models the degradation exactly (the thin slices' own profile included);
* both in-plane axes serve (the image and its transpose), with flips and random
  sampling phases as augmentation;
* a small 2D residual CNN (:class:`sr_engine.networks.ResNetSR`, ``dims=2``) trained
  with an L2 loss, then applied to the tci volume's slice x row and slice x column
  planes; the two results are averaged (SMORE's orthogonal-view fusion, here a mean).
"""

import math

import numpy as np
from scipy import ndimage

from .progress import ProgressArg, progress_reporter
from .volume import Volume

#: FWHM = 2 sqrt(2 ln 2) sigma for a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: Defaults chosen on 2 CPU cores for the knee DESS benchmark (bench/sr_quality.py).
DEFAULTS = {
    "steps": 1200,
    "patch": 48,
    "batch": 24,
    "features": 32,
    "depth": 10,
    "lr": 3e-4,
    "phases": 2,
    "normalise_percentile": 99.5,
    "ensemble": 4,
}

#: The flips a self-ensemble averages over, by its size: the network was trained with
#: random flips of both axes, so each flip of a plane is an equally valid input.
ENSEMBLE_FLIPS = {1: ((),), 2: ((), (1, 2)), 4: ((), (1,), (2,), (1, 2))}


def recorded_profile(volume: Volume) -> str | None:
    """The slice profile the volume says it was made with: ``slice_profile``, or its simulation record."""
    if volume.acquisition.get("slice_profile"):
        return str(volume.acquisition["slice_profile"])
    provenance = volume.acquisition.get("provenance") or {}
    steps = provenance.get("simulation", []) if isinstance(provenance, dict) else []
    for step in reversed(steps):
        if step.get("operation") == "simulate_slices":
            return step.get("profile")
    return None


def profile_kernel(fwhm_px: float, profile: str = "gaussian") -> np.ndarray:
    """A normalised 1D slice-profile kernel on integer pixel offsets.

    ``gaussian``: FWHM = ``fwhm_px`` (sigma = FWHM / 2 sqrt(2 ln 2)), truncated at
    4 sigma. ``box``: width ``fwhm_px``, each pixel weighted by the length of its
    overlap with the box, so that non-integer widths are exact (a box profile is the
    ideal rectangular slice; Greenspan, The Computer Journal 52(1), 2009, §2).
    """
    if fwhm_px <= 0:
        return np.ones(1)
    if profile == "gaussian":
        sigma = fwhm_px / FWHM_PER_SIGMA
        radius = max(math.ceil(4 * sigma), 1)
        x = np.arange(-radius, radius + 1, dtype=float)
        kernel = np.exp(-0.5 * (x / sigma) ** 2)
    elif profile == "box":
        half = fwhm_px / 2
        radius = math.ceil(half + 0.5)
        x = np.arange(-radius, radius + 1, dtype=float)
        kernel = np.clip(np.minimum(x + 0.5, half) - np.maximum(x - 0.5, -half), 0.0, None)
    else:
        raise ValueError(f"Unknown slice profile {profile!r}; use 'gaussian' or 'box'.")
    return kernel / kernel.sum()


def resampling_matrix(n_in: int, positions: np.ndarray) -> np.ndarray:
    """The ``(len(positions), n_in)`` matrix of cubic B-spline interpolation at fractional indices.

    Cubic B-spline interpolation with prefiltering (Unser, "Splines: a perfect fit for
    signal and image processing", IEEE Signal Process Mag 16(6), 1999) is linear, so its
    matrix is the interpolation of the identity; edges mirror (scipy's ``mirror``).
    """
    identity = np.eye(n_in)
    coords = np.stack(np.broadcast_arrays(positions[:, None], np.arange(n_in)[None, :].astype(float)))
    return ndimage.map_coordinates(identity, coords, order=3, mode="mirror")


def blur_and_sample(images: np.ndarray, *, fwhm_px: float, positions: np.ndarray, profile: str) -> np.ndarray:
    """Blur ``images`` (K, N, M) along axis 1 by the slice profile, then sample there at ``positions``."""
    blurred = ndimage.correlate1d(images, profile_kernel(fwhm_px, profile), axis=1, mode="mirror")
    matrix = resampling_matrix(images.shape[1], positions).astype(np.float32)
    return np.einsum("pn,knm->kpm", matrix, blurred.astype(np.float32), optimize=True)


def slice_axis_tci(stack: np.ndarray, factor: int) -> np.ndarray:
    """``sr_engine.interpolate.tci`` along axis 0 of ``stack`` (n, a, b): the operator used at inference."""
    from .interpolate import tci

    return tci(np.asarray(stack, dtype=np.float32), factor, axis="slice")


def training_pairs(
    images: np.ndarray,
    *,
    pixel_mm: tuple[float, float],
    spacing_mm: float,
    thickness_mm: float,
    factor: int,
    profile: str,
    rng: np.random.Generator,
    phases: int = 2,
    simulated: bool = False,
    target_fwhm_mm: float | None = None,
    lr_inputs: bool = False,
) -> list[tuple[np.ndarray, ...]]:
    """(input, target) stacks from in-plane ``images`` (K, rows, columns), as the module docstring says.

    Each stack is (K, n, M): axis 1 runs along the degraded axis at ``spacing_mm / factor``,
    axis 2 along the other in-plane axis. ``factor`` target rows are dropped at each end
    (where tci has one-sided support, as the edge slices of a volume). Targets are
    blurred by a profile of FWHM ``target_fwhm_mm`` (default ``spacing_mm / factor``).
    With ``simulated`` the volume is known to be thick slices simulated from thin ones
    (:func:`sr_engine.simulate.simulate_slices`), so the inputs are made from the
    targets by that very simulation (its slice-profile matrix); otherwise from the
    image, by a profile of FWHM ``thickness_mm``, as a scanner acquires thick slices.
    With ``lr_inputs`` each item is (thick-slice image, its tci, target), the thick rows cut
    to match (rows ``1 .. n - 1``), for a network on the thick-slice grid (:mod:`sr_engine.selfsr_v2`).
    """
    from .simulate import slice_profile_operator

    thin_mm = spacing_mm / factor
    target_fwhm_mm = thin_mm if target_fwhm_mm is None else target_fwhm_mm
    pairs = []
    for oriented, p in ((images, pixel_mm[0]), (images.transpose(0, 2, 1), pixel_mm[1])):
        n_px = oriented.shape[1]
        step = spacing_mm / p
        for _ in range(phases):
            offset = float(rng.uniform(0.0, step))
            n_lr = int((n_px - 1 - offset) // step) + 1
            if n_lr < 4:
                raise ValueError(
                    f"The in-plane field of view ({n_px} pixels of {p:g} mm) holds fewer than 4 slice "
                    f"spacings of {spacing_mm:g} mm: too small for self-supervised training."
                )
            target_positions = (
                offset - (factor - 1) / (2 * factor) * step + np.arange(n_lr * factor) * thin_mm / p
            )
            targets = blur_and_sample(
                oriented, fwhm_px=target_fwhm_mm / p, positions=target_positions, profile=profile
            )
            if simulated:
                operator = slice_profile_operator(
                    n_lr * factor,
                    thickness=thickness_mm / thin_mm,
                    spacing=float(factor),
                    first_center=thickness_mm / thin_mm / 2 - 0.5,
                    profile=profile,
                )
                lr = np.einsum("pn,knm->kpm", operator.astype(np.float32), targets, optimize=True)
            else:
                positions = offset + np.arange(n_lr) * step
                lr = blur_and_sample(oriented, fwhm_px=thickness_mm / p, positions=positions, profile=profile)
            inputs = slice_axis_tci(lr.transpose(1, 0, 2), factor).transpose(1, 0, 2)
            keep = slice(factor, n_lr * factor - factor)
            kept: tuple[np.ndarray, ...] = (inputs[:, keep], targets[:, keep])
            if lr_inputs:
                kept = (lr[:, 1 : n_lr - 1], *kept)
            pairs.append(tuple(np.ascontiguousarray(a) for a in kept))
    return pairs


def simulated_from_thin_slices(volume: Volume, factor: int) -> bool:
    """Whether the volume records that it was simulated from slices ``factor`` times thinner, without gap."""
    provenance = volume.acquisition.get("provenance") or {}
    steps = provenance.get("simulation", []) if isinstance(provenance, dict) else []
    slice_steps = [step for step in steps if step.get("operation") == "simulate_slices"]
    if not slice_steps:
        return False
    step = slice_steps[-1]
    thin = float(step.get("thin_spacing_mm") or 0)
    return bool(thin) and not step.get("gap_mm") and abs(volume.spacing[2] / factor - thin) < 1e-3 * thin


def _sample_batch(
    pairs: list[tuple[np.ndarray, ...]], batch: int, patch: int, rng: np.random.Generator, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of random patches, mostly with tissue in them (mean target above ``floor``), random flips."""
    xs, ys = [], []
    for _ in range(batch):
        for _attempt in range(8):
            inputs, targets = pairs[rng.integers(len(pairs))]
            k = rng.integers(inputs.shape[0])
            p0, p1 = min(patch, inputs.shape[1]), min(patch, inputs.shape[2])
            i = rng.integers(inputs.shape[1] - p0 + 1)
            j = rng.integers(inputs.shape[2] - p1 + 1)
            y = targets[k, i : i + p0, j : j + p1]
            if y.mean() > floor:
                break
        x = inputs[k, i : i + p0, j : j + p1]
        if rng.random() < 0.5:
            x, y = x[::-1], y[::-1]
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        xs.append(np.pad(x, ((0, patch - p0), (0, patch - p1))))
        ys.append(np.pad(y, ((0, patch - p0), (0, patch - p1))))
    return np.stack(xs)[:, None], np.stack(ys)[:, None]


def _apply_planes(net, device, planes: np.ndarray, *, chunk: int, report, ensemble: int = 1) -> np.ndarray:
    """The 2D network on each plane of ``planes`` (P, H, W), a few planes at a time.

    With ``ensemble`` 2 or 4 the output is the mean over flipped copies of each plane,
    each flipped back (the "self-ensemble" of Lim et al., "Enhanced deep residual
    networks for single image super-resolution", CVPR Workshops 2017, §3.4, here with
    flips only, as the slice axis may not be swapped with an in-plane one).
    """
    from .networks import numpy_fn
    from .tiling import tile_for_budget, tiled_apply

    fn = numpy_fn(net, device, add_batch=False)
    edge = tile_for_budget(net.features, 2, net.halo_needed, budget_bytes=256e6, batch=chunk)
    out = np.empty_like(planes)
    for start in range(0, planes.shape[0], chunk):
        block = planes[start : start + chunk, None]
        flips = ENSEMBLE_FLIPS[ensemble]
        total = np.zeros(block.shape[:1] + block.shape[2:], dtype=np.float32)
        for axes in flips:
            flipped = np.ascontiguousarray(np.flip(block, axis=tuple(a + 1 for a in axes))) if axes else block
            result = tiled_apply(fn, flipped, tile=(edge, edge), halo=net.halo_needed)[:, 0]
            total += np.flip(result, axis=axes) if axes else result
        out[start : start + chunk] = total / len(flips)
        report(min(start + chunk, planes.shape[0]) / planes.shape[0])
    return out


def selfsr_upscale(
    volume: Volume,
    factor: int,
    *,
    seed: int = 0,
    device=None,
    progress: ProgressArg = None,
    **options,
) -> np.ndarray:
    """Upscale a one-channel volume's slice axis by ``factor`` with a network trained on itself.

    Returns float32 ``(slices * factor, rows, columns)`` on the upscaled grid. Options
    (defaults in :data:`DEFAULTS`): ``steps``, ``patch``, ``batch``, ``features``,
    ``depth``, ``lr`` (Adam), ``phases`` (sampling phases per axis), ``profile``
    (default: the one the volume records, see :func:`recorded_profile`, else ``"gaussian"``),
    ``thickness_mm`` (default: the volume's slice thickness), ``target_fwhm_mm``
    (default: the target spacing), ``simulated`` (default: what
    :func:`simulated_from_thin_slices` says). The same seed gives the same output on
    the same device.
    """

    from .networks import (
        ResNetSR,
        configure_threads,
        deterministic_torch,
        fit_l2,
        pick_device,
        seed_everything,
    )

    unknown = set(options) - set(DEFAULTS) - {"profile", "thickness_mm", "simulated", "target_fwhm_mm"}
    if unknown:
        raise TypeError(f"Unknown selfsr option(s): {', '.join(sorted(unknown))}.")
    if volume.n_channels != 1:
        raise ValueError("selfsr_upscale takes a one-channel volume; upscale() runs it per channel.")
    if int(factor) != factor or factor < 2:
        raise ValueError(f"The factor must be an integer of at least 2; got {factor}.")
    opts = {**DEFAULTS, **options}
    if int(opts["ensemble"]) not in ENSEMBLE_FLIPS:
        raise ValueError(f"ensemble must be one of {sorted(ENSEMBLE_FLIPS)}; got {opts['ensemble']}.")
    profile = opts.get("profile") or recorded_profile(volume) or "gaussian"
    thickness = float(opts.get("thickness_mm") or volume.slice_thickness)
    col_mm, row_mm, spacing = volume.spacing
    configure_threads()
    device = pick_device(device)
    rng = np.random.default_rng(seed)

    data = np.asarray(volume.data, dtype=np.float32)
    scale = float(np.percentile(data, opts["normalise_percentile"])) or 1.0
    with progress_reporter(progress, "selfsr") as report, deterministic_torch():
        seed_everything(seed)
        pairs = training_pairs(
            data / scale,
            pixel_mm=(row_mm, col_mm),
            spacing_mm=spacing,
            thickness_mm=thickness,
            factor=int(factor),
            profile=profile,
            rng=rng,
            phases=int(opts["phases"]),
            simulated=bool(opts.get("simulated", simulated_from_thin_slices(volume, int(factor)))),
            target_fwhm_mm=opts.get("target_fwhm_mm"),
        )
        report(0.05)
        net = ResNetSR(dims=2, depth=int(opts["depth"]), features=int(opts["features"]), channels=1)
        fit_l2(
            net,
            lambda: _sample_batch(pairs, int(opts["batch"]), int(opts["patch"]), rng, floor=0.05),
            steps=int(opts["steps"]),
            lr=float(opts["lr"]),
            eta_min=1e-5,
            device=device,
            report=report.part(0.05, 0.8),
        )
        pairs.clear()  # free the training images before inference

        upscaled = slice_axis_tci(data / scale, int(factor))  # (n * factor, rows, columns)
        chunk = 8
        along_rows = _apply_planes(
            net,
            device,
            np.ascontiguousarray(upscaled.transpose(2, 0, 1)),
            chunk=chunk,
            report=report.part(0.8, 0.9),
            ensemble=int(opts["ensemble"]),
        ).transpose(1, 2, 0)
        along_cols = _apply_planes(
            net,
            device,
            np.ascontiguousarray(upscaled.transpose(1, 0, 2)),
            chunk=chunk,
            report=report.part(0.9, 1.0),
            ensemble=int(opts["ensemble"]),
        ).transpose(1, 0, 2)
    return ((along_rows + along_cols) * (0.5 * scale)).astype(np.float32)
