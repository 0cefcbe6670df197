"""Classical paired and two-sample tests of the published super-resolution reader studies.

Each function is a thin, documented layer over scipy.stats that fixes the choices a
reader study has to report (zeros and ties, exact or asymptotic p, continuity
correction) and returns a frozen dataclass with named fields, like scipy.stats does.

* Wilcoxon signed-rank test for paired (Likert) scores: Wilcoxon, Biometrics Bull 1,
  1945; zeros dropped (Wilcoxon) or ranked (Pratt, JASA 54, 1959); tie-corrected normal
  approximation as in Lehmann, *Nonparametrics* (1975), ch. 3.
* Friedman test for three or more conditions (Friedman, JASA 32, 1937; tie correction
  as in Conover, *Practical Nonparametric Statistics*, 3rd ed. 1999, sec. 5.8), with
  pairwise Wilcoxon post-hoc tests and Holm's step-down correction (Holm, Scand J Stat
  6, 1979).
* McNemar's test of paired proportions (McNemar, Psychometrika 12, 1947): exact
  binomial on the discordant pairs when they are few, else chi-square with or without
  Edwards's continuity correction (Edwards, Psychometrika 13, 1948).
* Fisher's exact test of a 2x2 table (Fisher, *Statistical Methods for Research
  Workers*, 1934), with the conditional maximum-likelihood odds ratio and its exact CI
  (Cornfield, 1956; as reported by R's fisher.test).
* Paired t-test and Welch's unequal-variance t-test (Welch, Biometrika 34, 1947) with
  the mean difference and its t-based confidence interval.
* Mann-Whitney U test (Mann & Whitney, Ann Math Stat 18, 1947).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

ALTERNATIVES = ("two-sided", "less", "greater")
# method="auto" uses the exact conditional Wilcoxon distribution (ties or zeros) up to
# this many non-zero differences, the normal approximation above.
EXACT_CONDITIONAL_MAX_N = 50


def _vector(x: ArrayLike, name: str) -> np.ndarray:
    """A 1-D float array without NaN or infinities."""
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; remove incomplete pairs first.")
    return a


def _pair(first: ArrayLike, second: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = _vector(first, "first"), _vector(second, "second")
    if a.shape != b.shape:
        raise ValueError(f"Paired samples need equal lengths, got {a.size} and {b.size}.")
    if a.size == 0:
        raise ValueError("Paired samples are empty.")
    return a, b


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}.")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm, Scand J Stat 6:65-70, 1979).

    With the m p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted values are
    ``min(1, max_{j <= i} (m - j + 1) p_(j))``, returned in the input order (the same as
    R's ``p.adjust(p, "holm")``). NaN p-values (tests that could not be computed) are
    not counted in m and stay NaN.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError("holm() takes a one-dimensional sequence of p-values.")
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        raise ValueError("p-values must lie in [0, 1].")
    m = valid.size
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


# --------------------------------------------------------------------------- Wilcoxon


@dataclass(frozen=True, kw_only=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test of paired differences ``first - second``.

    ``statistic`` is W+, the sum of the ranks of the positive differences (R's ``V``);
    ``w_minus`` the sum for the negative ones. ``zstatistic`` is the tie-corrected normal
    score of W+ (also given when the p-value is exact). ``rank_biserial`` is the
    matched-pairs rank-biserial correlation ``(W+ - W-) / (W+ + W-)`` (Kerby, Compr
    Psychol 3, 2014). ``method`` says how the p-value was found: ``"exact"``,
    ``"exact-conditional"`` (exact permutation distribution of the tied ranks) or
    ``"asymptotic"``.
    """

    statistic: float
    w_minus: float
    pvalue: float
    zstatistic: float
    n: int
    n_nonzero: int
    n_zero: int
    median_difference: float
    rank_biserial: float
    method: str
    zero_method: str
    alternative: str


def _signed_ranks(d: np.ndarray, zero_method: str) -> tuple[np.ndarray, np.ndarray]:
    """Signs and midranks of |d| with zeros handled as ``zero_method`` says."""
    if zero_method == "wilcox":
        d = d[d != 0]
        ranks = stats.rankdata(np.abs(d))
    else:  # pratt: rank with the zeros, then drop the zeros' ranks
        ranks = stats.rankdata(np.abs(d))
        keep = d != 0
        d, ranks = d[keep], ranks[keep]
    return np.sign(d), ranks


def _wilcoxon_z(d: np.ndarray, zero_method: str, correction: bool, alternative: str) -> float:
    """Tie-corrected normal score of W+ (Lehmann 1975, ch. 3; Pratt 1959 for zeros).

    ``E W+ = (sum of the ranks) / 2`` and ``Var W+ = (sum of the squared ranks) / 4``,
    which for untied ranks 1..n are n(n+1)/4 and n(n+1)(2n+1)/24 and with midranks
    subtract ``sum(t^3 - t) / 48`` over the tie groups.
    """
    signs, ranks = _signed_ranks(d, zero_method)
    if ranks.size == 0:
        return np.nan
    w_plus = ranks[signs > 0].sum()
    mean = ranks.sum() / 2
    sd = np.sqrt((ranks**2).sum() / 4)
    diff = w_plus - mean
    if correction:
        if alternative == "two-sided":
            diff -= 0.5 * np.sign(diff)
        else:
            diff -= 0.5 if alternative == "greater" else -0.5
    return float(diff / sd) if sd > 0 else np.nan


def _exact_conditional_pvalue(w_plus: float, ranks: np.ndarray, alternative: str) -> float:
    """p of W+ under its exact permutation distribution given the observed (mid)ranks.

    Under H0 each rank carries a + sign with probability 1/2 independently, so the
    distribution of W+ is the convolution of the two-point laws {0, r_i}; with midranks
    doubled to integers it is built by the shift algorithm (Streitberg & Roehmel, Stat
    Software Newsl 12:10-17, 1986), exact and in O(n sum(r)) operations.
    """
    doubled = np.rint(2 * ranks).astype(int)
    prob = np.zeros(int(doubled.sum()) + 1)
    prob[0] = 1.0
    top = 0
    for r in doubled:
        prob[r : top + r + 1] += prob[: top + 1].copy()
        prob[: top + r + 1] *= 0.5
        top += r
    observed = round(2 * w_plus)
    upper = float(prob[observed:].sum())  # P(W+ >= observed)
    lower = float(prob[: observed + 1].sum())  # P(W+ <= observed)
    if alternative == "greater":
        return min(upper, 1.0)
    if alternative == "less":
        return min(lower, 1.0)
    return min(2 * min(upper, lower), 1.0)


def wilcoxon(
    first: ArrayLike,
    second: ArrayLike,
    *,
    zero_method: str = "wilcox",
    method: str = "auto",
    correction: bool = False,
    alternative: str = "two-sided",
) -> WilcoxonResult:
    """Wilcoxon signed-rank test of paired scores (e.g. a reader's Likert scores of SR vs HR).

    Differences are ``first - second``. The exact and asymptotic p-values are those of
    ``scipy.stats.wilcoxon`` (Wilcoxon 1945); the exact conditional one is computed here.

    Zeros (pairs scored the same): ``zero_method="wilcox"`` (default) drops them before
    ranking, as Wilcoxon (1945), R's ``wilcox.test`` and SPSS do, so the results match
    what published studies report; ``"pratt"`` ranks them and then drops their ranks
    (Pratt, JASA 54:655-667, 1959), which keeps the information that many pairs tie.

    Ties among |differences| get midranks. Ordinal scores are full of ties, for which
    the classical exact null distribution is wrong, so ``method="auto"`` uses

    * ``"exact"`` (scipy's exact distribution) when there are neither ties nor zeros
      and at most 50 pairs;
    * ``"exact-conditional"``, the exact permutation distribution of the observed
      (mid)ranks over all 2^n sign patterns (Lehmann 1975, ch. 3), computed by the
      shift algorithm (Streitberg & Roehmel 1986) because scipy's ``PermutationMethod``
      takes seconds already at n = 14, when ties or zeros exist and at most
      ``EXACT_CONDITIONAL_MAX_N`` = 50 differences are ranked (non-zero ones, Pratt's
      zeros carry no sign);
    * ``"asymptotic"``, the normal approximation with the tie-corrected variance, with
      a continuity correction if ``correction`` is true, otherwise.

    Any of the three can be asked for directly; ``"exact"`` with ties or zeros is
    refused (scipy's exact table assumes untied ranks), use ``"exact-conditional"``.

    When every difference is zero there is nothing to test: ``statistic`` is 0 and
    ``pvalue``, ``zstatistic`` and ``rank_biserial`` are NaN (as scipy's asymptotic
    p-value).
    """
    _check_alternative(alternative)
    if zero_method not in ("wilcox", "pratt"):
        raise ValueError(f"zero_method must be 'wilcox' or 'pratt', got {zero_method!r}.")
    if method not in ("auto", "exact", "exact-conditional", "asymptotic"):
        raise ValueError(
            f"method must be 'auto', 'exact', 'exact-conditional' or 'asymptotic', got {method!r}."
        )
    a, b = _pair(first, second)
    d = a - b
    n_zero = int(np.sum(d == 0))
    nonzero = d[d != 0]
    signs, ranks = _signed_ranks(d, zero_method)
    w_plus = float(ranks[signs > 0].sum())
    w_minus = float(ranks[signs < 0].sum())
    total = w_plus + w_minus
    rank_biserial = (w_plus - w_minus) / total if total > 0 else np.nan
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    median_difference = float(np.median(d))

    def finish(
        *, statistic: float, w_minus: float, pvalue: float, zstatistic: float, method: str
    ) -> WilcoxonResult:
        return WilcoxonResult(
            statistic=statistic,
            w_minus=w_minus,
            pvalue=pvalue,
            zstatistic=zstatistic,
            n=int(d.size),
            n_nonzero=int(nonzero.size),
            n_zero=n_zero,
            median_difference=median_difference,
            rank_biserial=float(rank_biserial),
            method=method,
            zero_method=zero_method,
            alternative=alternative,
        )

    if nonzero.size == 0:
        return finish(statistic=0.0, w_minus=0.0, pvalue=np.nan, zstatistic=np.nan, method=method)
    if method == "auto":
        if not ties and n_zero == 0 and d.size <= 50:
            method = "exact"
        elif ranks.size <= EXACT_CONDITIONAL_MAX_N:
            method = "exact-conditional"
        else:
            method = "asymptotic"
    if method == "exact" and (ties or n_zero):
        raise ValueError(
            "The exact Wilcoxon distribution assumes no ties and no zero differences; "
            "use method='exact-conditional' (or 'auto') for tied ordinal scores."
        )
    if method == "exact-conditional":
        pvalue = _exact_conditional_pvalue(w_plus, ranks, alternative)
    else:
        result = stats.wilcoxon(
            d, zero_method=zero_method, correction=correction, alternative=alternative, method=method
        )
        pvalue = float(result.pvalue)
    z = _wilcoxon_z(d, zero_method, correction, alternative)
    return finish(statistic=w_plus, w_minus=w_minus, pvalue=pvalue, zstatistic=z, method=method)


# --------------------------------------------------------------------------- Friedman


@dataclass(frozen=True, kw_only=True)
class PairwiseWilcoxon:
    """One post-hoc comparison ``first - second`` with its Holm-adjusted p-value."""

    first: str
    second: str
    test: WilcoxonResult
    pvalue_holm: float


@dataclass(frozen=True, kw_only=True)
class FriedmanResult:
    """Friedman's test of k related conditions, with pairwise post-hoc Wilcoxon tests.

    ``kendall_w = statistic / (n (k - 1))`` is Kendall's coefficient of concordance
    (Kendall & Babington Smith, Ann Math Stat 10, 1939), computed from the
    tie-corrected statistic.
    """

    statistic: float
    pvalue: float
    df: int
    n: int
    k: int
    kendall_w: float
    names: tuple[str, ...]
    posthoc: tuple[PairwiseWilcoxon, ...]


def friedman(
    *conditions: ArrayLike,
    names: Sequence[str] | None = None,
    zero_method: str = "wilcox",
    posthoc_method: str = "auto",
) -> FriedmanResult:
    """Friedman's rank test of k >= 3 related samples (e.g. LR, SR, HR scored on the same cases).

    ``conditions[j][i]`` is the score of subject (case or case x reader) i under
    condition j. The statistic is ``scipy.stats.friedmanchisquare``: Friedman's
    (JASA 32:675-701, 1937) chi-square on within-subject midranks, divided by the tie
    correction ``1 - sum(t^3 - t) / (n k (k^2 - 1))`` (Conover 1999, sec. 5.8), on k - 1
    degrees of freedom.

    Post hoc, every pair of conditions is compared by ``wilcoxon`` (same
    ``zero_method``; ``posthoc_method`` is its ``method``) and the pairwise p-values are
    Holm-adjusted together (Holm 1979).

    If every subject gives the same score under all conditions the ranks carry no
    information: ``statistic``, ``pvalue`` and ``kendall_w`` are NaN.
    """
    k = len(conditions)
    if k < 3:
        raise ValueError("Friedman's test needs at least three conditions; for two use wilcoxon().")
    columns = [_vector(c, f"condition {j + 1}") for j, c in enumerate(conditions)]
    n = columns[0].size
    if any(c.size != n for c in columns):
        raise ValueError("Every condition needs one score per subject (equal lengths).")
    if n < 2:
        raise ValueError("Friedman's test needs at least two subjects.")
    names = tuple(names) if names is not None else tuple(f"condition {j + 1}" for j in range(k))
    if len(names) != k:
        raise ValueError(f"Got {len(names)} names for {k} conditions.")
    data = np.column_stack(columns)
    if np.all(data == data[:, :1]):
        statistic = pvalue = np.nan
    else:
        result = stats.friedmanchisquare(*columns)
        statistic, pvalue = float(result.statistic), float(result.pvalue)
    tests = [
        (names[a], names[b], wilcoxon(columns[a], columns[b], zero_method=zero_method, method=posthoc_method))
        for a, b in combinations(range(k), 2)
    ]
    adjusted = holm([t.pvalue for _, _, t in tests])
    posthoc = tuple(
        PairwiseWilcoxon(first=first, second=second, test=test, pvalue_holm=float(p))
        for (first, second, test), p in zip(tests, adjusted, strict=True)
    )
    return FriedmanResult(
        statistic=statistic,
        pvalue=pvalue,
        df=k - 1,
        n=n,
        k=k,
        kendall_w=statistic / (n * (k - 1)),
        names=names,
        posthoc=posthoc,
    )


# --------------------------------------------------------------------------- McNemar


@dataclass(frozen=True, kw_only=True)
class McNemarResult:
    """McNemar's test of paired binary outcomes (e.g. a lesion detected on SR vs on HR).

    ``first_only`` (b) and ``second_only`` (c) are the discordant pairs. ``statistic``
    is the chi-square statistic for the chi-square methods and b for the exact
    binomial test. ``estimate = (b - c) / n`` is the difference of the paired
    proportions (first - second) and ``ci`` its Wald interval (Agresti, *Categorical
    Data Analysis*, 3rd ed. 2013, ch. 11).
    """

    statistic: float
    pvalue: float
    method: str  # "exact binomial", "chi-square" or "chi-square (continuity-corrected)"
    first_only: int
    second_only: int
    n_discordant: int
    n: int
    estimate: float
    ci: tuple[float, float]


def mcnemar_from_counts(
    both: int,
    first_only: int,
    second_only: int,
    neither: int,
    *,
    exact: bool | None = None,
    correction: bool = True,
    exact_below: int = 25,
    confidence: float = 0.95,
) -> McNemarResult:
    """McNemar's test (Psychometrika 12:153-157, 1947) from the four cells of the paired 2x2 table.

    Only the discordant pairs b = ``first_only`` and c = ``second_only`` matter. With
    ``exact=None`` the exact test is used when ``b + c < exact_below`` (25, the usual
    rule), otherwise the chi-square approximation:

    * exact: under H0, b ~ Binomial(b + c, 1/2); the two-sided p is that of
      ``scipy.stats.binomtest(b, b + c, 0.5)``, i.e. ``min(1, 2 P(X <= min(b, c)))``;
    * chi-square: ``(|b - c| - 1)^2 / (b + c)`` with Edwards's continuity correction
      (Psychometrika 13:185-187, 1948) if ``correction`` is true, else
      ``(b - c)^2 / (b + c)``, on 1 degree of freedom.

    With no discordant pairs there is no evidence of a difference: ``statistic`` is 0
    and ``pvalue`` is 1 (documented convention; scipy cannot test 0 of 0).
    """
    _check_confidence(confidence)
    cells = np.array([both, first_only, second_only, neither])
    if np.any(cells < 0) or np.any(cells != np.round(cells)):
        raise ValueError("McNemar counts must be non-negative integers.")
    both, b, c, neither = (int(v) for v in cells)
    n = both + b + c + neither
    if n == 0:
        raise ValueError("McNemar's test needs at least one pair.")
    discordant = b + c
    use_exact = discordant < exact_below if exact is None else exact
    if discordant == 0:
        statistic, pvalue = 0.0, 1.0
    elif use_exact:
        statistic, pvalue = float(b), float(stats.binomtest(b, discordant, 0.5).pvalue)
    else:
        diff = abs(b - c) - (1.0 if correction else 0.0)
        statistic = max(diff, 0.0) ** 2 / discordant
        pvalue = float(stats.chi2.sf(statistic, 1))
    if use_exact:
        method = "exact binomial"
    else:
        method = "chi-square (continuity-corrected)" if correction else "chi-square"
    estimate = (b - c) / n
    se = np.sqrt(max(discordant - (b - c) ** 2 / n, 0.0)) / n
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    return McNemarResult(
        statistic=float(statistic),
        pvalue=min(pvalue, 1.0),
        method=method,
        first_only=b,
        second_only=c,
        n_discordant=discordant,
        n=n,
        estimate=float(estimate),
        ci=(float(estimate - half), float(estimate + half)),
    )


def mcnemar(
    first: ArrayLike,
    second: ArrayLike,
    *,
    exact: bool | None = None,
    correction: bool = True,
    exact_below: int = 25,
    confidence: float = 0.95,
) -> McNemarResult:
    """McNemar's test of two paired boolean arrays (``first[i]``, ``second[i]`` on the same unit i).

    Counts the 2x2 table and calls ``mcnemar_from_counts`` (see there for the method).
    """
    a, b = _pair(first, second)
    if not (np.all(np.isin(a, (0, 1))) and np.all(np.isin(b, (0, 1)))):
        raise ValueError("McNemar's test needs binary (boolean or 0/1) outcomes.")
    a, b = a.astype(bool), b.astype(bool)
    return mcnemar_from_counts(
        int(np.sum(a & b)),
        int(np.sum(a & ~b)),
        int(np.sum(~a & b)),
        int(np.sum(~a & ~b)),
        exact=exact,
        correction=correction,
        exact_below=exact_below,
        confidence=confidence,
    )


# --------------------------------------------------------------------------- Fisher


@dataclass(frozen=True, kw_only=True)
class FisherResult:
    """Fisher's exact test of a 2x2 table ``[[a, b], [c, d]]``.

    ``statistic`` is the sample odds ratio ``ad / bc`` (scipy's); ``estimate`` the
    conditional maximum-likelihood odds ratio and ``ci`` its exact conditional interval
    (both as R's ``fisher.test`` reports them).
    """

    statistic: float
    pvalue: float
    estimate: float
    ci: tuple[float, float]
    table: tuple[tuple[int, int], tuple[int, int]]
    alternative: str


def fisher_exact(
    table: ArrayLike, *, alternative: str = "two-sided", confidence: float = 0.95
) -> FisherResult:
    """Fisher's exact test (Fisher 1934) of a 2x2 table of counts, via ``scipy.stats.fisher_exact``.

    The p-value is the hypergeometric probability of tables at most as likely as the
    observed one (two-sided) or of the tail (one-sided). The odds ratio estimate and CI
    are ``scipy.stats.contingency.odds_ratio(kind="conditional")``: the conditional MLE
    and the exact interval of Cornfield (1956), inverted from the non-central
    hypergeometric distribution.
    """
    _check_alternative(alternative)
    _check_confidence(confidence)
    t = np.asarray(table)
    if t.shape != (2, 2) or np.any(t < 0) or np.any(t != np.round(t)):
        raise ValueError("Fisher's exact test needs a 2x2 table of non-negative integer counts.")
    t = t.astype(int)
    result = stats.fisher_exact(t, alternative=alternative)
    conditional = stats.contingency.odds_ratio(t, kind="conditional")
    ci = conditional.confidence_interval(confidence_level=confidence, alternative=alternative)
    return FisherResult(
        statistic=float(result.statistic),
        pvalue=float(result.pvalue),
        estimate=float(conditional.statistic),
        ci=(float(ci.low), float(ci.high)),
        table=((int(t[0, 0]), int(t[0, 1])), (int(t[1, 0]), int(t[1, 1]))),
        alternative=alternative,
    )


# --------------------------------------------------------------------------- t-tests


@dataclass(frozen=True, kw_only=True)
class TTestResult:
    """A t-test of the mean difference ``first - second`` with its confidence interval."""

    statistic: float
    pvalue: float
    df: float
    estimate: float  # mean difference (paired) or difference of means (Welch)
    stderr: float
    ci: tuple[float, float]
    n_first: int
    n_second: int
    method: str  # "paired" or "Welch"
    alternative: str


def paired_t(
    first: ArrayLike, second: ArrayLike, *, confidence: float = 0.95, alternative: str = "two-sided"
) -> TTestResult:
    """Paired t-test (Student, Biometrika 6, 1908) of ``d = first - second``, via ``scipy.stats.ttest_rel``.

    ``t = mean(d) / (sd(d) / sqrt(n))`` on n - 1 degrees of freedom; ``ci`` is
    ``result.confidence_interval(confidence)``, i.e. ``mean(d) -/+ t_{n-1} sd(d)/sqrt(n)``
    (one-sided intervals for one-sided alternatives). If all differences are equal the
    standard error is 0 and ``statistic``/``pvalue`` are NaN (scipy's convention).
    """
    _check_alternative(alternative)
    _check_confidence(confidence)
    a, b = _pair(first, second)
    if a.size < 2:
        raise ValueError("A paired t-test needs at least two pairs.")
    d = a - b
    stderr = float(np.std(d, ddof=1) / np.sqrt(d.size))
    if stderr == 0:
        mean = float(d.mean())
        return TTestResult(
            statistic=np.nan,
            pvalue=np.nan,
            df=float(d.size - 1),
            estimate=mean,
            stderr=0.0,
            ci=(mean, mean),
            n_first=a.size,
            n_second=b.size,
            method="paired",
            alternative=alternative,
        )
    result = stats.ttest_rel(a, b, alternative=alternative)
    ci = result.confidence_interval(confidence_level=confidence)
    return TTestResult(
        statistic=float(result.statistic),
        pvalue=float(result.pvalue),
        df=float(result.df),
        estimate=float(d.mean()),
        stderr=stderr,
        ci=(float(ci.low), float(ci.high)),
        n_first=a.size,
        n_second=b.size,
        method="paired",
        alternative=alternative,
    )


def welch_t(
    first: ArrayLike, second: ArrayLike, *, confidence: float = 0.95, alternative: str = "two-sided"
) -> TTestResult:
    """Welch's t-test (Biometrika 34:28-35, 1947) of two independent samples, via ``scipy.stats.ttest_ind``.

    ``t = (mean1 - mean2) / sqrt(s1^2/n1 + s2^2/n2)`` with the Welch-Satterthwaite
    degrees of freedom ``(s1^2/n1 + s2^2/n2)^2 / ((s1^2/n1)^2/(n1-1) + (s2^2/n2)^2/(n2-1))``;
    ``ci`` is scipy's ``result.confidence_interval(confidence)`` on the same df.
    """
    _check_alternative(alternative)
    _check_confidence(confidence)
    a, b = _vector(first, "first"), _vector(second, "second")
    if a.size < 2 or b.size < 2:
        raise ValueError("Welch's t-test needs at least two observations per sample.")
    stderr = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    estimate = float(a.mean() - b.mean())
    if stderr == 0:
        return TTestResult(
            statistic=np.nan,
            pvalue=np.nan,
            df=np.nan,
            estimate=estimate,
            stderr=0.0,
            ci=(estimate, estimate),
            n_first=a.size,
            n_second=b.size,
            method="Welch",
            alternative=alternative,
        )
    result = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    ci = result.confidence_interval(confidence_level=confidence)
    return TTestResult(
        statistic=float(result.statistic),
        pvalue=float(result.pvalue),
        df=float(result.df),
        estimate=estimate,
        stderr=stderr,
        ci=(float(ci.low), float(ci.high)),
        n_first=a.size,
        n_second=b.size,
        method="Welch",
        alternative=alternative,
    )


# --------------------------------------------------------------------------- Mann-Whitney


@dataclass(frozen=True, kw_only=True)
class MannWhitneyResult:
    """Mann-Whitney U test of two independent samples.

    ``statistic`` is U of ``first``: the number of pairs (x from first, y from second)
    with x > y, ties counting 1/2. ``estimate = U / (n1 n2)`` is the probability that
    an observation of ``first`` exceeds one of ``second`` (ties 1/2), the empirical AUC
    (Bamber, J Math Psychol 12, 1975).
    """

    statistic: float
    pvalue: float
    estimate: float
    n_first: int
    n_second: int
    method: str
    alternative: str


def mann_whitney(
    first: ArrayLike,
    second: ArrayLike,
    *,
    alternative: str = "two-sided",
    method: str = "auto",
    use_continuity: bool = True,
) -> MannWhitneyResult:
    """Mann-Whitney U test (Ann Math Stat 18:50-60, 1947) via ``scipy.stats.mannwhitneyu``.

    ``method="auto"`` is scipy's rule: the exact distribution when one of the samples
    has at most 8 observations and there are no ties, otherwise the normal
    approximation with the tie-corrected variance (and a continuity correction if
    ``use_continuity``). ``"asymptotic"`` can be forced, and ``"exact"`` when there are
    no ties (the exact table assumes untied ranks); ``method`` in the result says which
    was used. If every observation is the same there is no variance to test with:
    ``pvalue`` is NaN.
    """
    _check_alternative(alternative)
    a, b = _vector(first, "first"), _vector(second, "second")
    if a.size == 0 or b.size == 0:
        raise ValueError("Both samples need at least one observation.")
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"method must be 'auto', 'exact' or 'asymptotic', got {method!r}.")
    pooled = np.concatenate([a, b])
    tied = np.unique(pooled).size < pooled.size
    if method == "exact" and tied:
        raise ValueError("The exact Mann-Whitney distribution assumes no ties; use method='asymptotic'.")
    used = method
    if method == "auto":
        used = "exact" if (a.size <= 8 or b.size <= 8) and not tied else "asymptotic"
    if np.all(pooled == pooled[0]):
        u = a.size * b.size / 2
        return MannWhitneyResult(
            statistic=u,
            pvalue=np.nan,
            estimate=0.5,
            n_first=a.size,
            n_second=b.size,
            method=used,
            alternative=alternative,
        )
    result = stats.mannwhitneyu(a, b, alternative=alternative, method=used, use_continuity=use_continuity)
    u = float(result.statistic)
    return MannWhitneyResult(
        statistic=u,
        pvalue=float(result.pvalue),
        estimate=u / (a.size * b.size),
        n_first=a.size,
        n_second=b.size,
        method=used,
        alternative=alternative,
    )
