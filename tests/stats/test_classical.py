"""Paired and two-sample tests against published examples and hand computation.

References used (data and results as printed in the cited sources):

* Student's sleep data (Cushny & Peebles 1905, Student, Biometrika 6, 1908), as in R's
  ``datasets::sleep`` help page: paired t = -4.0621, df = 9, p = 0.002833, 95% CI
  (-2.4598858, -0.7001142); Welch t = -1.8608, df = 17.776, p = 0.07939,
  CI (-3.3654832, 0.2054832).
* Hollander & Wolfe (*Nonparametric Statistical Methods*, 1973, p. 29) depression
  data, used in R's ``wilcox.test`` help: V = 40, one-sided exact p = 0.01953.
* Hollander & Wolfe (1973, p. 140) rounding-first-base times, 22 players x 3 methods,
  used in R's ``friedman.test`` help: chi-square = 11.143, df = 2, p = 0.003805.
* Fisher's tea-tasting table [[3, 1], [1, 3]] (Fisher, *The Design of Experiments*,
  1935): two-sided p = 34/70 (hypergeometric, by hand), one-sided 17/70.
"""

import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from stats.classical import (
    fisher_exact,
    friedman,
    holm,
    mann_whitney,
    mcnemar,
    mcnemar_from_counts,
    paired_t,
    welch_t,
    wilcoxon,
)

SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

DEPRESSION_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
DEPRESSION_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]

ROUNDING_TIMES = np.array(
    [
        [5.40, 5.50, 5.55],
        [5.85, 5.70, 5.75],
        [5.20, 5.60, 5.50],
        [5.55, 5.50, 5.40],
        [5.90, 5.85, 5.70],
        [5.45, 5.55, 5.60],
        [5.40, 5.40, 5.35],
        [5.45, 5.50, 5.35],
        [5.25, 5.15, 5.00],
        [5.85, 5.80, 5.70],
        [5.25, 5.20, 5.10],
        [5.65, 5.55, 5.45],
        [5.60, 5.35, 5.45],
        [5.05, 5.00, 4.95],
        [5.50, 5.50, 5.40],
        [5.45, 5.55, 5.50],
        [5.55, 5.55, 5.35],
        [5.45, 5.50, 5.55],
        [5.50, 5.45, 5.25],
        [5.65, 5.60, 5.40],
        [5.70, 5.65, 5.55],
        [6.30, 6.30, 6.25],
    ]
)

# Likert scores (1-5) of 14 cases read as SR and as HR: many zeros and tied |d|.
LIKERT_SR = np.array([4, 3, 5, 4, 2, 3, 4, 5, 3, 4, 2, 3, 4, 4])
LIKERT_HR = np.array([4, 4, 5, 5, 3, 3, 5, 4, 4, 5, 4, 3, 5, 4])


# --------------------------------------------------------------------------- Holm


def test_holm_by_hand():
    # sorted: 0.01*4 = 0.04, 0.02*3 = 0.06, 0.03*2 = 0.06, 0.5*1 -> running max
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert holm([0.4, 0.3]) == pytest.approx([0.6, 0.6])  # step-down max, then capped
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_holm_leaves_nan_out_of_m():
    adjusted = holm([0.01, np.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02)
    assert np.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.04)


# --------------------------------------------------------------------------- Wilcoxon


def test_wilcoxon_hollander_wolfe_exact():
    greater = wilcoxon(DEPRESSION_X, DEPRESSION_Y, alternative="greater")
    assert greater.statistic == 40 and greater.w_minus == 5
    assert greater.method == "exact"
    assert greater.pvalue == pytest.approx(0.01953125, abs=1e-8)  # 10/512
    two = wilcoxon(DEPRESSION_X, DEPRESSION_Y)
    assert two.pvalue == pytest.approx(0.0390625, abs=1e-8)
    assert two.rank_biserial == pytest.approx((40 - 5) / 45)
    assert two.n == two.n_nonzero == 9 and two.n_zero == 0


def _tie_corrected_z(d: np.ndarray) -> float:
    """Hand formula: drop zeros, midranks, Var = n(n+1)(2n+1)/24 - sum(t^3 - t)/48."""
    d = d[d != 0]
    ranks = stats.rankdata(np.abs(d))
    n = d.size
    _, t = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - np.sum(t**3 - t) / 48
    return (ranks[d > 0].sum() - n * (n + 1) / 4) / math.sqrt(var)


def test_wilcoxon_likert_ties_asymptotic_by_hand():
    d = (LIKERT_SR - LIKERT_HR).astype(float)
    result = wilcoxon(LIKERT_SR, LIKERT_HR, method="asymptotic")
    # differences: 0,-1,0,-1,-1,0,-1,1,-1,-1,-2,0,-1,0 -> eight |d| = 1 (7 negative), one |d| = 2
    assert (result.n, result.n_zero, result.n_nonzero) == (14, 5, 9)
    assert result.statistic == 4.5  # the one positive difference has midrank (1+8)/2
    assert result.w_minus == 40.5
    z = _tie_corrected_z(d)
    assert result.zstatistic == pytest.approx(z, rel=1e-12)
    assert result.pvalue == pytest.approx(2 * special.ndtr(-abs(z)), rel=1e-12)
    assert result.median_difference == -1.0


def test_wilcoxon_likert_auto_is_exact_conditional():
    result = wilcoxon(LIKERT_SR, LIKERT_HR)
    assert result.method == "exact-conditional"
    # All 2^9 sign patterns of the midranks (eight 4.5s and one 9): W+ <= 4.5 or >= 40.5.
    ranks = np.array([4.5] * 8 + [9.0])
    signs = (np.arange(512)[:, None] >> np.arange(9)) & 1
    w_plus = signs @ ranks
    expected = np.mean(np.abs(w_plus - ranks.sum() / 2) >= abs(4.5 - ranks.sum() / 2) - 1e-9)
    assert result.pvalue == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_pratt_keeps_zero_ranks():
    result = wilcoxon(LIKERT_SR, LIKERT_HR, zero_method="pratt", method="asymptotic")
    # zeros take ranks 1-5; |d| = 1 ranks 6-13 (midrank 9.5); |d| = 2 rank 14
    assert result.statistic == 9.5
    assert result.w_minus == 9.5 * 7 + 14
    assert result.n_nonzero == 9
    # scipy's Pratt p-value agrees with our conditional-moment z: E = sum(r)/2, Var = sum(r^2)/4
    ranks = np.array([9.5] * 8 + [14.0])
    z = (9.5 - ranks.sum() / 2) / math.sqrt(np.sum(ranks**2) / 4)
    assert result.zstatistic == pytest.approx(z, rel=1e-12)
    assert result.pvalue == pytest.approx(2 * special.ndtr(-abs(z)), rel=1e-10)


def test_wilcoxon_continuity_correction():
    d = (LIKERT_SR - LIKERT_HR).astype(float)
    result = wilcoxon(LIKERT_SR, LIKERT_HR, method="asymptotic", correction=True)
    z = _tie_corrected_z(d)
    sd = (4.5 - 22.5) / z  # W+ - E(W+) = 4.5 - 45/2
    z_corrected = (4.5 - 22.5 + 0.5) / sd
    assert result.zstatistic == pytest.approx(z_corrected, rel=1e-12)
    assert result.pvalue == pytest.approx(2 * special.ndtr(-abs(z_corrected)), rel=1e-10)


def test_wilcoxon_pratt_exact_conditional_by_enumeration():
    result = wilcoxon(LIKERT_SR, LIKERT_HR, zero_method="pratt", method="exact-conditional")
    # Zeros' signs do not matter: enumerate the 2^9 signs of the ranks 9.5 (x8) and 14.
    ranks = np.array([9.5] * 8 + [14.0])
    signs = (np.arange(512)[:, None] >> np.arange(9)) & 1
    w_plus = signs @ ranks
    expected = 2 * min(np.mean(w_plus <= 9.5), np.mean(w_plus >= 9.5))
    assert result.pvalue == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_exact_conditional_equals_exact_without_ties():
    result = wilcoxon(DEPRESSION_X, DEPRESSION_Y, method="exact-conditional")
    assert result.pvalue == pytest.approx(0.0390625, rel=1e-12)


def test_wilcoxon_exact_refused_with_ties():
    with pytest.raises(ValueError, match="exact-conditional"):
        wilcoxon(LIKERT_SR, LIKERT_HR, method="exact")


def test_wilcoxon_all_ties_is_nan():
    result = wilcoxon([3, 4, 5], [3, 4, 5])
    assert result.n_zero == 3 and result.n_nonzero == 0
    assert result.statistic == 0
    assert np.isnan(result.pvalue) and np.isnan(result.zstatistic)


def test_wilcoxon_input_checks():
    with pytest.raises(ValueError, match="equal lengths"):
        wilcoxon([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        wilcoxon([1, np.nan], [1, 2])


# --------------------------------------------------------------------------- Friedman


def test_friedman_hollander_wolfe():
    result = friedman(*ROUNDING_TIMES.T, names=("round out", "narrow angle", "wide angle"))
    assert result.statistic == pytest.approx(11.143, abs=5e-4)
    assert result.df == 2 and result.n == 22 and result.k == 3
    assert result.pvalue == pytest.approx(0.003805, abs=5e-7)
    assert result.kendall_w == pytest.approx(result.statistic / (22 * 2))


def test_friedman_statistic_by_hand():
    # Untied ranks within each subject: chi2 = 12/(n k (k+1)) sum R_j^2 - 3 n (k+1).
    data = np.array([[1, 2, 3], [1, 3, 2], [1, 2, 3], [2, 1, 3]], dtype=float)
    sums = stats.rankdata(data, axis=1).sum(axis=0)  # 5, 8, 11
    n, k = data.shape
    chi2 = 12 / (n * k * (k + 1)) * np.sum(sums**2) - 3 * n * (k + 1)
    result = friedman(*data.T)
    assert result.statistic == pytest.approx(chi2)  # 4.5
    assert result.statistic == pytest.approx(4.5)
    assert result.pvalue == pytest.approx(math.exp(-4.5 / 2))  # chi-square(2) survival


def test_friedman_posthoc_is_holm_adjusted_wilcoxon():
    result = friedman(*ROUNDING_TIMES.T, names=("RO", "NA", "WA"))
    pairs = [(p.first, p.second) for p in result.posthoc]
    assert pairs == [("RO", "NA"), ("RO", "WA"), ("NA", "WA")]
    raw = [wilcoxon(ROUNDING_TIMES[:, a], ROUNDING_TIMES[:, b]).pvalue for a, b in ((0, 1), (0, 2), (1, 2))]
    assert [p.test.pvalue for p in result.posthoc] == pytest.approx(raw)
    # Holm by hand: smallest x3, next x2, largest x1, running maximum.
    order = np.argsort(raw)
    expected = np.empty(3)
    running = 0.0
    for factor, index in zip((3, 2, 1), order, strict=True):
        running = max(running, factor * raw[index])
        expected[index] = min(running, 1.0)
    assert [p.pvalue_holm for p in result.posthoc] == pytest.approx(expected)


def test_friedman_edge_cases():
    same = np.full((5, 3), 4.0)
    result = friedman(*same.T)
    assert np.isnan(result.statistic) and np.isnan(result.pvalue)
    with pytest.raises(ValueError, match="at least three"):
        friedman([1, 2], [2, 3])
    with pytest.raises(ValueError, match="equal lengths"):
        friedman([1, 2], [2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="names"):
        friedman([1, 2], [2, 3], [3, 1], names=("a", "b"))


# --------------------------------------------------------------------------- McNemar


def test_mcnemar_exact_when_few_discordant():
    result = mcnemar_from_counts(10, 5, 15, 20)
    assert result.method == "exact binomial" and result.n_discordant == 20
    # two-sided exact: 2 P(X <= 5), X ~ Bin(20, 1/2)
    expected = 2 * sum(math.comb(20, i) for i in range(6)) / 2**20
    assert result.pvalue == pytest.approx(expected, rel=1e-12)
    assert result.estimate == pytest.approx((5 - 15) / 50)
    se = math.sqrt(20 - (5 - 15) ** 2 / 50) / 50
    assert result.ci == pytest.approx((-0.2 - 1.959963985 * se, -0.2 + 1.959963985 * se))


def test_mcnemar_chi_square_with_and_without_correction():
    corrected = mcnemar_from_counts(10, 15, 35, 20)
    assert corrected.method == "chi-square (continuity-corrected)"
    assert corrected.statistic == pytest.approx((20 - 1) ** 2 / 50)  # 7.22
    assert corrected.pvalue == pytest.approx(special.erfc(math.sqrt(7.22 / 2)))
    plain = mcnemar_from_counts(10, 15, 35, 20, correction=False)
    assert plain.method == "chi-square"
    assert plain.statistic == pytest.approx(400 / 50)
    assert plain.pvalue == pytest.approx(special.erfc(math.sqrt(8 / 2)))
    forced = mcnemar_from_counts(10, 15, 35, 20, exact=True)
    assert forced.method == "exact binomial"


def test_mcnemar_threshold_is_25_discordant_pairs():
    assert mcnemar_from_counts(0, 12, 12, 0).method == "exact binomial"  # 24
    assert mcnemar_from_counts(0, 12, 13, 0).method.startswith("chi-square")  # 25


def test_mcnemar_zero_discordant_pairs():
    result = mcnemar([True, False, True], [True, False, True])
    assert result.n_discordant == 0
    assert result.statistic == 0 and result.pvalue == 1.0
    assert result.estimate == 0


def test_mcnemar_from_arrays_counts_cells():
    first = np.array([1, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
    second = np.array([1, 0, 0, 0, 1, 1, 0, 0], dtype=bool)
    result = mcnemar(first, second)
    assert (result.first_only, result.second_only, result.n) == (3, 1, 8)
    assert result.pvalue == pytest.approx(0.625)  # 2 * P(X <= 1), X ~ Bin(4, 1/2) = 2 * 5/16
    with pytest.raises(ValueError, match="binary"):
        mcnemar([0, 2], [1, 1])


# --------------------------------------------------------------------------- Fisher


def _noncentral_hypergeometric(psi: float) -> np.ndarray:
    """P(X = x), x = 0..4, for the tea table's margins (4, 4; 4, 4) and odds ratio psi."""
    weights = np.array([math.comb(4, x) * math.comb(4, 4 - x) * psi**x for x in range(5)])
    return weights / weights.sum()


def test_fisher_tea_tasting():
    result = fisher_exact([[3, 1], [1, 3]])
    # hypergeometric probabilities 1, 16, 36, 16, 1 (/70): tables as or less likely than 16/70
    assert result.pvalue == pytest.approx(34 / 70, rel=1e-12)
    assert result.statistic == pytest.approx(9.0)  # sample odds ratio 3*3 / (1*1)
    greater = fisher_exact([[3, 1], [1, 3]], alternative="greater")
    assert greater.pvalue == pytest.approx(17 / 70, rel=1e-12)
    # Conditional MLE: E[X; psi] = 3 (R's fisher.test prints 6.408309).
    mle = optimize.brentq(lambda psi: _noncentral_hypergeometric(psi) @ np.arange(5) - 3, 1, 100)
    assert result.estimate == pytest.approx(mle, rel=1e-6)
    assert result.estimate == pytest.approx(6.408309, rel=1e-5)
    # Exact CI: P(X >= 3; low) = 0.025 and P(X <= 3; high) = 0.025 (R: 0.2117329, 621.93).
    low = optimize.brentq(lambda psi: _noncentral_hypergeometric(psi)[3:].sum() - 0.025, 1e-3, 10)
    high = optimize.brentq(lambda psi: _noncentral_hypergeometric(psi)[:4].sum() - 0.025, 10, 1e4)
    assert result.ci == pytest.approx((low, high), rel=1e-6)
    assert result.ci[0] == pytest.approx(0.2117329, rel=1e-4)


def test_fisher_rejects_bad_tables():
    with pytest.raises(ValueError, match="2x2"):
        fisher_exact([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="2x2"):
        fisher_exact([[1, -2], [3, 4]])


# --------------------------------------------------------------------------- t-tests


def test_paired_t_sleep():
    result = paired_t(SLEEP_1, SLEEP_2)
    assert result.statistic == pytest.approx(-4.0621, abs=5e-5)
    assert result.df == 9
    assert result.pvalue == pytest.approx(0.002833, abs=5e-7)
    assert result.estimate == pytest.approx(-1.58)
    assert result.ci == pytest.approx((-2.4598858, -0.7001142), abs=5e-8)
    assert result.stderr == pytest.approx(abs(result.estimate / result.statistic))


def test_welch_t_sleep():
    result = welch_t(SLEEP_1, SLEEP_2)
    assert result.statistic == pytest.approx(-1.8608, abs=5e-5)
    assert result.df == pytest.approx(17.776, abs=5e-4)
    assert result.pvalue == pytest.approx(0.07939, abs=5e-6)
    assert result.ci == pytest.approx((-3.3654832, 0.2054832), abs=5e-8)
    assert (result.n_first, result.n_second) == (10, 10)


def test_t_tests_degenerate():
    result = paired_t([1, 2, 3], [0, 1, 2])  # every difference is 1
    assert np.isnan(result.statistic) and result.stderr == 0 and result.estimate == 1
    with pytest.raises(ValueError, match="two pairs"):
        paired_t([1], [2])
    with pytest.raises(ValueError, match="two observations"):
        welch_t([1], [2, 3])


# --------------------------------------------------------------------------- Mann-Whitney


def test_mann_whitney_exact_by_hand():
    result = mann_whitney([1, 2, 3], [4, 5, 6])
    assert result.statistic == 0 and result.estimate == 0
    assert result.method == "exact"
    assert result.pvalue == pytest.approx(2 / 20)  # 2 of C(6,3) = 20 equally likely splits


def test_mann_whitney_ties_use_normal_approximation():
    x, y = [1, 2, 2, 3, 4], [2, 3, 4, 4, 5, 5]
    result = mann_whitney(x, y)
    assert result.method == "asymptotic"
    # U by counting pairs, ties 1/2
    u = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    assert result.statistic == u
    ranks = stats.rankdata(x + y)
    n1, n2 = len(x), len(y)
    _, t = np.unique(x + y, return_counts=True)
    var = n1 * n2 / 12 * ((n1 + n2 + 1) - np.sum(t**3 - t) / ((n1 + n2) * (n1 + n2 - 1)))
    u_from_ranks = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    assert u_from_ranks == u
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    assert result.pvalue == pytest.approx(2 * special.ndtr(-z), rel=1e-10)
    with pytest.raises(ValueError, match="no ties"):
        mann_whitney(x, y, method="exact")


def test_mann_whitney_all_equal_is_nan():
    result = mann_whitney([2, 2], [2, 2, 2])
    assert result.statistic == 3 and result.estimate == 0.5 and np.isnan(result.pvalue)


def test_wilcoxon_exact_conditional_matches_scipy_permutation():
    rng = np.random.default_rng(7)
    first, second = rng.integers(1, 6, size=10), rng.integers(1, 6, size=10)
    for zero_method in ("wilcox", "pratt"):
        for alternative in ("two-sided", "less", "greater"):
            ours = wilcoxon(
                first, second, zero_method=zero_method, method="exact-conditional", alternative=alternative
            )
            theirs = stats.wilcoxon(
                first - second,
                zero_method=zero_method,
                alternative=alternative,
                method=stats.PermutationMethod(n_resamples=2**10),  # >= 2^n: every sign pattern
            )
            assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9), (zero_method, alternative)
