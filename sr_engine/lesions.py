"""Synthetic lesions for simulation studies: enhancing spheres at recorded positions.

:func:`insert_lesions` adds spheres of given diameters (mm) to a volume and returns
the ground truth (centre in patient coordinates, diameter, ring flag) as the reference
standard of a detection (FROC) study. Lesions are inserted into the high-resolution
volume *before* it is degraded (:mod:`sr_engine.simulate`), so that thick slices,
k-space truncation and noise act on them as on the anatomy.

The lesions look like brain metastases on contrast-enhanced T1 images: bright spheres,
ring-enhancing with a darker necrotic core when larger than ``ring_threshold_mm``
(8 mm by default; Fink & Fink, "Imaging of brain metastases", Surg Neurol Int
4(Suppl 4), 2013). They are drawn in physical millimetres: every voxel's value is the
fraction of its extent (its parallelepiped in patient space, from the affine, sampled
on a sub-voxel grid) that lies inside the sphere, so anisotropic voxels and oblique
orientations give the right shape, centre and volume (the partial-volume model of
Greenspan, The Computer Journal 52(1), 2009, §2). The sphere's border itself is a
linear ramp ``edge_mm`` wide, a slightly soft edge as lesion borders are.

The ground truth is returned, never written into the volume's provenance: derived
series carry their provenance into the DICOM files that readers load, and lesion
positions there would unblind a detection study.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .volume import Volume

#: Sub-voxel sampling step (mm) for the partial volume of each voxel.
SUBSAMPLE_MM = 0.25
#: The necrotic core of a ring-enhancing lesion, as a fraction of its radius.
CORE_FRACTION = 0.6


@dataclass(frozen=True)
class Lesion:
    """A lesion's centre in patient coordinates (LPS, mm) and its diameter in mm."""

    center_mm: tuple[float, float, float]
    diameter_mm: float
    ring_enhancing: bool


@dataclass(frozen=True)
class LesionSpec:
    """A lesion to insert: centre (LPS, mm), diameter (mm), optionally ring flag and contrast.

    ``ring_enhancing`` None follows the diameter (above ``ring_threshold_mm``);
    ``contrast`` None is drawn from :func:`insert_lesions`'s ``contrast``.
    """

    center_mm: tuple[float, float, float]
    diameter_mm: float
    ring_enhancing: bool | None = None
    contrast: float | None = None


def _soft_inside(distance: np.ndarray, radius: float, edge_mm: float) -> np.ndarray:
    """1 inside a sphere of ``radius``, 0 outside, a linear ramp ``edge_mm`` wide across the border."""
    if edge_mm <= 0:
        return (distance <= radius).astype(np.float64)
    return np.clip(0.5 + (radius - distance) / edge_mm, 0.0, 1.0)


def _index_radius(volume: Volume, radius_mm: float) -> np.ndarray:
    """Half-extent in voxels along the data axes (slice, row, column) of a sphere of ``radius_mm``."""
    return radius_mm * np.linalg.norm(np.linalg.inv(volume.axis_steps), axis=0)


def lesion_fractions(
    volume: Volume, center_mm: np.ndarray, radius_mm: float, *, ring: bool, edge_mm: float
) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
    """Enhancing and necrotic fractions (0..1) of the voxels around one lesion.

    Returns the index box (slices of the spatial axes) and the two fraction arrays on
    it. Solid lesions enhance throughout; ring-enhancing ones in a shell from
    ``CORE_FRACTION`` of the radius outwards, around a non-enhancing core.
    """
    centre_index = volume.patient_to_index(center_mm)
    reach = _index_radius(volume, radius_mm + edge_mm) + 1
    shape = np.array(volume.shape)
    low = np.clip(np.floor(centre_index - reach).astype(int), 0, shape - 1)
    high = np.clip(np.ceil(centre_index + reach).astype(int) + 1, 1, shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    counts = [max(1, math.ceil(s / SUBSAMPLE_MM)) for s in volume.axis_spacing]
    offsets = [(np.arange(n) + 0.5) / n - 0.5 for n in counts]
    sub = np.stack(np.meshgrid(*offsets, indexing="ij"), axis=-1).reshape(-1, 3)  # sub-voxel offsets
    grid = np.meshgrid(*(np.arange(b.start, b.stop) for b in box), indexing="ij")
    voxels = np.stack(grid, axis=-1).reshape(-1, 1, 3).astype(float)
    points = volume.index_to_patient(voxels + sub[None])
    distance = np.linalg.norm(points - np.asarray(center_mm, dtype=float), axis=-1)
    outer = _soft_inside(distance, radius_mm, edge_mm).mean(axis=1)
    if ring:
        core = _soft_inside(distance, CORE_FRACTION * radius_mm, edge_mm).mean(axis=1)
    else:
        core = np.zeros_like(outer)
    box_shape = grid[0].shape
    return box, (outer - core).reshape(box_shape), core.reshape(box_shape)


def _draw_diameter(rng: np.random.Generator, low: float, high: float) -> float:
    """Log-uniform between ``low`` and ``high`` mm (small and large lesions alike per size octave)."""
    return float(np.exp(rng.uniform(math.log(low), math.log(high)))) if high > low else float(low)


def _fits(volume: Volume, center_index: np.ndarray, radius_mm: float, margin_mm: float) -> bool:
    """Whether the sphere plus ``margin_mm`` lies between the first and last voxel centres on every axis."""
    reach = _index_radius(volume, radius_mm + margin_mm)
    upper = np.array(volume.shape) - 1
    return bool(np.all(center_index - reach >= 0) and np.all(center_index + reach <= upper))


def insert_lesions(
    volume: Volume,
    lesions: Sequence[LesionSpec | Lesion] | None = None,
    *,
    n: int | None = None,
    diameters_mm: tuple[float, float] = (3.0, 15.0),
    seed: int | np.random.Generator = 0,
    mask: np.ndarray | None = None,
    contrast: float | tuple[float, float] = (0.3, 0.7),
    reference_signal: float | None = None,
    ring_threshold_mm: float = 8.0,
    necrosis_darkening: float = 0.5,
    margin_mm: float = 2.0,
    min_gap_mm: float = 4.0,
    edge_mm: float = 0.5,
) -> tuple[Volume, tuple[Lesion, ...]]:
    """Insert the given ``lesions`` and ``n`` more at random; return the volume and the ground truth.

    Random lesions: diameters log-uniform in ``diameters_mm`` (rounded to 0.1 mm),
    centres at voxel centres inside ``mask`` (default: everywhere), the sphere plus
    ``margin_mm`` inside the volume, at least ``min_gap_mm`` from every other lesion;
    all from ``seed`` (an integer or a numpy Generator), so the same seed gives the
    same lesions. Each lesion adds ``amplitude * enhancing fraction`` and darkens its
    necrotic core by ``necrosis_darkening``; ``amplitude`` is ``contrast`` (a fraction,
    or a range to draw from) times ``reference_signal`` (default: the median of each
    channel inside ``mask``). Lesions are ring-enhancing above ``ring_threshold_mm``
    unless their spec says otherwise. See the module docstring for how they are drawn.
    """
    rng = np.random.default_rng(seed)
    mask = np.ones(volume.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != volume.shape:
        raise ValueError(f"The mask's shape {mask.shape} is not the volume's {volume.shape}.")
    low, high = (float(d) for d in diameters_mm)
    if not 0 < low <= high:
        raise ValueError(f"diameters_mm must be (smallest, largest) > 0, got {diameters_mm}.")

    def draw_contrast() -> float:
        if isinstance(contrast, tuple):
            return float(rng.uniform(*contrast))
        return float(contrast)

    chosen: list[tuple[np.ndarray, float, bool, float]] = []  # centre, diameter, ring, contrast
    for spec in lesions or ():
        ring = spec.ring_enhancing
        ring = spec.diameter_mm > ring_threshold_mm if ring is None else bool(ring)
        amount = getattr(spec, "contrast", None)
        amount = draw_contrast() if amount is None else float(amount)
        chosen.append((np.asarray(spec.center_mm, dtype=float), float(spec.diameter_mm), ring, amount))

    if n:
        candidates = np.argwhere(mask)  # (slice, row, column)
        if candidates.size == 0:
            raise ValueError("The mask has no voxel to place a lesion in.")
        extent = np.array(volume.shape) - 1
        largest = 2 * float(np.min(extent / 2 / _index_radius(volume, 1.0))) - 2 * margin_mm
        if largest < low:
            raise ValueError(
                f"The volume is too thin for lesions of {low:g} mm or more "
                f"({largest:.1f} mm fit with a margin of {margin_mm:g} mm)."
            )
        placed, attempts = 0, 0
        while placed < n:
            attempts += 1
            if attempts > 10_000:
                raise RuntimeError(
                    "Could not place the lesions; ask for fewer, smaller ones or a larger mask."
                )
            diameter = round(_draw_diameter(rng, low, min(high, largest)), 1)
            centre_index = candidates[rng.integers(len(candidates))].astype(float)
            if not _fits(volume, centre_index, diameter / 2, margin_mm):
                continue
            centre = volume.index_to_patient(centre_index)
            if any(np.linalg.norm(centre - o) < (diameter + d) / 2 + min_gap_mm for o, d, _, _ in chosen):
                continue
            chosen.append((centre, diameter, diameter > ring_threshold_mm, draw_contrast()))
            placed += 1

    data = np.array(volume.data, dtype=np.float64)
    channels = data if data.ndim == 4 else data[None]
    references = [
        float(reference_signal) if reference_signal is not None else float(np.median(channel[mask]))
        for channel in channels
    ]
    for centre, diameter, ring, amount in chosen:
        box, enhancing, core = lesion_fractions(volume, centre, diameter / 2, ring=ring, edge_mm=edge_mm)
        for channel, reference in zip(channels, references, strict=True):
            region = channel[box]
            channel[box] = region * (1.0 - necrosis_darkening * core) + amount * reference * enhancing
    truth = tuple(
        Lesion((float(centre[0]), float(centre[1]), float(centre[2])), float(diameter), bool(ring))
        for centre, diameter, ring, _ in chosen
    )
    return volume.with_data(data.astype(np.float32)), truth
