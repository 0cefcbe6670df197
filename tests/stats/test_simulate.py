"""Simulators: seeded, and their samples behave as their models say."""

import numpy as np
import pytest

from stats.fom import jackknife
from stats.mrmc import or_analysis
from stats.simulate import RoeMetzVariances, roe_metz, roe_metz_expected_auc, rsm_froc


def test_roe_metz_is_seeded():
    a, b = roe_metz(seed=5), roe_metz(seed=5)
    np.testing.assert_array_equal(a.nl, b.nl)
    np.testing.assert_array_equal(a.ll, b.ll)
    assert not np.array_equal(a.ll, roe_metz(seed=6).ll)


def test_roe_metz_auc_matches_the_model():
    data = roe_metz(modalities=1, readers=20, normal_cases=400, abnormal_cases=400, mu=1.2, seed=1)
    auc = jackknife(data, "Wilcoxon").fom.mean()
    assert auc == pytest.approx(roe_metz_expected_auc(1.2), abs=0.02)


def test_roe_metz_null_hypothesis_rejection_rate_is_near_alpha():
    """Under equal modalities, OR RRRC rejects about 5% of simulated studies (Roe & Metz 1997)."""
    rejections = [
        or_analysis(roe_metz(readers=4, normal_cases=30, abnormal_cases=30, seed=s), "Wilcoxon")
        .tests["RRRC"]
        .p
        < 0.05
        for s in range(200)
    ]
    assert 0.01 <= np.mean(rejections) <= 0.10


def test_roe_metz_detects_a_large_effect():
    data = roe_metz(readers=5, normal_cases=60, abnormal_cases=60, tau=(0.0, 0.8), seed=2)
    assert or_analysis(data, "Wilcoxon").tests["RRRC"].p < 0.05
    assert RoeMetzVariances().total == pytest.approx(1.0)


def test_rsm_marks_follow_lambda_and_nu():
    data = rsm_froc(modalities=1, readers=5, normal_cases=300, abnormal_cases=300, lam=0.8, nu=0.6, seed=3)
    assert jackknife(data, "MaxNLFAllCases").fom.mean() == pytest.approx(0.8, abs=0.05)
    assert jackknife(data, "MaxLLF").fom.mean() == pytest.approx(0.6, abs=0.03)
    better = rsm_froc(modalities=1, readers=5, normal_cases=300, abnormal_cases=300, lam=0.8, nu=0.9, seed=3)
    assert jackknife(better, "wAFROC").fom.mean() > jackknife(data, "wAFROC").fom.mean()


def test_rsm_rejects_bad_parameters():
    with pytest.raises(ValueError, match="nu must lie"):
        rsm_froc(nu=1.5)
