"""Diagnostic proportions and DeLong's AUC variance against published numbers and brute force.

References:

* Newcombe, Stat Med 17:857-872, 1998, Table I: 95% intervals for 81/263, 15/148,
  0/20 and 1/29 by Wilson's score method (his method 3) and Clopper-Pearson (method 5).
* Hanley & McNeil, Radiology 143:29-36, 1982, Table I: five-point ratings of 109 CT
  images (58 normal: 33, 6, 6, 11, 2; 51 abnormal: 3, 2, 2, 11, 33); AUC = 0.893.
* RJafroc 2.1.3 (shared reference data, dataset02, Van Dyke et al.): its Wilcoxon
  AUCs and its leave-one-case-out AUCs. DeLong's S10/m + S01/n equals the sum of the
  jackknife variances over abnormal and over normal cases, because deleting positive
  i gives AUC_(i) = (m AUC - V10_i)/(m - 1); covariances likewise. That identity ties
  our DeLong covariance to RJafroc's numbers exactly.
"""

import math

import numpy as np
import pytest
from scipy import special

from stats.diagnostic import (
    delong_covariance,
    delong_placements,
    delong_test,
    diagnostic_measures,
    diagnostic_measures_from_arrays,
    proportion,
    roc_auc,
)
from stats.io_plain import read_plain

from .reference import DATASETS, fom_table, r_array, reference

Z95 = 1.959963984540054

# --------------------------------------------------------------------------- proportions

NEWCOMBE = [
    # x, n, Wilson (method 3), Clopper-Pearson (method 5)
    (81, 263, (0.2553, 0.3662), (0.2527, 0.3676)),
    (15, 148, (0.0624, 0.1605), (0.0578, 0.1617)),
    (0, 20, (0.0000, 0.1611), (0.0000, 0.1684)),
    (1, 29, (0.0061, 0.1718), (0.0009, 0.1776)),
]


@pytest.mark.parametrize(("x", "n", "wilson", "exact"), NEWCOMBE)
def test_proportion_intervals_newcombe_1998(x, n, wilson, exact):
    p = proportion(x, n)
    assert p.estimate == pytest.approx(x / n)
    assert p.ci_wilson == pytest.approx(wilson, abs=5e-5)
    assert p.ci_exact == pytest.approx(exact, abs=5e-5)


def test_wilson_interval_closed_form():
    x, n = 7, 9
    p, z = x / n, Z95
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert proportion(x, n).ci_wilson == pytest.approx((centre - half, centre + half), rel=1e-10)
    # Clopper-Pearson ends at n successes: lower bound (alpha/2)^(1/n), upper 1.
    assert proportion(9, 9).ci_exact == pytest.approx((0.025 ** (1 / 9), 1.0), rel=1e-10)


def test_proportion_empty_denominator_is_nan():
    p = proportion(0, 0)
    assert np.isnan(p.estimate) and np.isnan(p.ci_wilson[0]) and np.isnan(p.ci_exact[1])
    with pytest.raises(ValueError, match="exceed"):
        proportion(3, 2)
    with pytest.raises(ValueError, match="non-negative integer"):
        proportion(1.5, 3)


def test_diagnostic_measures_from_counts():
    m = diagnostic_measures(tp=45, fp=10, fn=5, tn=40)
    assert m.sensitivity.estimate == pytest.approx(0.9)
    assert m.specificity.estimate == pytest.approx(0.8)
    assert m.ppv.estimate == pytest.approx(45 / 55)
    assert m.npv.estimate == pytest.approx(40 / 45)
    assert m.accuracy.estimate == pytest.approx(0.85)
    assert m.prevalence.estimate == pytest.approx(0.5)
    assert (m.sensitivity.successes, m.sensitivity.n) == (45, 50)
    assert m.ppv.ci_wilson == proportion(45, 55).ci_wilson


def test_diagnostic_measures_from_arrays_match_counts():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1], dtype=bool)
    test = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 1], dtype=bool)
    m = diagnostic_measures_from_arrays(truth, test)
    assert (m.tp, m.fp, m.fn, m.tn) == (4, 1, 1, 4)
    assert m == diagnostic_measures(4, 1, 1, 4)


def test_diagnostic_measures_without_negatives():
    m = diagnostic_measures(tp=3, fp=0, fn=1, tn=0)
    assert np.isnan(m.specificity.estimate) and np.isnan(m.specificity.ci_wilson[0])
    assert m.specificity.n == 0
    assert m.npv.estimate == 0 and m.npv.n == 1  # the one negative test is a false negative
    assert m.sensitivity.estimate == 0.75
    with pytest.raises(ValueError, match="empty"):
        diagnostic_measures(0, 0, 0, 0)


# --------------------------------------------------------------------------- ROC / DeLong


def _hanley_mcneil():
    normal, abnormal = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
    scores = np.concatenate([np.repeat(np.arange(1, 6), normal), np.repeat(np.arange(1, 6), abnormal)])
    truth = np.r_[np.zeros(58, bool), np.ones(51, bool)]
    return truth, scores


def _brute_force(truth, scores):
    """Structural components by the O(mn) definition of DeLong et al. (1988)."""
    x, y = scores[truth], scores[~truth]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def test_auc_hanley_mcneil_1982():
    truth, scores = _hanley_mcneil()
    result = roc_auc(truth, scores)
    assert result.estimate == pytest.approx(0.893, abs=5e-4)  # their trapezoidal area
    assert (result.n_positive, result.n_negative) == (51, 58)
    # Their SE 0.032 uses the exponential approximation Q1 = A/(2-A), Q2 = 2A^2/(1+A);
    # DeLong's nonparametric SE on the same data is close but not equal.
    a = result.estimate
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se_hm = math.sqrt((a * (1 - a) + 50 * (q1 - a * a) + 57 * (q2 - a * a)) / (51 * 58))
    assert se_hm == pytest.approx(0.032, abs=5e-4)
    assert result.stderr == pytest.approx(se_hm, abs=0.003)
    _, v10, v01 = _brute_force(truth, scores)
    se = math.sqrt(np.var(v10, ddof=1) / 51 + np.var(v01, ddof=1) / 58)
    assert result.stderr == pytest.approx(se, rel=1e-12)
    assert result.ci == pytest.approx((a - Z95 * se, a + Z95 * se), rel=1e-12)


def test_placements_equal_brute_force_with_ties():
    rng = np.random.default_rng(3)
    truth = rng.random(40) < 0.4
    scores = rng.integers(1, 6, size=(3, 40)).astype(float) + truth  # ordinal, many ties
    auc, v10, v01 = delong_placements(truth, scores)
    for r in range(3):
        a, x, y = _brute_force(truth, scores[r])
        assert auc[r] == pytest.approx(a, rel=1e-12)
        assert v10[r] == pytest.approx(x, rel=1e-12)
        assert v01[r] == pytest.approx(y, rel=1e-12)
    _, cov = delong_covariance(truth, scores)
    m, n = truth.sum(), (~truth).sum()
    expected = np.cov(v10) / m + np.cov(v01) / n
    assert cov == pytest.approx(expected, rel=1e-12)


def test_delong_covariance_equals_rjafroc_jackknife_identity():
    data = read_plain(DATASETS / "dataset02")
    ref = reference("dataset02")
    jk = r_array(ref["pseudovalues"]["jkFomValues"])  # [modality, reader, case]
    aucs = fom_table(ref["FOMs"]["Wilcoxon"], data.modality_ids, data.reader_ids)
    k1 = data.k1
    truth = np.r_[np.zeros(k1, bool), np.ones(data.k2, bool)]
    for j in range(len(data.reader_ids)):
        scores = np.vstack([np.concatenate([data.nl[i, j, :k1, 0], data.ll[i, j, :, 0]]) for i in range(2)])
        auc, cov = delong_covariance(truth, scores)
        assert auc == pytest.approx(aucs[:, j], rel=1e-12)
        expected = np.zeros((2, 2))
        for cases in (slice(0, k1), slice(k1, None)):
            theta = jk[:, j, cases]
            n_cases = theta.shape[1]
            dev = theta - theta.mean(axis=1, keepdims=True)
            expected += (n_cases - 1) / n_cases * dev @ dev.T
        assert cov == pytest.approx(expected, rel=1e-9)
        test = delong_test(truth, scores[0], scores[1])
        var = expected[0, 0] + expected[1, 1] - 2 * expected[0, 1]
        z = (aucs[0, j] - aucs[1, j]) / math.sqrt(var)
        assert test.statistic == pytest.approx(z, rel=1e-9)
        assert test.pvalue == pytest.approx(special.erfc(abs(z) / math.sqrt(2)), rel=1e-9)


def test_delong_test_by_hand():
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=bool)
    first = np.array([1, 2, 2, 4, 3, 4, 5, 5, 2], dtype=float)
    second = np.array([2, 1, 3, 3, 3, 5, 4, 2, 4], dtype=float)
    result = delong_test(truth, first, second)
    _, x1, y1 = _brute_force(truth, first)
    _, x2, y2 = _brute_force(truth, second)
    s10 = np.cov(np.vstack([x1, x2]))
    s01 = np.cov(np.vstack([y1, y2]))
    s = s10 / 5 + s01 / 4
    diff = x1.mean() - x2.mean()
    se = math.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    assert result.estimate == pytest.approx(diff)
    assert result.stderr == pytest.approx(se)
    assert result.statistic == pytest.approx(diff / se)
    assert result.ci == pytest.approx((diff - Z95 * se, diff + Z95 * se))
    assert result.correlation == pytest.approx(s[0, 1] / math.sqrt(s[0, 0] * s[1, 1]))
    assert result.auc_first.estimate == pytest.approx(x1.mean())
    one_sided = delong_test(truth, first, second, alternative="greater")
    assert one_sided.pvalue == pytest.approx(0.5 * special.erfc(diff / se / math.sqrt(2)))


def test_delong_identical_modalities_and_perfect_separation():
    truth = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    scores = np.array([1, 2, 3, 4, 5, 6], dtype=float)
    same = delong_test(truth, scores, scores)
    assert same.estimate == 0 and same.statistic == 0 and same.pvalue == 1
    perfect = roc_auc(truth, scores)
    assert perfect.estimate == 1 and perfect.stderr == 0 and perfect.ci == (1.0, 1.0)


def test_roc_input_checks():
    with pytest.raises(ValueError, match="two positive and two negative"):
        roc_auc([True, False, False], [3, 1, 2])
    with pytest.raises(ValueError, match="n_cases"):
        roc_auc([True, False, True, False], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([True, False, True, False], [1, 2, np.nan, 0])
