"""Reader-averaged empirical ROC, AFROC and wAFROC curves with pointwise bootstrap bands,
and the partial area under an empirical curve.

Empirical operating points (Chakraborty, *Observer Performance Methods for Diagnostic
Imaging*, CRC Press 2017, ch. 3 and 13; RJafroc 2.1.3 ``PlotEmpOpChrs``): at every distinct
finite rating ``t`` of one reader and modality, ``FPF`` is the fraction of normal cases whose
highest mark (or rating) is ``>= t``; the ROC ``TPF`` the fraction of abnormal cases whose
highest mark of any kind is ``>= t``; the AFROC ``LLF`` the fraction of lesions marked with a
rating ``>= t``; the wAFROC ``wLLF`` the lesion-weighted fraction averaged over abnormal cases.
Each curve starts at (0, 0) and is completed to (1, 1) by a straight line; the trapezoidal
area under it is the Wilcoxon (HrAuc), AFROC or wAFROC figure of merit of ``stats.fom``.

**Averaging** is *vertical*: at common ``FPF`` values the readers' curves (each the polygon
through its operating points) are averaged (Chen & Samuelson, "The average receiver operating
characteristic curve in multireader multicase imaging studies", Br J Radiol 87, 2014,
20140016: the vertically averaged curve, whose area is the readers' mean AUC). Two ways of
reading a polygon at an ``FPF`` are offered:

* ``method="vertical"`` (default): the polygon itself. Where a reader's curve rises
  vertically at an ``FPF`` the top of the rise is taken; the default grid holds each distinct
  ``FPF`` of any reader twice (bottom, then top of the rise), so that the averaged curve is
  exactly the mean of the readers' polygons and its trapezoidal area exactly their mean
  figure of merit.
* ``method="rjafroc"``: as RJafroc 2.1.3's ``AvgROCPoints``, ``AvgAFROCPoints`` and
  ``AvgwAFROCPoints`` (R/PlotSupport.R) compute it: R's ``approx(FPF, y, xout, ties = min)``,
  which collapses each vertical rise to its *bottom* before interpolating (so it cuts the
  corners of a stepped curve and its area is below the mean figure of merit), on the grids
  ``seq(0, 1, by)`` with ``by`` 0.01 (ROC), 0.001 (AFROC) and 0.1 (wAFROC): ``RJAFROC_STEPS``.

**Bands** are pointwise percentile intervals (Efron & Tibshirani, *An Introduction to the
Bootstrap*, 1993, ch. 13) from a stratified case bootstrap: normal and abnormal cases are
resampled with replacement, separately, ``n_boot`` times with ``numpy.random.default_rng(seed)``
(deterministic for a seed); one resample serves every reader and modality (readers held
fixed, so the band shows case sampling variability only; the reader-averaged curve of the
resampled cases is read on the same grid as the estimate).

**Partial AUC** (:func:`partial_auc`, :func:`partial_aucs`): the trapezoidal area under the
empirical curve between ``FPF = e1`` and ``e2`` (as pROC's ``auc(partial.auc = ...,
partial.auc.focus = "specificity")``, Robin et al., BMC Bioinformatics 12, 2011), optionally
McClish's standardized form ``(1 + (A - A_min) / (A_max - A_min)) / 2`` with ``A_min = (e2² -
e1²) / 2`` (the chance diagonal) and ``A_max = e2 - e1`` (McClish, Med Decis Making 9, 1989,
eq. 6), which is 0.5 for a chance curve and 1 for a perfect one; checked against pROC 1.18.0.
"""

from dataclasses import dataclass

import numpy as np

from .dataset import DatasetError, ReaderStudy

CURVE_KINDS = ("ROC", "AFROC", "wAFROC")
AVERAGING_METHODS = ("vertical", "rjafroc")
#: RJafroc 2.1.3's grid steps of its averaged curves (R/PlotSupport.R).
RJAFROC_STEPS = {"ROC": 0.01, "AFROC": 0.001, "wAFROC": 0.1}
Y_LABELS = {"ROC": "TPF", "AFROC": "LLF", "wAFROC": "wLLF"}


@dataclass(frozen=True, kw_only=True)
class AveragedCurve:
    """A reader-averaged empirical curve of one modality with its pointwise band.

    ``x`` is the FPF grid (a value may appear twice: the bottom and the top of a vertical
    rise), ``y`` the readers' mean, ``lower``/``upper`` the pointwise bootstrap interval,
    ``reader_y[j]`` reader j's curve on the grid and ``reader_points[j]`` its empirical
    operating points ``(fpf, y)``, (0, 0) and (1, 1) included. ``area`` is the trapezoidal
    area under ``(x, y)``.
    """

    kind: str
    modality: str
    reader_ids: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    reader_y: np.ndarray
    reader_points: tuple[tuple[np.ndarray, np.ndarray], ...]
    method: str
    confidence: float
    n_boot: int
    seed: int

    @property
    def area(self) -> float:
        return float(np.trapezoid(self.y, self.x))


@dataclass(frozen=True, kw_only=True)
class PartialAUC:
    """Partial areas ``values[I, J]`` over ``fpf_range`` of each modality and reader, with the
    modality means; ``standardized`` says whether McClish's form was taken."""

    kind: str
    fpf_range: tuple[float, float]
    standardized: bool
    modality_ids: tuple[str, ...]
    reader_ids: tuple[str, ...]
    values: np.ndarray

    @property
    def modality_means(self) -> np.ndarray:
        return self.values.mean(axis=1)


def _highest(ratings: np.ndarray) -> np.ndarray:
    return ratings.max(axis=-1)


class _Counts:
    """One reader and modality's ratings, ready to count operating points for case weights."""

    def __init__(self, data: ReaderStudy, kind: str, i: int, j: int) -> None:
        k1 = data.k1
        fp = _highest(data.nl[i, j, :k1])  # [K1]
        if kind == "ROC":
            tp = (
                data.ll[i, j, :, 0]
                if data.kind == "ROC"
                else np.maximum(_highest(data.nl[i, j, k1:]), _highest(data.ll[i, j]))
            )
            tp_ratings = tp[:, None]  # [K2, 1]
            tp_weights = np.ones((data.k2, 1))
        else:
            tp_ratings = np.where(data.lesion_mask, data.ll[i, j], -np.inf)  # [K2, maxLL]
            tp_weights = data.weights if kind == "wAFROC" else data.lesion_mask.astype(float)
        values = np.concatenate([fp[np.isfinite(fp)], tp_ratings[np.isfinite(tp_ratings)]])
        self.thresholds = np.unique(values)[::-1]  # descending
        self.fp_above = (fp[:, None] >= self.thresholds[None, :]).astype(float)  # [K1, T]
        # per abnormal case, the (weighted) number of its lesions rated >= each threshold
        self.tp_above = ((tp_ratings[:, :, None] >= self.thresholds) * tp_weights[:, :, None]).sum(axis=1)
        self.tp_size = tp_weights.sum(axis=1)  # [K2]: 1 (ROC), lesions (AFROC) or 1 (wAFROC)

    def points(self, normal: np.ndarray, abnormal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Operating points ``[B, T + 2]`` for case counts ``normal[B, K1]`` and ``abnormal[B, K2]``."""
        fpf = normal @ self.fp_above / normal.sum(axis=1, keepdims=True)
        yf = abnormal @ self.tp_above / (abnormal @ self.tp_size)[:, None]
        zeros, ones = np.zeros((len(fpf), 1)), np.ones((len(fpf), 1))
        return np.hstack([zeros, fpf, ones]), np.hstack([zeros, yf, ones])


def _check_kind(data: ReaderStudy, kind: str) -> None:
    if kind not in CURVE_KINDS:
        raise DatasetError(f"Unknown curve '{kind}'. Known: {', '.join(CURVE_KINDS)}.")
    if data.kind == "ROI":
        raise DatasetError("ROI data has no operating characteristic.")
    if kind != "ROC" and data.kind != "FROC":
        raise DatasetError(f"The {kind} curve needs FROC data; this dataset is {data.kind}.")
    if data.k1 < 1 or data.k2 < 1:
        raise DatasetError("A curve needs at least one normal and one abnormal case.")


def reader_points(data: ReaderStudy, kind: str, modality: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each reader's empirical operating points ``(fpf, y)`` of one modality, (0, 0) to (1, 1)."""
    _check_kind(data, kind)
    normal, abnormal = np.ones((1, data.k1)), np.ones((1, data.k2))
    out = []
    for j in range(len(data.reader_ids)):
        x, y = _Counts(data, kind, modality, j).points(normal, abnormal)
        out.append((x[0], y[0]))
    return out


def polygon_at(
    x: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    *,
    bottom: np.ndarray | None = None,
    method: str = "vertical",
) -> np.ndarray:
    """The curve through points ``(x, y)`` (both non-decreasing, x from 0 to 1) read at ``grid``.

    ``method="vertical"``: the polygon; at an ``x`` where it rises vertically, its top, or its
    bottom where ``bottom`` is True. ``method="rjafroc"``: R's ``approx(x, y, grid, ties =
    min)`` (each vertical rise collapsed to its bottom, then linear interpolation).
    """
    grid = np.asarray(grid, dtype=float)
    if method == "rjafroc":
        first = np.searchsorted(x, grid, side="left")  # first point with x >= g
        at = x[np.minimum(first, len(x) - 1)] == grid
        left = np.searchsorted(x, x[np.maximum(first - 1, 0)], side="left")  # bottom of the left x
        right = np.minimum(first, len(x) - 1)
        x0, y0, x1, y1 = x[left], y[left], x[right], y[right]
        with np.errstate(invalid="ignore", divide="ignore"):
            inner = y0 + (y1 - y0) * ((grid - x0) / (x1 - x0))
        return np.where(at, y[right], inner)
    if method != "vertical":
        raise DatasetError(f"Unknown averaging method '{method}'. Known: {', '.join(AVERAGING_METHODS)}.")
    low = np.zeros(grid.shape, dtype=bool) if bottom is None else np.asarray(bottom, dtype=bool)
    last = np.searchsorted(x, grid, side="right") - 1  # last point with x <= g (the top at g)
    first = np.searchsorted(x, grid, side="left")  # first point with x >= g (the bottom at g)
    n = len(x)
    last_c, first_c = np.clip(last, 0, n - 1), np.clip(first, 0, n - 1)
    value = np.where(low, y[first_c], y[last_c])
    exact = np.where(low, x[first_c] == grid, x[last_c] == grid)
    a, b = np.clip(last, 0, n - 1), np.clip(last + 1, 0, n - 1)  # x[a] < g < x[b] when not exact
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = y[a] + (y[b] - y[a]) * ((grid - x[a]) / (x[b] - x[a]))
    return np.where(exact, value, inner)


def _default_grid(points: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct FPF of any reader twice (bottom, then top) and whether each is a bottom."""
    xs = np.unique(np.concatenate([x for x, _ in points]))
    return np.repeat(xs, 2), np.tile([True, False], len(xs))


def _resamples(data: ReaderStudy, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified case bootstrap: counts of each normal ``[B, K1]`` and abnormal ``[B, K2]`` case."""
    rng = np.random.default_rng(seed)
    normal = np.stack(
        [np.bincount(rng.integers(0, data.k1, data.k1), minlength=data.k1) for _ in range(n_boot)]
    )
    abnormal = np.stack(
        [np.bincount(rng.integers(0, data.k2, data.k2), minlength=data.k2) for _ in range(n_boot)]
    )
    return normal.astype(float).reshape(n_boot, data.k1), abnormal.astype(float).reshape(n_boot, data.k2)


def averaged_curves(
    data: ReaderStudy,
    kind: str = "ROC",
    *,
    grid: np.ndarray | None = None,
    method: str = "vertical",
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[AveragedCurve, ...]:
    """The reader-averaged ``kind`` curve of every modality with its pointwise bootstrap band.

    ``grid``: the FPF values to average at; by default every distinct FPF of the modality's
    readers, twice (``method="vertical"``), or RJafroc's grid ``seq(0, 1, RJAFROC_STEPS[kind])``
    (``method="rjafroc"``). ``n_boot=0`` gives no band (``lower`` and ``upper`` equal ``y``).
    See the module docstring for the method and its sources.
    """
    _check_kind(data, kind)
    if method not in AVERAGING_METHODS:
        raise DatasetError(f"Unknown averaging method '{method}'. Known: {', '.join(AVERAGING_METHODS)}.")
    if not 0 < confidence < 1:
        raise DatasetError(f"The confidence level must lie between 0 and 1, got {confidence}.")
    if n_boot < 0:
        raise DatasetError(f"The number of bootstrap resamples cannot be negative, got {n_boot}.")
    normal_b, abnormal_b = _resamples(data, n_boot, seed) if n_boot else (None, None)
    ones_n, ones_a = np.ones((1, data.k1)), np.ones((1, data.k2))
    out = []
    for i, modality in enumerate(data.modality_ids):
        counts = [_Counts(data, kind, i, j) for j in range(len(data.reader_ids))]
        points = [tuple(p[0] for p in c.points(ones_n, ones_a)) for c in counts]
        if grid is not None:
            x, bottom = np.asarray(grid, dtype=float), np.zeros(len(grid), dtype=bool)
        elif method == "rjafroc":
            step = RJAFROC_STEPS[kind]
            x = np.arange(round(1 / step) + 1) * step  # R's seq(0, 1, step): from + (0:n) * by
            bottom = np.zeros(len(x), dtype=bool)
        else:
            x, bottom = _default_grid(points)
        if np.any(x < 0) or np.any(x > 1) or np.any(np.diff(x) < 0):
            raise DatasetError("The FPF grid must be non-decreasing values between 0 and 1.")
        reader_y = np.array([polygon_at(px, py, x, bottom=bottom, method=method) for px, py in points])
        y = reader_y.mean(axis=0)
        lower = upper = y
        if n_boot:
            boot = np.zeros((n_boot, len(x)))
            for c in counts:
                bx, by = c.points(normal_b, abnormal_b)  # type: ignore[arg-type]
                for b in range(n_boot):
                    boot[b] += polygon_at(bx[b], by[b], x, bottom=bottom, method=method)
            boot /= len(counts)
            tail = (1 - confidence) / 2
            lower, upper = np.quantile(boot, tail, axis=0), np.quantile(boot, 1 - tail, axis=0)
        out.append(
            AveragedCurve(
                kind=kind,
                modality=modality,
                reader_ids=data.reader_ids,
                x=x,
                y=y,
                lower=lower,
                upper=upper,
                reader_y=reader_y,
                reader_points=tuple((px, py) for px, py in points),
                method=method,
                confidence=confidence,
                n_boot=n_boot,
                seed=seed,
            )
        )
    return tuple(out)


def partial_auc(
    x: np.ndarray, y: np.ndarray, fpf_range: tuple[float, float], *, standardized: bool = False
) -> float:
    """The trapezoidal area under the polygon through ``(x, y)`` between ``FPF = e1`` and ``e2``.

    ``standardized``: McClish's form (module docstring), defined for ``e1 < e2``.
    """
    e1, e2 = (float(v) for v in fpf_range)
    if not 0 <= e1 < e2 <= 1:
        raise DatasetError(f"The FPF range must satisfy 0 <= e1 < e2 <= 1, got [{e1}, {e2}].")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    start = polygon_at(x, y, np.array([e1]))[0]  # the top of a rise at e1: the curve right of e1
    end = polygon_at(x, y, np.array([e2]), bottom=np.array([True]))[0]  # the bottom at e2
    inside = (x > e1) & (x < e2)
    area = float(np.trapezoid(np.r_[start, y[inside], end], np.r_[e1, x[inside], e2]))
    if not standardized:
        return area
    low, high = (e2**2 - e1**2) / 2, e2 - e1
    return (1 + (area - low) / (high - low)) / 2


def partial_aucs(
    data: ReaderStudy, fpf_range: tuple[float, float], *, kind: str = "ROC", standardized: bool = False
) -> PartialAUC:
    """The partial area of the empirical ``kind`` curve of every modality and reader."""
    values = np.array(
        [
            [partial_auc(x, y, fpf_range, standardized=standardized) for x, y in reader_points(data, kind, i)]
            for i in range(len(data.modality_ids))
        ]
    )
    return PartialAUC(
        kind=kind,
        fpf_range=(float(fpf_range[0]), float(fpf_range[1])),
        standardized=standardized,
        modality_ids=data.modality_ids,
        reader_ids=data.reader_ids,
        values=values,
    )
