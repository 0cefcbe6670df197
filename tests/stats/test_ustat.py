"""stats.ustat: the U-statistic (Gallas 2006/2008) analysis of the ROC AUC on all reads.

No other implementation is installed, so the estimator is checked against

* a brute-force reference written here: explicit loops over every pair of terms of the two
  reader-averaged AUCs, each pair sorted into its pattern (same/different reader, normal case,
  abnormal case) -- the definitions of the coefficients and moments, to 1e-12;
* exact unbiasedness: readers and cases drawn from small finite populations of "types", every
  draw enumerated, so E[variance estimate] and the true variance of the AUC difference are exact
  sums (to 1e-12), for designs with missing reads; and by simulation from the Roe-Metz model;
* complete data: the readers' AUCs are stats.fom's Wilcoxon FOMs, and a single reader's variance is
  the textbook unbiased variance of the two-sample (Mann-Whitney) U-statistic.
"""

import math
from itertools import combinations, product

import numpy as np
import pytest

from stats.dataset import DatasetError, roc_study
from stats.fom import figure_of_merit
from stats.simulate import roe_metz, rsm_froc
from stats.ustat import METHOD, ustat_analysis


def _kernel(x: float, y: float) -> float:
    return 1.0 if y > x else 0.5 if y == x else 0.0


def brute_force(ratings: np.ndarray, mask: np.ndarray, k1: int, weights: str = "equal") -> dict:
    """The AUCs and their covariance matrix from explicit loops over all pairs of terms."""
    n_mod, n_rdr, n_case = ratings.shape
    terms = []  # per modality: (reader, normal, abnormal, weight B, kernel s)
    aucs = []
    for m in range(n_mod):
        per_reader = {}
        for r in range(n_rdr):
            pairs = [(i, j) for i in range(k1) for j in range(k1, n_case) if mask[m, r, i] and mask[m, r, j]]
            if pairs:
                per_reader[r] = pairs
        total = sum(len(p) for p in per_reader.values())
        mine = []
        for r, pairs in per_reader.items():
            for i, j in pairs:
                weight = 1 / (len(per_reader) * len(pairs)) if weights == "equal" else 1 / total
                mine.append((r, i, j, weight, _kernel(ratings[m, r, i], ratings[m, r, j])))
        terms.append(mine)
        aucs.append(sum(w * s for *_, w, s in mine))
    order = [(1, 1, 1), (1, 0, 1), (1, 1, 0), (1, 0, 0), (0, 1, 1), (0, 0, 1), (0, 1, 0), (0, 0, 0)]
    cov = np.empty((n_mod, n_mod))
    for x, y in product(range(n_mod), repeat=2):
        numer, denom, coef = np.zeros(8), np.zeros(8), np.zeros(8)
        for r, i, j, w, s in terms[x]:
            for r2, i2, j2, w2, s2 in terms[y]:
                k = order.index((int(r == r2), int(i == i2), int(j == j2)))
                numer[k] += s * s2
                denom[k] += 1
                coef[k] += w * w2
        moments = np.divide(numer, denom, out=np.zeros(8), where=denom > 0)
        mean_product = moments[7] if denom[7] else moments[3]  # one reader: M4 stands for M8
        cov[x, y] = float(np.sum(coef * moments)) - mean_product
    return {"aucs": np.array(aucs), "cov": cov}


def _tiny(seed: int, n_mod: int, n_rdr: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    k1, k2 = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    ratings = rng.integers(1, 5, (n_mod, n_rdr, k1 + k2)).astype(float)  # many ties
    mask = rng.random((n_mod, n_rdr, k1 + k2)) < 0.75
    return ratings, mask, k1


@pytest.mark.parametrize("weights", ["equal", "pairs"])
@pytest.mark.parametrize(("n_mod", "n_rdr"), [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (1, 3)])
def test_equals_the_brute_force_sums_over_pairs_of_terms(n_mod: int, n_rdr: int, weights: str) -> None:
    checked = 0
    for seed in range(40):
        ratings, mask, k1 = _tiny(seed, n_mod, n_rdr)
        data = roc_study(ratings, k1, [f"m{i}" for i in range(n_mod)], [f"r{j}" for j in range(n_rdr)])
        try:
            result = ustat_analysis(data, mask, reader_weights=weights)
        except DatasetError:
            continue  # too few reads for this draw (a modality without a pair, or without M4/M8)
        reference = brute_force(ratings, mask, k1, weights)
        assert [m.auc for m in result.modalities] == pytest.approx(reference["aucs"], abs=1e-12)
        np.testing.assert_allclose(result.covariance, reference["cov"], rtol=0, atol=1e-12)
        assert result.coefficients.sum(axis=2) == pytest.approx(np.ones((n_mod, n_mod)), abs=1e-12)
        for d, (a, b) in zip(result.differences, combinations(range(n_mod), 2), strict=True):
            cov = reference["cov"]
            assert d.variance == pytest.approx(cov[a, a] + cov[b, b] - 2 * cov[a, b], abs=1e-12)
        checked += 1
    assert checked >= 20


def test_ratings_outside_the_mask_are_ignored() -> None:
    ratings, mask, k1 = _tiny(3, 2, 3)
    first = ustat_analysis(roc_study(ratings, k1, ["a", "b"], ["1", "2", "3"]), mask)
    noisy = np.where(mask, ratings, np.random.default_rng(1).normal(size=ratings.shape))
    second = ustat_analysis(roc_study(noisy, k1, ["a", "b"], ["1", "2", "3"]), mask)
    np.testing.assert_array_equal(first.covariance, second.covariance)
    assert first.modalities == second.modalities


# ---- exact unbiasedness: finite populations of readers and cases, every draw enumerated ----


def _enumerate(
    mask: np.ndarray, k1: int, seed: int, weights: str = "equal", reader_types: int = 2
) -> tuple[float, float, float, float]:
    """E[estimated Var(AUC_1 - AUC_2)], the true Var(AUC_1 - AUC_2), and the same for AUC_1,
    over all draws of reader and case types (uniform, independent) for the fixed design ``mask``."""
    rng = np.random.default_rng(seed)
    n_mod, n_rdr, n_case = mask.shape
    case_types = 2
    # rating of a case of type c (normal or abnormal) by a reader of type t in modality m
    normal_rating = rng.integers(0, 4, (n_mod, reader_types, case_types)).astype(float)
    abnormal_rating = rng.integers(1, 5, (n_mod, reader_types, case_types)).astype(float)
    diffs, var_diffs, firsts, var_firsts = [], [], [], []
    for readers in product(range(reader_types), repeat=n_rdr):
        for cases in product(range(case_types), repeat=n_case):
            r = np.array(readers)[None, :, None]
            c = np.array(cases)[None, None, :]
            m = np.arange(n_mod)[:, None, None]
            ratings = np.where(
                np.arange(n_case)[None, None, :] < k1, normal_rating[m, r, c], abnormal_rating[m, r, c]
            )
            study = roc_study(ratings, k1, ["a", "b"], [str(j) for j in range(n_rdr)])
            result = ustat_analysis(study, mask, reader_weights=weights)
            diffs.append(result.differences[0].estimate)
            var_diffs.append(result.differences[0].variance)
            firsts.append(result.modalities[0].auc)
            var_firsts.append(result.modalities[0].variance)
    return float(np.mean(var_diffs)), float(np.var(diffs)), float(np.mean(var_firsts)), float(np.var(firsts))


@pytest.mark.parametrize(("seed", "weights"), [(2, "equal"), (5, "equal"), (2, "pairs")])
def test_unbiased_exactly_for_a_design_with_missing_reads(seed: int, weights: str) -> None:
    k1 = 3
    mask = np.ones((2, 3, 6), dtype=bool)
    mask[0, 0, [1, 4]] = False  # reader 0 skipped a normal and an abnormal case in modality a
    mask[1, 2, 0] = False
    mask[:, 1, 5] = False  # reader 1 never read case 5
    mean_estimate, variance, mean_estimate_a, variance_a = _enumerate(mask, k1, seed, weights)
    assert variance > 1e-3 and variance_a > 1e-3 and variance != pytest.approx(variance_a)
    assert mean_estimate == pytest.approx(variance, abs=1e-12)
    assert mean_estimate_a == pytest.approx(variance_a, abs=1e-12)


def test_unbiased_exactly_for_a_split_plot_like_design() -> None:
    """Two reader groups on overlapping case subsets: still unbiased."""
    mask = np.zeros((2, 3, 6), dtype=bool)
    mask[:, 0, [0, 1, 3, 4]] = True
    mask[:, 1, [1, 2, 4, 5]] = True
    mask[:, 2, :] = True
    mask[1, 2, 2] = False
    mean_estimate, variance, mean_estimate_a, variance_a = _enumerate(mask, 3, 3)
    assert variance > 1e-3 and variance_a > 1e-3 and variance != pytest.approx(variance_a)
    assert mean_estimate == pytest.approx(variance, abs=1e-12)
    assert mean_estimate_a == pytest.approx(variance_a, abs=1e-12)


def test_one_reader_with_missing_reads_is_unbiased_for_the_variance_given_the_reader() -> None:
    """One reader (of a fixed type): the variance over cases, exactly, with missing reads."""
    mask = np.ones((2, 1, 7), dtype=bool)
    mask[0, 0, 1] = mask[1, 0, 5] = False
    mean_estimate, variance, mean_estimate_a, variance_a = _enumerate(mask, 3, 5, reader_types=1)
    assert variance > 1e-3
    assert mean_estimate == pytest.approx(variance, abs=1e-12)
    assert mean_estimate_a == pytest.approx(variance_a, abs=1e-12)


def test_unbiased_by_simulation_with_random_missing_reads() -> None:
    """Roe-Metz studies (new readers and cases each time) with 25% of the reads missing at random."""
    n_sim = 1500
    rng = np.random.default_rng(2026)
    differences, estimates = [], []
    for seed in range(n_sim):
        data = roe_metz(modalities=2, readers=4, normal_cases=12, abnormal_cases=12, mu=1.2, seed=seed)
        mask = rng.random(data.shape) < 0.75
        result = ustat_analysis(data, mask)
        differences.append(result.differences[0].estimate)
        estimates.append(result.differences[0].variance)
    empirical = float(np.var(differences, ddof=1))
    mean_estimate = float(np.mean(estimates))
    # Monte Carlo SE of the empirical variance (normal theory) and of the mean of the estimates
    tolerance = 3.5 * math.hypot(empirical * math.sqrt(2 / (n_sim - 1)), np.std(estimates) / math.sqrt(n_sim))
    assert abs(mean_estimate - empirical) < tolerance, (mean_estimate, empirical, tolerance)


# ---- complete data ----


def test_complete_data_reader_aucs_are_the_wilcoxon_foms() -> None:
    data = roe_metz(modalities=3, readers=4, normal_cases=20, abnormal_cases=15, seed=7)
    result = ustat_analysis(data)
    foms = figure_of_merit(data, "Wilcoxon")
    np.testing.assert_allclose(result.reader_aucs, foms, rtol=0, atol=1e-12)
    assert [m.auc for m in result.modalities] == pytest.approx(foms.mean(axis=1), abs=1e-12)
    assert result.reads == 3 * 4 * 35
    assert result.readers_random
    assert result.method == METHOD
    pairs = ustat_analysis(data, reader_weights="pairs")  # iMRMC's weights: the same on complete data
    assert [m.auc for m in pairs.modalities] == pytest.approx(foms.mean(axis=1), abs=1e-12)
    np.testing.assert_allclose(pairs.covariance, result.covariance, rtol=1e-12, atol=1e-15)


def mann_whitney_unbiased_variance(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook unbiased variance estimate of U = mean of s(x_i, y_j) over m x n pairs.

    Var U = [xi_11 + (n - 1) xi_10 + (m - 1) xi_01] / (m n) with xi_10 = Cov(s_ij, s_ij'),
    xi_01 = Cov(s_ij, s_i'j), xi_11 = Var s_ij (Hoeffding 1948; Lehmann, Nonparametrics, 1975,
    appendix); each E[s s'] estimated by its U-statistic (the average over the distinct pairs).
    """
    m, n = len(x), len(y)
    s = np.where(y[None, :] > x[:, None], 1.0, np.where(y[None, :] == x[:, None], 0.5, 0.0))
    total, squares = s.sum(), (s**2).sum()
    rows, cols = (s.sum(axis=1) ** 2).sum(), (s.sum(axis=0) ** 2).sum()
    same_normal = (rows - squares) / (m * n * (n - 1))  # E[s_ij s_ij'], j != j'
    same_abnormal = (cols - squares) / (m * n * (m - 1))  # E[s_ij s_i'j], i != i'
    mean_square = (total**2 - rows - cols + squares) / (m * n * (m - 1) * (n - 1))  # E[s_ij s_i'j']
    xi11 = squares / (m * n) - mean_square
    xi10 = same_normal - mean_square
    xi01 = same_abnormal - mean_square
    return float((xi11 + (n - 1) * xi10 + (m - 1) * xi01) / (m * n))


def test_single_reader_variance_is_the_unbiased_mann_whitney_variance() -> None:
    data = roe_metz(modalities=1, readers=1, normal_cases=17, abnormal_cases=11, seed=4)
    result = ustat_analysis(data)
    x, y = data.nl[0, 0, : data.k1, 0], data.ll[0, 0, :, 0]
    assert result.modalities[0].variance == pytest.approx(mann_whitney_unbiased_variance(x, y), abs=1e-14)
    assert not result.readers_random
    # with ties too
    tied = roc_study(np.round(np.r_[x, y])[None, None, :], data.k1, ["a"], ["r"])
    expected = mann_whitney_unbiased_variance(np.round(x), np.round(y))
    assert ustat_analysis(tied).modalities[0].variance == pytest.approx(expected, abs=1e-14)


def test_normal_approximation_tests() -> None:
    data = roe_metz(modalities=2, readers=5, normal_cases=30, abnormal_cases=30, tau=(0.0, 0.6), seed=1)
    result = ustat_analysis(data, confidence=0.9)
    d = result.differences[0]
    assert d.modalities == ("1", "2")
    assert d.statistic == pytest.approx(d.estimate / d.stderr)
    assert d.ci[1] - d.estimate == pytest.approx(1.6448536269514722 * d.stderr)
    assert d.p == pytest.approx(math.erfc(abs(d.statistic) / math.sqrt(2)))
    m = result.modalities[0]
    assert m.stderr == pytest.approx(math.sqrt(m.variance))
    assert m.ci[0] == pytest.approx(m.auc - 1.6448536269514722 * m.stderr)


# ---- refusals ----


def test_refusals() -> None:
    ratings, mask, k1 = _tiny(3, 2, 3)
    data = roc_study(ratings, k1, ["a", "b"], ["1", "2", "3"])
    with pytest.raises(DatasetError, match=r"shape \(2, 2, 6\); the study is \(2, 3, 6\)"):
        ustat_analysis(data, mask[:, :2])
    with pytest.raises(DatasetError, match="boolean"):
        ustat_analysis(data, mask.astype(int))
    no_abnormal = mask.copy()
    no_abnormal[1, :, k1:] = False
    with pytest.raises(DatasetError, match="Modality b: no reader read both a normal and an abnormal case"):
        ustat_analysis(data, no_abnormal)
    one_normal = np.ones_like(mask)
    one_normal[:, :, 1:k1] = False
    with pytest.raises(DatasetError, match="Too few reads"):
        ustat_analysis(data, one_normal)
    with pytest.raises(DatasetError, match="takes ROC data; this dataset is FROC"):
        ustat_analysis(rsm_froc(seed=1))
    with pytest.raises(DatasetError, match="confidence"):
        ustat_analysis(data, mask, confidence=95)
