"""The DESS T2 agreement tables (``stats.tables.t2``) against hand computations with
``stats.agreement`` and scipy, and the record's ``t2_agreement`` table in the bundle."""

import math
import zipfile

import numpy as np
import pytest
from scipy import stats as sps

from stats.agreement import concordance_correlation, within_subject_cv
from stats.study_record import StudyRecord, normalise, read_bundle, write_bundle
from stats.study_tables import analyse_study
from stats.tables.t2 import pooled_t2_agreement, t2_part

CASES = ("K1", "K2", "K3", "K4", "K10")
#: Per case: the reference's mean T2 (ms), and per condition (CCC, CV%, its mean T2).
REFERENCE_T2 = {"K1": 31.0, "K2": 37.5, "K3": 44.0, "K4": 52.5, "K10": 40.0}
VALUES = {
    "LR": {"K1": (0.90, 5.0, 32.5), "K2": (0.88, 5.5, 36.0), "K3": (0.91, 4.8, 46.0), "K4": (0.85, 6.1, 50.0),
           "K10": (0.87, 5.2, 41.0)},
    "SR": {"K1": (0.97, 2.0, 31.4), "K2": (0.95, 2.6, 37.9), "K3": (0.96, 2.2, 44.5), "K4": (0.94, 3.0, 52.0),
           "K10": (0.96, 2.1, 40.2)},
}  # fmt: skip


def _row(case, condition, region="tissue", ccc=None, cv=None, mean=None, n=500, note_only=False):
    return {
        "case": case,
        "condition": condition,
        "reference": "HR",
        "region": region,
        "ccc": None if note_only else ccc,
        "ccc_lower": None if note_only else ccc - 0.01,
        "ccc_upper": None if note_only else min(ccc + 0.01, 1.0),
        "cv_percent": None if note_only else cv,
        "mean_t2_ms": None if note_only else mean,
        "reference_mean_t2_ms": None if note_only else REFERENCE_T2[case],
        "n_voxels": None if note_only else n,
    }


@pytest.fixture
def record() -> StudyRecord:
    rows = [
        _row(case, condition, ccc=ccc, cv=cv, mean=mean, n=400 + k)
        for condition, by_case in VALUES.items()
        for k, (case, (ccc, cv, mean)) in enumerate(by_case.items())
    ]
    rows.append(_row("K1", "SR", region="ROI 1", ccc=0.5, cv=9.0, mean=30.0, n=12))
    rows.append(_row("K2", "LR", region="ROI 1", note_only=True))  # not compared: no values
    return normalise(
        StudyRecord(
            study={"name": "DESS", "slug": "dess"},
            conditions=[{"condition": c, "order": i} for i, c in enumerate(("LR", "SR", "HR"))],
            cases=[{"case": c, "abnormal": None} for c in CASES],
            t2_agreement=rows,
        )
    )


def _rows(table, **where):
    return [r for r in table.rows if all(r[k] == v for k, v in where.items())]


def test_the_case_rows_are_the_record_and_the_mean_row_their_mean(record):
    (table, _) = t2_part(record).tables
    lr = _rows(table, region="tissue", condition="LR")
    assert [r["case"] for r in lr] == ["K1", "K2", "K3", "K4", "K10", "mean", "pooled"]  # natural order
    k3 = lr[2]
    assert (k3["n"], k3["ccc"], k3["cv_percent"], k3["mean_t2_ms"], k3["reference_mean_t2_ms"]) == (
        402,
        0.91,
        4.8,
        46.0,
        44.0,
    )
    mean = lr[5]
    assert mean["n"] == 5
    assert mean["ccc"] == pytest.approx(np.mean([v[0] for v in VALUES["LR"].values()]))
    assert mean["cv_percent"] == pytest.approx(np.mean([v[1] for v in VALUES["LR"].values()]))
    assert mean["mean_t2_ms"] == pytest.approx(np.mean([v[2] for v in VALUES["LR"].values()]))
    assert mean["reference_mean_t2_ms"] == pytest.approx(np.mean(list(REFERENCE_T2.values())))


def test_the_pooled_row_is_lins_ccc_and_the_cv_of_the_case_means(record):
    (table, _) = t2_part(record).tables
    for condition in ("LR", "SR"):
        (pooled,) = _rows(table, region="tissue", condition=condition, case="pooled")
        x = np.array([REFERENCE_T2[c] for c in CASES])
        y = np.array([VALUES[condition][c][2] for c in CASES])
        # Lin 1989 by hand: 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2), moments over n
        sxy = np.mean((x - x.mean()) * (y - y.mean()))
        by_hand = 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
        assert pooled["ccc"] == pytest.approx(by_hand)
        ccc = concordance_correlation(x, y)
        assert (pooled["ccc_lower"], pooled["ccc_upper"]) == pytest.approx(ccc.ci)
        # Glueer 1995: RMS of the per-case CV = SD / mean of the two values (SD with n - 1)
        pairs = np.stack([x, y], axis=1)
        cv = 100 * np.sqrt(np.mean((pairs.std(axis=1, ddof=1) / pairs.mean(axis=1)) ** 2))
        assert pooled["cv_percent"] == pytest.approx(cv)
        assert pooled["cv_percent"] == pytest.approx(within_subject_cv(pairs).cv_percent)
        assert pooled["n"] == 5


def test_a_region_with_too_few_cases_has_no_pooled_ccc_and_says_so(record):
    part = t2_part(record)
    (table, tests) = part.tables
    roi = _rows(table, region="ROI 1")
    assert [(r["condition"], r["case"]) for r in roi] == [("SR", "K1"), ("SR", "mean"), ("SR", "pooled")]
    assert math.isnan(roi[2]["ccc"]) and roi[2]["cv_percent"] == pytest.approx(
        within_subject_cv(np.array([[31.0, 30.0]])).cv_percent
    )
    assert "T2 agreement, ROI 1, SR: the pooled CCC needs three cases; there are 1." in part.notes
    assert not _rows(tests, region="ROI 1")  # one condition only: nothing to compare


def test_the_tests_are_paired_t_tests_over_cases(record):
    (_, tests) = t2_part(record).tables
    assert [(r["region"], r["metric"], r["comparison"]) for r in tests.rows] == [
        ("tissue", "ccc", "LR - SR"),
        ("tissue", "cv_percent", "LR - SR"),
        ("tissue", "mean_t2_ms", "LR - SR"),
    ]
    for k, row in enumerate(tests.rows):
        lr = [VALUES["LR"][c][k] for c in CASES]
        sr = [VALUES["SR"][c][k] for c in CASES]
        expected = sps.ttest_rel(lr, sr)
        assert row["n"] == 5 and row["df"] == 4
        assert row["mean_difference"] == pytest.approx(np.mean(np.subtract(lr, sr)))
        assert row["t"] == pytest.approx(expected.statistic)
        assert row["p"] == pytest.approx(expected.pvalue)


def test_the_analysis_shows_them_and_a_record_without_rows_has_none(record):
    tables = analyse_study(record).tables
    assert {"t2_agreement", "t2_agreement_tests"} <= set(tables)
    record.t2_agreement = []
    assert "t2_agreement" not in analyse_study(record).tables


def test_pooled_agreement_is_refused_on_incomplete_pairs():
    with pytest.raises(ValueError, match="NaN"):
        pooled_t2_agreement([30.0, 40.0, math.nan], [31.0, 39.0, 45.0])


def test_the_record_table_survives_the_bundle_and_an_older_bundle_reads_it_empty(record, tmp_path):
    path = tmp_path / "bundle.zip"
    write_bundle(record, path)
    assert read_bundle(path).t2_agreement == record.t2_agreement
    older = tmp_path / "older.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(older, "w") as target:
        for name in source.namelist():
            if name != "record/t2_agreement.csv":
                target.writestr(name, source.read(name))
    assert read_bundle(older).t2_agreement == []
