"""`python -m stats ustat`: the U-statistic analysis of ROC data on all its reads."""

import json

import numpy as np
import pytest

from stats.cli import main
from stats.dataset import NO_MARK, roc_study
from stats.fom import figure_of_merit
from stats.io_imrmc import read_imrmc, write_imrmc
from stats.io_tidy import rated, write_tidy
from stats.simulate import roe_metz
from stats.ustat import METHOD, ustat_analysis

from .reference import DATASETS

RJAFROC_FILES = DATASETS.parent / "rjafroc-files"


def _incomplete(seed: int = 11):
    """A Roe-Metz study in which about a fifth of the reads were not made (-inf)."""
    data = roe_metz(modalities=2, readers=4, normal_cases=15, abnormal_cases=12, seed=seed)
    ratings = np.concatenate([data.nl[:, :, : data.k1, 0], data.ll[:, :, :, 0]], axis=2)
    mask = np.random.default_rng(seed).random(ratings.shape) < 0.8
    return (
        roc_study(
            np.where(mask, ratings, NO_MARK),
            data.k1,
            ["A", "B"],
            ["r1", "r2", "r3", "r4"],
            [f"c{k}" for k in range(ratings.shape[2])],
        ),
        mask,
    )


def _json(capsys, *args: str) -> dict:
    assert main(["ustat", *args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_imrmc_file_with_missing_reads(tmp_path, capsys):
    data, mask = _incomplete()
    path = tmp_path / "study.imrmc"
    write_imrmc(data, path)
    assert np.array_equal(rated(read_imrmc(path)), mask)  # the file's missing lines are the mask
    payload = _json(capsys, str(path))
    want = ustat_analysis(data, mask)
    assert payload["method"] == METHOD
    assert payload["reads"] == int(mask.sum()) == want.reads
    assert [m["auc"] for m in payload["modalities"]] == pytest.approx(
        [m.auc for m in want.modalities], abs=1e-15
    )
    assert [m["variance"] for m in payload["modalities"]] == pytest.approx(
        [m.variance for m in want.modalities], abs=1e-15
    )
    d = payload["differences"][0]
    assert d["modalities"] == ["A", "B"]
    assert (d["estimate"], d["stderr"], d["z"], d["p"]) == pytest.approx(
        (
            want.differences[0].estimate,
            want.differences[0].stderr,
            want.differences[0].statistic,
            want.differences[0].p,
        ),
        abs=1e-15,
    )
    # a reader's AUC is the Wilcoxon AUC of the cases it read
    read = mask[0, 1]
    normal, abnormal = read[: data.k1], read[data.k1 :]
    reader_only = roc_study(
        np.r_[data.nl[0, 1, : data.k1, 0][normal], data.ll[0, 1, :, 0][abnormal]][None, None, :],
        int(normal.sum()),
        ["A"],
        ["r2"],
    )
    assert payload["foms"]["A"]["r2"] == pytest.approx(
        figure_of_merit(reader_only, "Wilcoxon")[0, 0], abs=1e-15
    )
    assert payload["reads_per_reader"]["A"]["r2"] == {
        "normal": int(normal.sum()),
        "abnormal": int(abnormal.sum()),
    }


def test_tidy_csv_with_na_ratings_gives_the_same(tmp_path, capsys):
    data, _ = _incomplete()
    write_imrmc(data, tmp_path / "study.imrmc")
    write_tidy(data, tmp_path / "study.csv")  # NA where a read is missing
    assert _json(capsys, str(tmp_path / "study.csv")) == _json(capsys, str(tmp_path / "study.imrmc"))


def test_complete_imrmc_file_and_text_output(capsys):
    path = RJAFROC_FILES / "RocData.imrmc"  # Van Dyke data, every case read
    payload = _json(capsys, str(path), "--confidence", "0.9")
    foms = figure_of_merit(read_imrmc(path), "Wilcoxon")
    assert payload["foms"]["1"]["4"] == pytest.approx(foms[1, 4], abs=1e-12)
    assert payload["modalities"][1]["auc"] == pytest.approx(foms[1].mean(), abs=1e-12)
    assert payload["reads"] == 2 * 5 * 114 and payload["confidence"] == 0.9
    assert main(["ustat", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{METHOD}: 1140 reads, random readers" in out
    assert "0 - 1: -0.0438 (SE " in out


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        ("froc", (), "takes ROC data; this dataset is FROC"),
        ("no_abnormal", (), "Modality B: no reader read both a normal and an abnormal case"),
        ("complete", ("--confidence", "95"), "confidence level must lie in (0, 1)"),
    ],
)
def test_refusals_are_one_line_and_exit_status_2(tmp_path, capsys, make, extra, message):
    if make == "froc":
        path = str(DATASETS / "dataset04")
    else:
        data, _ = _incomplete()
        if make == "no_abnormal":
            ratings = np.concatenate([data.nl[:, :, : data.k1, 0], data.ll[:, :, :, 0]], axis=2)
            ratings[1, :, data.k1 :] = NO_MARK
            data = roc_study(ratings, data.k1, data.modality_ids, data.reader_ids, data.case_ids)
        path = str(tmp_path / "study.imrmc")
        write_imrmc(data, path)
    assert main(["ustat", path, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith(f"error: {path}") and err.count("\n") == 1
