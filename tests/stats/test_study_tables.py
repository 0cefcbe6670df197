"""The study analysis tables (stats.study_tables) and the reproducibility bundle (stats.study_record)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stats.classical import friedman, mcnemar, wilcoxon
from stats.dataset import DatasetError
from stats.fom import figure_of_merit
from stats.io_excel import read_excel, write_excel
from stats.mrmc import or_analysis
from stats.study_record import AnalysisSettings, read_bundle, write_bundle
from stats.study_tables import analyse_study, tables_csv

from .study_fixtures import simulated_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def record():
    return simulated_record()


@pytest.fixture(scope="module")
def analysis(record):
    return analyse_study(record)


def rows(result, name, **match):
    return [r for r in result.tables[name].as_dicts() if all(r[k] == v for k, v in match.items())]


class TestJafroc:
    def test_fom_table_is_the_wafroc_of_the_matched_marks(self, analysis):
        foms = figure_of_merit(analysis.froc, "wAFROC")
        table = analysis.tables["jafroc_fom"].as_dicts()
        assert [r["reader"] for r in table] == ["R1", "R2", "R3", "R4", "Average"]
        for j, row in enumerate(table[:-1]):
            assert row["LR"] == foms[0, j] and row["SR"] == foms[1, j]
        assert table[-1]["SR"] == pytest.approx(foms[1].mean())

    def test_rrrc_p_is_the_or_analysis(self, analysis):
        expected = or_analysis(analysis.froc, "wAFROC").tests["RRRC"]
        (row,) = rows(analysis, "jafroc_tests", analysis="RRRC")
        assert row["comparison"] == "LR - SR"
        assert row["p"] == expected.differences[0].p
        assert row["difference"] == expected.differences[0].estimate
        assert row["ci_lower"] == expected.differences[0].ci[0]
        assert {r["analysis"] for r in analysis.tables["jafroc_tests"].as_dicts()} == {"RRRC", "FRRC", "RRFC"}

    def test_rjafroc_export_gives_the_same_numbers(self, analysis, tmp_path):
        path = tmp_path / "study.xlsx"
        write_excel(analysis.froc, path)
        again = or_analysis(read_excel(path), "wAFROC")
        assert np.array_equal(np.sort(again.foms, axis=None), np.sort(analysis.mrmc.foms, axis=None))
        assert again.tests["RRRC"].p == pytest.approx(analysis.mrmc.tests["RRRC"].p, rel=1e-12)

    def test_detection_favours_the_better_condition(self, analysis):
        (average,) = rows(analysis, "jafroc_fom", reader="Average")
        assert average["SR"] > average["LR"]


class TestLesionTables:
    def test_sensitivity_counts_the_lesion_localisations(self, analysis):
        for reader in ("R1", "R3"):
            for condition in ("LR", "SR"):
                (overall,) = rows(analysis, "sensitivity", reader=reader, condition=condition, size="all")
                found = [
                    m
                    for m in analysis.matches
                    if m.outcome == "LL" and m.mark.reader == reader and m.mark.modality == condition
                ]
                assert overall["detected"] == len(found)
                assert overall["lesions"] == int(analysis.froc.lesions_per_case.sum())
                strata = rows(analysis, "sensitivity", reader=reader, condition=condition)
                assert [s["size"] for s in strata] == ["all", "<5 mm", "5-10 mm", ">=10 mm"]
                assert sum(s["lesions"] for s in strata[1:]) == overall["lesions"]

    def test_mcnemar_per_reader(self, analysis):
        froc = analysis.froc
        mask = froc.lesion_mask
        expected = mcnemar(np.isfinite(froc.ll[0, 1])[mask], np.isfinite(froc.ll[1, 1])[mask])
        (row,) = rows(analysis, "sensitivity_tests", reader="R2", size="all")
        assert (row["first_only"], row["second_only"], row["p"]) == (
            expected.first_only,
            expected.second_only,
            expected.pvalue,
        )

    def test_false_positives_per_case(self, analysis, record):
        (row,) = rows(analysis, "false_positives", reader="R1", condition="LR")
        nl = [
            m
            for m in analysis.matches
            if m.outcome == "NL" and m.mark.reader == "R1" and m.mark.modality == "LR"
        ]
        assert row["false_positives"] == len(nl)
        assert row["cases"] == len(record.cases)
        assert len(rows(analysis, "false_positive_tests", reader="R1")) == 1

    def test_roc_auc_and_case_detection_exist_per_reader_and_condition(self, analysis):
        assert len(analysis.tables["roc_auc"].rows) == 8
        assert len(analysis.tables["case_detection"].rows) == 8
        assert len(analysis.tables["roc_auc_tests"].rows) == 4


class TestLikertAndFindings:
    def test_distribution_counts(self, analysis, record):
        (row,) = rows(analysis, "likert_distribution", question="quality", reader="R2", condition="SR")
        scores = [
            a["value"]
            for a in record.answers
            if a["question"] == "quality" and a["reader"] == "R2" and a["condition"] == "SR"
        ]
        assert row["counts"] == "/".join(str(scores.count(v)) for v in (1, 2, 3, 4))
        assert row["scale_points"] == "1/2/3/4"

    def test_wilcoxon_for_two_conditions(self, analysis, record):
        def scores(condition):
            by_case = {
                a["case"]: a["value"]
                for a in record.answers
                if a["question"] == "quality" and a["reader"] == "R1" and a["condition"] == condition
            }
            return [by_case[f"C{k}"] for k in range(1, 21)]

        (row,) = rows(analysis, "likert_tests", question="quality", reader="R1")
        assert row["test"] == "Wilcoxon signed-rank"
        assert row["p"] == wilcoxon(scores("LR"), scores("SR")).pvalue

    def test_agreement_rows(self, analysis):
        kappas = rows(analysis, "likert_agreement", question="quality", condition="LR")
        assert len([r for r in kappas if r["measure"].startswith("kappa")]) == 6  # 4 readers: 6 pairs
        assert len([r for r in kappas if r["measure"] == "ICC(2,1)"]) == 1

    def test_diagnostic_performance_on_the_cases_the_reference_covers(self, analysis):
        (row,) = rows(analysis, "diagnostic", reader="R1", condition="LR")
        assert row["tp"] + row["fn"] + row["tn"] + row["fp"] == 14
        assert row["reference"] == "arthroscopy v1"
        assert len(rows(analysis, "diagnostic_tests", reader="R1")) == 1


def test_three_conditions_get_friedman_with_holm(record):
    three = simulated_record(conditions=("LR", "SR", "HR"), readers=3)
    analysis = analyse_study(three)
    tests = rows(analysis, "likert_tests", question="quality", reader="R1")
    assert [t["test"] for t in tests] == ["Friedman"] + ["Wilcoxon signed-rank"] * 3
    scores = [
        [
            a["value"]
            for a in sorted(three.answers, key=lambda a: int(a["case"][1:]))
            if a["question"] == "quality" and a["reader"] == "R1" and a["condition"] == c
        ]
        for c in ("LR", "SR", "HR")
    ]
    expected = friedman(*scores, names=["LR", "SR", "HR"])
    assert tests[0]["p"] == expected.pvalue
    assert [t["p_holm"] for t in tests[1:]] == [p.pvalue_holm for p in expected.posthoc]
    assert {r["analysis"] for r in analysis.tables["jafroc_tests"].as_dicts()} == {"RRRC", "FRRC", "RRFC"}
    assert len(rows(analysis, "jafroc_tests", analysis="RRRC")) == 3


def test_measurements_and_fidelity_are_paired_over_cases(analysis):
    (fwhm,) = rows(analysis, "measurement_tests", metric="fwhm_mm")
    assert fwhm["n"] == 8 and fwhm["mean_difference"] > 0
    assert rows(analysis, "fidelity", metric="psnr", condition="LR")[0]["n"] == 8


def test_unfinished_readings_leave_cases_out_with_a_note():
    record = simulated_record(drop_readings={("SR", "R2", "C3")})
    analysis = analyse_study(record)
    assert "C3" not in analysis.included_cases
    assert any("C3" in note and "R2 under SR" in note for note in analysis.tables["design"].notes)
    assert "C3" not in analysis.froc.case_ids


def test_settings_change_the_matching():
    strict = analyse_study(simulated_record(settings=AnalysisSettings(radius_mm=0.01)))
    lls = [m for m in strict.matches if m.outcome == "LL"]
    assert not lls  # no mark lands within 0.01 mm
    with pytest.raises(ValueError, match="Unknown analysis setting"):
        AnalysisSettings.from_dict({"radius": 3})


def test_case_ratings_from_a_question():
    record = simulated_record(settings=AnalysisSettings(case_rating="quality"))
    analysis = analyse_study(record)
    assert "question 'quality'" in analysis.tables["roc_auc"].notes[0]


def test_bundle_round_trip_gives_identical_tables(record, analysis, tmp_path):
    path = tmp_path / "bundle.zip"
    write_bundle(record, path, tables_csv(analysis))
    again = read_bundle(path)
    assert again == record
    assert tables_csv(analyse_study(again)) == tables_csv(analysis)


def test_cli_recreates_and_checks_the_tables(record, analysis, tmp_path):
    path = tmp_path / "bundle.zip"
    write_bundle(record, path, tables_csv(analysis))
    out = tmp_path / "tables"
    done = subprocess.run(
        [sys.executable, "-m", "stats", "tables", str(path), "--out", str(out), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "identical" in done.stdout
    assert (out / "jafroc_fom.csv").read_text() == analysis.tables["jafroc_fom"].csv()


def test_cli_reports_a_changed_table(record, analysis, tmp_path):
    tables = tables_csv(analysis)
    tables["tables/jafroc_fom.csv"] = tables["tables/jafroc_fom.csv"].replace("R1,", "R1,9", 1)
    path = tmp_path / "bundle.zip"
    write_bundle(record, path, tables)
    done = subprocess.run(
        [sys.executable, "-m", "stats", "tables", str(path), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert "jafroc_fom" in done.stdout


def test_a_wrong_file_is_refused(tmp_path):
    path = tmp_path / "not.zip"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="not a reproducibility bundle"):
        read_bundle(path)


def test_plots_are_deterministic_svg(analysis):
    from stats.plots import fom_per_reader_svg, likert_bars_svg, operating_curves_svg, operating_points

    curves = operating_curves_svg(analysis.froc, analysis.roc)
    assert curves.startswith("<?xml") and "wAFROC" in curves
    assert curves == operating_curves_svg(analysis.froc, analysis.roc)
    points = operating_points(analysis.froc, 1)
    for x, y in points.values():
        assert (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)
    # For one reader, the trapezoidal areas under the completed curves are the FOMs.
    one = analyse_study(simulated_record(readers=1))
    for i in range(2):
        curves_one = operating_points(one.froc, i)
        for name, fom in (("wAFROC", "wAFROC"), ("AFROC", "AFROC")):
            x, y = curves_one[name]
            assert np.trapezoid(y, x) == pytest.approx(figure_of_merit(one.froc, fom)[i, 0], abs=1e-12)
        x, y = curves_one["ROC"]
        assert np.trapezoid(y, x) == pytest.approx(figure_of_merit(one.roc, "Wilcoxon")[i, 0], abs=1e-12)
    assert "R1" in fom_per_reader_svg(analysis.jackknife, analysis.mrmc)
    assert "<svg" in likert_bars_svg("quality", ["LR", "SR"], [1, 2, 3, 4], [[1, 2, 3, 4], [0, 1, 5, 4]])


def test_plot_text_is_escaped():
    from stats.plots import likert_bars_svg

    svg = likert_bars_svg("<script>alert(1)</script>", ["<b>LR</b>"], [1, 2], [[1, 2]])
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg


def test_a_study_without_complete_readings_gives_notes_not_errors():
    record = simulated_record()
    record.readings = []
    analysis = analyse_study(record)
    assert "no readings to analyse" in analysis.notes[0]
    assert "jafroc_fom" not in analysis.tables
    assert "measurements" in analysis.tables  # measurements do not depend on readings
    two_cases = simulated_record(normal=1, abnormal=1)
    notes = " ".join(analyse_study(two_cases).notes)
    assert "at least two normal and two abnormal cases" in notes


def test_a_row_with_a_missing_or_an_extra_column_is_refused():
    from stats.tables import Table

    ok = Table(name="t", title="T", columns=("a", "b"), rows=({"b": 2, "a": 1},))
    assert ok.cells() == [[1, 2]] and ok.as_dicts() == [{"a": 1, "b": 2}]
    with pytest.raises(ValueError, match=r"missing columns \['b'\]"):
        Table(name="t", title="T", columns=("a", "b"), rows=({"a": 1},))
    with pytest.raises(ValueError, match=r"extra \['c'\]"):
        Table(name="t", title="T", columns=("a", "b"), rows=({"a": 1, "b": 2, "c": 3},))


def test_likert_numbers_are_the_distribution_table_and_give_its_plots(analysis):
    from stats.plots import likert_bars_svg, likert_plots_svg

    table = analysis.tables["likert_distribution"].as_dicts()
    assert [
        (d.question, d.reader, d.condition, "/".join(map(str, d.points)), "/".join(map(str, d.counts)), d.n)
        for d in analysis.likert
    ] == [(r["question"], r["reader"], r["condition"], r["scale_points"], r["counts"], r["n"]) for r in table]
    pooled = [d for d in analysis.likert if d.reader == "All"]
    expected = likert_bars_svg("quality", ["LR", "SR"], (1, 2, 3, 4), [d.counts for d in pooled])
    assert likert_plots_svg(analysis.likert) == [expected]


def test_answers_csv_has_every_answer_with_its_reading(record):
    import csv
    import io

    from stats.study_export import ANSWER_COLUMNS, answers_csv

    rows = list(csv.DictReader(io.StringIO(answers_csv(record), newline="")))
    assert tuple(rows[0]) == ANSWER_COLUMNS and len(rows) == len(record.answers)
    assert {r["reading_status"] for r in rows} == {"submitted"}
    assert {r["study"] for r in rows} == {"simulated"}
    assert [r["question"] for r in rows[:2]] == ["quality", "tear"]  # the study's question order
