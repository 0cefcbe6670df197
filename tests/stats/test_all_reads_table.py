"""``roc_all_reads``: the case-level ROC of an incomplete crossed study on every submitted reading."""

import numpy as np
import pytest

from stats.dataset import NO_MARK, roc_study
from stats.study_record import AnalysisSettings
from stats.study_tables import NO_COMPLETE_CASES, NO_READINGS, analyse_study
from stats.ustat import ustat_analysis

from .study_fixtures import simulated_record
from .test_split_plot_tables import split_record

DROPPED = {("SR", "R2", "C3"), ("SR", "R2", "C12"), ("LR", "R2", "C15"), ("LR", "R4", "C1")}


def test_question_ratings_on_all_readings_equal_stats_ustat():
    record = simulated_record(drop_readings=DROPPED, settings=AnalysisSettings(case_rating="quality"))
    analysis = analyse_study(record)
    assert {"C1", "C3", "C12", "C15"}.isdisjoint(analysis.included_cases)
    conditions, readers = record.condition_ids, record.reader_ids
    normal = [row["case"] for row in record.cases if not row["abnormal"]]
    cases = normal + [row["case"] for row in record.cases if row["abnormal"]]
    value = {
        (a["condition"], a["reader"], a["case"]): a["value"]
        for a in record.answers
        if a["question"] == "quality"
    }
    ratings = np.array(
        [[[value.get((c, r, k), NO_MARK) for k in cases] for r in readers] for c in conditions]
    )
    read = {(r["condition"], r["reader"], r["case"]) for r in record.readings}
    mask = np.array([[[(c, r, k) in read for k in cases] for r in readers] for c in conditions])
    want = ustat_analysis(roc_study(ratings, len(normal), conditions, readers), mask)
    assert want.reads == len(record.readings) == 2 * 4 * 20 - len(DROPPED)

    (row,) = analysis.tables["roc_all_reads"].as_dicts()
    (d,) = want.differences
    assert row["comparison"] == "LR - SR"
    assert (row["difference"], row["stderr"], row["z"], row["p"], row["ci_lower"]) == pytest.approx(
        (d.estimate, d.stderr, d.statistic, d.p, d.ci[0]), abs=1e-12
    )
    by_condition = {r["condition"]: r for r in analysis.tables["roc_all_reads_auc"].as_dicts()}
    assert [by_condition[m.modality]["auc"] for m in want.modalities] == pytest.approx(
        [m.auc for m in want.modalities], abs=1e-12
    )
    assert "question 'quality'" in analysis.tables["roc_all_reads"].notes[0]
    design = {r["item"]: r for r in analysis.tables["design"].as_dicts()}
    assert design["incomplete: cases not read by every reader in every condition"]["count"] == 4


def test_complete_and_split_plot_studies_have_no_all_reads_table():
    complete = analyse_study(simulated_record())
    assert "roc_all_reads" not in complete.tables and "roc_mrmc" in complete.tables
    assert not any(r["item"].startswith("incomplete") for r in complete.tables["design"].as_dicts())
    split = analyse_study(split_record())
    assert "roc_all_reads" not in split.tables and "roc_all_reads_auc" not in split.tables


def test_one_sided_columns_follow_the_settings():
    settings = AnalysisSettings(alternative="greater", margin=0.05)
    table = analyse_study(simulated_record(drop_readings=DROPPED, settings=settings)).tables["roc_all_reads"]
    (row,) = table.as_dicts()
    assert "hypothesis" in row and row["bound_one_sided"] < row["difference"]


def test_a_reader_who_has_not_started_leaves_no_complete_case_but_all_reads_are_analysed():
    idle = {(c, "R4", f"C{k}") for c in ("LR", "SR") for k in range(1, 21)}
    analysis = analyse_study(simulated_record(drop_readings=idle))
    assert NO_COMPLETE_CASES in analysis.notes and NO_READINGS not in analysis.notes
    assert "roc_mrmc" not in analysis.tables and "jafroc_fom" not in analysis.tables
    (row,) = analysis.tables["roc_all_reads"].as_dicts()
    assert row["comparison"] == "LR - SR" and row["stderr"] > 0
    assert {r["readers"] for r in analysis.tables["roc_all_reads_auc"].as_dicts()} == {3}
    assert "no complete-case analyses" in analysis.tables["roc_all_reads"].notes[0]
    three = analyse_study(simulated_record(readers=4, drop_readings=idle))
    assert tables_equal(three.tables["roc_all_reads"], analysis.tables["roc_all_reads"])


def tables_equal(a, b) -> bool:
    return a.as_dicts() == b.as_dicts() and a.notes == b.notes
