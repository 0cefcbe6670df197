"""The lesion-choice rule of lesion-targeted questions: all, the largest, the median-sized."""

import pytest

from stats.lesion_choice import lesions_chosen


def _sizes(rule: str, sizes: list[float]) -> list[float]:
    return lesions_chosen(rule, sizes, size=lambda s: s)


def test_median_of_an_odd_count_is_the_middle_lesion():
    assert _sizes("median", [12.0, 3.0, 7.0]) == [7.0]


def test_median_of_an_even_count_is_the_smaller_of_the_two_middle_lesions():
    assert _sizes("median", [20.0, 4.0, 9.0, 6.0]) == [6.0]
    assert _sizes("median", [8.0, 5.0]) == [5.0]


def test_one_lesion_is_its_own_median_and_largest():
    assert _sizes("median", [5.5]) == [5.5]
    assert _sizes("largest", [5.5]) == [5.5]


def test_no_lesion_chooses_nothing():
    for rule in ("all", "largest", "median"):
        assert _sizes(rule, []) == []


def test_largest_and_all():
    assert _sizes("largest", [3.0, 11.0, 7.0]) == [11.0]
    assert _sizes("all", [3.0, 11.0, 7.0]) == [3.0, 11.0, 7.0]


def test_ties_keep_the_given_order():
    lesions = [("L1", 5.0), ("L2", 5.0), ("L3", 5.0), ("L4", 9.0)]
    chosen = lesions_chosen("median", lesions, size=lambda lesion: lesion[1])
    assert chosen == [("L2", 5.0)]
    assert lesions_chosen("largest", [("L1", 9.0), ("L2", 9.0)], size=lambda lesion: lesion[1]) == [
        ("L1", 9.0)
    ]


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="Unknown lesion rule 'smallest'"):
        _sizes("smallest", [1.0])
