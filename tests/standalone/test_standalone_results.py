"""End to end: an algorithm's marks imported into the demo study (read by its three simulated
readers), the study locked and analysed on the results page. The ``standalone_vs_readers`` rows
equal stats.cad.cad_vs_readers on the one-modality data built here from the record, RJafroc 2.1.3's
StCadVsRad on that data, and the bundle re-creates them."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from readerstudy.references.models import ReferenceLesion
from readerstudy.standalone.services import standalone_algorithm_create
from stats.cad import METHODS, cad_vs_readers
from stats.io_excel import write_excel
from stats.study_record import read_bundle
from stats.study_tables import analyse_study, tables_csv
from tests.results.test_results import _download, _lock, statistician, study
from tests.stats.rjafroc_support import RTOL, r_array, r_call, r_names, r_read, require_rjafroc
from tests.stats.study_fixtures import froc_with_algorithms

__all__ = ["statistician", "study"]  # fixtures of test_results, used here
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _marks_csv(demo) -> bytes:
    """The algorithm's SR marks: near most lesions (rated by how sure), and a false positive on some cases."""
    rng = np.random.default_rng(3)
    lines = ["case,condition,x_mm,y_mm,z_mm,rating"]
    lesions = ReferenceLesion.objects.filter(reference__reference_set__study=demo).select_related(
        "reference__case"
    )
    for lesion in lesions.order_by("pk"):
        if rng.random() < 0.8:
            case = lesion.reference.case.code
            lines.append(f"{case},SR,{lesion.x_mm + 0.5},{lesion.y_mm},{lesion.z_mm},{rng.random():.3f}")
    for case in demo.cases.order_by("code")[::2]:
        lines.append(f"{case.code},SR,-60.5,-80.25,10,{rng.random() / 2:.3f}")
    return ("\n".join(lines) + "\n").encode()


def _one_modality(record, cases):
    """Readers plus the algorithm under SR, matched here from the record by the study's rule;
    the algorithm first, as RJafroc's StCadVsRad wants it."""
    return froc_with_algorithms(record, cases, ["CAD1", *record.reader_ids])


def test_imported_marks_are_compared_with_the_readers(client, statistician, study, tmp_path):
    coordinator = study.coordinators.get()
    file = SimpleUploadedFile("cad1.csv", _marks_csv(study), "text/csv")
    standalone_algorithm_create(study=study, code="CAD1", name="Detector v1", file=file, actor=coordinator)
    _lock(study)
    page = client.get(reverse("readerstudy:study_analysis", args=[study.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Standalone algorithm against the readers" in html and 'id="standalone"' in html
    analysis, record = page.context["analysis"], page.context["record"]
    assert record.reader_ids == ["R1", "R2", "R3"]  # the algorithm is no reader
    assert {r["reader"] for r in record.standalone_readers} == {"CAD1"}

    data = _one_modality(record, analysis.froc.case_ids)
    rows = {r["method"]: r for r in analysis.tables["standalone_vs_readers"].as_dicts()}
    assert set(rows) == set(METHODS)
    for method in METHODS:
        want = cad_vs_readers(data, "CAD1", "wAFROC", method)
        row = rows[method]
        assert np.isfinite(row["difference"]) and row["stderr"] > 0
        assert (row["fom_algorithm"], row["readers_mean"], row["difference"]) == (
            want.fom_cad,
            want.reader_mean,
            want.estimate,
        )
        assert row["stderr"] == pytest.approx(want.stderr, rel=1e-12) and row["p"] == pytest.approx(
            want.p, rel=1e-12
        )
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(want.ci, rel=1e-12)
    jafroc = {r["reader"]: r["SR"] for r in analysis.tables["jafroc_fom"].as_dicts()}
    assert rows["1T-RRRC"]["readers_mean"] == pytest.approx(jafroc["Average"], rel=1e-12)

    # Exports and the bundle carry the tables; `python -m stats tables` re-creates them.
    workbook = openpyxl.load_workbook(io.BytesIO(_download(client, study, "tables.xlsx")))
    assert {"standalone_fom", "standalone_vs_readers"} <= set(workbook.sheetnames)
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(_download(client, study, "bundle.zip"))
    done = subprocess.run(
        [sys.executable, "-m", "stats", "tables", str(bundle), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0 and "identical" in done.stdout, done.stdout + done.stderr
    again = analyse_study(read_bundle(bundle))
    assert (
        tables_csv(again)["tables/standalone_vs_readers.csv"]
        == analysis.tables["standalone_vs_readers"].csv()
    )

    # RJafroc 2.1.3 on the same data, written as its Excel file (its difference is readers minus CAD).
    require_rjafroc()
    path = tmp_path / "standalone.xlsx"
    write_excel(data, path)
    ds = r_read(path)
    for method in ("1T-RRFC", "1T-RRRC"):
        ret = r_call("StCadVsRad", ds, FOM="wAFROC", method=method)
        r = {
            n: float(r_array(ret.rx2(n)).ravel()[0])
            for n in r_names(ret)
            if n in ("fomCAD", "avgRadFom", "avgDiffFom", "Tstat", "df", "pval")
        }
        row = rows[method]
        assert row["fom_algorithm"] == pytest.approx(r["fomCAD"], rel=RTOL)
        assert row["readers_mean"] == pytest.approx(r["avgRadFom"], rel=RTOL)
        assert -row["difference"] == pytest.approx(r["avgDiffFom"], rel=RTOL)
        assert -row["t"] == pytest.approx(r["Tstat"], rel=RTOL)
        assert row["df"] == pytest.approx(r["df"], rel=RTOL)
        assert row["p"] == pytest.approx(r["pval"], rel=RTOL)
