"""OR covariance estimators: jackknife (RJafroc's), bootstrap and DeLong."""

import numpy as np
import pytest

from stats.covariance import covariance_bootstrap, covariance_delong, covariance_jackknife, covariance_summary
from stats.dataset import NO_MARK, DatasetError, ReaderStudy
from stats.fom import jackknife
from stats.io_plain import read_plain
from stats.mrmc import or_analysis

from .reference import DATASETS


@pytest.fixture(scope="module")
def van_dyke():
    return read_plain(DATASETS / "dataset02")


def small_roc(seed=3, k1=7, k2=6):
    rng = np.random.default_rng(seed)
    nl = np.full((2, 2, k1 + k2, 1), NO_MARK)
    nl[:, :, :k1, 0] = rng.integers(1, 6, (2, 2, k1))
    ll = rng.integers(2, 7, (2, 2, k2, 1)).astype(float)
    return ReaderStudy(
        kind="ROC",
        modality_ids=("A", "B"),
        reader_ids=("r1", "r2"),
        k1=k1,
        nl=nl,
        ll=ll,
        lesions_per_case=np.ones(k2, dtype=int),
        weights=np.ones((k2, 1)),
    )


def psi(x, y):
    return 1.0 if y > x else 0.5 if y == x else 0.0


def test_delong_matches_structural_components_by_hand():
    data = small_roc()
    k1, k2 = data.k1, data.k2
    cov = covariance_delong(data, "Wilcoxon")

    def components(i, j):
        fp, tp = data.nl[i, j, :k1, 0], data.ll[i, j, :, 0]
        v10 = np.array([np.mean([psi(f, t) for f in fp]) for t in tp])
        v01 = np.array([np.mean([psi(f, t) for t in tp]) for f in fp])
        return v10, v01

    a10, a01 = components(0, 1)
    b10, b01 = components(1, 1)
    expected = np.cov(a10, b10)[0, 1] / k2 + np.cov(a01, b01)[0, 1] / k1
    assert cov[0, 1, 1, 1] == pytest.approx(expected, rel=1e-12)
    assert cov[0, 1, 0, 1] == pytest.approx(np.var(a10, ddof=1) / k2 + np.var(a01, ddof=1) / k1, rel=1e-12)


def test_delong_and_jackknife_variances_agree_closely_for_the_auc(van_dyke):
    jk_var = covariance_summary(covariance_jackknife(jackknife(van_dyke, "Wilcoxon")))["Var"]
    delong_var = covariance_summary(covariance_delong(van_dyke, "Wilcoxon"))["Var"]
    assert delong_var == pytest.approx(jk_var, rel=0.05)


def test_bootstrap_is_reproducible_and_close_to_the_jackknife(van_dyke):
    first = covariance_bootstrap(van_dyke, "Wilcoxon", n_boot=300, seed=11)
    np.testing.assert_array_equal(first, covariance_bootstrap(van_dyke, "Wilcoxon", n_boot=300, seed=11))
    jk = covariance_summary(covariance_jackknife(jackknife(van_dyke, "Wilcoxon")))
    boot = covariance_summary(first)
    assert boot["Var"] == pytest.approx(jk["Var"], rel=0.25)
    assert boot["Cov2"] == pytest.approx(jk["Cov2"], rel=0.5)


def test_or_with_other_covariances_runs_and_keeps_the_foms(van_dyke):
    base = or_analysis(van_dyke, "Wilcoxon")
    for method in ("DeLong", "bootstrap"):
        result = or_analysis(van_dyke, "Wilcoxon", covariance=method, n_boot=100)
        np.testing.assert_array_equal(result.foms, base.foms)
        assert result.method == f"OR ({method} covariance)"
        assert 0 < result.tests["RRRC"].p < 1
        assert result.tests["RRFC"].statistic == pytest.approx(base.tests["RRFC"].statistic)


def test_delong_needs_an_auc():
    with pytest.raises(DatasetError, match="DeLong covariance applies"):
        covariance_delong(read_plain(DATASETS / "dataset04"), "wAFROC")
    with pytest.raises(DatasetError, match="Unknown covariance"):
        or_analysis(read_plain(DATASETS / "dataset02"), "Wilcoxon", covariance="magic")
