"""Fixtures of the measurement tests: one case imported under HR, SR and LR."""

import pytest

from tests import factories as f
from tests import measurement_series as ms


@pytest.fixture
def conditions(study):
    return {
        label: f.ConditionFactory(study=study, label=label, order=n) for n, label in enumerate(ms.SIGMA_MM)
    }


@pytest.fixture
def case_series(study, conditions, tmp_path):
    """Case K1 imported under HR, SR and LR: {label: series}, with the volumes written."""
    volumes = ms.import_case(study, tmp_path / "k1")
    case = study.cases.get(code="K1")
    series = {s.condition.label: s for s in case.series.select_related("condition")}
    return case, series, volumes
