"""ROI pairs in the study record: the analysis computes a pair's CNR by the study's formula and its
contrast ratio from the circles measured on the stored pixels, consistently with the stored CNR."""

import math
import uuid

import pytest

from readerstudy.measurements import services as svc
from readerstudy.measurements.selectors import measurement_pair_rows, measurement_rows
from stats.study_record import AnalysisSettings, StudyRecord, normalise
from stats.study_tables import analyse_study
from stats.tables.measurements import cnr_value
from tests.measurements.test_measurements import ROD, draw_circle

pytestmark = pytest.mark.django_db


def test_pairs_give_the_cnr_by_formula_and_the_contrast_ratio(case_series, coordinator):
    case, series, _ = case_series
    noise, _ = draw_circle(case, series["HR"], coordinator, (32, 56), 6, label="background")
    rod, _ = draw_circle(case, series["HR"], coordinator, ROD, 2, label="rod")
    svc.measurement_cnr_save(
        case=case, client_id=uuid.uuid4(), roi_a=rod.client_id, roi_b=noise.client_id, actor=coordinator
    )
    pairs = measurement_pair_rows(case.study)
    assert pairs == [{"case": "K1", "pair": "rod vs background", "roi_a": "rod", "roi_b": "background"}]
    rows = measurement_rows(case.study)
    conditions = [{"condition": c, "order": n} for n, c in enumerate(("HR", "SR", "LR"))]

    def analysed(**settings):
        record = StudyRecord(
            study={"name": "ROIs"},
            settings=AnalysisSettings(**settings),
            conditions=conditions,
            measurements=rows,
            roi_pairs=pairs,
        )
        return {
            (r["metric"], r["condition"]): r["mean"]
            for r in analyse_study(normalise(record)).tables["measurements_by_region"].as_dicts()
            if r["region"] == "rod vs background"
        }

    default = analysed()
    pooled = analysed(cnr_formula="pooled_sd", contrast_ratio_pairs=["rod vs background"])
    for label in ("HR", "SR", "LR"):
        a = rod.values.get(series=series[label])
        b = noise.values.get(series=series[label])
        stored = case.measurement_cnrs.get().values.get(series=series[label]).value
        # The stored CNR is the background_sd formula, sign convention included.
        assert stored == cnr_value(a.mean, a.sd, b.mean, b.sd, "background_sd") == default[("cnr", label)]
        assert pooled[("cnr_pooled_sd", label)] == pytest.approx(
            abs(a.mean - b.mean) / math.sqrt((a.sd**2 + b.sd**2) / 2), rel=1e-14
        )
        assert pooled[("contrast_ratio", label)] == pytest.approx(a.mean / b.mean, rel=1e-14)
        assert ("cnr", label) not in pooled
    assert pooled[("cnr_pooled_sd", "HR")] < default[("cnr", "HR")]  # the rod's SD adds to the noise
