"""Resampling a volume onto another grid in patient space (a common display grid).

The target grid is an affine and a shape (the conventions of :mod:`sr_engine.volume`):
every target voxel centre is mapped to patient coordinates (LPS, mm) by the target affine
and back to a fractional source index by the inverse of the source's affine, so grids of
any field of view, matrix, slice spacing and orientation meet where the patient is.

Interpolation is trilinear (``scipy.ndimage.map_coordinates`` with ``order=1``: the
tensor-product linear interpolation between the 8 source voxel centres around a point).
Points inside the source's voxel box but beyond its outermost voxel *centres* (the outer
half voxel of a thick slice, say) take the value of the nearest edge centre, as a scanner's
voxel covers that half voxel; points outside the box take ``outside`` (by default the
source's minimum, the background of a magnitude image).
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from .volume import Volume, index_to_patient, patient_to_index

#: How the display grid is interpolated (recorded in provenance).
INTERPOLATION = "trilinear"
INTERPOLATION_DETAIL = (
    "trilinear (scipy.ndimage.map_coordinates, order 1) at the target voxel centres mapped through "
    "patient coordinates; the outer half voxel of the source takes the nearest edge value; "
    "outside the source's voxel box the source's minimum"
)


def target_indices(
    source_affine: ArrayLike, target_affine: ArrayLike, target_shape: Sequence[int], slice_index: int
) -> np.ndarray:
    """Fractional source indices (slice, row, column) of a target slice's voxel centres, ``(rows, cols, 3)``.

    ``slice_index`` is the target slice; both affines follow :mod:`sr_engine.volume`.
    """
    _, rows, columns = (int(n) for n in target_shape)
    r, c = np.meshgrid(np.arange(rows, dtype=float), np.arange(columns, dtype=float), indexing="ij")
    grid = np.stack([np.full_like(r, float(slice_index)), r, c], axis=-1)
    return patient_to_index(source_affine, index_to_patient(target_affine, grid))


def resample_onto(
    volume: Volume,
    target_affine: ArrayLike,
    target_shape: Sequence[int],
    *,
    outside: float | None = None,
) -> np.ndarray:
    """``volume``'s values at the voxel centres of the target grid, float32 of ``target_shape``.

    One 3D channel only (a 4D volume raises ``ValueError``). Trilinear, as the module
    docstring says; works slice by slice of the target so memory stays at one source
    volume plus one target volume.
    """
    if volume.data.ndim != 3:
        raise ValueError(f"Resampling takes a 3D volume, got data of shape {volume.data.shape}.")
    shape = tuple(int(n) for n in target_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"The target shape must be three positive sizes, got {target_shape!r}.")
    data = np.asarray(volume.data, dtype=np.float32)
    fill = float(data.min()) if outside is None else float(outside)
    limits = np.array(data.shape, dtype=float) - 1.0
    out = np.empty(shape, dtype=np.float32)
    for k in range(shape[0]):
        index = target_indices(volume.affine, target_affine, shape, k)
        inside = np.all((index >= -0.5 - 1e-6) & (index <= limits + 0.5 + 1e-6), axis=-1)
        clipped = np.clip(index, 0.0, limits)
        values = ndimage.map_coordinates(
            data, np.moveaxis(clipped, -1, 0), order=1, mode="nearest", prefilter=False
        )
        out[k] = np.where(inside, values, fill)
    return out


def same_grid(
    affine_a: ArrayLike,
    shape_a: Sequence[int],
    affine_b: ArrayLike,
    shape_b: Sequence[int],
    *,
    tol: float = 1e-3,
) -> bool:
    """Whether two grids have the same shape and the same voxel centres (within ``tol`` mm)."""
    if tuple(int(n) for n in shape_a) != tuple(int(n) for n in shape_b):
        return False
    return bool(np.allclose(np.asarray(affine_a, float), np.asarray(affine_b, float), atol=tol))
