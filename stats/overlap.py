"""Overlap of segmentation masks: Dice, Jaccard, 95th-percentile Hausdorff distance and volumes.

A study that segments a structure (e.g. the amygdalae on synthetic and real 7T MRI) on
each condition compares every automated or condition mask with the case's reference
(manual) mask, label by label. All measures follow Taha & Hanbury, "Metrics for
evaluating 3D medical image segmentation: analysis, selection, and tool", BMC Medical
Imaging 15:29 (2015), with A the mask under test and B the reference:

* **Dice** (Dice, Ecology 26:297-302, 1945; Taha & Hanbury eq. 6):
  ``DSC = 2 |A n B| / (|A| + |B|)``;
* **Jaccard** (Jaccard, New Phytol 11:37-50, 1912; Taha & Hanbury eq. 7):
  ``JAC = |A n B| / |A u B|`` (= DSC / (2 - DSC));
* **HD95**, the 95th-percentile Hausdorff distance in mm. The Hausdorff distance is
  ``HD(A, B) = max(h(A, B), h(B, A))`` with the directed distance
  ``h(A, B) = max_{a in A} min_{b in B} ||a - b||`` (Taha & Hanbury eq. 21); its quantile
  form replaces the max of each *directed* distance by its q-th quantile (Huttenlocher,
  Klanderman & Rucklidge, IEEE TPAMI 15:850-863, 1993; Taha & Hanbury sec. "Spatial
  distance based metrics"). So here::

      HD95(A, B) = max(h95(A, B), h95(B, A)),
      h95(A, B)  = 95th percentile over the surface voxels a of A of the distance from a
                   to the nearest surface voxel of B,

  i.e. **the larger of the two directed 95th percentiles** (the convention of MONAI's
  ``compute_hausdorff_distance(percentile=95)``), *not* the 95th percentile of the union of
  both directed distance sets (MedPy's ``hd95``), which can be smaller. Percentiles are
  ``numpy.percentile``'s default linear interpolation (Hyndman & Fan, Am Stat 50:361-365,
  1996, definition 7; R's default ``quantile``).

  *Surface voxels* of a mask are its voxels with at least one face neighbour (6-
  connectivity in 3D) outside the mask, voxels beyond the array counting as outside:
  ``mask & ~scipy.ndimage.binary_erosion(mask, generate_binary_structure(ndim, 1))``.
  Distances are between voxel centres, in mm with the voxel spacing: the distance from
  each voxel to the nearest surface voxel of the other mask is
  ``scipy.ndimage.distance_transform_edt(~surface, sampling=spacing)`` (an exact
  Euclidean distance transform; Maurer, Qi & Raghavan, IEEE TPAMI 25:265-270, 2003). The
  array axes are taken to be orthogonal (a sheared grid has no single spacing).
* **Volumes** in mL: voxel count x the product of the spacings (mm^3) / 1000; the
  **volume difference** ``V(A) - V(B)`` in mL (signed: positive when the mask under test is
  larger) and the **relative volume difference** ``100 (V(A) - V(B)) / V(B)`` in percent
  (Taha & Hanbury eq. 22, signed, relative to the reference).

Empty masks, decided here once for every table:

* both masks empty: Dice and Jaccard are 0/0 and **undefined** (NaN), not 1: a case
  without the structure says nothing about how well it is segmented, and counting it as
  perfect would inflate the mean; HD95 is undefined too;
* one mask empty, the other not: Dice = Jaccard = 0 (no overlap at all), HD95 undefined
  (NaN: there is no surface to measure from or to; not +inf, which no mean or test takes);
* the reference empty: the relative volume difference is undefined (NaN).

Each :class:`LabelOverlap` says in ``note`` which of these applied. The statistics tables
(:mod:`stats.tables.overlap`) leave undefined values out of their means and paired tests.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

#: The percentile of the Hausdorff distance reported (HD95).
HD_PERCENTILE = 95.0

BOTH_EMPTY = "both masks are empty: Dice, Jaccard and HD95 are undefined"
TEST_EMPTY = "the mask is empty: HD95 is undefined"
REFERENCE_EMPTY = "the reference mask is empty: HD95 and the relative volume difference are undefined"


class OverlapError(ValueError):
    """Masks that cannot be compared (shape, spacing or labels); the message says why."""


@dataclass(frozen=True, kw_only=True)
class LabelOverlap:
    """The overlap of one label's mask (under test) with the reference mask of that label.

    NaN marks a value that is undefined (see the module docstring); ``note`` says why.
    """

    label: str
    dice: float
    jaccard: float
    hd95_mm: float
    volume_ml: float
    reference_volume_ml: float
    volume_difference_ml: float
    relative_volume_difference_percent: float
    voxels: int
    reference_voxels: int
    note: str = ""


def _spacing(spacing: ArrayLike, ndim: int) -> np.ndarray:
    s = np.asarray(spacing, dtype=float)
    if s.shape != (ndim,):
        raise OverlapError(f"The voxel spacing needs {ndim} values (one per axis), got {s.tolist()}.")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise OverlapError(f"The voxel spacing must be positive finite millimetres, got {s.tolist()}.")
    return s


def _masks(test: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(test), np.asarray(reference)
    if a.shape != b.shape:
        raise OverlapError(f"The masks have different shapes: {a.shape} and {b.shape} (the reference).")
    if a.ndim < 1 or a.size == 0:
        raise OverlapError("The masks are empty arrays.")
    return a.astype(bool, copy=False), b.astype(bool, copy=False)


def surface(mask: np.ndarray) -> np.ndarray:
    """The surface voxels of a boolean mask: its voxels with a face neighbour outside it (or
    outside the array)."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def directed_surface_distances(a: ArrayLike, b: ArrayLike, spacing: ArrayLike) -> np.ndarray:
    """Distance (mm) from each surface voxel of ``a`` to the nearest surface voxel of ``b``.

    Both masks must be non-empty and of one shape; the order of the values is that of
    ``numpy.nonzero`` over ``a``'s surface.
    """
    ma, mb = _masks(a, b)
    s = _spacing(spacing, ma.ndim)
    if not ma.any() or not mb.any():
        raise OverlapError("Surface distances need two non-empty masks.")
    to_b = ndimage.distance_transform_edt(~surface(mb), sampling=s)
    return np.asarray(to_b[surface(ma)], dtype=float)


def _cropped(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cut to the bounding box of their union.

    Exact for every distance here: a voxel outside the box belongs to neither mask, so each
    voxel keeps its surface status (the erosion counts beyond the array as outside), and every
    surface voxel, with its nearest counterpart, lies in the box."""
    found = np.argwhere(a | b)
    box = tuple(
        slice(int(lo), int(hi) + 1) for lo, hi in zip(found.min(axis=0), found.max(axis=0), strict=True)
    )
    return a[box], b[box]


def hausdorff_percentile(
    test: ArrayLike, reference: ArrayLike, spacing: ArrayLike, percentile: float = HD_PERCENTILE
) -> float:
    """``max(h_q(A, B), h_q(B, A))``: the larger of the two directed q-th percentile surface
    distances (mm; Taha & Hanbury 2015, Huttenlocher et al. 1993). NaN when a mask is empty."""
    if not 0 <= percentile <= 100:
        raise OverlapError(f"The percentile must lie between 0 and 100, got {percentile}.")
    a, b = _masks(test, reference)
    _spacing(spacing, a.ndim)
    if not a.any() or not b.any():
        return float("nan")
    a, b = _cropped(a, b)  # the distance transforms run on the masks' box, not the whole image
    forward = np.percentile(directed_surface_distances(a, b, spacing), percentile)
    backward = np.percentile(directed_surface_distances(b, a, spacing), percentile)
    return float(max(forward, backward))


def mask_overlap(
    test: ArrayLike, reference: ArrayLike, spacing: ArrayLike, *, label: str = ""
) -> LabelOverlap:
    """Dice, Jaccard, HD95 and volumes of one binary mask against its reference (see the module
    docstring for the definitions and the empty-mask rules)."""
    a, b = _masks(test, reference)
    s = _spacing(spacing, a.ndim)
    voxel_ml = float(np.prod(s)) / 1000.0
    n_a, n_b = int(a.sum()), int(b.sum())
    both = int(np.logical_and(a, b).sum())
    either = n_a + n_b - both
    volume, reference_volume = n_a * voxel_ml, n_b * voxel_ml
    nan = float("nan")
    note = ""
    if n_a == 0 and n_b == 0:
        note = BOTH_EMPTY
    elif n_b == 0:
        note = REFERENCE_EMPTY
    elif n_a == 0:
        note = TEST_EMPTY
    return LabelOverlap(
        label=label,
        dice=2 * both / (n_a + n_b) if n_a + n_b else nan,
        jaccard=both / either if either else nan,
        hd95_mm=hausdorff_percentile(a, b, s),
        volume_ml=volume,
        reference_volume_ml=reference_volume,
        volume_difference_ml=volume - reference_volume,
        relative_volume_difference_percent=100 * (volume - reference_volume) / reference_volume
        if n_b
        else nan,
        voxels=n_a,
        reference_voxels=n_b,
        note=note,
    )


def _check_labels(values: np.ndarray, labels: Mapping[str, int], which: str) -> None:
    numbers = list(labels.values())
    if any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0 for v in numbers):
        raise OverlapError(f"The {which}'s label values must be positive integers, got {numbers}.")
    if len(set(numbers)) != len(numbers):
        raise OverlapError(f"The {which} gives one value to two labels: {dict(labels)}.")
    present = set(np.unique(values).tolist()) - {0}
    unnamed = sorted(present - set(numbers))
    if unnamed:
        raise OverlapError(
            f"The {which} holds the value(s) {', '.join(str(v) for v in unnamed)}, which no label names."
        )


def _labels_match(test: Sequence[str], reference: Sequence[str]) -> None:
    missing = [name for name in reference if name not in test]
    extra = [name for name in test if name not in reference]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"it lacks {', '.join(missing)}")
        if extra:
            parts.append(f"the reference has no {', '.join(extra)}")
        raise OverlapError(f"The mask's labels differ from the reference's: {'; '.join(parts)}.")


def masks_overlap(
    test: Mapping[str, ArrayLike], reference: Mapping[str, ArrayLike], spacing: ArrayLike
) -> list[LabelOverlap]:
    """The overlap of each label's binary mask with the reference's mask of the same name.

    Both must name the same labels (their masks may overlap one another, as DICOM SEG
    segments may); one :class:`LabelOverlap` per label, in the order of ``reference``.
    """
    _labels_match(list(test), list(reference))
    return [mask_overlap(test[name], b, spacing, label=name) for name, b in reference.items()]


def label_overlaps(
    test: ArrayLike,
    reference: ArrayLike,
    spacing: ArrayLike,
    *,
    test_labels: Mapping[str, int],
    reference_labels: Mapping[str, int],
) -> list[LabelOverlap]:
    """The overlap of every label of a label map with the reference's label of the same name.

    ``test`` and ``reference`` are integer label maps of one shape on one grid (0 is the
    background); ``*_labels`` map each label's name to its value in that map (values may
    differ between the two: labels are matched by name). Both must name the same labels,
    and every non-zero value in a map must be named. Returns one :class:`LabelOverlap` per
    label, in the order of ``reference_labels``.
    """
    a, b = np.asarray(test), np.asarray(reference)
    if a.shape != b.shape:
        raise OverlapError(f"The masks have different shapes: {a.shape} and {b.shape} (the reference).")
    for values, which in ((a, "mask"), (b, "reference")):
        if not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
            raise OverlapError(f"The {which} is not a label map of integers (its type is {values.dtype}).")
    _labels_match(list(test_labels), list(reference_labels))
    _check_labels(a, test_labels, "mask")
    _check_labels(b, reference_labels, "reference")
    return masks_overlap(
        {name: a == value for name, value in test_labels.items()},
        {name: b == value for name, value in reference_labels.items()},
        spacing,
    )


def spacing_from_affine(affine: ArrayLike, *, tolerance: float = 1e-3) -> tuple[float, ...]:
    """The voxel spacing (mm) of a grid from its 4x4 affine: the lengths of its axis columns.

    Raises OverlapError when the axes are not orthogonal (|cos| above ``tolerance``): such a
    sheared grid has no per-axis spacing for the distance transform.
    """
    m = np.asarray(affine, dtype=float)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise OverlapError("The affine must be a finite 4x4 matrix.")
    axes = m[:3, :3]
    lengths = np.linalg.norm(axes, axis=0)
    if np.any(lengths <= 0):
        raise OverlapError("The affine has an axis of zero length.")
    units = axes / lengths
    cosines = units.T @ units - np.eye(3)
    if np.max(np.abs(cosines)) > tolerance:
        raise OverlapError("The grid's axes are not orthogonal (a sheared grid): distances are undefined.")
    return tuple(float(v) for v in lengths)


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, mean, SD (n - 1), median and quartiles (``numpy.percentile``, Hyndman & Fan type 7)
    of the finite values; NaN where undefined (SD of one value, anything of none)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    nan = float("nan")
    if v.size == 0:
        return {"n": 0, "mean": nan, "sd": nan, "median": nan, "q1": nan, "q3": nan}
    q1, median, q3 = np.percentile(v, [25, 50, 75])
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else nan,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
    }
