"""`python -m stats` as a statistician uses it: on dataset folders, with --json."""

import json
import subprocess
import sys

import pytest

from stats.cli import main
from stats.fom import figure_of_merit
from stats.io_plain import read_plain

from .reference import DATASETS, fom_table, reference


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stats", *args], capture_output=True, text=True, timeout=120)


def test_fom_json_matches_rjafroc():
    result = run("fom", str(DATASETS / "dataset04"), "--fom", "wAFROC", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["fom"] == "wAFROC"
    want = reference("dataset04")["FOMs"]["wAFROC"]
    for modality, row in payload["foms"].items():
        for reader, value in row.items():
            assert value == pytest.approx(want[f"trt{modality}"][f"rdr{reader}"], rel=1e-9)
    assert set(payload["modality_means"]) == {"1", "2", "3", "4", "5"}


@pytest.mark.parametrize("method", ["OR", "DBM"])
def test_mrmc_json_has_every_option(method):
    result = run("mrmc", str(DATASETS / "dataset05"), "--fom", "wAFROC", "--method", method, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    ref = reference("dataset05")["St"][method]["summary"]
    for option in ("RRRC", "FRRC", "RRFC"):
        assert payload[option]["statistic"] == pytest.approx(ref[option]["statistic"], rel=1e-9)
        assert payload[option]["p"] == pytest.approx(ref[option]["p"], rel=1e-9, abs=1e-12)
        difference = payload[option]["differences"][0]
        assert difference["modalities"] == ["1", "2"]
        assert len(difference["ci"]) == 2
    assert payload["FRRC"]["ddf"] is None if method == "OR" else payload["FRRC"]["ddf"] > 0
    assert payload["RRRC"]["p"] == pytest.approx(0.0116, abs=5e-5)  # published wAFROC RRRC p
    assert "VarR" in payload["variance_components"]
    foms = fom_table(reference("dataset05")["FOMs"]["wAFROC"], ["1", "2"], [str(r) for r in range(1, 10)])
    assert payload["foms"]["2"]["9"] == pytest.approx(foms[1, 8], rel=1e-9)


def test_table_output_for_people():
    result = run("mrmc", str(DATASETS / "dataset02"))
    assert result.returncode == 0
    assert "OR RRRC: F = 4.4563, ndf = 1, ddf = 15.26, p = 0.05167" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fom", "/no/such/dataset"), "no such file or folder"),
        (("mrmc", str(DATASETS / "dataset09")), "this dataset has one"),
        (("fom", str(DATASETS / "dataset02"), "--fom", "wAFROC"), "needs FROC data"),
        (("fom", str(DATASETS / "dataset02"), "--fom", "PCL"), "PCL is a figure of merit of LROC data"),
        (("mrmc", str(DATASETS / "dataset04"), "--fom", "ALROC"), "ALROC is a figure of merit of LROC data"),
        (("fom", str(DATASETS / "datasetCadLroc"), "--fom", "PCL", "--fpf", "0"), "must lie in (0, 1]"),
        (("fom", str(DATASETS / "datasetCadLroc"), "--fom", "ALROC", "--fpf", "1.2"), "must lie in (0, 1]"),
        (
            ("fom", str(DATASETS / "datasetCadLroc"), "--fom", "wAFROC"),
            "LROC data takes the figures of merit",
        ),
        (("fom", str(DATASETS / "datasetX")), "crossed-modality"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {args[1]}")


def test_every_factorial_dataset_runs(capsys):
    for folder in sorted(DATASETS.iterdir()):
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("type") not in ("ROC", "FROC") or meta.get("design") != "FCTRL":
            continue
        assert main(["fom", str(folder), "--json"]) == 0, folder.name
        if len(meta["modality_ids"]) > 1 and len(meta["reader_ids"]) > 1:
            assert main(["mrmc", str(folder), "--json"]) == 0, folder.name
            assert main(["mrmc", str(folder), "--method", "DBM"]) == 0, folder.name
        assert "error" not in capsys.readouterr().err


def test_or_with_delong_covariance_from_the_command_line(capsys):
    assert main(["mrmc", str(DATASETS / "dataset02"), "--covariance", "DeLong", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["method"] == "OR (DeLong covariance)"
    assert main(["mrmc", str(DATASETS / "dataset02"), "--method", "DBM", "--covariance", "DeLong"]) == 2
    assert "applies to --method OR" in capsys.readouterr().err


def test_power_from_the_command_line(capsys):
    assert (
        main(["power", str(DATASETS / "dataset03"), "--readers", "6", "--effect-size", "0.05", "--json"]) == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["cases"] == 121
    assert payload["power"] == pytest.approx(0.8004469, abs=1e-7)
    assert main(["power", str(DATASETS / "dataset02"), "--readers", "2", "--effect-size", "0.001"]) == 2
    assert "cannot reach power" in capsys.readouterr().err


RJAFROC_FILES = DATASETS.parent / "rjafroc-files"


def fom_json_of(path, capsys, *extra: str) -> dict:
    assert main(["fom", str(path), "--json", *extra]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fom", ["PCL", "ALROC"])
def test_lroc_foms_at_a_chosen_fpf(capsys, fom):
    folder = DATASETS / "datasetCadLroc"
    payload = fom_json_of(folder, capsys, "--fom", fom, "--fpf", "0.3")
    assert (payload["fom"], payload["fpf"]) == (fom, 0.3)
    want = figure_of_merit(read_plain(folder), fom, fpf=0.3)
    assert [list(row.values()) for row in payload["foms"].values()] == want.tolist()
    default = fom_json_of(folder, capsys, "--fom", fom)
    assert default["fpf"] == 0.2 and default["foms"] != payload["foms"]
    assert main(["fom", str(folder), "--fom", fom]) == 0
    assert f"{fom} at FPF 0.2 per modality" in capsys.readouterr().out


def test_fom_of_an_rjafroc_excel_file(capsys):
    payload = fom_json_of(RJAFROC_FILES / "Froc.xlsx", capsys, "--fom", "wAFROC")
    want = reference("dataset04")["FOMs"]["wAFROC"]
    assert set(payload["foms"]) == {"4", "5"}
    for modality, row in payload["foms"].items():
        for reader, value in row.items():
            assert value == pytest.approx(want[f"trt{modality}"][f"rdr{reader}"], rel=1e-12)


def test_fom_of_an_imrmc_file(capsys):
    payload = fom_json_of(RJAFROC_FILES / "RocData.imrmc", capsys)
    want = reference("dataset02")["FOMs"]["Wilcoxon"]
    assert payload["fom"] == "Wilcoxon"
    assert payload["foms"]["1"]["4"] == pytest.approx(want["trt1"]["rdr4"], rel=1e-12)


def test_fom_of_a_tidy_csv_file(capsys):
    payload = fom_json_of(RJAFROC_FILES / "RocData.csv", capsys)
    want = reference("dataset02")["FOMs"]["Wilcoxon"]
    assert payload["foms"]["0"]["2"] == pytest.approx(want["trt0"]["rdr2"], rel=1e-12)
    bad = RJAFROC_FILES / "toyFiles" / "ROC" / "bad" / "non-numeric-weight.xlsx"
    assert main(["fom", str(bad)]) == 2
    assert capsys.readouterr().err == f"error: {bad}: TRUTH row 5: Weight 'abc' is not a number\n"
    assert main(["fom", str(RJAFROC_FILES / "RocData.lrc")]) == 2
    assert "nor an .xlsx (RJafroc), .imrmc (iMRMC) or .csv (tidy) file" in capsys.readouterr().err


def test_roi_data_gets_foms_and_a_clear_message_for_mrmc(capsys):
    assert main(["fom", str(DATASETS / "datasetROI"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["fom"] == "ROI"
    assert all(0.5 < v < 1 for row in payload["foms"].values() for v in row.values())
    assert main(["mrmc", str(DATASETS / "datasetROI")]) == 2
    assert "ROI figures of merit can be computed" in capsys.readouterr().err


def test_rjafroc_engine_says_clearly_what_is_missing(capsys):
    from stats.rjafroc_engine import rjafroc_unavailable

    reason = rjafroc_unavailable()
    if reason is None:  # the R path itself is tested in test_rjafroc_engine
        assert main(["fom", str(DATASETS / "dataset02"), "--engine", "rjafroc"]) == 0
        assert "0.9196" in capsys.readouterr().out
    else:
        assert main(["fom", str(DATASETS / "dataset02"), "--engine", "rjafroc", "--json"]) == 2
        assert reason in capsys.readouterr().err


@pytest.mark.parametrize("method", ["OR", "DBM"])
def test_mrmc_one_sided_json_gives_p_and_bound_of_every_difference(method):
    from stats.io_plain import read_plain
    from stats.mrmc import dbm_analysis, one_sided, or_analysis

    args = ("mrmc", str(DATASETS / "dataset02"), "--method", method, "--json")
    result = run(*args, "--margin", "0.05", "--alternative", "greater")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["alternative"], payload["margin"]) == ("greater", 0.05)
    analysis = (or_analysis if method == "OR" else dbm_analysis)(
        read_plain(DATASETS / "dataset02"), "Wilcoxon"
    )
    for option in ("RRRC", "FRRC", "RRFC"):
        (d,) = payload[option]["differences"]
        want = one_sided(analysis.tests[option].differences[0], margin=0.05, alternative="greater")
        got = d["one_sided"]
        assert got["p"] == pytest.approx(want.p, rel=1e-12) and got["bound"] == pytest.approx(
            want.bound, rel=1e-12
        )
        assert got["bound_kind"] == "lower" and got["rejected"] is want.rejected
        assert got["hypothesis"] == "non-inferiority of 0 to 1 with margin 0.05 (H0: 0 - 1 <= -0.05)"
    plain = json.loads(run(*args).stdout)
    assert (plain["alternative"], plain["margin"]) == ("two-sided", 0.0)
    assert "one_sided" not in plain["RRRC"]["differences"][0]


def test_mrmc_one_sided_text_says_the_hypothesis():
    result = run("mrmc", str(DATASETS / "dataset02"), "--alternative", "less", "--margin", "0.05")
    assert result.returncode == 0, result.stderr
    assert (
        "    one-sided, non-inferiority of 1 to 0 with margin 0.05 (H0: 1 - 0 <= -0.05): p = 0.0001949, "
        "95% upper bound of 0 - 1 -0.0075, H0 rejected"
    ) in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--margin", "-0.05", "--alternative", "greater"), "the margin must be 0 or more, got -0.05"),
        (("--margin", "0.05"), "a margin needs a one-sided alternative"),
        (("--margin", "nan", "--alternative", "less"), "finite number"),
    ],
)
def test_mrmc_bad_hypotheses_are_one_line_and_exit_status_2(extra, message):
    result = run("mrmc", str(DATASETS / "dataset02"), *extra)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_mrmc_one_sided_with_the_rjafroc_engine_matches_python(capsys):
    from .rjafroc_support import require_rjafroc

    require_rjafroc()
    args = ["mrmc", str(DATASETS / "dataset02"), "--json", "--margin", "0.05", "--alternative", "less"]
    payloads = []
    for engine in ("python", "rjafroc"):
        assert main([*args, "--engine", engine]) == 0
        payloads.append(json.loads(capsys.readouterr().out))
    for option in ("RRRC", "FRRC", "RRFC"):
        ours, rs = (p[option]["differences"][0]["one_sided"] for p in payloads)
        assert ours["p"] == pytest.approx(rs["p"], rel=1e-9)
        assert ours["bound"] == pytest.approx(rs["bound"], rel=1e-9)
        assert ours["hypothesis"] == rs["hypothesis"]
