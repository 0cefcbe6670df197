"""Acquisition simulation: thick slices from a thin-slice volume.

A thick slice records the signal of the tissue inside its slice profile (the
partial-volume effect; see e.g. Greenspan, "Super-resolution in medical imaging",
The Computer Journal 52(1), 2009, §2). With a box (rectangular) profile whose width
is ``factor`` thin slices, thick slice ``m`` is the mean of thin slices
``m*factor .. m*factor + factor - 1`` and its centre lies at the mean of their
centres, thin index ``m*factor + (factor - 1) / 2``.
"""

import numpy as np

from .volume import Volume


def thicken_slices(volume: Volume, factor: int) -> Volume:
    """Average every ``factor`` consecutive slices (box profile, no gap).

    Trailing slices that do not fill a whole thick slice are dropped. The returned
    volume's affine places each thick slice at the centre of the thin slices it
    averages, with a slice spacing of ``factor`` times the original.
    """
    if factor < 1:
        raise ValueError("The thickening factor must be a positive integer.")
    n_thick = volume.shape[0] // factor
    if n_thick == 0:
        raise ValueError(f"The volume has {volume.shape[0]} slices, fewer than the factor {factor}.")
    thin = volume.data[: n_thick * factor].astype(np.float64)
    thick = thin.reshape(n_thick, factor, *thin.shape[1:]).mean(axis=1)
    affine = volume.affine.copy()
    affine[:3, 3] = volume.slice_position(0) + (factor - 1) / 2 * volume.affine[:3, 2]
    affine[:3, 2] = volume.affine[:3, 2] * factor
    return Volume(thick.astype(np.float32), affine)
