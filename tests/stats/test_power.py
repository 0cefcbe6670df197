"""Sample size and power from pilot OR variance components."""

import pytest

from stats.io_plain import read_plain
from stats.power import cases_for_power, pilot_components, power_or

from .reference import DATASETS


@pytest.fixture(scope="module")
def franken():
    return pilot_components(read_plain(DATASETS / "dataset03"), "Wilcoxon")


def test_cases_for_power_reproduces_rjafroc(franken):
    """RJafroc 2.1.3: SsSampleSizeKGivenJ(dataset03, "Wilcoxon", effectSize = 0.05, J = 6,
    method = "OR") gives powerRRRC = 0.8004469 (its test suite, test-SsSampleSizeRoc.R)."""
    components, pilot = franken
    result = cases_for_power(components, pilot, readers=6, effect_size=0.05)
    assert result.cases == 121
    assert result.power == pytest.approx(0.8004469, abs=1e-7)
    assert power_or(components, pilot, readers=6, cases=120, effect_size=0.05).power < 0.8


def test_power_grows_with_readers_cases_and_effect(franken):
    components, pilot = franken
    base = power_or(components, pilot, readers=5, cases=100, effect_size=0.05).power
    assert power_or(components, pilot, readers=8, cases=100, effect_size=0.05).power > base
    assert power_or(components, pilot, readers=5, cases=200, effect_size=0.05).power > base
    assert power_or(components, pilot, readers=5, cases=100, effect_size=0.08).power > base
    assert power_or(components, pilot, readers=5, cases=100, effect_size=0.0).power == pytest.approx(0.05)


def test_each_option_and_unreachable_power():
    components, pilot = pilot_components(read_plain(DATASETS / "dataset02"), "Wilcoxon")
    for option in ("RRRC", "FRRC", "RRFC"):
        result = power_or(components, pilot, readers=6, cases=150, effect_size=0.05, option=option)
        assert 0.05 < result.power < 1
    assert power_or(components, pilot, readers=6, cases=150, effect_size=0.05, option="FRRC").ddf == float(
        "inf"
    )
    with pytest.raises(ValueError, match="cannot reach power"):
        cases_for_power(components, pilot, readers=2, effect_size=0.01, option="RRFC", max_cases=1000)
