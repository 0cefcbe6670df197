"""The results pages and exports, end to end: a simulated study read through the services,
locked, analysed on the page, and re-analysed from its exports outside the platform."""

import io
import json
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from django.urls import reverse

from readerstudy.demo import demo_study_create
from readerstudy.imaging.models import DicomInstance
from readerstudy.reading.models import Reading
from readerstudy.reading.selectors import reading_answer_items
from readerstudy.reading.services import AnswerInput, answers_save, mark_save, reading_open, reading_submit
from readerstudy.references.models import ReferenceLesion
from readerstudy.results.models import AnalysisRun
from readerstudy.studies.models import Study
from readerstudy.studies.services import study_lock
from sr_engine.volume import dicom_affine, slice_normal
from stats.io_imrmc import read_imrmc
from stats.mrmc import or_analysis
from stats.study_record import read_bundle
from stats.study_tables import analyse_study, tables_csv
from tests.factories import PASSWORD, UserFactory
from tests.stats.rjafroc_support import assert_rjafroc_reproduces, require_rjafroc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db

#: Probability that a reader finds a lesion, per condition: HR (1 mm) beats SR, which beats LR (4 mm).
FIND = {"HR": 0.9, "SR": 0.7, "LR": 0.5}


def _pixel(series, point_mm) -> tuple[int, float, float]:
    """Slice and workstation image point (x, y) of a patient point (inverse of viewer_patient_position)."""
    slice_vector = slice_normal(series.orientation) * float(series.slice_spacing or 0.0)
    affine = dicom_affine(series.orientation, series.pixel_spacing, slice_vector, series.origin)
    x, y, k, _ = np.linalg.solve(affine, [*point_mm, 1.0])
    return int(np.clip(round(k), 0, series.num_slices - 1)), float(x) + 0.5, float(y) + 0.5


def simulate_readers(study: Study, seed: int = 7, skip: Callable[[Reading], bool] | None = None) -> None:
    """Every reader reads every reading of the schedule (but those ``skip`` leaves unread): answers
    every question, marks lesions."""
    rng = np.random.default_rng(seed)
    lesions = {}
    for lesion in ReferenceLesion.objects.filter(reference__reference_set__study=study).select_related(
        "reference__case"
    ):
        lesions.setdefault(lesion.reference.case_id, []).append(lesion)
    readings = Reading.objects.filter(session__participation__study=study).select_related(
        "series__case", "series__condition", "session__participation__user"
    )
    order = ("session__participation__code", "session__phase__order", "session__number", "position")
    for reading in readings.order_by(*order):
        if skip is not None and skip(reading):
            continue
        user = reading.session.participation.user
        reading_open(reading=reading, user=user)
        label = reading.series.condition.label
        marking = reading.session.phase.takes_marks
        found = 0
        for lesion in lesions.get(reading.series.case_id, []) if marking else []:
            if rng.random() < FIND[label]:
                found += 1
                k, x, y = _pixel(reading.series, (lesion.x_mm, lesion.y_mm, lesion.z_mm))
                mark_save(
                    reading=reading,
                    client_id=uuid.uuid4(),
                    slice_index=k,
                    x=x + rng.uniform(-1, 1),
                    y=y + 0.5,
                    rating=int(rng.integers(2, 5)),
                    user=user,
                )
        if marking and rng.random() < 0.3:  # a false positive somewhere in the image
            series = reading.series
            mark_save(
                reading=reading,
                client_id=uuid.uuid4(),
                slice_index=int(rng.integers(series.num_slices)),
                x=float(rng.uniform(0, series.columns - 1)),
                y=float(rng.uniform(0, series.rows - 1)),
                rating=int(rng.integers(1, 3)),
                user=user,
            )
        answers = {}
        for item in reading_answer_items(reading):
            q = item.question
            if q.kind == "likert":
                values = q.scale_values()
                answers[item] = AnswerInput(
                    value=int(rng.choice(values[1:] if label == "HR" else values[:-1]))
                )
            elif q.kind == "finding":
                answers[item] = AnswerInput(
                    present=found > 0, value=int(rng.choice(q.scale_values())) if found else None
                )
        assert answers_save(reading=reading, answers=answers, user=user) == {}
        assert reading_submit(reading=reading, user=user) == []


@pytest.fixture
def study(settings):
    settings.READERSTUDY_DEMO_ACCOUNTS = True
    study = demo_study_create(n_cases=8, slices=16)
    simulate_readers(study)
    return study


@pytest.fixture
def statistician(client, study):
    user = study.statisticians.get()
    client.login(username=user.username, password="demo")
    return user


def _lock(study: Study) -> None:
    assert study_lock(study=study, actor=study.coordinators.get()) == 0


def _download(client, study, kind: str) -> bytes:
    response = client.get(reverse("readerstudy:study_export", args=[study.slug, kind]))
    assert response.status_code == 200, response.content[:300]
    return response.content


def test_end_to_end_analysis_equals_stats_on_the_exports(client, statistician, study, tmp_path):
    _lock(study)
    page = client.get(reverse("readerstudy:study_analysis", args=[study.slug]))
    assert page.status_code == 200
    analysis = page.context["analysis"]
    html = page.content.decode()
    assert "wAFROC figure of merit per reader and condition" in html
    assert "<svg" in html and 'id="plot-curves"' in html

    # The page's wAFROC FOMs and RRRC p-value equal `python -m stats mrmc` on the RJafroc export.
    rjafroc = tmp_path / "rjafroc.xlsx"
    rjafroc.write_bytes(_download(client, study, "rjafroc.xlsx"))
    done = subprocess.run(
        [sys.executable, "-m", "stats", "mrmc", str(rjafroc), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert cli["fom"] == "wAFROC"
    fom_rows = {row["reader"]: row for row in analysis.tables["jafroc_fom"].as_dicts()}
    for condition, per_reader in cli["foms"].items():
        for reader, fom in per_reader.items():
            assert fom_rows[reader][condition] == fom
    rrrc = {
        row["comparison"]: row
        for row in analysis.tables["jafroc_tests"].as_dicts()
        if row["analysis"] == "RRRC"
    }
    assert len(rrrc) == len(cli["RRRC"]["differences"]) == 3  # HR, LR, SR: every pair
    for difference in cli["RRRC"]["differences"]:
        row = rrrc[" - ".join(difference["modalities"])]
        assert row["p"] == difference["p"]
        assert f"{row['p']:.4g}" in html or row["p"] < 1e-4

    # HR was read better than LR by construction.
    assert fom_rows["Average"]["HR"] > fom_rows["Average"]["LR"]

    # Re-running from the reproducibility bundle gives identical tables.
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(_download(client, study, "bundle.zip"))
    done = subprocess.run(
        [sys.executable, "-m", "stats", "tables", str(bundle), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identical" in done.stdout
    record = read_bundle(bundle)
    assert tables_csv(analyse_study(record)) == tables_csv(analysis)
    assert (
        record.provenance["schedule"]["seed"] and record.provenance["reference_sets"][0]["status"] == "locked"
    )
    instances = DicomInstance.objects.filter(series__case__study=study)
    assert sorted(r["sha256"] for r in record.images) == sorted(instances.values_list("sha256", flat=True))


def test_rjafroc_export_gives_the_pages_results_in_real_rjafroc(client, statistician, study, tmp_path):
    """The rjafroc.xlsx download, read by RJafroc 2.1.3 itself (DfReadDataFile, newExcelFileFormat
    = TRUE): the page's wAFROC FOMs and OR RRRC, FRRC and RRFC results, to 1e-9 relative."""
    require_rjafroc()
    _lock(study)
    analysis = client.get(reverse("readerstudy:study_analysis", args=[study.slug])).context["analysis"]
    assert analysis.mrmc is not None and analysis.mrmc.fom_name == "wAFROC"
    rjafroc = tmp_path / "rjafroc.xlsx"
    rjafroc.write_bytes(_download(client, study, "rjafroc.xlsx"))
    assert openpyxl.load_workbook(rjafroc, read_only=True).sheetnames == ["TRUTH", "FP", "TP"]
    assert_rjafroc_reproduces(rjafroc, analysis.mrmc)


def test_other_exports_load_in_their_tools(client, statistician, study, tmp_path):
    _lock(study)
    analysis = client.get(reverse("readerstudy:study_analysis", args=[study.slug])).context["analysis"]

    imrmc = tmp_path / "roc.imrmc"
    imrmc.write_bytes(_download(client, study, "roc.imrmc"))
    roc = read_imrmc(imrmc)
    again = or_analysis(roc, "Wilcoxon")
    assert np.allclose(
        np.sort(again.foms, axis=None), np.sort(or_analysis(analysis.roc, "Wilcoxon").foms, axis=None)
    )

    workbook = openpyxl.load_workbook(io.BytesIO(_download(client, study, "tables.xlsx")))
    assert workbook.sheetnames[0] == "Contents"
    assert {"jafroc_fom", "sensitivity", "likert_distribution"} <= set(workbook.sheetnames)

    with zipfile.ZipFile(io.BytesIO(_download(client, study, "long.zip"))) as archive:
        long_csv = archive.read("long.csv").decode()
        codebook = archive.read("codebook.csv").decode()
    # Every answer to a Likert or finding question: one per item of each reading (the items of
    # its phase: a lesion question once per chosen lesion).
    items = sum(
        1
        for reading in Reading.objects.filter(session__participation__study=study)
        for item in reading_answer_items(reading)
        if item.question.kind in ("likert", "finding")
    )
    assert long_csv.count("\nanswer,") == items
    assert ",LL," in long_csv and "overall_quality" in codebook and "excellent" in codebook

    table = client.get(reverse("readerstudy:study_analysis_table", args=[study.slug, "sensitivity"]))
    assert table.status_code == 200 and table["Content-Type"].startswith("text/csv")
    assert table.content.decode() == analysis.tables["sensitivity"].csv()
    assert (
        client.get(reverse("readerstudy:study_analysis_table", args=[study.slug, "nope"])).status_code == 404
    )

    report = client.get(reverse("readerstudy:study_report", args=[study.slug]))
    assert report.status_code == 200
    assert b"Study report" in report.content and b"<svg" in report.content


def test_every_view_is_an_audited_run(client, statistician, study):
    _lock(study)
    before = AnalysisRun.objects.count()
    client.get(reverse("readerstudy:study_analysis", args=[study.slug]))
    client.get(reverse("readerstudy:study_export", args=[study.slug, "bundle.zip"]))
    runs = AnalysisRun.objects.order_by("-id")[:2]
    assert AnalysisRun.objects.count() == before + 2
    assert {r.kind for r in runs} == {"analysis", "export bundle.zip"}
    assert all(not r.interim and r.reference_sets.count() == 1 for r in runs)


def test_blinded_results_need_an_interim_reason(client, statistician, study):
    page = client.get(reverse("readerstudy:study_analysis", args=[study.slug]))
    assert page.status_code == 302
    refused = client.post(reverse("readerstudy:study_analysis", args=[study.slug]), {"interim_reason": ""})
    assert refused.status_code == 302
    assert not AnalysisRun.objects.exists()
    interim = client.post(
        reverse("readerstudy:study_analysis", args=[study.slug]), {"interim_reason": "DSMB safety look"}
    )
    assert interim.status_code == 200
    assert b"Interim analysis" in interim.content
    assert b'name="interim_reason" value="DSMB safety look"' in interim.content  # downloads carry the reason
    run = AnalysisRun.objects.get()
    assert run.interim and run.reason == "DSMB safety look"
    export = client.post(
        reverse("readerstudy:study_export", args=[study.slug, "tables.xlsx"]),
        {"interim_reason": "DSMB safety look"},
    )
    assert export.status_code == 200 and "interim" in export["Content-Disposition"]


@pytest.mark.parametrize("name", ["study_analysis", "study_report", "study_analysis_table", "study_export"])
def test_only_the_study_statisticians_see_results(client, study, name):
    _lock(study)
    args = {"study_analysis_table": [study.slug, "design"], "study_export": [study.slug, "bundle.zip"]}.get(
        name, [study.slug]
    )
    url = reverse(f"readerstudy:{name}", args=args)
    assert client.get(url).status_code == 302  # anonymous: to the login page
    reader = study.participations.first().user
    coordinator = study.coordinators.get()
    other_statistician = UserFactory(roles=["statistician"])
    for user, password in ((reader, "demo"), (coordinator, "demo"), (other_statistician, PASSWORD)):
        client.logout()
        client.login(username=user.username, password=password)
        assert client.get(url).status_code == 403, user.username
    client.logout()
    client.login(username=study.statisticians.get().username, password="demo")
    assert client.get(url).status_code == 200


def test_analysis_settings_of_the_study_are_used(client, statistician, study):
    _lock(study)
    study.analysis_settings = {"radius_mm": 0.001}
    study.save()
    analysis = client.get(reverse("readerstudy:study_analysis", args=[study.slug])).context["analysis"]
    assert not [m for m in analysis.matches if m.outcome == "LL"]
    study.analysis_settings = {"radius": 3}
    study.save()
    page = client.get(reverse("readerstudy:study_analysis", args=[study.slug]), follow=True)
    assert "Unknown analysis setting" in page.content.decode()


def test_analysis_settings_form(client, study):
    url = reverse("readerstudy:study_analysis_settings", args=[study.slug])
    reader = study.participations.first().user
    client.login(username=reader.username, password="demo")
    assert client.get(url).status_code == 403
    client.logout()
    client.login(username=study.coordinators.get().username, password="demo")
    page = client.get(url)
    assert page.status_code == 200 and b"Smallest radius" in page.content
    values = {
        "radius_mm": "",
        "size_factor": "1",
        "min_radius_mm": "2",
        "duplicates": "nl",
        "size_strata": "3, 6, 12",
        "case_rating": "metastasis_present",
        "fom": "AFROC",
        "covariance": "jackknife",
        "kappa_weights": "linear",
        "confidence": "0.9",
    }
    assert client.post(url, values).status_code == 302
    study.refresh_from_db()
    assert study.analysis_settings == {
        "size_factor": 1.0,
        "min_radius_mm": 2.0,
        "duplicates": "nl",
        "size_strata": [3.0, 6.0, 12.0],
        "case_rating": "metastasis_present",
        "fom": "AFROC",
        "kappa_weights": "linear",
        "confidence": 0.9,
    }
    refused = client.post(url, {**values, "size_strata": "10, 5"})
    assert refused.status_code == 200 and b"strictly increasing" in refused.content
    study.refresh_from_db()
    assert study.analysis_settings["size_strata"] == [3.0, 6.0, 12.0]


def test_the_rjafroc_export_refuses_an_id_rjafroc_would_split(client, statistician, study):
    study.conditions.filter(label="LR").update(label="LR thick")
    _lock(study)
    response = client.get(reverse("readerstudy:study_export", args=[study.slug, "rjafroc.xlsx"]), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("readerstudy:study_results", args=[study.slug])
    assert "RJafroc reads &#x27;LR thick&#x27; as more than one id" in html
