"""The spreadsheet-safety rule (stats.spreadsheet) and the stats writers that apply it."""

import csv
import io
import math
import zipfile

import numpy as np
import openpyxl
import pytest

from stats.dataset import roc_study
from stats.io_excel import write_xlsx
from stats.io_imrmc import write_imrmc
from stats.io_tidy import write_tidy
from stats.spreadsheet import SafeCsvWriter, runs_as_formula, spreadsheet_safe, spreadsheet_text
from stats.study_record import StudyRecord, read_bundle, table_csv, write_bundle

FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "=", "-", "-x", "-Inf", "+cmd|' /C calc'!A0"]
TEXT = ["1+1", "plain", "", " =1", "A=1", "'=1+1", "'", "''"]
NUMBERS = ["-1", "+1", "-1.5", "2e-5", "-.5E+3", "0", "3."]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_runs_as_a_formula_gets_a_quote(text):
    assert runs_as_formula(text)
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("text", NUMBERS)
def test_text_that_is_a_plain_number_stays(text):
    assert not runs_as_formula(text)
    assert spreadsheet_safe(text) == text


@pytest.mark.parametrize("value", [-1, -1.5, -math.inf, math.nan, None, True, 0])
def test_values_that_are_not_text_stay(value):
    assert spreadsheet_safe(value) is value


def test_only_quote_led_text_of_the_rest_changes():
    assert [spreadsheet_safe(t) for t in TEXT] == ["1+1", "plain", "", " =1", "A=1", "''=1+1", "''", "'''"]


@pytest.mark.parametrize("text", FORMULAS + TEXT + NUMBERS + ["\u0661=1"])
def test_dropping_one_quote_gives_the_text_back(text):
    assert spreadsheet_text(spreadsheet_safe(text)) == text


def test_csv_writer_quotes_text_cells_only():
    out = io.StringIO()
    SafeCsvWriter(out, lineterminator="\n").writerows([["=1+1", -1.5, "-1.5", 7, "@x"], ["a\rb", "c"]])
    assert out.getvalue() == "'=1+1,-1.5,-1.5,7,'@x\n\"a\rb\",c\n"
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["'=1+1", "-1.5", "-1.5", "7", "'@x"],
        ["a\rb", "c"],
    ]


def test_table_csv_quotes_text_but_not_numbers_written_as_text():
    rows = [{"case": "-x", "value": -math.inf, "estimate": -0.25, "label": "=A1"}]
    text = table_csv(rows, ("case", "value", "estimate", "label"))
    assert text == "case,value,estimate,label\n'-x,-Inf,-0.25,'=A1\n"


def test_bundle_reads_such_text_back_exactly(tmp_path):
    hostile = ["=1+1", "+1", "-1", "@SUM(A1)", "\tTAB", "\rCR", "'=quoted", "''", "two\rlines", "crlf\r\n"]
    record = StudyRecord(
        study={"name": "=HYPERLINK(1)"},
        cases=[{"case": code, "abnormal": None} for code in hostile],
        answers=[
            {
                "condition": "=LR",
                "reader": "@R1",
                "case": code,
                "question": "comment",
                "value": None,
                "present": None,
                "text": code,
            }
            for code in hostile
        ],
    )
    write_bundle(record, tmp_path / "bundle.zip")
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        archive.extractall(tmp_path / "unpacked")
    for path in (tmp_path / "bundle.zip", tmp_path / "unpacked"):
        again = read_bundle(path)
        assert again.cases == record.cases and again.answers == record.answers, path.name


def test_xlsx_text_is_never_a_formula_and_numbers_stay_numbers(tmp_path):
    row = ["=1+1", "@SUM(A1)", "\tTAB", "\rCR", "-x", "+1", "'q", -1.5, 3]
    write_xlsx(tmp_path / "x.xlsx", [("S", [row])])
    cells = next(openpyxl.load_workbook(tmp_path / "x.xlsx")["S"].iter_rows())
    assert [c.value for c in cells] == row  # exact text, and the numbers as numbers
    assert [c.data_type for c in cells] == ["s"] * 7 + ["n", "n"]
    assert [c.quotePrefix for c in cells] == [True] * 5 + [False] * 4


def _roc_with_ids(modalities, readers, cases):
    ratings = np.arange(len(modalities) * len(readers) * len(cases), dtype=float)
    return roc_study(
        ratings.reshape(len(modalities), len(readers), len(cases)), 1, modalities, readers, cases
    )


def test_tidy_and_imrmc_writers_quote_such_ids(tmp_path):
    data = _roc_with_ids(("=M1", "-2"), ("@R1",), ("+C1", "C2"))
    write_tidy(data, tmp_path / "x.csv")
    rows = list(csv.reader((tmp_path / "x.csv").open()))
    assert rows[1] == ["'@R1", "'=M1", "'+C1", "0", "0"]
    assert rows[-1] == ["'@R1", "-2", "C2", "1", "3"]
    write_imrmc(data, tmp_path / "x.imrmc", description="=HYPERLINK(1)")
    lines = (tmp_path / "x.imrmc").read_text().splitlines()
    assert lines[0] == "'=HYPERLINK(1)"
    assert "-1,'+C1,truth,0" in lines and "'@R1,C2,-2,3" in lines
