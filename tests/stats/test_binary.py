"""Binary endpoints (stats.binary): per-reader sensitivity and specificity of thresholded calls
as MRMC figures of merit, checked by definition and against real RJafroc 2.1.3's
``St(FOM = "HrSe" | "HrSp", method = "OR")`` on the calls written as an RJafroc file."""

import json

import numpy as np
import pytest

from stats.binary import binary_calls
from stats.cli import main
from stats.dataset import DatasetError, ReaderStudy
from stats.fom import jackknife
from stats.io_excel import write_excel
from stats.io_plain import read_plain
from stats.mrmc import or_analysis
from stats.study_record import AnalysisSettings
from stats.study_tables import analyse_study

from .reference import DATASETS
from .rjafroc_support import assert_rjafroc_reproduces, require_rjafroc
from .study_fixtures import simulated_record


def data(name: str) -> ReaderStudy:
    path = DATASETS / name
    if not path.exists():
        pytest.fail(f"The shared dataset {path} is missing (it lies beside the project).")
    return read_plain(path)


def case_ratings(roc: ReaderStudy) -> tuple[np.ndarray, np.ndarray]:
    """The normal and abnormal cases' ratings [I, J, K1] and [I, J, K2] of ROC data."""
    return roc.nl[:, :, : roc.k1, 0], roc.ll[:, :, :, 0]


@pytest.mark.parametrize("threshold", [2, 3, 4.5])
def test_roc_calls_give_the_fraction_of_cases_at_or_above_the_threshold(threshold):
    roc = data("dataset02")  # Van Dyke: ROC ratings 1..5
    normal, abnormal = case_ratings(roc)
    calls = binary_calls(roc, threshold)
    np.testing.assert_array_equal(jackknife(calls, "HrSe").fom, (abnormal >= threshold).mean(axis=-1))
    np.testing.assert_array_equal(jackknife(calls, "HrSp").fom, (normal < threshold).mean(axis=-1))


def test_the_jackknife_leaves_out_one_case_of_its_kind():
    roc = data("dataset02")
    _, abnormal = case_ratings(roc)
    jk = jackknife(binary_calls(roc, 3), "HrSe")
    assert jk.cases == "abnormal"
    hits = (abnormal >= 3).astype(float)
    k2 = hits.shape[-1]
    np.testing.assert_allclose(jk.values, (hits.sum(-1, keepdims=True) - hits) / (k2 - 1), rtol=1e-15)


def test_froc_calls_count_only_marks_at_or_above_the_threshold():
    froc = data("dataset04")  # FROC, ratings 1..5
    calls = binary_calls(froc, 3)
    highest_abnormal = np.maximum(froc.nl[:, :, froc.k1 :].max(-1), froc.ll.max(-1))
    np.testing.assert_array_equal(jackknife(calls, "HrSe").fom, (highest_abnormal >= 3).mean(-1))
    highest_normal = froc.nl[:, :, : froc.k1].max(-1)
    np.testing.assert_array_equal(jackknife(calls, "HrSp").fom, (highest_normal < 3).mean(-1))
    # No threshold: every mark counts, RJafroc's own HrSe and HrSp of the marks.
    for fom in ("HrSe", "HrSp"):
        np.testing.assert_array_equal(jackknife(binary_calls(froc), fom).fom, jackknife(froc, fom).fom)


def test_localised_calls_count_an_abnormal_case_only_through_a_lesion_localisation():
    froc = data("dataset04")
    calls = binary_calls(froc, 2, localised=True)
    np.testing.assert_array_equal(jackknife(calls, "HrSe").fom, (froc.ll.max(-1) >= 2).mean(-1))
    # Specificity is about normal cases: the same as without localisation.
    np.testing.assert_array_equal(jackknife(calls, "HrSp").fom, jackknife(binary_calls(froc, 2), "HrSp").fom)


@pytest.mark.parametrize(
    ("name", "threshold"),
    [("dataset02", 3), ("dataset02", 5), ("dataset04", 3), ("dataset04", None)],
)
@pytest.mark.parametrize("fom", ["HrSe", "HrSp"])
def test_or_analysis_of_the_calls_equals_rjafroc(name, threshold, fom, tmp_path):
    require_rjafroc()
    source = data(name)
    if source.kind != "FROC" and threshold is None:
        pytest.skip("ROC data needs a threshold")
    calls = binary_calls(source, threshold)
    path = tmp_path / "calls.xlsx"
    write_excel(calls, path)
    assert assert_rjafroc_reproduces(path, or_analysis(calls, fom)) < 1e-9


def test_lroc_calls_use_the_highest_rating_correct_or_incorrect_localisation():
    lroc = data("datasetCadLroc")
    threshold = float(np.median(lroc.ll[np.isfinite(lroc.ll)]))
    highest = np.maximum(lroc.ll.max(-1), lroc.nl[:, :, lroc.k1 :].max(-1))
    se = jackknife(binary_calls(lroc, threshold), "HrSe").fom
    np.testing.assert_array_equal(se, (highest >= threshold).mean(-1))
    assert np.any(highest != lroc.ll.max(-1))  # the dataset does rate some cases by an incorrect mark


def test_refusals():
    roc = data("dataset02")
    with pytest.raises(DatasetError, match="need a threshold"):
        binary_calls(roc)
    for bad in (float("nan"), float("inf"), True, "3"):
        with pytest.raises(DatasetError, match="finite number"):
            binary_calls(roc, bad)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="ROI data"):
        binary_calls(data("datasetROI"), 1)


def test_cli_threshold(capsys):
    path = str(DATASETS / "dataset02")
    assert main(["mrmc", path, "--fom", "HrSe", "--threshold", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["threshold"] == 3
    want = or_analysis(binary_calls(data("dataset02"), 3), "HrSe")
    assert payload["RRRC"]["p"] == pytest.approx(want.tests["RRRC"].p, rel=1e-12)
    assert main(["fom", path, "--fom", "HrSp", "--threshold", "3", "--json"]) == 0
    foms = json.loads(capsys.readouterr().out)["foms"]
    assert foms["0"]["0"] == pytest.approx((case_ratings(data("dataset02"))[0][0, 0] < 3).mean())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fom", "HrSe"], "need a threshold"),  # ROC data without a threshold
        (["--fom", "Wilcoxon", "--threshold", "3"], "applies to the binary FOMs"),
    ],
)
def test_cli_refuses(args, message, capsys):
    assert main(["mrmc", str(DATASETS / "dataset02"), *args]) == 2
    assert message in capsys.readouterr().err


def test_the_study_tables_analyse_case_detection_as_binary_endpoints():
    record = simulated_record(settings=AnalysisSettings(detection_min_rating=2))
    analysis = analyse_study(record)
    table = analysis.tables["case_detection_mrmc"]
    assert {row["endpoint"] for row in table.rows} == {"sensitivity", "specificity"}
    # Each endpoint's RRRC difference is the difference of the reader-averaged case_detection rates.
    rates: dict[tuple[str, str], list[float]] = {}
    for row in analysis.tables["case_detection"].rows:
        rates.setdefault(("sensitivity", str(row["condition"])), []).append(float(row["sensitivity"]))
        rates.setdefault(("specificity", str(row["condition"])), []).append(float(row["specificity"]))
    for row in table.rows:
        first, second = str(row["comparison"]).split(" - ")
        endpoint = str(row["endpoint"])
        want = np.mean(rates[(endpoint, first)]) - np.mean(rates[(endpoint, second)])
        assert row["difference"] == pytest.approx(want, abs=1e-15)
    assert "only marks rated >= 2 count" in " ".join(table.notes)


def test_one_sided_columns_follow_the_settings():
    record = simulated_record(settings=AnalysisSettings(alternative="greater", margin=0.05))
    table = analyse_study(record).tables["case_detection_mrmc"]
    assert "p_one_sided" in table.columns
    assert all(row["hypothesis"] for row in table.rows)


def test_an_endpoint_without_variation_gets_a_note_not_a_table_row():
    # No false positive is rated >= 2.5 in the simulation: every specificity is 1.
    analysis = analyse_study(simulated_record(settings=AnalysisSettings(detection_min_rating=2.5)))
    assert {row["endpoint"] for row in analysis.tables["case_detection_mrmc"].rows} == {"sensitivity"}
    assert any(note.startswith("No MRMC test of specificity:") for note in analysis.notes)
