"""Diagnostic accuracy: sensitivity, specificity and friends, and ROC AUC with DeLong's variance.

* Proportions with two 95% intervals, both from ``scipy.stats.binomtest(...).proportion_ci``:
  Wilson's score interval (Wilson, JASA 22, 1927) and the Clopper-Pearson "exact"
  interval (Clopper & Pearson, Biometrika 26, 1934); see Newcombe, Stat Med 17, 1998
  for their properties.
* Empirical ROC AUC (the Mann-Whitney statistic, ties 1/2; Bamber, J Math Psychol 12,
  1975; Hanley & McNeil, Radiology 143, 1982) with the nonparametric variance and
  covariance of DeLong, DeLong & Clarke-Pearson (Biometrics 44:837-845, 1988),
  computed with the midrank algorithm of Sun & Xu (IEEE Signal Process Lett
  21:1389-1393, 2014); and DeLong's z-test of two AUCs measured on the same cases.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

# --------------------------------------------------------------------------- proportions


@dataclass(frozen=True, kw_only=True)
class Proportion:
    """``successes / n`` with Wilson and Clopper-Pearson (exact) confidence intervals.

    When ``n`` is 0 the proportion is undefined: ``estimate`` and both intervals are NaN.
    """

    estimate: float
    successes: int
    n: int
    ci_wilson: tuple[float, float]
    ci_exact: tuple[float, float]
    confidence: float


def _count(value: int | float, name: str) -> int:
    if value < 0 or value != int(value):
        raise ValueError(f"{name} must be a non-negative integer count, got {value}.")
    return int(value)


def proportion(successes: int, n: int, *, confidence: float = 0.95) -> Proportion:
    """A binomial proportion with its Wilson and Clopper-Pearson intervals.

    Intervals are ``scipy.stats.binomtest(successes, n).proportion_ci``: ``"wilson"``,
    Wilson's (1927) score interval without continuity correction
    ``(p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, and ``"exact"``, the
    Clopper-Pearson (1934) interval from beta quantiles
    ``[B(a/2; x, n-x+1), B(1-a/2; x+1, n-x)]`` (0 and 1 at the ends). Newcombe (Stat Med
    17:857-872, 1998, methods 3 and 5) tabulates both.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    successes, n = _count(successes, "successes"), _count(n, "n")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n}).")
    if n == 0:
        nan2 = (np.nan, np.nan)
        return Proportion(
            estimate=np.nan, successes=0, n=0, ci_wilson=nan2, ci_exact=nan2, confidence=confidence
        )
    test = stats.binomtest(successes, n)
    wilson = test.proportion_ci(confidence_level=confidence, method="wilson")
    exact = test.proportion_ci(confidence_level=confidence, method="exact")
    return Proportion(
        estimate=successes / n,
        successes=successes,
        n=n,
        ci_wilson=(float(wilson.low), float(wilson.high)),
        ci_exact=(float(exact.low), float(exact.high)),
        confidence=confidence,
    )


@dataclass(frozen=True, kw_only=True)
class DiagnosticMeasures:
    """The 2x2 table of a binary test against the truth and the proportions derived from it.

    sensitivity = TP/(TP+FN), specificity = TN/(TN+FP), PPV = TP/(TP+FP),
    NPV = TN/(TN+FN), accuracy = (TP+TN)/N, prevalence = (TP+FN)/N (Altman & Bland,
    BMJ 308:1552 and 309:102, 1994). A measure whose denominator is 0 is NaN.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    sensitivity: Proportion
    specificity: Proportion
    ppv: Proportion
    npv: Proportion
    accuracy: Proportion
    prevalence: Proportion


def diagnostic_measures(
    tp: int, fp: int, fn: int, tn: int, *, confidence: float = 0.95
) -> DiagnosticMeasures:
    """Sensitivity, specificity, PPV, NPV, accuracy and prevalence from the four counts.

    Each is a binomial proportion with Wilson and Clopper-Pearson intervals (see
    ``proportion``). The PPV and NPV intervals are conditional on the number of
    positive / negative test results, i.e. they assume the study's prevalence
    (Mercaldo, Lau & Zhou, Stat Med 26, 2007, discuss alternatives).
    """
    tp, fp, fn, tn = (_count(v, name) for v, name in ((tp, "tp"), (fp, "fp"), (fn, "fn"), (tn, "tn")))
    n = tp + fp + fn + tn
    if n == 0:
        raise ValueError("The 2x2 table is empty.")
    return DiagnosticMeasures(
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        sensitivity=proportion(tp, tp + fn, confidence=confidence),
        specificity=proportion(tn, tn + fp, confidence=confidence),
        ppv=proportion(tp, tp + fp, confidence=confidence),
        npv=proportion(tn, tn + fn, confidence=confidence),
        accuracy=proportion(tp + tn, n, confidence=confidence),
        prevalence=proportion(tp + fn, n, confidence=confidence),
    )


def _boolean(x: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}.")
    if a.dtype != bool:
        if not np.all(np.isin(a, (0, 1))):
            raise ValueError(f"{name} must be boolean (or 0/1).")
        a = a.astype(bool)
    return a


def diagnostic_measures_from_arrays(
    truth: ArrayLike, test_positive: ArrayLike, *, confidence: float = 0.95
) -> DiagnosticMeasures:
    """``diagnostic_measures`` of per-case boolean arrays: ``truth`` (diseased) and ``test_positive``."""
    t, p = _boolean(truth, "truth"), _boolean(test_positive, "test_positive")
    if t.shape != p.shape:
        raise ValueError(f"truth and test_positive differ in length ({t.size} vs {p.size}).")
    return diagnostic_measures(
        int(np.sum(t & p)),
        int(np.sum(~t & p)),
        int(np.sum(t & ~p)),
        int(np.sum(~t & ~p)),
        confidence=confidence,
    )


# --------------------------------------------------------------------------- ROC AUC, DeLong


@dataclass(frozen=True, kw_only=True)
class AUCResult:
    """Empirical ROC AUC with its DeLong standard error and Wald confidence interval."""

    estimate: float
    stderr: float
    ci: tuple[float, float]
    n_positive: int
    n_negative: int
    confidence: float


@dataclass(frozen=True, kw_only=True)
class DeLongTestResult:
    """DeLong's test of two correlated AUCs (same cases): difference ``first - second``."""

    auc_first: AUCResult
    auc_second: AUCResult
    estimate: float
    stderr: float
    statistic: float  # z
    pvalue: float
    ci: tuple[float, float]
    correlation: float
    alternative: str


def _roc_inputs(truth: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = _boolean(truth, "truth")
    s = np.asarray(scores, dtype=float)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] != t.size:
        raise ValueError(f"scores must be [n_cases] or [n_modalities, n_cases] with n_cases = {t.size}.")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values.")
    m, n = int(t.sum()), int((~t).sum())
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong's variance needs at least two positive and two negative cases (got {m} and {n})."
        )
    return t, s


def delong_placements(truth: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong's structural components of one or more score vectors on the same cases.

    ``truth[c]`` says whether case c is positive (diseased); ``scores[r, c]`` (or a
    single vector) is the rating of case c by modality/reader r, higher meaning more
    likely positive. With m positives X_i and n negatives Y_j and
    ``psi(x, y) = 1 if x > y, 1/2 if x = y, 0 otherwise`` (DeLong et al. 1988):

    * ``V10(X_i) = (1/n) sum_j psi(X_i, Y_j)``, ``V01(Y_j) = (1/m) sum_i psi(X_i, Y_j)``;
    * AUC = mean of V10 = mean of V01.

    They come from midranks as in Sun & Xu (2014): with ``T_z`` the midrank of a case
    among all cases, ``T_x`` among the positives and ``T_y`` among the negatives,
    ``V10_i = (T_z,i - T_x,i) / n`` and ``V01_j = 1 - (T_z,j - T_y,j) / m``
    (``scipy.stats.rankdata``, O(N log N)).

    Returns ``(auc[r], v10[r, m], v01[r, n])``.
    """
    t, s = _roc_inputs(truth, scores)
    return _placements(t, s)


def _placements(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``delong_placements`` of inputs ``_roc_inputs`` has checked."""
    m, n = int(t.sum()), t.size - int(t.sum())
    tz = midranks(s)
    tx = midranks(s[:, t])
    ty = midranks(s[:, ~t])
    v10 = (tz[:, t] - tx) / n
    v01 = 1.0 - (tz[:, ~t] - ty) / m
    return v10.mean(axis=1), v10, v01


def midranks(x: np.ndarray) -> np.ndarray:
    """Ranks (1-based) of each row of the 2-D float array ``x``, ties given their mean rank.

    The same numbers as ``scipy.stats.rankdata(x, axis=1)`` ("average" method), computed with
    one sort for all rows: a run of equal values at sorted positions p..p+c-1 gets the rank
    ``p + (c + 1) / 2``.
    """
    rows, width = x.shape
    flat_order = (np.argsort(x, axis=1, kind="stable") + np.arange(rows)[:, None] * width).ravel()
    ordered = x.ravel()[flat_order].reshape(rows, width)
    starts = np.empty((rows, width), dtype=bool)
    starts[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    flat = starts.ravel()
    group = np.cumsum(flat) - 1  # every row starts a new run, so runs never span rows
    first = np.flatnonzero(flat) % width
    mean_rank = first + (np.bincount(group) + 1) / 2
    ranks = np.empty(rows * width)
    ranks[flat_order] = mean_rank[group]
    return ranks.reshape(rows, width)


def delong_covariance(truth: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix ``S = S10/m + S01/n`` (DeLong et al. 1988).

    ``S10[r, s]`` and ``S01[r, s]`` are the sample covariances (divisor m - 1, n - 1) of
    the structural components V10 over positives and V01 over negatives (see
    ``delong_placements``). Returns ``(auc[R], cov[R, R])``.
    """
    t, s = _roc_inputs(truth, scores)
    return _covariance(t, s)


def _covariance(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``delong_covariance`` of inputs ``_roc_inputs`` has checked."""
    auc, v10, v01 = _placements(t, s)
    m, n = v10.shape[1], v01.shape[1]
    d10 = v10 - v10.mean(axis=1, keepdims=True)
    d01 = v01 - v01.mean(axis=1, keepdims=True)
    s10 = d10 @ d10.T / (m - 1)
    s01 = d01 @ d01.T / (n - 1)
    return auc, s10 / m + s01 / n


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    return float(special.ndtri(0.5 + confidence / 2))  # the normal quantile, without scipy.stats' overhead


def _auc_result(auc: float, var: float, m: int, n: int, confidence: float) -> AUCResult:
    se = float(np.sqrt(max(var, 0.0)))
    half = _z(confidence) * se
    ci = (float(max(auc - half, 0.0)), float(min(auc + half, 1.0)))
    return AUCResult(estimate=float(auc), stderr=se, ci=ci, n_positive=m, n_negative=n, confidence=confidence)


def roc_auc(truth: ArrayLike, scores: ArrayLike, *, confidence: float = 0.95) -> AUCResult:
    """Empirical (trapezoidal) ROC AUC with DeLong's standard error and a Wald CI.

    The AUC is the Mann-Whitney probability P(score of a positive > score of a
    negative) + 1/2 P(tie) (Bamber 1975; Hanley & McNeil 1982). Its variance is
    DeLong et al.'s (1988) ``S10/m + S01/n`` (``delong_covariance``); the interval is
    ``AUC -/+ z_{1-a/2} SE``, clipped to [0, 1]. Positives are ``truth == True``;
    higher scores mean "more likely positive".
    """
    t, s = _roc_inputs(truth, scores)
    if s.shape[0] != 1:
        raise ValueError("roc_auc takes one score vector; use delong_covariance for several.")
    auc, cov = _covariance(t, s)
    return _auc_result(auc[0], cov[0, 0], int(t.sum()), int((~t).sum()), confidence)


def delong_test(
    truth: ArrayLike,
    first: ArrayLike,
    second: ArrayLike,
    *,
    confidence: float = 0.95,
    alternative: str = "two-sided",
) -> DeLongTestResult:
    """DeLong's test of two AUCs from two score vectors on the same cases (DeLong et al. 1988).

    With the 2x2 covariance S of the AUCs (``delong_covariance``) and ``L = (1, -1)``,
    ``z = (AUC1 - AUC2) / sqrt(L S L')``, referred to the standard normal; ``ci`` is the
    Wald interval of the difference ``-/+ z_{1-a/2} sqrt(L S L')`` and ``correlation``
    ``S12 / sqrt(S11 S22)``. If the difference has zero variance, ``statistic`` is 0 when
    the AUCs are equal (``pvalue`` 1) and +/-inf otherwise (``pvalue`` 0).
    """
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}.")
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError("first and second must be score vectors of equal length.")
    t, s = _roc_inputs(truth, np.vstack([a, b]))
    m, n = int(t.sum()), int((~t).sum())
    auc, cov = _covariance(t, s)
    diff = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    z = 0.0 if diff == 0 else float(np.copysign(np.inf, diff))  # zero variance
    if se > 0:
        z = diff / se
    if alternative == "two-sided":
        p = 2 * stats.norm.sf(abs(z))
    elif alternative == "greater":
        p = stats.norm.sf(z)
    else:
        p = stats.norm.cdf(z)
    half = _z(confidence) * se
    denom = np.sqrt(cov[0, 0] * cov[1, 1])
    correlation = float(cov[0, 1] / denom) if denom > 0 else np.nan
    return DeLongTestResult(
        auc_first=_auc_result(auc[0], cov[0, 0], m, n, confidence),
        auc_second=_auc_result(auc[1], cov[1, 1], m, n, confidence),
        estimate=diff,
        stderr=se,
        statistic=float(z),
        pvalue=float(min(p, 1.0)),
        ci=(diff - half, diff + half),
        correlation=correlation,
        alternative=alternative,
    )
