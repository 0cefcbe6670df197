"""Kappas, ICCs, Lin's CCC and CVs against published worked examples and hand computation.

References:

* Shrout & Fleiss, Psychol Bull 86:420-428, 1979, Table 2 (6 targets x 4 judges) and
  their ANOVA (BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02) and ICCs (0.17, 0.29, 0.71;
  0.44, 0.62, 0.91). The F-based 95% limits (McGraw & Wong 1996) and F tests of the
  same data are those printed by R psych::ICC's example (psych documentation):
  ICC1 [-0.133, 0.72], ICC2 [0.019, 0.76], ICC3 [0.342, 0.95], ICC1k [-0.884, 0.91],
  ICC2k [0.071, 0.93], ICC3k [0.676, 0.99]; F = 1.8 (5, 18), p = 0.16477 and
  F = 11.0 (5, 15), p = 0.00013.
* Fleiss, Psychol Bull 76:378-382, 1971: 30 patients x 6 psychiatric diagnoses
  (5 categories), kappa = 0.430; R irr::kappam.fleiss prints kappa = 0.4302445 and
  z = 17.65183 (null variance of Fleiss, Nee & Landis 1979).
* The SAS/STAT PROC FREQ agreement example, 3x3 table [[0, 4, 1], [0, 8, 0], [0, 1, 5]]:
  simple kappa 0.4842, ASE 0.1380, 95% CL (0.2137, 0.7547), ASE under H0 0.1484,
  Z 3.2626; weighted (Cicchetti-Allison) kappa 0.4701, ASE 0.1457, CL (0.1845, 0.7558),
  ASE under H0 0.1426, Z 3.2971.
"""

import math

import numpy as np
import pytest

from stats.agreement import (
    ICC_FORMS,
    coefficient_of_variation,
    cohen_kappa,
    cohen_kappa_from_table,
    concordance_correlation,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    icc,
    icc_all,
    icc_mean_squares,
    within_subject_cv,
)

SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ]
)

FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ]
)

SAS_TABLE = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]


# --------------------------------------------------------------------------- ICC


def test_icc_mean_squares_shrout_fleiss():
    ms = icc_mean_squares(SHROUT_FLEISS)
    assert (ms.bms, ms.wms, ms.jms, ms.ems) == pytest.approx((11.24, 6.26, 32.49, 1.02), abs=5e-3)


PUBLISHED_ICC = {
    # form: (Shrout & Fleiss estimate, psych lower, psych upper, F, df1, df2, p)
    "ICC(1,1)": (0.17, -0.133, 0.72, 1.8, 5, 18, 0.16477),
    "ICC(2,1)": (0.29, 0.019, 0.76, 11.0, 5, 15, 0.00013),
    "ICC(3,1)": (0.71, 0.342, 0.95, 11.0, 5, 15, 0.00013),
    "ICC(1,k)": (0.44, -0.884, 0.91, 1.8, 5, 18, 0.16477),
    "ICC(2,k)": (0.62, 0.071, 0.93, 11.0, 5, 15, 0.00013),
    "ICC(3,k)": (0.91, 0.676, 0.99, 11.0, 5, 15, 0.00013),
}


@pytest.mark.parametrize("form", ICC_FORMS)
def test_icc_shrout_fleiss_1979(form):
    estimate, low, high, f, df1, df2, p = PUBLISHED_ICC[form]
    result = icc(SHROUT_FLEISS, form)
    assert result.form == form
    assert result.estimate == pytest.approx(estimate, abs=5e-3)
    # psych prints 3 decimals for lower limits and 2 for upper ones
    assert result.ci[0] == pytest.approx(low, abs=5e-4)
    assert result.ci[1] == pytest.approx(high, abs=5e-3)
    assert result.statistic == pytest.approx(f, abs=0.05)
    assert (result.df1, result.df2) == (df1, df2)
    assert result.pvalue == pytest.approx(p, abs=5e-6)
    assert (result.n_subjects, result.n_raters) == (6, 4)


def test_icc_exact_formulas_and_aliases():
    ms = icc_mean_squares(SHROUT_FLEISS)
    n, k = 6, 4
    assert icc(SHROUT_FLEISS, "1,1").estimate == pytest.approx(
        (ms.bms - ms.wms) / (ms.bms + (k - 1) * ms.wms)
    )
    assert icc(SHROUT_FLEISS, "icc(2,k)").estimate == pytest.approx(
        (ms.bms - ms.ems) / (ms.bms + (ms.jms - ms.ems) / n)
    )
    assert [r.form for r in icc_all(SHROUT_FLEISS)] == list(ICC_FORMS)
    with pytest.raises(ValueError, match="Unknown ICC form"):
        icc(SHROUT_FLEISS, "ICC(4,1)")


def test_icc_perfect_agreement_and_bad_input():
    x = np.array([[1.0, 1.0], [2.0, 2.0], [3.5, 3.5]])
    for result in icc_all(x):  # WMS = EMS = JMS = 0: every ICC is 1, F infinite
        assert result.estimate == 1.0 and result.statistic == np.inf and result.pvalue == 0
        assert np.isnan(result.ci[0])
    offset = x + np.array([0.0, 1.0])  # judge 2 always 1 higher: EMS = 0, JMS > 0
    shifted = icc(offset, "ICC(2,1)")
    ms = icc_mean_squares(offset)
    assert ms.ems == 0 and ms.jms > 0
    assert shifted.estimate == pytest.approx(ms.bms / (ms.bms + 2 * ms.jms / 3))
    assert icc(offset, "ICC(3,1)").estimate == 1.0
    assert np.isnan(icc(np.ones((3, 2)), "ICC(2,1)").estimate)
    with pytest.raises(ValueError, match="two targets and two judges"):
        icc([[1, 2]], "ICC(2,1)")
    with pytest.raises(ValueError, match="NaN"):
        icc([[1, 2], [np.nan, 3]], "ICC(2,1)")


# --------------------------------------------------------------------------- Fleiss


def test_fleiss_kappa_fleiss_1971():
    result = fleiss_kappa(FLEISS_1971)
    assert result.estimate == pytest.approx(0.4302445, abs=5e-8)
    assert result.statistic == pytest.approx(17.65183, abs=5e-6)
    assert (result.n_subjects, result.n_raters) == (30, 6)
    assert result.categories == (1, 2, 3, 4, 5)
    # category totals 26, 26, 30, 55, 43 of 180 ratings
    assert result.category_proportions * 180 == pytest.approx([26, 26, 30, 55, 43])


def test_fleiss_kappa_by_hand():
    # 3 subjects x 3 raters: counts per category
    counts = np.array([[3, 0], [2, 1], [0, 3]])
    p = np.array([5, 4]) / 9
    p_i = np.array([1.0, (4 + 1 - 3) / 6, 1.0])
    expected = (p_i.mean() - np.sum(p**2)) / (1 - np.sum(p**2))
    result = fleiss_kappa_from_counts(counts)
    assert result.estimate == pytest.approx(expected)
    assert result.observed_agreement == pytest.approx(p_i.mean())
    ratings = [["a", "a", "a"], ["a", "a", "b"], ["b", "b", "b"]]
    assert fleiss_kappa(ratings).estimate == pytest.approx(expected)


def test_fleiss_kappa_edge_cases():
    assert np.isnan(fleiss_kappa([[1, 1], [1, 1]]).estimate)  # a single category: undefined
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa_from_counts([[2, 0], [1, 0]])
    with pytest.raises(ValueError, match="not among the categories"):
        fleiss_kappa([[1, 2], [3, 1]], categories=[1, 2])
    with pytest.raises(ValueError, match="NaN"):
        fleiss_kappa([[1, 2], [np.nan, 1]])


# --------------------------------------------------------------------------- Cohen


def test_cohen_kappa_sas_example():
    result = cohen_kappa_from_table(SAS_TABLE)
    assert result.estimate == pytest.approx(0.4842, abs=5e-5)
    assert result.stderr == pytest.approx(0.1380, abs=5e-5)
    assert result.ci == pytest.approx((0.2137, 0.7547), abs=5e-5)
    assert result.stderr_null == pytest.approx(0.1484, abs=5e-5)
    assert result.statistic == pytest.approx(3.2626, abs=5e-5)
    assert result.pvalue == pytest.approx(0.0011, abs=5e-5)


def test_weighted_kappa_sas_example():
    result = cohen_kappa_from_table(SAS_TABLE, weights="linear")
    assert result.estimate == pytest.approx(0.4701, abs=5e-5)
    assert result.stderr == pytest.approx(0.1457, abs=5e-5)
    assert result.ci == pytest.approx((0.1845, 0.7558), abs=5e-5)
    assert result.stderr_null == pytest.approx(0.1426, abs=5e-5)
    assert result.statistic == pytest.approx(3.2971, abs=5e-5)


def test_kappa_by_hand_from_labels():
    # Fleiss, Levin & Paik's 3-category example in proportions, as 100 subjects:
    # p_o = 0.75 + 0.04 + 0.10 = 0.89, p_e = 0.8*0.8 + 0.1*0.05 + 0.1*0.15 = 0.66
    table = np.array([[75, 1, 4], [5, 4, 1], [0, 0, 10]])
    result = cohen_kappa_from_table(table)
    assert result.observed_agreement == pytest.approx(0.89)
    assert result.expected_agreement == pytest.approx(0.66)
    assert result.estimate == pytest.approx(0.23 / 0.34)
    rows, cols = np.nonzero(table)
    first = np.repeat(rows, table[rows, cols])
    second = np.repeat(cols, table[rows, cols])
    assert cohen_kappa(first, second).estimate == pytest.approx(0.23 / 0.34)


def test_quadratic_weighted_kappa_by_hand():
    first = [1, 2, 3, 4, 5, 3, 2, 4]
    second = [1, 3, 3, 5, 4, 2, 2, 4]
    k = 5
    w = 1 - (np.subtract.outer(np.arange(k), np.arange(k)) ** 2) / (k - 1) ** 2
    table = np.zeros((k, k))
    for a, b in zip(first, second, strict=True):
        table[a - 1, b - 1] += 1
    p = table / table.sum()
    po = np.sum(w * p)
    pe = np.sum(w * np.outer(p.sum(1), p.sum(0)))
    result = cohen_kappa(first, second, weights="quadratic", categories=range(1, 6))
    assert result.estimate == pytest.approx((po - pe) / (1 - pe))
    linear = cohen_kappa(first, second, weights="linear", categories=range(1, 6))
    assert linear.weights == "linear" and linear.estimate != result.estimate


def test_cohen_kappa_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    first = rng.integers(1, 6, size=60)
    second = np.clip(first + rng.integers(-1, 2, size=60), 1, 5)
    for weights in (None, "linear", "quadratic"):
        ours = cohen_kappa(first, second, weights=weights, categories=range(1, 6)).estimate
        theirs = metrics.cohen_kappa_score(first, second, weights=weights, labels=list(range(1, 6)))
        assert ours == pytest.approx(theirs, rel=1e-12)


def test_cohen_kappa_edge_cases():
    same = cohen_kappa([2, 2, 2], [2, 2, 2])  # one category only: p_e = 1
    assert np.isnan(same.estimate)
    with pytest.raises(ValueError, match="equal length"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(ValueError, match="NaN"):
        cohen_kappa([1, np.nan], [1, 2])


# --------------------------------------------------------------------------- Lin's CCC


def test_ccc_by_hand():
    x = np.array([2.0, 3.5, 4.0, 5.5, 7.0, 8.0])
    y = np.array([2.5, 3.0, 4.5, 6.0, 6.5, 9.0])
    n = x.size
    sxy = np.sum((x - x.mean()) * (y - y.mean())) / n
    rho_c = 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    result = concordance_correlation(x, y)
    assert result.estimate == pytest.approx(rho_c)
    r = np.corrcoef(x, y)[0, 1]
    assert result.pearson_r == pytest.approx(r)
    assert result.bias_correction == pytest.approx(rho_c / r)
    assert result.ci[0] < rho_c < result.ci[1]


def test_ccc_variance_reduces_to_fisher_when_means_and_variances_agree():
    # Same mean and variance: rho_c = r, u = 0, and Lin's Var(Z) = 1/(n-2).
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, 6.0, 7.0, 5.0])
    result = concordance_correlation(x, y)
    r = np.corrcoef(x, y)[0, 1]
    assert result.estimate == pytest.approx(r)
    assert result.location_shift == pytest.approx(0)
    assert result.stderr_z == pytest.approx(1 / math.sqrt(7 - 2))
    z = math.atanh(r)
    assert result.ci == pytest.approx(
        (math.tanh(z - 1.959964 / math.sqrt(5)), math.tanh(z + 1.959964 / math.sqrt(5)))
    )


def test_ccc_variance_against_simulation():
    # Lin's asymptotic SD of Z = atanh(rho_c) against its spread over simulated studies.
    rng = np.random.default_rng(11)
    n, reps, rho, sd_y, shift = 60, 2000, 0.8, 1.2, 0.3
    cov = [[1, rho * sd_y], [rho * sd_y, sd_y**2]]
    xy = rng.multivariate_normal([0, shift], cov, size=(reps, n))
    x, y = xy[..., 0], xy[..., 1]
    sxy = np.mean((x - x.mean(1, keepdims=True)) * (y - y.mean(1, keepdims=True)), axis=1)
    z = np.arctanh(2 * sxy / (x.var(1) + y.var(1) + (x.mean(1) - y.mean(1)) ** 2))
    predicted = np.median([concordance_correlation(x[i], y[i]).stderr_z for i in range(200)])
    assert predicted == pytest.approx(z.std(), rel=0.06)
    truth = 2 * rho * sd_y / (1 + sd_y**2 + shift**2)
    covered = np.mean(
        [(lambda c: c.ci[0] <= truth <= c.ci[1])(concordance_correlation(x[i], y[i])) for i in range(800)]
    )
    assert 0.92 <= covered <= 0.975


def test_ccc_edge_cases():
    perfect = concordance_correlation([1, 2, 3, 4], [1, 2, 3, 4])
    assert perfect.estimate == pytest.approx(1.0) and np.isnan(perfect.ci[0])
    flat = concordance_correlation([1, 2, 3], [5, 5, 5])
    assert np.isnan(flat.estimate)
    with pytest.raises(ValueError, match="three pairs"):
        concordance_correlation([1, 2], [1, 2])


# --------------------------------------------------------------------------- CV


def test_coefficient_of_variation():
    values = [10.0, 12.0, 14.0]
    result = coefficient_of_variation(values)
    assert result.cv_percent == pytest.approx(100 * 2 / 12)
    assert (result.mean, result.sd, result.n) == (12.0, 2.0, 3)
    assert coefficient_of_variation(values, ddof=0).sd == pytest.approx(math.sqrt(8 / 3))
    assert np.isnan(coefficient_of_variation([-1.0, 1.0]).cv_percent)
    with pytest.raises(ValueError, match="more than 1"):
        coefficient_of_variation([3.0])


def test_within_subject_cv_rms():
    data = np.array([[10.0, 12.0], [20.0, 22.0], [5.0, 5.0]])
    cvs = np.array([math.sqrt(2) / 11, math.sqrt(2) / 21, 0.0])  # SD of two values = |a-b|/sqrt(2)
    result = within_subject_cv(data)
    assert result.cv_percent == pytest.approx(100 * math.sqrt(np.mean(cvs**2)))
    assert result.per_subject_cv_percent == pytest.approx(100 * cvs)
    assert (result.n_subjects, result.n_measurements, result.df) == (3, 6, 3)


def test_within_subject_cv_unequal_repeats_and_missing():
    rows = [[10.0, 12.0, 14.0], [20.0, 22.0], [7.0]]  # the single measurement is ignored
    cv1, cv2 = 2 / 12, math.sqrt(2) / 21
    result = within_subject_cv(rows)
    assert result.cv_percent == pytest.approx(100 * math.sqrt((2 * cv1**2 + 1 * cv2**2) / 3))
    as_array = within_subject_cv(np.array([[10.0, 12.0, 14.0], [20.0, 22.0, np.nan], [7.0, np.nan, np.nan]]))
    assert as_array.cv_percent == pytest.approx(result.cv_percent)
    assert result.n_subjects == 2
    with pytest.raises(ValueError, match="two or more"):
        within_subject_cv([[1.0], [2.0]])
