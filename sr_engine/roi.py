"""Objective image-quality measurements on one 2D image: line profiles and circular regions.

What a physicist does with ImageJ's line and oval selections, as plain functions on a
numpy array with its pixel spacing in mm:

* :func:`line_profile`: intensities along a segment (bilinear interpolation), with the
  distance of every sample from the start in mm;
* from a profile, :func:`fwhm` (full width at half maximum above the baseline) and
  :func:`edge_rise` (10-90 % edge rise distance and edge rise slope, per edge and
  averaged over both edges of a profile drawn across a structure);
* :func:`circle_stats` (mean, SD and number of pixels of a circular region), :func:`snr`
  and :func:`cnr`.

Conventions:

* ``image[row, column]``; a point is ``(x, y)`` = (column, row) in pixels, with pixel
  centres at whole numbers (DICOM: ImagePositionPatient is the centre of the first
  pixel, PS3.3 C.7.6.2.1.1). The image covers ``-0.5 <= x <= columns - 0.5`` and
  ``-0.5 <= y <= rows - 0.5``.
* ``spacing_mm`` is DICOM's PixelSpacing order, (row spacing, column spacing): the
  distance between the centres of adjacent rows (along y), then of adjacent columns
  (along x); one number means square pixels.
* Intensities are whatever the array holds (for DICOM: after RescaleSlope/Intercept).

Results are frozen dataclasses with named fields (as scipy.stats returns its results).
Functions raise :class:`ValueError` with a message for people when a measurement is not
defined (a point outside the image, a line of zero length, a profile that never falls to
half its maximum, a region of fewer than two pixels, an SD of zero).
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

#: Default sampling step of a profile, as a fraction of the smaller pixel spacing.
DEFAULT_STEP_FRACTION = 0.25
#: Default share of a profile's samples at each end that gives its outer level (baseline).
DEFAULT_EDGE_FRACTION = 0.1


def _spacing(spacing_mm: float | ArrayLike) -> tuple[float, float]:
    """(row spacing, column spacing) in mm from one number or a pair; both must be positive."""
    values = np.atleast_1d(np.asarray(spacing_mm, dtype=float))
    if values.size == 1:
        row_mm = col_mm = float(values[0])
    elif values.size == 2:
        row_mm, col_mm = (float(v) for v in values)
    else:
        raise ValueError(f"spacing_mm is one number or (row spacing, column spacing); got {spacing_mm!r}.")
    if not (math.isfinite(row_mm) and math.isfinite(col_mm) and row_mm > 0 and col_mm > 0):
        raise ValueError(f"The pixel spacing must be positive; got {spacing_mm!r}.")
    return row_mm, col_mm


def _image(image: ArrayLike) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"Expected a 2D image (rows, columns); got an array of shape {array.shape}.")
    if array.size == 0:
        raise ValueError("The image is empty.")
    return array


def _point(point: ArrayLike, image: np.ndarray, name: str) -> tuple[float, float]:
    """(x, y) of a point that must lie on the image (pixel edges included)."""
    values = np.asarray(point, dtype=float).ravel()
    if values.size != 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"The {name} must be two finite numbers (x, y); got {point!r}.")
    x, y = float(values[0]), float(values[1])
    rows, columns = image.shape
    if not (-0.5 <= x <= columns - 0.5 and -0.5 <= y <= rows - 0.5):
        raise ValueError(
            f"The {name} ({x:.1f}, {y:.1f}) lies outside the image ({columns} columns x {rows} rows)."
        )
    return x, y


# ----------------------------------------------------------------------------- line profiles


@dataclass(frozen=True)
class LineProfile:
    """Intensities sampled along a segment.

    ``distances_mm[i]`` is the distance of sample ``i`` from the start, ``values[i]`` the
    image there (bilinear interpolation), at pixel position (``x[i]``, ``y[i]``).
    """

    distances_mm: np.ndarray
    values: np.ndarray
    x: np.ndarray
    y: np.ndarray
    length_mm: float
    step_mm: float


def line_profile(
    image: ArrayLike,
    start: ArrayLike,
    end: ArrayLike,
    spacing_mm: float | ArrayLike,
    *,
    step_mm: float | None = None,
) -> LineProfile:
    """The intensity profile of ``image`` from ``start`` to ``end`` (each (x, y) in pixels).

    Samples are evenly spaced from one end to the other, at most ``step_mm`` apart
    (default: a quarter of the smaller pixel spacing), and interpolated bilinearly
    between the four nearest pixel centres (``scipy.ndimage.map_coordinates`` with
    ``order=1``; within half a pixel of the border the border pixels extend). Distances
    are in mm, from the pixel spacing: the length of a segment from (x0, y0) to (x1, y1)
    is sqrt(((x1 - x0) * column spacing)^2 + ((y1 - y0) * row spacing)^2).
    """
    array = _image(image)
    row_mm, col_mm = _spacing(spacing_mm)
    x0, y0 = _point(start, array, "start of the line")
    x1, y1 = _point(end, array, "end of the line")
    length = math.hypot((x1 - x0) * col_mm, (y1 - y0) * row_mm)
    if length <= 1e-9:
        raise ValueError("The line has zero length: its two ends are the same point.")
    step = DEFAULT_STEP_FRACTION * min(row_mm, col_mm) if step_mm is None else float(step_mm)
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step_mm must be a positive number; got {step_mm!r}.")
    n = max(2, math.ceil(length / step - 1e-9) + 1)
    t = np.linspace(0.0, 1.0, n)
    xs = x0 + t * (x1 - x0)
    ys = y0 + t * (y1 - y0)
    values = ndimage.map_coordinates(array, [ys, xs], order=1, mode="nearest")
    return LineProfile(
        distances_mm=t * length, values=values, x=xs, y=ys, length_mm=length, step_mm=length / (n - 1)
    )


def _profile(distances_mm: ArrayLike, values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(distances_mm, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if x.size != v.size:
        raise ValueError(f"{x.size} distances but {v.size} values.")
    if x.size < 3:
        raise ValueError("A profile needs at least 3 samples.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(v))):
        raise ValueError("The profile holds NaN or infinite numbers.")
    if np.any(np.diff(x) <= 0):
        raise ValueError("The distances must increase strictly.")
    return x, v


def _outer_count(n: int, edge_fraction: float) -> int:
    if not 0 < edge_fraction < 0.5:
        raise ValueError(f"edge_fraction must be between 0 and 0.5; got {edge_fraction}.")
    return max(1, round(edge_fraction * n))


def _cross(x: np.ndarray, v: np.ndarray, i: int, j: int, level: float) -> float:
    """Where the straight line between samples ``i`` and ``j`` reaches ``level``."""
    if v[j] == v[i]:
        return float(x[i])
    return float(x[i] + (level - v[i]) / (v[j] - v[i]) * (x[j] - x[i]))


# ----------------------------------------------------------------------------- FWHM


@dataclass(frozen=True)
class FWHMResult:
    """Full width at half maximum of a profile's peak (or dip) above its baseline.

    ``left_mm`` and ``right_mm`` are where the profile crosses ``half_level`` on either
    side of the extreme at ``peak_mm``; ``fwhm_mm`` is their distance. ``polarity`` is
    +1 for a bright structure (a peak) and -1 for a dark one (a dip).
    """

    fwhm_mm: float
    left_mm: float
    right_mm: float
    peak_mm: float
    peak: float
    baseline: float
    half_level: float
    polarity: int


def fwhm(
    distances_mm: ArrayLike,
    values: ArrayLike,
    *,
    baseline: float | None = None,
    polarity: str = "auto",
    edge_fraction: float = DEFAULT_EDGE_FRACTION,
) -> FWHMResult:
    """The full width at half maximum of the profile's extreme, above its baseline.

    The baseline is the mean of the outer ``edge_fraction`` of the samples at both ends
    (the background the line starts and ends in) unless given. The extreme is the sample
    farthest above the baseline (``polarity="peak"``), below it (``"dip"``, a dark
    structure), or whichever is farther (``"auto"``). The half level is
    baseline + (extreme - baseline) / 2; from the extreme, the profile is followed
    outwards on each side to the first sample at or beyond the half level, and the
    crossing is placed by linear interpolation between that sample and the one before it,
    as NEMA NU 2 (Performance measurements of positron emission tomographs, section 3,
    spatial resolution) prescribes for the FWHM of a line spread function. Raises
    ValueError when the profile does not return to the half level on both sides (the
    line is too short, or crosses an edge rather than a structure).
    """
    x, v = _profile(distances_mm, values)
    k = _outer_count(v.size, edge_fraction)
    base = float(np.mean(np.concatenate([v[:k], v[-k:]]))) if baseline is None else float(baseline)
    if polarity == "auto":
        sign = 1 if v.max() - base >= base - v.min() else -1
    elif polarity in ("peak", "dip"):
        sign = 1 if polarity == "peak" else -1
    else:
        raise ValueError(f"polarity must be 'auto', 'peak' or 'dip'; got {polarity!r}.")
    s = sign * (v - base)
    top = int(np.argmax(s))
    height = float(s[top])
    if not height > 0:
        raise ValueError("The profile has no peak above its baseline.")
    half = height / 2
    left = next((j for j in range(top - 1, -1, -1) if s[j] <= half), None)
    right = next((j for j in range(top + 1, s.size) if s[j] <= half), None)
    if left is None or right is None:
        side = "start" if left is None else "end"
        raise ValueError(
            f"The profile does not fall to half its maximum before its {side}: draw the line "
            "across the whole structure, into the background on both sides."
        )
    left_mm = _cross(x, s, left, left + 1, half)
    right_mm = _cross(x, s, right - 1, right, half)
    return FWHMResult(
        fwhm_mm=right_mm - left_mm,
        left_mm=left_mm,
        right_mm=right_mm,
        peak_mm=float(x[top]),
        peak=float(v[top]),
        baseline=base,
        half_level=base + sign * half,
        polarity=sign,
    )


# ----------------------------------------------------------------------------- edge rise


@dataclass(frozen=True)
class EdgeRise:
    """One edge of a profile: where it crosses 10 % and 90 % of the way from its low to its high level.

    ``distance_mm`` is the edge rise distance (between the two crossings), ``slope`` the
    edge rise slope, ``(high_fraction - low_fraction) * |high - low| / distance_mm``, in
    intensity units per mm. ``start_mm`` and ``end_mm`` are the crossings' positions on
    the profile (``start_mm`` on the low side).
    """

    distance_mm: float
    slope: float
    low: float
    high: float
    start_mm: float
    end_mm: float


@dataclass(frozen=True)
class EdgeRiseResult:
    """The edge rise distance and slope of a profile, averaged over its edges.

    ``kind`` is ``"edge"`` (one edge: the profile goes from one level to another) or
    ``"structure"`` (the profile crosses a structure: two edges, up then down or down
    then up); ``edges`` holds each edge's result, in profile order.
    """

    distance_mm: float
    slope: float
    kind: str
    edges: tuple[EdgeRise, ...]


def _one_edge(
    x: np.ndarray, v: np.ndarray, low: float, high: float, low_fraction: float, high_fraction: float
) -> EdgeRise:
    """The edge of a profile segment that goes from ``low`` (at its start) to ``high`` (at its end).

    The edge is anchored where the segment first reaches half-way (walking from its
    start); the low crossing is the last one before the anchor, the high crossing the
    first one after it, each interpolated linearly between samples.
    """
    if abs(high - low) <= 1e-12 * max(1.0, abs(high), abs(low)):
        raise ValueError("The profile has no edge: its two levels are the same.")
    u = (v - low) / (high - low)  # 0 at the low level, 1 at the high level
    anchor = next((j for j in range(u.size - 1) if u[j] < 0.5 <= u[j + 1]), None)
    if anchor is None:
        raise ValueError("The profile does not cross half-way between its levels: there is no edge on it.")
    below = next((j for j in range(anchor, -1, -1) if u[j] <= low_fraction), None)
    above = next((j for j in range(anchor + 1, u.size) if u[j] >= high_fraction), None)
    if below is None or above is None:
        which = f"{low_fraction:.0%}" if below is None else f"{high_fraction:.0%}"
        raise ValueError(
            f"The edge does not reach {which} of its height on the profile: draw the line "
            "further into the tissue on both sides of the edge."
        )
    start = _cross(x, u, below, below + 1, low_fraction)
    end = _cross(x, u, above - 1, above, high_fraction)
    distance = abs(end - start)
    if distance <= 0:
        raise ValueError("The edge rises within one sample: sample the profile more finely.")
    return EdgeRise(
        distance_mm=distance,
        slope=(high_fraction - low_fraction) * abs(high - low) / distance,
        low=low,
        high=high,
        start_mm=start,
        end_mm=end,
    )


def edge_rise(
    distances_mm: ArrayLike,
    values: ArrayLike,
    *,
    kind: str = "auto",
    low_fraction: float = 0.1,
    high_fraction: float = 0.9,
    edge_fraction: float = DEFAULT_EDGE_FRACTION,
) -> EdgeRiseResult:
    """Edge rise distance (10-90 %) and edge rise slope of a profile, averaged over its edges.

    The edge rise distance is the distance over which the edge response rises from 10 %
    to 90 % of the step between its two levels (S. W. Smith, *The Scientist and
    Engineer's Guide to Digital Signal Processing*, 1997, ch. 25, "Spatial Resolution":
    the 10 %-90 % distance of the edge response); the edge rise slope is the intensity
    difference between those two points divided by that distance,
    ``0.8 * |high - low| / distance`` (intensity per mm; steeper is sharper). Edge
    sharpness of MR images measured on line profiles drawn normal to an edge: Ahmad et
    al., "Edge sharpness assessment by parametric modeling: application to magnetic
    resonance imaging", Concepts Magn Reson A 44(3):138-149, 2015.

    Levels: the outer level at each end is the mean of the outer ``edge_fraction`` of the
    samples there. ``kind="edge"``: one edge from the start's level to the end's level.
    ``kind="structure"``: the line crosses a bright or dark structure; its extreme sample
    (farthest from the mean of the two outer levels) is the structure's level, and the
    rising edge before it and the falling edge after it are measured separately (each
    from its own outer level) and averaged, as for an ImageJ line profile drawn through a
    structure into the background on both sides. ``"auto"`` takes ``"structure"`` when
    the extreme lies inside the profile and differs from both outer levels by more than
    half their difference, ``"edge"`` otherwise.
    """
    if not 0 <= low_fraction < 0.5 < high_fraction <= 1:
        raise ValueError("low_fraction must be in [0, 0.5) and high_fraction in (0.5, 1].")
    x, v = _profile(distances_mm, values)
    k = _outer_count(v.size, edge_fraction)
    a, b = float(np.mean(v[:k])), float(np.mean(v[-k:]))
    middle = (a + b) / 2
    top = int(np.argmax(v)) if v.max() - middle >= middle - v.min() else int(np.argmin(v))
    p = float(v[top])
    if kind == "auto":
        inside = k <= top < v.size - k
        kind = "structure" if inside and min(abs(p - a), abs(p - b)) > 0.5 * abs(a - b) else "edge"
    if kind == "edge":
        edges: tuple[EdgeRise, ...] = (_one_edge(x, v, a, b, low_fraction, high_fraction),)
    elif kind == "structure":
        if not 0 < top < v.size - 1:
            raise ValueError("The structure's extreme is at an end of the profile: draw the line across it.")
        rising = _one_edge(x[: top + 1], v[: top + 1], a, p, low_fraction, high_fraction)
        # The falling edge, walked from the end of the profile towards the extreme.
        back = _one_edge(-x[top:][::-1], v[top:][::-1], b, p, low_fraction, high_fraction)
        falling = EdgeRise(
            distance_mm=back.distance_mm,
            slope=back.slope,
            low=back.low,
            high=back.high,
            start_mm=-back.start_mm,
            end_mm=-back.end_mm,
        )
        edges = (rising, falling)
    else:
        raise ValueError(f"kind must be 'auto', 'edge' or 'structure'; got {kind!r}.")
    return EdgeRiseResult(
        distance_mm=float(np.mean([e.distance_mm for e in edges])),
        slope=float(np.mean([e.slope for e in edges])),
        kind=kind,
        edges=edges,
    )


# ----------------------------------------------------------------------------- circular regions


@dataclass(frozen=True)
class CircleStats:
    """Mean and sample standard deviation (n - 1 in the denominator) of the pixels in a circle."""

    mean: float
    sd: float
    n: int
    area_mm2: float


def circle_mask(
    shape: tuple[int, int], centre: ArrayLike, radius_mm: float, spacing_mm: float | ArrayLike
) -> np.ndarray:
    """Pixels (True) whose centres lie inside the circle of ``radius_mm`` around ``centre`` (x, y).

    The circle is round in mm: with non-square pixels it is an ellipse in pixels. Parts
    of the circle beyond the image are left out.
    """
    row_mm, col_mm = _spacing(spacing_mm)
    cx, cy = (float(v) for v in np.asarray(centre, dtype=float).ravel()[:2])
    rows, columns = shape
    yy, xx = np.mgrid[0:rows, 0:columns]
    return ((xx - cx) * col_mm) ** 2 + ((yy - cy) * row_mm) ** 2 <= float(radius_mm) ** 2


def circle_stats(
    image: ArrayLike, centre: ArrayLike, radius_mm: float, spacing_mm: float | ArrayLike
) -> CircleStats:
    """Mean, SD and number of the pixels of ``image`` whose centres lie within the circle.

    ``centre`` is (x, y) in pixels and must lie on the image; ``radius_mm`` is in mm (see
    :func:`circle_mask`: parts beyond the image are left out, and ``n`` says how many
    pixels were used). The SD is the sample standard deviation (divisor n - 1), as
    ImageJ's Measure reports it. Raises ValueError for fewer than two pixels.
    """
    array = _image(image)
    centre_xy = _point(centre, array, "centre of the circle")
    radius = float(radius_mm)
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"The radius must be a positive number of mm; got {radius_mm!r}.")
    mask = circle_mask(array.shape, centre_xy, radius, spacing_mm)
    values = array[mask]
    if values.size < 2:
        raise ValueError(
            f"The circle holds {values.size} pixel{'s' if values.size != 1 else ''}: "
            "make it larger (at least two pixels)."
        )
    row_mm, col_mm = _spacing(spacing_mm)
    return CircleStats(
        mean=float(values.mean()),
        # Equal values have an SD of exactly 0 (the summation's rounding would leave ~1e-14).
        sd=0.0 if values.max() == values.min() else float(values.std(ddof=1)),
        n=int(values.size),
        area_mm2=float(values.size * row_mm * col_mm),
    )


def snr(mean: float, sd: float) -> float:
    """Signal-to-noise ratio of one region: its mean divided by its standard deviation.

    The single-image ROI method (Dietrich et al., "Measurement of signal-to-noise ratios
    in MR images: influence of multichannel coils, parallel imaging, and reconstruction
    filters", J Magn Reson Imaging 26(2):375-385, 2007): both from one region of
    homogeneous tissue, so the SD holds the noise (and any texture of the tissue).
    Raises ValueError when the SD is not positive.
    """
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError("The region's SD is zero: the SNR is not defined (a constant or empty region).")
    return float(mean) / float(sd)


def cnr(roi_a: CircleStats, roi_b: CircleStats, noise_sd: float | None = None) -> float:
    """Contrast-to-noise ratio of two regions: |mean_a - mean_b| / noise SD.

    Convention: the noise SD is the standard deviation of region B, the background (or
    reference tissue) the structure in region A is seen against, unless ``noise_sd``
    is given: CNR = |mean_A - mean_B| / SD_B (Bushberg, Seibert, Leidholdt and Boone,
    *The Essential Physics of Medical Imaging*, 3rd ed., 2012, ch. 4, "Image Quality":
    the contrast between object and background divided by the background's noise).
    Raises ValueError when the noise SD is not positive.
    """
    sd = roi_b.sd if noise_sd is None else float(noise_sd)
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError("The noise SD is zero: the CNR is not defined.")
    return abs(float(roi_a.mean) - float(roi_b.mean)) / sd
