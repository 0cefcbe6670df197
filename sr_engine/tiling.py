"""Tiled inference with a halo: a fully convolutional function applied block by block.

A network of ``depth`` 3x3(x3) convolutions with zero "same" padding computes each
output voxel from the input within ``depth`` voxels (its receptive-field radius). Run
on a block cut out of the volume, it zero-pads the block's faces at every layer,
which is wrong only within ``depth`` voxels of a face that lies *inside* the volume.
So each tile is cut out with ``halo >= depth`` voxels of real neighbours around it,
and that margin is cropped from its output. At the volume's true borders the tile
stops at the border and adds nothing: there the network's own zero padding does
exactly what it does on the whole volume. The result equals the untiled call up to
floating-point rounding, with memory bounded by the tile size.

A function that upsamples (a model that takes the low-resolution grid, ``scale`` of
:func:`tiled_apply`) turns input sample ``m`` along an axis with scale ``s`` into output
samples ``m*s .. m*s + s - 1``; the boxes are the same, multiplied by ``s`` on the output
side, and ``halo`` counts input voxels.
"""

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from .progress import ProgressArg, progress_reporter


def tile_boxes(
    shape: Sequence[int], tile: Sequence[int], halo: int
) -> list[tuple[tuple[slice, ...], tuple[slice, ...], tuple[slice, ...]]]:
    """For each tile: the input box (tile + halo, clipped), the output box, and the crop in the tile.

    ``shape`` and ``tile`` are spatial; tiles cover ``shape`` without overlap, the last
    one along an axis may be smaller.
    """
    per_axis = []
    for n, t in zip(shape, tile, strict=True):
        entries = []
        for start in range(0, n, t):
            stop = min(start + t, n)
            lo, hi = max(start - halo, 0), min(stop + halo, n)
            entries.append((slice(lo, hi), slice(start, stop), slice(start - lo, stop - lo)))
        per_axis.append(entries)
    boxes = []
    for combo in itertools.product(*per_axis):
        in_box = tuple(entry[0] for entry in combo)
        out_box = tuple(entry[1] for entry in combo)
        crop = tuple(entry[2] for entry in combo)
        boxes.append((in_box, out_box, crop))
    return boxes


def tiled_apply(
    fn: Callable[[np.ndarray], np.ndarray],
    array: np.ndarray,
    *,
    tile: int | Sequence[int],
    halo: int,
    spatial_dims: int | None = None,
    scale: Sequence[int] | None = None,
    progress: ProgressArg = None,
) -> np.ndarray:
    """Apply the fully convolutional ``fn`` to ``array`` tile by tile; equal to ``fn(array)``.

    ``array``'s last ``spatial_dims`` axes are spatial (default: ``len(tile)`` when
    ``tile`` is a sequence, else 3); leading axes (batch, channels) pass to ``fn``
    whole. ``fn`` must return an array whose last ``spatial_dims`` axes have the
    spatial shape of its input (its leading axes may differ, e.g. other channels).
    ``halo`` must be at least ``fn``'s receptive-field radius for the result to be
    exact (``ResNetSR.halo_needed``). With ``scale`` (an integer per spatial axis), ``fn``
    returns ``scale`` times its input's spatial shape instead (see the module docstring).
    """
    if isinstance(tile, int):
        spatial_dims = spatial_dims or 3
        tiles = (tile,) * spatial_dims
    else:
        tiles = tuple(int(t) for t in tile)
        spatial_dims = spatial_dims or len(tiles)
        if len(tiles) != spatial_dims:
            raise ValueError(f"{len(tiles)} tile sizes for {spatial_dims} spatial axes.")
    if any(t < 1 for t in tiles) or halo < 0:
        raise ValueError("Tile sizes must be positive and the halo non-negative.")
    spatial_shape = array.shape[-spatial_dims:]
    scales = tuple(int(s) for s in scale) if scale is not None else (1,) * spatial_dims
    if len(scales) != spatial_dims or any(s < 1 for s in scales):
        raise ValueError(f"scale must give a positive integer for each of the {spatial_dims} spatial axes.")

    def scaled(box: tuple[slice, ...]) -> tuple[slice, ...]:
        return tuple(slice(b.start * s, b.stop * s) for b, s in zip(box, scales, strict=True))

    out_shape = tuple(n * s for n, s in zip(spatial_shape, scales, strict=True))
    lead = (slice(None),) * (array.ndim - spatial_dims)
    boxes = tile_boxes(spatial_shape, tiles, halo)
    out: np.ndarray | None = None
    with progress_reporter(progress, "tiles") as report:
        for done, (in_box, out_box, crop) in enumerate(boxes, start=1):
            result = np.asarray(fn(array[(*lead, *in_box)]))
            expected = tuple((b.stop - b.start) * s for b, s in zip(in_box, scales, strict=True))
            if result.shape[-spatial_dims:] != expected:
                raise ValueError(
                    "fn must keep the spatial shape of its input (a 'same'-padded network), times scale."
                )
            if out is None:
                out = np.empty(result.shape[:-spatial_dims] + out_shape, dtype=result.dtype)
            out_lead = (slice(None),) * (result.ndim - spatial_dims)
            out[(*out_lead, *scaled(out_box))] = result[(*out_lead, *scaled(crop))]
            report(done / len(boxes))
    assert out is not None  # at least one tile: every axis has length >= 1
    return out


def tile_for_budget(
    features: int, spatial_dims: int, halo: int, budget_bytes: float = 512e6, batch: int = 1
) -> int:
    """The largest cubic tile edge whose activations fit in ``budget_bytes`` (float32).

    Inference keeps about two feature maps of ``features`` channels alive at a time
    (a layer's input and output; ReLU works in place), over the tile plus its halo.
    At least 8 voxels, so the halo never dominates completely.
    """
    per_voxel = 2 * features * 4 * batch
    edge = int((budget_bytes / per_voxel) ** (1.0 / spatial_dims)) - 2 * halo
    return max(edge, 8)
