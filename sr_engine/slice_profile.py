"""Thick slices from thin ones with a box profile: the demo's LR series.

Kept for its callers; the acquisition simulation itself (Gaussian or box profiles,
gaps, in-plane resolution, noise) is :mod:`sr_engine.simulate`. With a box profile
whose width is ``factor`` thin slices, thick slice ``m`` is the mean of thin slices
``m*factor .. m*factor + factor - 1`` and its centre lies at the mean of their
centres, thin index ``m*factor + (factor - 1) / 2`` (the partial-volume model;
Greenspan, The Computer Journal 52(1), 2009, §2).
"""

from .simulate import simulate_slices
from .volume import Volume


def thicken_slices(volume: Volume, factor: int) -> Volume:
    """Average every ``factor`` consecutive slices (box profile, no gap).

    Trailing slices that do not fill a whole thick slice are dropped. The returned
    volume's affine places each thick slice at the centre of the thin slices it
    averages, with a slice spacing of ``factor`` times the original.
    """
    if factor < 1:
        raise ValueError("The thickening factor must be a positive integer.")
    if volume.shape[0] < factor:
        raise ValueError(f"The volume has {volume.shape[0]} slices, fewer than the factor {factor}.")
    return simulate_slices(volume, factor=factor, profile="box")
