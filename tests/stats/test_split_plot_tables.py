"""A split-plot study record's tables (stats.tables.split_plot): the reader groups found from the
readings, each group's FOMs as its own crossed analysis gives them, the split-plot OR test."""

import dataclasses

import pytest

from stats.splitplot import split_plot_or_analysis
from stats.study_record import StudyRecord
from stats.study_tables import NO_COMPLETE_CASES, NO_READINGS, analyse_study
from stats.tables.split_plot import reader_groups

from .study_fixtures import simulated_record

GROUPS = {"R1": 0, "R2": 0, "R3": 1, "R4": 1, "R5": 1}


def _group_of_case(case: str) -> int:
    k = int(case[1:])  # C1-C10 normal, C11-C20 abnormal: half of each to each group
    return 0 if (k - 1) % 10 < 5 else 1


def split_record(**kwargs) -> StudyRecord:
    conditions = ("LR", "SR")
    cases = [f"C{k}" for k in range(1, 21)]
    drop = {
        (c, r, case)
        for c in conditions
        for r, g in GROUPS.items()
        for case in cases
        if _group_of_case(case) != g
    }
    return simulated_record(conditions=conditions, readers=5, seed=4, drop_readings=drop, **kwargs)


def _group_record(record: StudyRecord, readers: tuple[str, ...]) -> StudyRecord:
    return dataclasses.replace(record, readers=[row for row in record.readers if row["reader"] in readers])


def test_reader_groups_are_found_from_the_readings():
    groups = reader_groups(split_record())
    assert [g.readers for g in groups] == [("R1", "R2"), ("R3", "R4", "R5")]
    assert [len(g.cases) for g in groups] == [10, 10]
    assert not set(groups[0].cases) & set(groups[1].cases)
    assert len(reader_groups(simulated_record(readers=3))) == 1  # a crossed study is one group


def test_a_split_plot_record_is_analysed_group_by_group():
    record = split_record()
    analysis = analyse_study(record)
    assert NO_READINGS not in analysis.notes
    assert analysis.mrmc is not None and analysis.mrmc.method == "split-plot OR, 2 reader groups"
    fom_rows = {row["reader"]: row for row in analysis.tables["jafroc_fom"].as_dicts()}

    # Each group's FOMs are those of the crossed analysis of that group alone.
    frocs = []
    for readers in (("R1", "R2"), ("R3", "R4", "R5")):
        alone = analyse_study(_group_record(record, readers))
        assert alone.froc is not None and alone.froc.reader_ids == readers
        frocs.append(alone.froc)
        for row in alone.tables["jafroc_fom"].as_dicts():
            if row["reader"] != "Average":
                assert fom_rows[row["reader"]]["LR"] == row["LR"]
                assert fom_rows[row["reader"]]["SR"] == row["SR"]
    # ... and the test is the split-plot OR of those two groups.
    expected = split_plot_or_analysis(frocs, record.settings.fom)
    rrrc = [row for row in analysis.tables["jafroc_tests"].as_dicts() if row["analysis"] == "RRRC"]
    assert rrrc[0]["p"] == pytest.approx(expected.tests["RRRC"].p, rel=1e-12)
    assert rrrc[0]["df"] == pytest.approx(expected.tests["RRRC"].ddf, rel=1e-12)
    assert "split-plot OR, 2 reader groups" in analysis.tables["jafroc_tests"].title
    assert any("Method: split-plot OR, 2 reader groups" in n for n in analysis.tables["jafroc_tests"].notes)


def test_a_crossed_schedule_part_read_stays_crossed():
    record = dataclasses.replace(split_record(), provenance={"schedule": {"kind": "crossed"}})
    analysis = analyse_study(record)
    # no case is complete: no paired or MRMC analysis, only the case-level ROC on all readings
    assert analysis.mrmc is None and NO_COMPLETE_CASES in analysis.notes
    assert "roc_all_reads" in analysis.tables and "jafroc_fom" not in analysis.tables
