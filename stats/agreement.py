"""Agreement and reliability: kappas, intraclass correlations, concordance, coefficients of variation.

* Cohen's kappa (Cohen, Educ Psychol Meas 20, 1960) and weighted kappa (Cohen,
  Psychol Bull 70, 1968) with linear (Cicchetti & Allison, Am J EEG Technol 11, 1971)
  or quadratic (Fleiss & Cohen, Educ Psychol Meas 33, 1973) weights, and the
  large-sample variances of Fleiss, Cohen & Everitt (Psychol Bull 72:323-327, 1969).
* Fleiss' kappa for several raters per subject (Fleiss, Psychol Bull 76:378-382, 1971)
  with the null variance of Fleiss, Nee & Landis (Psychol Bull 86:974-977, 1979).
* Intraclass correlations ICC(1,1), ICC(2,1), ICC(3,1) and their average-measure forms
  (Shrout & Fleiss, Psychol Bull 86:420-428, 1979) with the F-based confidence
  intervals of McGraw & Wong (Psychol Methods 1:30-46, 1996, Table 7).
* Lin's concordance correlation coefficient with its z-transform interval (Lin,
  Biometrics 45:255-268, 1989; corrections in Biometrics 56:324-325, 2000).
* Coefficients of variation: the simple CV of a sample and the root-mean-square
  within-subject CV of repeated measurements (Glueer et al., Osteoporos Int 5:262-270,
  1995).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    return float(stats.norm.ppf(0.5 + confidence / 2))


# --------------------------------------------------------------------------- Cohen's kappa


@dataclass(frozen=True, kw_only=True)
class KappaResult:
    """Cohen's (weighted) kappa with its standard errors, CI and z-test of kappa = 0.

    ``stderr`` is the large-sample standard error for the CI (``ci = kappa -/+ z SE``);
    ``stderr_null`` the one under H0: kappa = 0, used for ``statistic`` (z) and
    ``pvalue`` (two-sided). ``observed_agreement`` and ``expected_agreement`` are the
    (weighted) p_o and p_e.
    """

    estimate: float
    stderr: float
    ci: tuple[float, float]
    stderr_null: float
    statistic: float
    pvalue: float
    n: int
    observed_agreement: float
    expected_agreement: float
    weights: str
    categories: tuple


def _agreement_weights(k: int, weights: str | None) -> np.ndarray:
    """Agreement weights w_ij (1 on the diagonal) for k ordered categories."""
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    if weights is None:
        return (i == j).astype(float)
    if k < 2:
        return np.ones((k, k))
    if weights == "linear":
        return 1.0 - np.abs(i - j) / (k - 1)
    if weights == "quadratic":
        return 1.0 - (i - j) ** 2 / (k - 1) ** 2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}.")


def cohen_kappa_from_table(
    table: ArrayLike,
    *,
    weights: str | None = None,
    confidence: float = 0.95,
    categories: Sequence | None = None,
) -> KappaResult:
    """Cohen's kappa of a k x k table of counts (rows: rater 1, columns: rater 2, same category order).

    With cell proportions p_ij, margins p_i. and p_.j and agreement weights w_ij
    (identity for unweighted kappa; ``"linear"``: ``1 - |i-j|/(k-1)``;
    ``"quadratic"``: ``1 - (i-j)^2/(k-1)^2``, categories equally spaced in table order):

    * ``p_o = sum w_ij p_ij``, ``p_e = sum w_ij p_i. p_.j``, ``kappa = (p_o - p_e)/(1 - p_e)``
      (Cohen 1960, 1968);
    * with ``wbar_i. = sum_j p_.j w_ij`` and ``wbar_.j = sum_i p_i. w_ij`` (Fleiss, Cohen &
      Everitt 1969)::

        Var(kappa) = [sum p_ij (w_ij - (wbar_i. + wbar_.j)(1 - kappa))^2
                      - (kappa - p_e (1 - kappa))^2] / (n (1 - p_e)^2)
        Var0(kappa) = [sum p_i. p_.j (w_ij - (wbar_i. + wbar_.j))^2 - p_e^2] / (n (1 - p_e)^2)

    These are the ASE and "ASE under H0" of SAS PROC FREQ. If ``p_e == 1`` (both raters
    used one and the same category throughout) kappa is undefined and everything but
    the agreements is NaN.
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        raise ValueError(f"A kappa table must be square, got shape {t.shape}.")
    if np.any(t < 0):
        raise ValueError("A kappa table holds non-negative counts.")
    n = float(t.sum())
    if n == 0:
        raise ValueError("The kappa table is empty.")
    k = t.shape[0]
    cats = tuple(categories) if categories is not None else tuple(range(k))
    if len(cats) != k:
        raise ValueError(f"Got {len(cats)} category names for a {k} x {k} table.")
    z = _z(confidence)
    w = _agreement_weights(k, weights)
    p = t / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po = float(np.sum(w * p))
    pe = float(np.sum(w * np.outer(rows, cols)))
    label = weights or "unweighted"
    if np.isclose(pe, 1.0):
        nan2 = (np.nan, np.nan)
        return KappaResult(
            estimate=np.nan,
            stderr=np.nan,
            ci=nan2,
            stderr_null=np.nan,
            statistic=np.nan,
            pvalue=np.nan,
            n=int(n),
            observed_agreement=po,
            expected_agreement=pe,
            weights=label,
            categories=cats,
        )
    kappa = (po - pe) / (1 - pe)
    wbar_row = w @ cols  # wbar_i.
    wbar_col = rows @ w  # wbar_.j
    both = wbar_row[:, None] + wbar_col[None, :]
    var = (np.sum(p * (w - both * (1 - kappa)) ** 2) - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    var0 = (np.sum(np.outer(rows, cols) * (w - both) ** 2) - pe**2) / (n * (1 - pe) ** 2)
    se, se0 = float(np.sqrt(max(var, 0.0))), float(np.sqrt(max(var0, 0.0)))
    statistic = kappa / se0 if se0 > 0 else np.nan
    pvalue = float(2 * stats.norm.sf(abs(statistic))) if se0 > 0 else np.nan
    return KappaResult(
        estimate=float(kappa),
        stderr=se,
        ci=(float(kappa - z * se), float(kappa + z * se)),
        stderr_null=se0,
        statistic=float(statistic),
        pvalue=pvalue,
        n=int(n),
        observed_agreement=po,
        expected_agreement=pe,
        weights=label,
        categories=cats,
    )


def _no_missing(labels: np.ndarray) -> None:
    if labels.dtype.kind == "f" and np.any(np.isnan(labels)):
        raise ValueError("Ratings contain NaN; kappa needs a rating from every rater for every subject.")


def cohen_kappa(
    first: ArrayLike,
    second: ArrayLike,
    *,
    weights: str | None = None,
    categories: Sequence | None = None,
    confidence: float = 0.95,
) -> KappaResult:
    """Cohen's kappa of two raters' category labels on the same subjects (see ``cohen_kappa_from_table``).

    ``categories`` lists the scale in order (e.g. ``range(1, 6)`` for a 5-point Likert
    scale). Give it for weighted kappa: by default the categories are the sorted
    labels that occur, so an unused level in the middle of the scale would change the
    weights' spacing.
    """
    a, b = np.asarray(first), np.asarray(second)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError("Cohen's kappa needs two non-empty label vectors of equal length.")
    _no_missing(a)
    _no_missing(b)
    cats = list(categories) if categories is not None else sorted(set(a.tolist()) | set(b.tolist()))
    index = {c: i for i, c in enumerate(cats)}
    if len(index) != len(cats):
        raise ValueError("categories contains duplicates.")
    try:
        ia = np.array([index[v] for v in a.tolist()])
        ib = np.array([index[v] for v in b.tolist()])
    except KeyError as missing:
        raise ValueError(f"Label {missing.args[0]!r} is not among the categories {cats}.") from None
    table = np.zeros((len(cats), len(cats)))
    np.add.at(table, (ia, ib), 1)
    return cohen_kappa_from_table(table, weights=weights, confidence=confidence, categories=cats)


# --------------------------------------------------------------------------- Fleiss' kappa


@dataclass(frozen=True, kw_only=True)
class FleissKappaResult:
    """Fleiss' kappa for m raters per subject, with the z-test of kappa = 0.

    ``observed_agreement`` is Fleiss's P-bar, ``expected_agreement`` P-bar_e;
    ``stderr_null`` the standard error under H0 (Fleiss, Nee & Landis 1979), valid for
    the test only, so no confidence interval is given.
    """

    estimate: float
    stderr_null: float
    statistic: float
    pvalue: float
    n_subjects: int
    n_raters: int
    observed_agreement: float
    expected_agreement: float
    category_proportions: np.ndarray
    categories: tuple


def fleiss_kappa_from_counts(counts: ArrayLike, *, categories: Sequence | None = None) -> FleissKappaResult:
    """Fleiss' kappa from ``counts[i, j]``, the number of raters who put subject i in category j.

    Every subject needs the same number m >= 2 of ratings. Fleiss (1971), with N
    subjects: ``p_j = sum_i n_ij / (N m)``, ``P_i = (sum_j n_ij^2 - m) / (m (m - 1))``,
    ``P-bar = mean P_i``, ``P-bar_e = sum p_j^2``, ``kappa = (P-bar - P-bar_e) / (1 - P-bar_e)``.
    Null variance (Fleiss, Nee & Landis 1979; Fleiss, Levin & Paik, *Statistical Methods
    for Rates and Proportions*, 3rd ed. 2003, ch. 18), with ``q_j = 1 - p_j``::

        Var0 = 2 / (N m (m - 1)) * [(sum p_j q_j)^2 - sum p_j q_j (q_j - p_j)] / (sum p_j q_j)^2

    If all ratings fall in one category (``P-bar_e = 1``) kappa is NaN.
    """
    c = np.asarray(counts, dtype=float)
    if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 1:
        raise ValueError(f"counts must be [subjects, categories], got shape {c.shape}.")
    if np.any(c < 0) or np.any(c != np.round(c)):
        raise ValueError("counts must be non-negative integers.")
    per_subject = c.sum(axis=1)
    m = per_subject[0]
    if np.any(per_subject != m):
        raise ValueError("Fleiss' kappa needs the same number of ratings for every subject.")
    if m < 2:
        raise ValueError("Fleiss' kappa needs at least two ratings per subject.")
    cats = tuple(categories) if categories is not None else tuple(range(c.shape[1]))
    if len(cats) != c.shape[1]:
        raise ValueError(f"Got {len(cats)} category names for {c.shape[1]} columns.")
    n_subjects = c.shape[0]
    p = c.sum(axis=0) / (n_subjects * m)
    p_i = (np.sum(c**2, axis=1) - m) / (m * (m - 1))
    p_bar, p_e = float(p_i.mean()), float(np.sum(p**2))
    if np.isclose(p_e, 1.0):
        return FleissKappaResult(
            estimate=np.nan,
            stderr_null=np.nan,
            statistic=np.nan,
            pvalue=np.nan,
            n_subjects=n_subjects,
            n_raters=int(m),
            observed_agreement=p_bar,
            expected_agreement=p_e,
            category_proportions=p,
            categories=cats,
        )
    kappa = (p_bar - p_e) / (1 - p_e)
    pq = p * (1 - p)
    spq = pq.sum()
    var0 = 2 / (n_subjects * m * (m - 1)) * (spq**2 - np.sum(pq * (1 - 2 * p))) / spq**2
    se0 = float(np.sqrt(var0))
    z = kappa / se0
    return FleissKappaResult(
        estimate=float(kappa),
        stderr_null=se0,
        statistic=float(z),
        pvalue=float(2 * stats.norm.sf(abs(z))),
        n_subjects=n_subjects,
        n_raters=int(m),
        observed_agreement=p_bar,
        expected_agreement=p_e,
        category_proportions=p,
        categories=cats,
    )


def fleiss_kappa(ratings: ArrayLike, *, categories: Sequence | None = None) -> FleissKappaResult:
    """Fleiss' kappa of ``ratings[subject, rater]`` (category labels); see ``fleiss_kappa_from_counts``.

    Raters need not be the same people for every subject (Fleiss 1971). Categories
    default to the sorted labels that occur.
    """
    r = np.asarray(ratings)
    if r.ndim != 2:
        raise ValueError(f"ratings must be [subjects, raters], got shape {r.shape}.")
    _no_missing(r)
    cats = list(categories) if categories is not None else sorted(set(r.ravel().tolist()))
    index = {c: i for i, c in enumerate(cats)}
    try:
        idx = np.array([[index[v] for v in row] for row in r.tolist()], dtype=int).reshape(r.shape)
    except KeyError as missing:
        raise ValueError(f"Label {missing.args[0]!r} is not among the categories {cats}.") from None
    counts = np.zeros((r.shape[0], len(cats)))
    for j in range(r.shape[1]):
        np.add.at(counts, (np.arange(r.shape[0]), idx[:, j]), 1)
    return fleiss_kappa_from_counts(counts, categories=cats)


# --------------------------------------------------------------------------- ICC

ICC_FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")


@dataclass(frozen=True, kw_only=True)
class ICCResult:
    """One Shrout & Fleiss intraclass correlation with its F test of ICC = 0 and F-based CI."""

    form: str  # one of ICC_FORMS
    estimate: float
    ci: tuple[float, float]
    statistic: float  # F
    df1: float
    df2: float
    pvalue: float
    n_subjects: int
    n_raters: int
    confidence: float


@dataclass(frozen=True, kw_only=True)
class MeanSquares:
    """The two-way ANOVA mean squares of an [n targets, k judges] table (Shrout & Fleiss, Table 1)."""

    bms: float  # between targets
    wms: float  # within targets (one-way residual)
    jms: float  # between judges
    ems: float  # two-way residual
    n: int
    k: int


def icc_mean_squares(ratings: ArrayLike) -> MeanSquares:
    """BMS, WMS, JMS and EMS of ``ratings[target, judge]`` (Shrout & Fleiss 1979, Table 1).

    No missing values (complete targets only) and at least 2 targets and 2 judges.
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"ratings must be [targets, judges], got shape {x.shape}.")
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError("An ICC needs at least two targets and two judges.")
    if not np.all(np.isfinite(x)):
        raise ValueError("ratings contain NaN or infinite values; keep complete targets only.")
    grand = x.mean()
    rows, cols = x.mean(axis=1, keepdims=True), x.mean(axis=0, keepdims=True)
    # Residual sums of squares from the residuals themselves (not by subtraction), so
    # that perfectly agreeing judges give exactly 0.
    return MeanSquares(
        bms=float(k * np.sum((rows - grand) ** 2) / (n - 1)),
        wms=float(np.sum((x - rows) ** 2) / (n * (k - 1))),
        jms=float(n * np.sum((cols - grand) ** 2) / (k - 1)),
        ems=float(np.sum((x - rows - cols + grand) ** 2) / ((n - 1) * (k - 1))),
        n=n,
        k=k,
    )


def _normalise_form(form: str) -> str:
    key = form.upper().replace(" ", "").removeprefix("ICC").strip("()")
    for name in ICC_FORMS:
        if key == name[4:-1].upper():
            return name
    raise ValueError(f"Unknown ICC form {form!r}; use one of {', '.join(ICC_FORMS)}.")


def icc(ratings: ArrayLike, form: str = "ICC(2,1)", *, confidence: float = 0.95) -> ICCResult:
    """An intraclass correlation of ``ratings[target, judge]`` (Shrout & Fleiss 1979).

    ``form`` is one of ``ICC(1,1)`` (one-way random: each target rated by different
    judges), ``ICC(2,1)`` (two-way random, absolute agreement), ``ICC(3,1)`` (two-way
    mixed, consistency), or ``ICC(1,k)``, ``ICC(2,k)``, ``ICC(3,k)`` for the mean of the
    k judges ("1,1", "2,k" etc. are accepted too). Estimates (Shrout & Fleiss
    1979)::

        ICC(1,1) = (BMS - WMS) / (BMS + (k-1) WMS)      ICC(1,k) = (BMS - WMS) / BMS
        ICC(2,1) = (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS)/n)
        ICC(2,k) = (BMS - EMS) / (BMS + (JMS - EMS)/n)
        ICC(3,1) = (BMS - EMS) / (BMS + (k-1) EMS)      ICC(3,k) = (BMS - EMS) / BMS

    Test of ICC = 0: F = BMS/WMS on (n-1, n(k-1)) df for form 1, F = BMS/EMS on
    (n-1, (n-1)(k-1)) df for forms 2 and 3. Confidence intervals: McGraw & Wong
    (1996, Table 7, cases 1, 2A and 3; the same as Shrout & Fleiss's): for forms 1 and
    3, ``F_L = F / F_{1-a/2}(df1, df2)``, ``F_U = F * F_{1-a/2}(df2, df1)`` and the bounds
    ``(F_L - 1)/(F_L + k - 1)``, ``(F_U - 1)/(F_U + k - 1)`` (single) or ``1 - 1/F_L``,
    ``1 - 1/F_U`` (average). For form 2, with ``a = k r/(n(1-r))``,
    ``b = 1 + k r (n-1)/(n(1-r))`` (r = ICC(2,1)) and Satterthwaite's
    ``v = (a JMS + b EMS)^2 / ((a JMS)^2/(k-1) + (b EMS)^2/((n-1)(k-1)))``,
    ``F* = F_{1-a/2}(n-1, v)`` and ``F** = F_{1-a/2}(v, n-1)``::

        L(2,1) = n (BMS - F* EMS) / (F* (k JMS + (k n - k - n) EMS) + n BMS)
        U(2,1) = n (F** BMS - EMS) / (k JMS + (k n - k - n) EMS + n F** BMS)
        L(2,k) = n (BMS - F* EMS) / (F* (JMS - EMS) + n BMS)
        U(2,k) = n (F** BMS - EMS) / (JMS - EMS + n F** BMS)

    Degenerate tables: if the error mean square (WMS for form 1, EMS otherwise) is 0
    the judges agree perfectly up to what the form ignores: F is infinite, ``pvalue``
    0 and the interval NaN; if all ratings are equal the ICC itself is NaN.
    """
    name = _normalise_form(form)
    ms = icc_mean_squares(ratings)
    _z(confidence)
    alpha = 1 - confidence
    bms, wms, jms, ems, n, k = ms.bms, ms.wms, ms.jms, ms.ems, ms.n, ms.k
    kind, average = name[4], name[6] == "k"
    error = wms if kind == "1" else ems
    if error == 0:
        df1, df2 = n - 1, (n * (k - 1) if kind == "1" else (n - 1) * (k - 1))
        if bms == 0:
            return ICCResult(
                form=name,
                estimate=np.nan,
                ci=(np.nan, np.nan),
                statistic=np.nan,
                df1=df1,
                df2=df2,
                pvalue=np.nan,
                n_subjects=n,
                n_raters=k,
                confidence=confidence,
            )
        estimate = 1.0  # forms 1 and 3
        if kind == "2":  # EMS = 0 but the judges' means may differ
            estimate = bms / (bms + jms / n) if average else bms / (bms + k * jms / n)
        return ICCResult(
            form=name,
            estimate=float(estimate),
            ci=(np.nan, np.nan),
            statistic=np.inf,
            df1=df1,
            df2=df2,
            pvalue=0.0,
            n_subjects=n,
            n_raters=k,
            confidence=confidence,
        )
    if kind == "1":
        estimate = (bms - wms) / bms if average else (bms - wms) / (bms + (k - 1) * wms)
        f, df1, df2 = bms / wms, n - 1, n * (k - 1)
    elif kind == "3":
        estimate = (bms - ems) / bms if average else (bms - ems) / (bms + (k - 1) * ems)
        f, df1, df2 = bms / ems, n - 1, (n - 1) * (k - 1)
    else:
        if average:
            estimate = (bms - ems) / (bms + (jms - ems) / n)
        else:
            estimate = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
        f, df1, df2 = bms / ems, n - 1, (n - 1) * (k - 1)
    pvalue = float(stats.f.sf(f, df1, df2))
    if kind in "13":
        f_l = f / stats.f.ppf(1 - alpha / 2, df1, df2)
        f_u = f * stats.f.ppf(1 - alpha / 2, df2, df1)
        single = ((f_l - 1) / (f_l + k - 1), (f_u - 1) / (f_u + k - 1))
        ci = (1 - 1 / f_l, 1 - 1 / f_u) if average else single
    else:
        r = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
        a = k * r / (n * (1 - r))
        b = 1 + k * r * (n - 1) / (n * (1 - r))
        v = (a * jms + b * ems) ** 2 / ((a * jms) ** 2 / (k - 1) + (b * ems) ** 2 / ((n - 1) * (k - 1)))
        f_star = stats.f.ppf(1 - alpha / 2, n - 1, v)
        f_2star = stats.f.ppf(1 - alpha / 2, v, n - 1)
        if average:
            ci = (
                n * (bms - f_star * ems) / (f_star * (jms - ems) + n * bms),
                n * (f_2star * bms - ems) / (jms - ems + n * f_2star * bms),
            )
        else:
            c = k * n - k - n
            ci = (
                n * (bms - f_star * ems) / (f_star * (k * jms + c * ems) + n * bms),
                n * (f_2star * bms - ems) / (k * jms + c * ems + n * f_2star * bms),
            )
    return ICCResult(
        form=name,
        estimate=float(estimate),
        ci=(float(ci[0]), float(ci[1])),
        statistic=float(f),
        df1=float(df1),
        df2=float(df2),
        pvalue=pvalue,
        n_subjects=n,
        n_raters=k,
        confidence=confidence,
    )


def icc_all(ratings: ArrayLike, *, confidence: float = 0.95) -> tuple[ICCResult, ...]:
    """All six Shrout & Fleiss ICCs of ``ratings[target, judge]``, in ``ICC_FORMS`` order."""
    return tuple(icc(ratings, form, confidence=confidence) for form in ICC_FORMS)


# --------------------------------------------------------------------------- Lin's CCC


@dataclass(frozen=True, kw_only=True)
class CCCResult:
    """Lin's concordance correlation coefficient and its z-transform confidence interval.

    ``pearson_r`` is the precision part and ``bias_correction`` (C_b = rho_c / r) the
    accuracy part; ``scale_shift`` is v = s_x / s_y and ``location_shift``
    u = (mean_x - mean_y) / sqrt(s_x s_y) (Lin 1989). ``stderr_z`` is the standard error
    of ``atanh(rho_c)``.
    """

    estimate: float
    ci: tuple[float, float]
    stderr_z: float
    pearson_r: float
    bias_correction: float
    scale_shift: float
    location_shift: float
    n: int
    confidence: float


def concordance_correlation(x: ArrayLike, y: ArrayLike, *, confidence: float = 0.95) -> CCCResult:
    """Lin's concordance correlation coefficient (Biometrics 45:255-268, 1989) of paired measurements.

    ``rho_c = 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2)`` with the moments divided
    by n (Lin 1989). The interval is that of Lin's Z = atanh(rho_c), whose
    variance (Lin 1989, with the correction of Lin 2000) is, with r the
    Pearson correlation and u the location shift::

        Var(Z) = 1/(n-2) [ (1 - r^2) rho_c^2 / ((1 - rho_c^2) r^2)
                           + 2 rho_c^3 (1 - rho_c) u^2 / (r (1 - rho_c^2)^2)
                           - rho_c^4 u^4 / (2 r^2 (1 - rho_c^2)^2) ]

    and ``ci = tanh(Z -/+ z_{1-a/2} sqrt(Var Z))`` (as epiR's and DescTools' ``"z-transform"``).
    When rho_c = +/-1 or r = 0 the variance is undefined and ``ci``/``stderr_z`` are NaN;
    with no variance in x or y the coefficient itself is NaN.
    """
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError("x and y must be one-dimensional and of equal length.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("x or y contains NaN or infinite values; remove incomplete pairs first.")
    n = a.size
    if n < 3:
        raise ValueError("Lin's CCC interval needs at least three pairs.")
    z = _z(confidence)
    nan2 = (np.nan, np.nan)
    sx2, sy2 = a.var(), b.var()
    sxy = np.mean((a - a.mean()) * (b - b.mean()))
    if sx2 == 0 or sy2 == 0:
        return CCCResult(
            estimate=np.nan,
            ci=nan2,
            stderr_z=np.nan,
            pearson_r=np.nan,
            bias_correction=np.nan,
            scale_shift=np.nan,
            location_shift=np.nan,
            n=n,
            confidence=confidence,
        )
    rho_c = 2 * sxy / (sx2 + sy2 + (a.mean() - b.mean()) ** 2)
    r = sxy / np.sqrt(sx2 * sy2)
    scale = np.sqrt(sx2 / sy2)
    u = (a.mean() - b.mean()) / (sx2 * sy2) ** 0.25
    bias = float(rho_c / r) if r != 0 else np.nan
    if abs(rho_c) >= 1 or r == 0:
        return CCCResult(
            estimate=float(rho_c),
            ci=nan2,
            stderr_z=np.nan,
            pearson_r=float(r),
            bias_correction=bias,
            scale_shift=float(scale),
            location_shift=float(u),
            n=n,
            confidence=confidence,
        )
    one = 1 - rho_c**2
    var_z = (
        (1 - r**2) * rho_c**2 / (one * r**2)
        + 2 * rho_c**3 * (1 - rho_c) * u**2 / (r * one**2)
        - rho_c**4 * u**4 / (2 * r**2 * one**2)
    ) / (n - 2)
    se = float(np.sqrt(var_z)) if var_z > 0 else np.nan
    zc = np.arctanh(rho_c)
    ci = (float(np.tanh(zc - z * se)), float(np.tanh(zc + z * se)))
    return CCCResult(
        estimate=float(rho_c),
        ci=ci,
        stderr_z=se,
        pearson_r=float(r),
        bias_correction=bias,
        scale_shift=float(scale),
        location_shift=float(u),
        n=n,
        confidence=confidence,
    )


# --------------------------------------------------------------------------- CV


@dataclass(frozen=True, kw_only=True)
class CVResult:
    """The coefficient of variation of one sample, ``100 * SD / mean`` (SD with ``ddof``)."""

    cv_percent: float
    mean: float
    sd: float
    n: int


def coefficient_of_variation(values: ArrayLike, *, ddof: int = 1) -> CVResult:
    """CV% = 100 SD / mean of a sample (Pearson, Phil Trans R Soc A 187, 1896), SD with n - ``ddof``.

    Meaningful for ratio-scale positive measurements (sizes, volumes, SNR). A zero
    mean gives NaN; fewer than ``ddof + 1`` values are refused.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or not np.all(np.isfinite(v)):
        raise ValueError("values must be a one-dimensional array of finite numbers.")
    if v.size <= ddof:
        raise ValueError(f"A CV needs more than {ddof} values.")
    mean, sd = float(v.mean()), float(v.std(ddof=ddof))
    cv = 100 * sd / abs(mean) if mean != 0 else np.nan
    return CVResult(cv_percent=cv, mean=mean, sd=sd, n=int(v.size))


@dataclass(frozen=True, kw_only=True)
class WithinSubjectCVResult:
    """Root-mean-square within-subject CV of repeated measurements.

    ``per_subject_cv_percent[i]`` is subject i's CV%; ``df`` the pooled degrees of
    freedom sum(n_i - 1).
    """

    cv_percent: float
    n_subjects: int
    n_measurements: int
    df: int
    per_subject_cv_percent: np.ndarray


def within_subject_cv(measurements: np.ndarray | Sequence[ArrayLike]) -> WithinSubjectCVResult:
    """Root-mean-square within-subject CV% of repeated measurements (Glueer et al. 1995).

    ``measurements`` is ``[subject, repeat]`` (NaN marks a missing repeat) or a list of
    per-subject arrays. For each subject i with n_i >= 2 repeats,
    ``CV_i = SD_i / mean_i`` (SD with n_i - 1); the result is
    ``100 sqrt(sum (n_i - 1) CV_i^2 / sum (n_i - 1))``, the degrees-of-freedom weighted
    root mean square of Glueer et al. (Osteoporos Int 5:262-270, 1995), which is the
    plain RMS ``sqrt(mean CV_i^2)`` when every subject has the same number of repeats.
    Subjects with fewer than two repeats are ignored; a subject with mean 0 is refused.
    """
    if isinstance(measurements, np.ndarray) and measurements.ndim == 2:
        rows = [r[np.isfinite(r)] for r in measurements.astype(float)]
    else:
        rows = []
        for r in measurements:
            arr = np.asarray(r, dtype=float).ravel()
            rows.append(arr[np.isfinite(arr)])
    rows = [r for r in rows if r.size >= 2]
    if not rows:
        raise ValueError("A within-subject CV needs at least one subject with two or more measurements.")
    means = np.array([r.mean() for r in rows])
    if np.any(means == 0):
        raise ValueError("A subject's mean is 0; its CV is undefined.")
    cvs = np.array([r.std(ddof=1) for r in rows]) / np.abs(means)
    dfs = np.array([r.size - 1 for r in rows])
    rms = np.sqrt(np.sum(dfs * cvs**2) / dfs.sum())
    return WithinSubjectCVResult(
        cv_percent=float(100 * rms),
        n_subjects=len(rows),
        n_measurements=int(sum(r.size for r in rows)),
        df=int(dfs.sum()),
        per_subject_cv_percent=100 * cvs,
    )
