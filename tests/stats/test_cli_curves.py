"""`python -m stats curves|fit|pauc` on dataset folders, as text and --json."""

import json
import subprocess
import sys

import numpy as np
import pytest

from stats.cli import main
from stats.curves import averaged_curves, partial_aucs
from stats.fits import fit_binormal
from stats.fom import figure_of_merit
from stats.io_plain import read_plain

from .reference import DATASETS


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stats", *args], capture_output=True, text=True, timeout=120)


def test_curves_json(capsys):
    path = DATASETS / "dataset04"
    assert main(["curves", str(path), "--kind", "wafroc", "--n-boot", "50", "--seed", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["kind"], payload["method"], payload["n_boot"], payload["seed"]) == (
        "wAFROC",
        "vertical",
        50,
        3,
    )
    want = averaged_curves(read_plain(path), "wAFROC", n_boot=50, seed=3)
    foms = figure_of_merit(read_plain(path), "wAFROC")
    for got, curve, fom in zip(payload["curves"], want, foms, strict=True):
        assert got["modality"] == curve.modality
        assert got["area"] == pytest.approx(fom.mean(), abs=1e-12)
        np.testing.assert_array_equal(got["lower"], curve.lower)
        assert set(got["readers"]) == set(curve.reader_ids)


def test_curves_text_rjafroc_grid():
    result = run("curves", str(DATASETS / "dataset02"), "--method", "rjafroc", "--n-boot", "20")
    assert result.returncode == 0, result.stderr
    assert "ROC of modality 0, averaged over 5 readers (rjafroc" in result.stdout
    assert result.stdout.count("\n  0.0100") == 2  # RJafroc's ROC grid: steps of 0.01


def test_fit_json_and_text(capsys):
    path = DATASETS / "dataset02"
    assert main(["fit", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    first = payload["fits"][0]
    ours = fit_binormal(read_plain(path), 0, 0)
    assert (first["modality"], first["reader"], first["a"], first["auc"]) == (
        "0",
        "0",
        ours.parameters["a"],
        ours.auc,
    )
    degenerate = payload["fits"][8]
    assert degenerate["a"] is None and "degenerate" in degenerate["note"]
    assert main(["fit", str(path), "--model", "cbm"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("cbm ROC fits") and "mu" in text and "NA" in text


def test_pauc(capsys):
    path = DATASETS / "dataset02"
    assert main(["pauc", str(path), "--fpf-range", "0,0.2", "--standardized", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    want = partial_aucs(read_plain(path), (0, 0.2), standardized=True)
    assert payload["values"]["1"]["4"] == want.values[1, 4]
    assert payload["fpf_range"] == [0.0, 0.2] and payload["standardized"] is True
    assert main(["pauc", str(path), "--fpf-range", "0,1"]) == 0
    assert "partial ROC area over FPF [0, 1]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pauc", str(DATASETS / "dataset02"), "--fpf-range", "0.3,0.2"), "0 <= e1 < e2 <= 1"),
        (("curves", str(DATASETS / "dataset02"), "--kind", "afroc"), "needs FROC data"),
        (("fit", "/no/such/dataset"), "no such file or folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
