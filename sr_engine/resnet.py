"""Supervised super-resolution with a trained residual CNN (``resnet3d`` and ``resnet2d``).

The DeepResolve design (Chaudhari et al., "Super-resolution musculoskeletal MRI using
deep learning", Magn Reson Med 80(5), 2018): the low-resolution volume is first
interpolated onto the fine grid by tricubic interpolation (TCI), then the network
(:class:`sr_engine.networks.ResNetSR`) adds the residual it learnt. 3D models
(``axis="slice"``) upscale the slice axis; 2D models (``axis="inplane"``) upscale rows
and columns, slice by slice. The network runs tile by tile with a halo of at least
its receptive field, which gives the untiled result with bounded memory
(:mod:`sr_engine.tiling`).
"""

from pathlib import Path
from typing import Any

import numpy as np

from .progress import ProgressArg, progress_reporter
from .volume import Volume

#: Activation memory per tile (bytes) when the caller gives no tile size.
TILE_BUDGET_BYTES = 512e6


def normalisation_scale(data: np.ndarray, normalisation: dict[str, Any]) -> float:
    """The divisor that brings ``data`` to the intensity range the network was trained on.

    ``{"kind": "percentile", "percentile": q}``: the q-th percentile of all voxels of all
    channels together (one scale for every echo keeps their ratio, hence T2).
    """
    if normalisation.get("kind") != "percentile":
        raise ValueError(f"Unknown intensity normalisation {normalisation!r}.")
    scale = float(np.percentile(data, float(normalisation["percentile"])))
    return scale if scale > 0 else 1.0


def run_resnet(
    net,
    device,
    upscaled: np.ndarray,
    *,
    tile: int | None = None,
    halo: int | None = None,
    progress: ProgressArg = None,
) -> np.ndarray:
    """Apply a ResNetSR to a normalised, interpolated array ``(channels, slices, rows, columns)``.

    3D networks see the whole volume tile by tile; 2D networks see each slice (the
    slices are the batch axis). ``halo`` defaults to the receptive-field radius and
    may not be smaller; ``tile`` defaults to what fits :data:`TILE_BUDGET_BYTES`.
    """
    from .networks import numpy_fn
    from .tiling import tile_for_budget, tiled_apply

    needed = net.halo_needed
    halo = needed if halo is None else int(halo)
    if halo < needed:
        raise ValueError(f"A halo of {halo} voxels is smaller than the network's receptive field ({needed}).")
    with progress_reporter(progress, "resnet") as report:
        if net.dims == 3:
            tile = tile or tile_for_budget(net.features, 3, halo, TILE_BUDGET_BYTES)
            return tiled_apply(numpy_fn(net, device), upscaled, tile=tile, halo=halo, progress=report)
        planes = np.ascontiguousarray(upscaled.transpose(1, 0, 2, 3))  # (slices, channels, rows, columns)
        chunk = 4
        tile = tile or tile_for_budget(net.features, 2, halo, TILE_BUDGET_BYTES, batch=chunk)
        fn = numpy_fn(net, device, add_batch=False)
        out = np.empty_like(planes)
        for start in range(0, planes.shape[0], chunk):
            out[start : start + chunk] = tiled_apply(
                fn, planes[start : start + chunk], tile=(tile, tile), halo=halo
            )
            report(min(start + chunk, planes.shape[0]) / planes.shape[0])
        return out.transpose(1, 0, 2, 3)


def resnet_upscale(
    volume: Volume,
    factor: int,
    *,
    weights: str | Path | tuple[Any, dict[str, Any]],
    axis: str | None = None,
    device=None,
    progress: ProgressArg = None,
    tile: int | None = None,
    halo: int | None = None,
) -> np.ndarray:
    """Upscale ``volume`` by ``factor`` with trained weights (a file path, or ``(module, metadata)``).

    The weights must match the factor, the number of channels and, when given, the
    ``axis`` (``"slice"`` for resnet3d, ``"inplane"`` for resnet2d); otherwise a
    :class:`sr_engine.weights.WeightsError` says what differs. Returns float32 on the
    upscaled grid: ``(slices, rows, columns)`` for one channel, with a leading channel
    axis for several. Deterministic: inference has no randomness.
    """
    import torch

    from .interpolate import tci
    from .networks import configure_threads, deterministic_torch, pick_device
    from .weights import check_compatible, weights_load

    configure_threads()
    device = pick_device(device)
    if isinstance(weights, tuple):
        net, metadata = weights
        net = net.to(device).eval()
    else:
        net, metadata = weights_load(weights, device)
    check_compatible(metadata, factor=factor, channels=volume.n_channels, axis=axis or metadata["axis"])
    data = np.asarray(volume.data, dtype=np.float32)
    scale = normalisation_scale(data, metadata["normalisation"])
    stacked = data[None] if data.ndim == 3 else data
    with progress_reporter(progress, "resnet") as report, deterministic_torch(), torch.inference_mode():
        upscaled = tci(stacked / scale, factor, axis=metadata["axis"])
        report(0.05)
        result = run_resnet(net, device, upscaled, tile=tile, halo=halo, progress=report.part(0.05, 1.0))
    result = (result * scale).astype(np.float32)
    return result[0] if volume.data.ndim == 3 else result
