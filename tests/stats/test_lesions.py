"""Size-stratified lesion sensitivity and false positives per case, checked by hand."""

import math

import numpy as np
import pytest

from stats.classical import paired_t
from stats.diagnostic import proportion
from stats.lesions import false_positives_per_case, sensitivity_by_size

Z95 = 1.959963984540054


def _wilson(x: int, n: int) -> tuple[float, float]:
    p = x / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def test_sensitivity_by_size_default_strata():
    size = np.array([2.0, 4.9, 5.0, 7.5, 9.99, 10.0, 15.0, 3.0, 12.0, 6.0])
    hit = np.array([0, 1, 1, 1, 0, 1, 1, 0, 1, 1], dtype=bool)
    result = sensitivity_by_size(hit, size)
    labels = [s.label for s in result.strata]
    assert labels == ["<5 mm", "5-10 mm", ">=10 mm"]
    small, medium, large = result.strata
    # <5: 2.0, 4.9, 3.0 -> 1 of 3; 5-10: 5.0, 7.5, 9.99, 6.0 -> 3 of 4; >=10: 10, 15, 12 -> 3 of 3
    assert (small.n_lesions, small.n_detected) == (3, 1)
    assert (medium.n_lesions, medium.n_detected) == (4, 3)
    assert (large.n_lesions, large.n_detected) == (3, 3)
    assert small.sensitivity == pytest.approx(1 / 3)
    assert medium.ci == pytest.approx(_wilson(3, 4), rel=1e-10)
    assert large.ci == pytest.approx(_wilson(3, 3), rel=1e-10)
    assert large.ci_exact == pytest.approx((0.025 ** (1 / 3), 1.0))  # Clopper-Pearson at x = n
    assert (result.overall.n_lesions, result.overall.n_detected) == (10, 7)
    assert result.overall.ci == proportion(7, 10).ci_wilson
    assert (small.lower, small.upper, large.upper) == (0.0, 5.0, np.inf)


def test_sensitivity_by_size_custom_edges_and_empty_stratum():
    size = [1.0, 2.0, 8.0, 9.0]
    hit = [1, 0, 1, 1]
    result = sensitivity_by_size(hit, size, strata=(3, 6, 10))
    assert [s.label for s in result.strata] == ["<3 mm", "3-6 mm", "6-10 mm", ">=10 mm"]
    empty = result.strata[1]
    assert empty.n_lesions == 0 and empty.n_detected == 0
    assert np.isnan(empty.sensitivity) and np.isnan(empty.ci[0]) and np.isnan(empty.ci_exact[1])
    assert result.strata[2].sensitivity == 1.0
    assert result.strata[3].n_lesions == 0
    assert result.edges == (3.0, 6.0, 10.0)


@pytest.mark.parametrize(
    ("hit", "size", "strata", "message"),
    [
        ([1, 0], [3.0], (5, 10), "equal length"),
        ([1, 0], [3.0, np.nan], (5, 10), "finite and non-negative"),
        ([1, 0], [3.0, -1.0], (5, 10), "finite and non-negative"),
        ([1, 2], [3.0, 4.0], (5, 10), "boolean"),
        ([1, 0], [3.0, 4.0], (10, 5), "strictly increasing"),
        ([1, 0], [3.0, 4.0], (), "strictly increasing"),
        ([1, 0], [3.0, 4.0], (0, 5), "positive"),
    ],
)
def test_sensitivity_by_size_rejects_bad_input(hit, size, strata, message):
    with pytest.raises(ValueError, match=message):
        sensitivity_by_size(hit, size, strata=strata)


def test_false_positives_one_condition():
    result = false_positives_per_case([0, 2, 1, 0, 3])
    assert result.first.total == 6 and result.first.n_cases == 5
    assert result.first.mean == pytest.approx(1.2)
    assert result.first.sd == pytest.approx(math.sqrt(((1.2**2) * 2 + 0.8**2 + 0.2**2 + 1.8**2) / 4))
    assert result.second is None and result.comparison is None


def test_false_positives_paired_comparison():
    sr = np.array([1, 0, 2, 3, 1, 0, 2, 1])
    hr = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    result = false_positives_per_case(sr, hr)
    d = sr - hr  # 1, 0, 1, 2, 0, 0, 1, 1
    mean, se = d.mean(), d.std(ddof=1) / math.sqrt(d.size)
    assert result.comparison.estimate == pytest.approx(mean)
    assert result.comparison.statistic == pytest.approx(mean / se)
    assert result.comparison.df == 7
    assert result.comparison == paired_t(sr, hr)
    assert (result.first.mean, result.second.mean) == (1.25, 0.5)


def test_false_positives_edge_cases():
    single = false_positives_per_case([4])
    assert single.first.mean == 4 and np.isnan(single.first.sd)
    same = false_positives_per_case([1, 2, 3], [0, 1, 2])  # constant difference: t undefined
    assert same.comparison.estimate == 1 and np.isnan(same.comparison.statistic)
    with pytest.raises(ValueError, match="same cases"):
        false_positives_per_case([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative integer"):
        false_positives_per_case([1, -1])
    with pytest.raises(ValueError, match="non-negative integer"):
        false_positives_per_case([1.5, 1])
    with pytest.raises(ValueError, match="non-empty"):
        false_positives_per_case([])
