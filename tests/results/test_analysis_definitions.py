"""The published studies' definitions on the platform: the detection threshold and the other new
analysis settings on the settings form, and case attributes carried by the record and its bundle."""

import subprocess
import sys

import pytest
from django.urls import reverse

from stats.study_record import read_bundle
from stats.study_tables import analyse_study, tables_csv
from tests.results.test_results import ROOT, _download, _lock, statistician, study

pytestmark = pytest.mark.django_db
__all__ = ["statistician", "study"]  # fixtures of test_results, used here

AGES = [54, 61, 47, 70, 58, 66, 72, 59]


def test_case_attributes_reach_the_record_and_the_bundle_recreates_the_characteristics_table(
    client, statistician, study, tmp_path
):
    for n, case in enumerate(study.cases.order_by("code")):
        case.attributes = {**case.attributes, "age": AGES[n], "sex": "F" if n % 3 else "M", "scanner": None}
        case.save()
    _lock(study)
    page = client.get(reverse("readerstudy:study_analysis", args=[study.slug]))
    analysis = page.context["analysis"]
    assert "Case characteristics" in page.content.decode()
    ages = [r for r in analysis.tables["case_characteristics"].as_dicts() if r["characteristic"] == "age"]
    assert {r["group"] for r in ages} == {"normal", "abnormal"} and sum(r["n"] for r in ages) == 8
    assert {r["test"] for r in analysis.tables["case_characteristic_tests"].as_dicts()} >= {
        "Welch's t-test",
        "Fisher's exact test",
    }

    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(_download(client, study, "bundle.zip"))
    record = read_bundle(bundle)
    codes = sorted(study.cases.values_list("code", flat=True))
    assert [r["value"] for r in record.case_attributes if r["attribute"] == "age"] == [
        str(AGES[n]) for n in range(len(codes))
    ]
    assert not [r for r in record.case_attributes if r["attribute"] == "scanner"]  # null: no value
    assert tables_csv(analyse_study(record)) == tables_csv(analysis)
    done = subprocess.run(
        [sys.executable, "-m", "stats", "tables", str(bundle), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0 and "identical" in done.stdout, done.stdout + done.stderr


def test_the_detection_threshold_setting_reaches_the_tables_and_their_notes(client, statistician, study):
    _lock(study)
    url = reverse("readerstudy:study_analysis", args=[study.slug])
    default = client.get(url).context["analysis"]
    study.analysis_settings = {"detection_min_rating": 5}  # the simulated readers rate 2-4
    study.save()
    page = client.get(url)
    strict = page.context["analysis"]
    assert {r["detected"] for r in strict.tables["sensitivity"].as_dicts()} == {0}
    assert any(r["detected"] for r in default.tables["sensitivity"].as_dicts())
    assert strict.tables["jafroc_fom"].csv() == default.tables["jafroc_fom"].csv()
    html = page.content.decode()
    assert "only marks rated &gt;= 5 count" in html and "detection: marks rated ≥ 5" in html


def test_the_settings_form_exposes_the_new_settings(client, study):
    url = reverse("readerstudy:study_analysis_settings", args=[study.slug])
    case = study.cases.order_by("code").first()
    case.attributes = {"age": 50, "sex": "F"}
    case.save()
    client.login(username=study.coordinators.get().username, password="demo")
    page = client.get(url).content.decode()
    assert "Smallest mark rating that counts as a detection" in page and "not present" in page
    assert "CNR formula of every ROI pair" in page and "pooled SD" in page
    assert 'value="age"' in page and "Compare case characteristics between" in page
    values = {
        "size_factor": "0.5",
        "min_radius_mm": "3",
        "duplicates": "discard",
        "size_strata": "5, 10",
        "case_rating": "marks",
        "fom": "wAFROC",
        "covariance": "jackknife",
        "kappa_weights": "quadratic",
        "confidence": "0.95",
    }
    assert client.post(url, values).status_code == 302  # the new settings left empty: defaults
    study.refresh_from_db()
    assert study.analysis_settings == {}
    chosen = {
        **values,
        "detection_min_rating": "2",
        "cnr_formula": "pooled_sd",
        "characteristics": ["age"],
        "characteristics_group_by": "sex",
        "characteristics_t_test": "student",
    }
    assert client.post(url, chosen).status_code == 302
    study.refresh_from_db()
    assert study.analysis_settings == {
        "detection_min_rating": 2.0,
        "cnr_formula": "pooled_sd",
        "characteristics": ["age"],
        "characteristics_group_by": "sex",
        "characteristics_t_test": "student",
    }
    for field, bad, message in (
        ("cnr_formula", "rms", "Select a valid choice. rms is not one of the available choices."),
        ("characteristics_t_test", "mann-whitney", "Select a valid choice."),
        ("characteristics_group_by", "scanner", "Select a valid choice. scanner is not one"),
        ("detection_min_rating", "two", "Enter a number."),
        ("contrast_ratio_pairs", "lesion vs brain", "Select a valid choice. lesion vs brain is not one"),
    ):
        refused = client.post(url, {**chosen, field: bad})
        assert refused.status_code == 200 and message in refused.content.decode(), field
    study.refresh_from_db()
    assert study.analysis_settings["cnr_formula"] == "pooled_sd"


def test_invalid_stored_settings_are_said_on_the_analysis_page(client, statistician, study):
    _lock(study)
    study.analysis_settings = {"cnr_formula": "rms"}
    study.save()
    page = client.get(reverse("readerstudy:study_analysis", args=[study.slug]), follow=True)
    assert "cnr_formula must be one of background_sd, pooled_sd" in page.content.decode()


def test_a_non_inferiority_hypothesis_on_the_settings_form_reaches_the_mrmc_tables(
    client, statistician, study
):
    url = reverse("readerstudy:study_analysis_settings", args=[study.slug])
    client.logout()
    client.login(username=study.coordinators.get().username, password="demo")
    page = client.get(url).content.decode()
    assert "Alternative of the MRMC (OR) tests" in page and "Non-inferiority margin" in page
    values = {
        "size_factor": "0.5",
        "min_radius_mm": "3",
        "duplicates": "discard",
        "size_strata": "5, 10",
        "case_rating": "marks",
        "fom": "wAFROC",
        "covariance": "jackknife",
        "kappa_weights": "quadratic",
        "confidence": "0.95",
    }
    before = dict(study.analysis_settings)
    for bad, message in (
        ({"alternative": "two-sided", "margin": "0.05"}, "a margin needs a one-sided alternative"),
        ({"alternative": "greater", "margin": "-0.05"}, "Ensure this value is greater than or equal to 0"),
        ({"alternative": "sideways"}, "Select a valid choice."),
    ):
        refused = client.post(url, {**values, **bad})
        assert refused.status_code == 200 and message in refused.content.decode(), bad
    study.refresh_from_db()
    assert study.analysis_settings == before
    assert client.post(url, {**values, "alternative": "less", "margin": "0.05"}).status_code == 302
    study.refresh_from_db()
    assert (study.analysis_settings["alternative"], study.analysis_settings["margin"]) == ("less", 0.05)

    client.logout()
    client.login(username=statistician.username, password="demo")
    _lock(study)
    page = client.get(reverse("readerstudy:study_analysis", args=[study.slug]))
    analysis = page.context["analysis"]
    first, second = analysis.froc.modality_ids[:2]
    rows = analysis.tables["jafroc_tests"].as_dicts()
    words = f"non-inferiority of {second} to {first} with margin 0.05 (H0: {second} - {first} &lt;= -0.05)"
    html = page.content.decode()
    assert words in html and "one-sided MRMC tests (less, margin 0.05)" in html
    assert all(r["p_one_sided"] is not None and r["bound_one_sided"] > r["difference"] for r in rows)
    assert "p_one_sided" in analysis.tables["roc_mrmc"].columns
