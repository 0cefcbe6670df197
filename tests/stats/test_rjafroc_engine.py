"""The Excel export and the RJafroc engine against real RJafroc 2.1.3 in R (no mocks).

Skipped where R, rpy2 or RJafroc are missing, failing instead when CI is set
(``rjafroc_support``). bin/test builds RJafroc from ../shared/r-pkgs.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stats.cli import mrmc_payload
from stats.dataset import NO_MARK, ReaderStudy
from stats.fom import jackknife
from stats.io_excel import read_excel, write_excel
from stats.io_plain import read_plain
from stats.mrmc import dbm_analysis, or_analysis
from stats.rjafroc_engine import r_dataset_in_memory, rjafroc_foms, rjafroc_mrmc
from stats.study_tables import analyse_study

from .reference import DATASETS
from .rjafroc_support import (
    P_ATOL,
    RTOL,
    assert_rjafroc_reproduces,
    r_array,
    r_call,
    r_names,
    r_read,
    require_rjafroc,
)
from .study_fixtures import simulated_record

ROOT = Path(__file__).resolve().parents[2]

#: Every shared dataset that both engines can analyse, with a FOM of its paradigm.
#: MRMC needs two modalities or more; the one-modality datasets are compared on FOMs.
#: These go to R as RJafroc reads them: through the Excel file and DfReadDataFile.
#: IN_MEMORY_FOM_DATASETS go as an RJafroc dataset object built in R (r_dataset_in_memory):
#: datasetBinned123/124/125 (one modality, so FOMs only; 10000 cases, which RJafroc's Excel
#: reader takes minutes over: it compares every row with every case, 62 s for 2000 of them;
#: its jackknife, UtilPseudoValues, would make 10000 FOMs of 25 million comparisons each)
#: and datasetROI (RJafroc's Excel format has no ROI paradigm; FOMs and jackknife FOMs: the
#: python engine refuses ROI significance tests, which need Obuchowski's ROI covariance).
#: Left out, as the python engine cannot read them (stats.io_plain.read_plain refuses them):
#: datasetX and datasetCrossedModality (crossed-modality designs, two modality factors, which
#: RJafroc 2.1.3's St analyses as its FCTRL-X-MOD design; datasetCrossedModality holds the
#: same Thompson study as datasetX, from 2.1.2: dropped in 2.1.3) and datasetFROCSpC (a split-plot
#: design; neither engine analyses it: RJafroc 2.1.3's isValidDataset accepts only the
#: designs FCTRL and FCTRL-X-MOD, and the dataset was dropped from the package in 2.1.3).
MRMC_DATASETS = {
    **dict.fromkeys(
        ("dataset02", "dataset03", "dataset08", "dataset10", "dataset12", "dataset14"), "Wilcoxon"
    ),
    **dict.fromkeys(("dataset01", "dataset04", "dataset05", "dataset06", "dataset07", "dataset11"), "wAFROC"),
    "dataset13": "wAFROC",
}
FOM_ONLY_DATASETS = {
    "dataset09": "Wilcoxon",
    "datasetDegenerate": "Wilcoxon",
    "datasetCadLroc": "Wilcoxon",
    "datasetCadSimuFroc": "wAFROC",
}


IN_MEMORY_FOM_DATASETS = {
    **dict.fromkeys(("datasetBinned123", "datasetBinned124", "datasetBinned125"), "Wilcoxon"),
    "datasetROI": "ROI",
}


@pytest.fixture(autouse=True)
def _rjafroc():
    require_rjafroc()


def agree(got, want, path=""):
    """The largest relative difference of two payloads (same keys, lists, None where None)."""
    if isinstance(want, dict):
        assert got.keys() == want.keys(), path
        return max((agree(got[k], want[k], f"{path}/{k}") for k in want), default=0.0)
    if isinstance(want, list):
        assert len(got) == len(want), path
        return max(
            (agree(g, w, f"{path}[{n}]") for n, (g, w) in enumerate(zip(got, want, strict=True))), default=0.0
        )
    if isinstance(want, float | int) and not isinstance(want, bool):
        assert isinstance(got, float | int), (path, got, want)
        if path.endswith("/p"):
            assert got == pytest.approx(want, rel=RTOL, abs=P_ATOL), path
            return 0.0
        assert got == pytest.approx(want, rel=RTOL, abs=1e-15), path
        return 0.0 if got == want else abs(got - want) / max(abs(got), abs(want))
    assert got == want, (path, got, want)
    return 0.0


# --- the Excel layout, through RJafroc's own reader and writer -------------------------------


def _sorted_marks(x: np.ndarray, width: int) -> np.ndarray:
    """Ratings of each case in decreasing order, padded with NO_MARK to ``width``."""
    out = np.full((*x.shape[:-1], width), NO_MARK)
    ordered = -np.sort(-x, axis=-1)[..., :width]
    out[..., : ordered.shape[-1]] = ordered
    return out


def _renamed(data: ReaderStudy, readers: tuple[str, ...]) -> ReaderStudy:
    return ReaderStudy(
        kind=data.kind,
        modality_ids=data.modality_ids,
        reader_ids=readers,
        k1=data.k1,
        nl=data.nl,
        ll=data.ll,
        lesions_per_case=data.lesions_per_case,
        weights=data.weights,
        lesion_ids=data.lesion_ids,
        case_ids=data.case_ids,
    )


@pytest.mark.parametrize("name", ["dataset02", "dataset03", "dataset04", "dataset11", "platform-ids"])
def test_rjafroc_reads_the_export_as_written(tmp_path, name):
    """DfReadDataFile(f, newExcelFileFormat = TRUE) gets every rating, weight and id back.

    dataset03 has reader ids READER_1..; "platform-ids" gives dataset04 ids R1.. as the
    platform does (RJafroc's old-format reader would make them NA); dataset11 has lesion
    ids that are not 1..n (written as slot numbers, as RJafroc requires).
    """
    data = read_plain(DATASETS / ("dataset04" if name == "platform-ids" else name))
    if name == "platform-ids":
        data = _renamed(data, tuple(f"R{j + 1}" for j in range(data.shape[1])))
    path = tmp_path / "export.xlsx"
    write_excel(data, path)
    ds = r_read(path)
    ratings, lesions, descriptions = ds.rx2("ratings"), ds.rx2("lesions"), ds.rx2("descriptions")
    assert str(descriptions.rx2("type")[0]) == data.kind
    assert r_names(descriptions.rx2("modalityID")) == list(data.modality_ids)
    assert r_names(descriptions.rx2("readerID")) == list(data.reader_ids)
    nl, ll = r_array(ratings.rx2("NL")), r_array(ratings.rx2("LL"))
    width = max(nl.shape[-1], data.nl.shape[-1])
    np.testing.assert_array_equal(_sorted_marks(nl, width), _sorted_marks(data.nl, width))
    np.testing.assert_array_equal(ll[..., : data.ll.shape[-1]], data.ll)
    assert np.all(ll[..., data.ll.shape[-1] :] == NO_MARK)
    np.testing.assert_array_equal(r_array(lesions.rx2("perCase")), data.lesions_per_case)
    weights = r_array(lesions.rx2("weights"))
    mask = data.lesion_mask
    np.testing.assert_allclose(weights[:, : mask.shape[1]][mask], data.weights[mask], rtol=1e-15)


@pytest.mark.parametrize("name", ["dataset02", "dataset05"])
def test_round_trip_through_rjafroc(tmp_path, name):
    """stats writes, RJafroc reads and writes again (its DfWriteExcelDataFile, old layout), stats reads."""
    data = read_plain(DATASETS / name)
    write_excel(data, tmp_path / "ours.xlsx")
    r_call("DfWriteExcelDataFile", r_read(tmp_path / "ours.xlsx"), str(tmp_path / "theirs.xlsx"))
    again = read_excel(tmp_path / "theirs.xlsx")
    assert again.kind == data.kind
    assert set(again.modality_ids) == set(data.modality_ids) and set(again.reader_ids) == set(data.reader_ids)
    fom = "Wilcoxon" if data.kind == "ROC" else "wAFROC"
    ours, theirs = jackknife(data, fom).fom, jackknife(again, fom).fom
    for i, m in enumerate(data.modality_ids):
        for j, r in enumerate(data.reader_ids):
            # the same ratings (RJafroc writes 6 significant digits; these have fewer),
            # marks in another order: equal up to the order of summation
            assert theirs[again.modality_ids.index(m), again.reader_ids.index(r)] == pytest.approx(
                ours[i, j], rel=1e-13
            )


# --- the two engines agree on every dataset both can analyse ------------------------------


def clamped_components(vc: dict, i_n: int) -> dict:
    """The python engine's OR components with RJafroc's max(Cov2 - Cov3, 0) in VarTR and VarR.

    RJafroc 2.1.3 (R/UtilORVarComp.R): VarTR = MS(TR) - Var + Cov1 + max(Cov2 - Cov3, 0),
    VarR = (MS(R) - VarTR - Var + Cov2 - (I-1)(Cov1 - Cov3)) / I; the python engine (as
    OR-DBM MRMC) does not clamp. The tests, dfs and intervals do not use these two.
    """
    shift = min(vc["Cov2"] - vc["Cov3"], 0.0)  # what the clamp adds to VarTR
    return {**vc, "VarTR": vc["VarTR"] - shift, "VarR": vc["VarR"] + shift / i_n}


@pytest.mark.parametrize("name", sorted(MRMC_DATASETS))
def test_engines_agree_on_mrmc(name):
    """OR and DBM, RRRC, FRRC and RRFC: every number of the JSON, to 1e-9 relative."""
    data, fom = read_plain(DATASETS / name), MRMC_DATASETS[name]
    worst = 0.0
    for method, run in (("OR", or_analysis), ("DBM", dbm_analysis)):
        want = mrmc_payload(data, run(data, fom))
        if method == "OR":
            want["variance_components"] = clamped_components(want["variance_components"], data.shape[0])
        worst = max(worst, agree(rjafroc_mrmc(data, fom, method=method), want, f"{name}/{method}"))
    print(f"{name} {fom}: largest relative difference {worst:.2g}")


@pytest.mark.parametrize("name", sorted(FOM_ONLY_DATASETS))
def test_engines_agree_on_foms(name):
    data, fom = read_plain(DATASETS / name), FOM_ONLY_DATASETS[name]
    np.testing.assert_allclose(rjafroc_foms(data, fom), jackknife(data, fom).fom, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", sorted(IN_MEMORY_FOM_DATASETS))
def test_engines_agree_on_foms_of_datasets_built_in_r(name):
    """FOMs (and, where RJafroc's jackknife is quick, the jackknife FOMs) of a dataset object
    built in R, not read from the Excel file; the automatic route chooses it for these."""
    data, fom = read_plain(DATASETS / name), FOM_ONLY_DATASETS.get(name) or IN_MEMORY_FOM_DATASETS[name]
    ours = jackknife(data, fom)
    pairs = [(rjafroc_foms(data, fom), ours.fom)]
    if data.shape[2] <= 1000:
        values = r_call("UtilPseudoValues", r_dataset_in_memory(data), fom).rx2("jkFomValues")
        assert ours.cases == "all"
        pairs.append((r_array(values), ours.values))
    for theirs, want in pairs:
        np.testing.assert_allclose(theirs, want, rtol=RTOL, atol=0)
    worst = max(float(np.max(np.abs(t - w) / np.abs(w))) for t, w in pairs)
    print(f"{name} {fom}: largest relative difference {worst:.2g}")


@pytest.mark.parametrize("name", ["dataset02", "dataset11", "dataset12", "datasetCadSimuFroc"])
def test_dataset_built_in_r_is_the_one_rjafrocs_reader_reads(name):
    """The two routes to R give the same analysis: ROC, lesion ids not 1..n (dataset11),
    unrated ROC cases (dataset12, written for the Excel reader below every rating), FROC."""
    data = read_plain(DATASETS / name)
    fom = MRMC_DATASETS.get(name) or FOM_ONLY_DATASETS[name]
    if data.shape[0] < 2:
        np.testing.assert_allclose(
            rjafroc_foms(data, fom, in_memory=True), rjafroc_foms(data, fom, in_memory=False), rtol=1e-13
        )
        return
    # OR only: DBM takes the same dataset object (and test_engines_agree_on_mrmc runs it)
    agree(rjafroc_mrmc(data, fom, in_memory=True), rjafroc_mrmc(data, fom, in_memory=False))


# --- a platform study's export, read by RJafroc -------------------------------------------


def test_simulated_study_export_gives_the_platforms_results_in_rjafroc(tmp_path):
    """The study's rjafroc.xlsx (write_excel of its FROC data, as the download is) in RJafroc:
    the same wAFROC FOMs and OR results as the platform's analysis (tests/results downloads
    the file from the platform itself)."""
    analysis = analyse_study(
        simulated_record(conditions=("LR", "SR", "HR"), readers=4, normal=12, abnormal=12)
    )
    assert analysis.froc is not None and analysis.mrmc is not None and analysis.mrmc.fom_name == "wAFROC"
    path = tmp_path / "rjafroc.xlsx"
    write_excel(analysis.froc, path)
    worst = assert_rjafroc_reproduces(path, analysis.mrmc)
    print(f"simulated study: largest relative difference {worst:.2g}")


# --- the command line on the R path -------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess:
    """``python -W error -m stats ...``: any Python warning would end the run."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "stats", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def both_engines(*args: str) -> tuple[dict, dict]:
    python, r = run(*args, "--json"), run(*args, "--json", "--engine", "rjafroc")
    assert python.returncode == 0, python.stderr
    assert r.returncode == 0 and r.stderr == "", r.stderr  # no warnings on a clean install
    return json.loads(r.stdout), json.loads(python.stdout)


@pytest.mark.parametrize("name, fom", [("dataset04", "wAFROC"), ("datasetROI", "ROI")], ids=str)
def test_cli_fom_json_is_the_python_engines(name, fom):
    """datasetROI goes to R as a dataset built there (RJafroc's Excel format has no ROI)."""
    got, want = both_engines("fom", str(DATASETS / name), "--fom", fom)
    agree(got, want)


@pytest.mark.parametrize(
    "args",
    [
        ("dataset02",),  # defaults: Wilcoxon, OR, jackknife
        ("dataset05", "--method", "DBM", "--fom", "HrAuc"),
        ("dataset04", "--method", "OR", "--fom", "AFROC", "--covariance", "jackknife"),
    ],
    ids=str,
)
def test_cli_mrmc_json_is_the_python_engines(args):
    got, want = both_engines("mrmc", str(DATASETS / args[0]), *args[1:])
    agree(got, want)


def test_cli_text_output():
    done = run("mrmc", str(DATASETS / "dataset02"), "--engine", "rjafroc")
    assert done.returncode == 0, done.stderr
    assert "0.9196" in done.stdout and "OR RRRC: F = 4.4563" in done.stdout


def test_cli_n_boot_and_seed_are_passed_on_and_change_nothing_for_the_jackknife():
    """St's nBoots and seed only matter to its bootstrap, which 2.1.3 cannot run (refused below)."""
    plain = run("mrmc", str(DATASETS / "dataset02"), "--engine", "rjafroc", "--json")
    options = run(
        "mrmc", str(DATASETS / "dataset02"), "--engine", "rjafroc", "--json", "--n-boot", "10", "--seed", "5"
    )
    assert plain.returncode == options.returncode == 0 and options.stderr == ""
    assert json.loads(options.stdout) == json.loads(plain.stdout)


@pytest.mark.parametrize(
    "args, message",
    [
        (("mrmc", "dataset02", "--covariance", "DeLong"), "RJafroc 2.1.3 cannot run the DeLong covariance"),
        (("mrmc", "dataset02", "--covariance", "bootstrap"), "RJafroc 2.1.3 cannot run the bootstrap"),
        (("mrmc", "dataset02", "--method", "DBM", "--covariance", "bootstrap"), "--covariance applies to"),
        (("mrmc", "dataset09"), "this dataset has one"),
        # R's own errors: a FOM of the wrong paradigm
        (("fom", "dataset02", "--fom", "wAFROC"), "RJafroc: "),
    ],
    ids=str,
)
def test_cli_refusals_are_one_line_with_exit_status_2(args, message):
    command, name, *rest = args
    done = run(command, str(DATASETS / name), *rest, "--engine", "rjafroc")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
