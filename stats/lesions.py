"""Lesion-level summaries of detection studies: sensitivity by lesion size, false positives per case.

Super-resolution reader studies report lesion detection stratified by size (small
lesions are where resolution matters) and the false-positive burden per case; see
e.g. the FROC summaries of Chakraborty, *Observer Performance Methods for Diagnostic
Imaging* (CRC Press, 2017), on the FROC paradigm (lesion localisation fraction, NLs per case).

* Per-stratum sensitivity = detected / lesions, with Wilson's score interval (Wilson,
  JASA 22, 1927) and the Clopper-Pearson interval (Biometrika 26, 1934), via
  ``stats.diagnostic.proportion``.
* False positives per case: mean and SD of the per-case counts, and the paired t-test
  of two conditions read on the same cases (``stats.classical.paired_t``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import ArrayLike

from .classical import TTestResult, paired_t
from .diagnostic import proportion


@dataclass(frozen=True, kw_only=True)
class SizeStratum:
    """Detection of the lesions with ``lower <= size < upper`` (mm).

    An empty stratum has ``n_lesions = 0`` and NaN ``sensitivity`` and intervals.
    """

    label: str
    lower: float
    upper: float
    n_lesions: int
    n_detected: int
    sensitivity: float
    ci: tuple[float, float]  # Wilson
    ci_exact: tuple[float, float]  # Clopper-Pearson


@dataclass(frozen=True, kw_only=True)
class SizeStratifiedSensitivity:
    """Sensitivity per size stratum (in ``edges`` order) and over all lesions."""

    strata: tuple[SizeStratum, ...]
    overall: SizeStratum
    edges: tuple[float, ...]
    confidence: float


def _label(lower: float, upper: float) -> str:
    if lower == 0:
        return f"<{upper:g} mm"
    if np.isinf(upper):
        return f">={lower:g} mm"
    return f"{lower:g}-{upper:g} mm"


def _stratum(label: str, lower: float, upper: float, hits: np.ndarray, confidence: float) -> SizeStratum:
    p = proportion(int(hits.sum()), int(hits.size), confidence=confidence)
    return SizeStratum(
        label=label,
        lower=lower,
        upper=upper,
        n_lesions=p.n,
        n_detected=p.successes,
        sensitivity=p.estimate,
        ci=p.ci_wilson,
        ci_exact=p.ci_exact,
    )


def sensitivity_by_size(
    detected: ArrayLike,
    size_mm: ArrayLike,
    strata: Sequence[float] = (5, 10),
    *,
    confidence: float = 0.95,
) -> SizeStratifiedSensitivity:
    """Lesion sensitivity stratified by lesion size, with Wilson (and Clopper-Pearson) intervals.

    ``detected[l]`` says whether lesion l was found (localised) and ``size_mm[l]`` is
    its size. The edges ``strata`` (strictly increasing, > 0) cut the sizes into
    ``[0, e1), [e1, e2), ..., [e_last, inf)``; the default (5, 10) gives the strata
    <5 mm, 5-10 mm and >=10 mm (a 5 mm lesion is in 5-10, a 10 mm one in >=10).
    Sensitivity is the binomial proportion detected / lesions of the stratum with
    Wilson's interval (``ci``) and the Clopper-Pearson one (``ci_exact``), as in
    ``stats.diagnostic.proportion``. Lesions of one case are counted as independent
    (clustering is ignored, as in the published per-lesion summaries). An empty
    stratum is reported with NaN sensitivity and intervals, not dropped.
    """
    hit = np.asarray(detected)
    size = np.asarray(size_mm, dtype=float)
    if hit.ndim != 1 or size.shape != hit.shape:
        raise ValueError("detected and size_mm must be one-dimensional and of equal length.")
    if hit.dtype != bool:
        if not np.all(np.isin(hit, (0, 1))):
            raise ValueError("detected must be boolean (or 0/1).")
        hit = hit.astype(bool)
    if not np.all(np.isfinite(size)) or np.any(size < 0):
        raise ValueError("Lesion sizes must be finite and non-negative (mm).")
    edges = tuple(float(e) for e in strata)
    if not edges or edges[0] <= 0 or np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
        raise ValueError(f"strata must be finite, positive and strictly increasing, got {tuple(strata)}.")
    bounds = (0.0, *edges, np.inf)
    result = []
    for lower, upper in pairwise(bounds):
        inside = (size >= lower) & (size < upper)
        result.append(_stratum(_label(lower, upper), lower, upper, hit[inside], confidence))
    overall = _stratum("all", 0.0, np.inf, hit, confidence)
    return SizeStratifiedSensitivity(
        strata=tuple(result), overall=overall, edges=edges, confidence=confidence
    )


@dataclass(frozen=True, kw_only=True)
class FalsePositiveSummary:
    """False positives per case of one condition: total, mean and SD (n - 1) over cases."""

    n_cases: int
    total: int
    mean: float
    sd: float


@dataclass(frozen=True, kw_only=True)
class FalsePositivesPerCase:
    """False positives per case of one condition, or of two with their paired comparison.

    ``comparison`` is the paired t-test of ``first - second`` over cases (None for one
    condition).
    """

    first: FalsePositiveSummary
    second: FalsePositiveSummary | None
    comparison: TTestResult | None


def _fp_counts(counts: ArrayLike, name: str) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"{name} must be a non-empty one-dimensional array of per-case counts.")
    if not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(c != np.round(c)):
        raise ValueError(f"{name} must hold non-negative integer counts.")
    return c


def _summary(c: np.ndarray) -> FalsePositiveSummary:
    sd = float(c.std(ddof=1)) if c.size > 1 else np.nan
    return FalsePositiveSummary(n_cases=int(c.size), total=int(c.sum()), mean=float(c.mean()), sd=sd)


def false_positives_per_case(
    fp_counts: ArrayLike,
    other_fp_counts: ArrayLike | None = None,
    *,
    confidence: float = 0.95,
) -> FalsePositivesPerCase:
    """Mean and SD of false positives per case, and the paired t-test between two conditions.

    ``fp_counts[c]`` is the number of false-positive marks on case c (the FROC
    "non-lesion localisations per case", Chakraborty 2017). The SD uses n - 1
    (NaN for one case). With ``other_fp_counts`` (the same cases read in a second
    condition) the difference ``first - second`` is tested by the paired t-test
    (Student 1908; ``stats.classical.paired_t``), whose ``estimate`` and ``ci`` are the
    mean difference in false positives per case and its t interval. If every case has
    the same difference the t statistic is undefined (NaN, see ``paired_t``).
    """
    first = _fp_counts(fp_counts, "fp_counts")
    if other_fp_counts is None:
        return FalsePositivesPerCase(first=_summary(first), second=None, comparison=None)
    second = _fp_counts(other_fp_counts, "other_fp_counts")
    if second.size != first.size:
        raise ValueError(f"Paired conditions need the same cases ({first.size} vs {second.size} counts).")
    comparison = paired_t(first, second, confidence=confidence)
    return FalsePositivesPerCase(first=_summary(first), second=_summary(second), comparison=comparison)
