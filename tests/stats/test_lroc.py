"""LROC data: its ROC AUC, PCL and ALROC and their jackknife, against RJafroc 2.1.3.

RJafroc's only LROC dataset, ``datasetCadLroc`` (one modality, CAD and nine radiologists),
is read from ../shared (the plain layout, with its LL_IL.csv of incorrect localisations)
and compared with the same object inside RJafroc. RJafroc's significance tests need two
modalities, so the OR and DBM checks split its ten readers into two "modalities" of five
(readers 1-5 and 6-10), built the same way in R and here.
"""

import csv
import math

import numpy as np
import pytest

from stats.dataset import NO_MARK, DatasetError, ReaderStudy
from stats.fom import jackknife, lroc_foms
from stats.io_excel import read_excel, write_excel
from stats.io_plain import read_plain
from stats.mrmc import dbm_analysis, or_analysis
from stats.rjafroc_engine import call_r

from .reference import DATASETS
from .rjafroc_support import (
    RTOL,
    assert_st_reproduces,
    r_array,
    r_call,
    r_eval,
    r_frame,
    r_internal,
    r_matrix,
    require_rjafroc,
)

FOLDER = DATASETS / "datasetCadLroc"
FPF_VALUES = (0.2, 0.05, 1 / 3, 0.5, 1.0)

#: datasetCadLroc as two modalities of five readers each (R side; see the module docstring).
R_SPLIT = """local({
  ds <- RJafroc::datasetCadLroc
  halves <- function(x) {
    d <- dim(x); y <- array(NA_real_, c(2, 5, d[3], d[4]))
    y[1, , , ] <- x[1, 1:5, , , drop = FALSE]; y[2, , , ] <- x[1, 6:10, , , drop = FALSE]; y
  }
  ds$ratings$NL <- halves(ds$ratings$NL); ds$ratings$LL <- halves(ds$ratings$LL)
  ds$ratings$LL_IL <- halves(ds$ratings$LL_IL)
  ds$descriptions$truthTableStr <- halves(ds$descriptions$truthTableStr)
  ds$descriptions$modalityID <- c(A = "A", B = "B")
  ds$descriptions$readerID <- setNames(as.character(1:5), as.character(1:5))
  ds
})"""


@pytest.fixture(scope="module")
def data() -> ReaderStudy:
    return read_plain(FOLDER)


def split(data: ReaderStudy) -> ReaderStudy:
    """``data`` (one modality, ten readers) as two modalities A, B of five readers (as R_SPLIT)."""
    return ReaderStudy(
        kind=data.kind,
        modality_ids=("A", "B"),
        reader_ids=tuple(str(r) for r in range(1, 6)),
        k1=data.k1,
        nl=np.stack([data.nl[0, :5], data.nl[0, 5:]]),
        ll=np.stack([data.ll[0, :5], data.ll[0, 5:]]),
        lesions_per_case=data.lesions_per_case,
        weights=data.weights,
        lesion_ids=data.lesion_ids,
        case_ids=data.case_ids,
    )


def test_incorrect_localisations_are_read_as_nl_marks_of_abnormal_cases(data):
    with (FOLDER / "LL_IL.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == np.isfinite(data.nl[:, :, data.k1 :]).sum()
    for row in rows:
        j = data.reader_ids.index(row["reader"])
        assert data.nl[0, j, int(row["case"]) - 1, 0] == float(row["rating"])


def test_roc_auc_of_lroc_data_is_that_of_its_roc_form(data):
    """dataset09 is RJafroc's ROC form of datasetCadLroc (DfLroc2Roc: the highest rating of a case)."""
    roc = read_plain(DATASETS / "dataset09")
    assert roc.kind == "ROC" and data.kind == "LROC"
    ours, theirs = jackknife(data, "Wilcoxon"), jackknife(roc, "Wilcoxon")
    np.testing.assert_allclose(ours.fom, theirs.fom, rtol=1e-12)
    np.testing.assert_allclose(ours.values, theirs.values, rtol=1e-12)


@pytest.mark.parametrize(
    ("fom", "fpf", "message"),
    [
        ("PCL", 0.0, "must lie in (0, 1]"),
        ("ALROC", 1.5, "must lie in (0, 1]"),
        ("PCL", math.nan, "must lie in (0, 1]"),
        ("wAFROC", 0.2, "LROC data takes the figures of merit Wilcoxon, PCL, ALROC, not wAFROC"),
    ],
)
def test_clear_errors_on_lroc_data(data, fom, fpf, message):
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace("]", r"\]")):
        jackknife(data, fom, fpf=fpf)


def test_lroc_foms_need_lroc_data():
    roc = read_plain(DATASETS / "dataset02")
    for fom in ("PCL", "ALROC"):
        with pytest.raises(
            DatasetError, match=f"{fom} is a figure of merit of LROC data; this dataset is ROC"
        ):
            jackknife(roc, fom)


def test_lroc_foms_grow_with_the_fpf(data):
    """PCL and ALROC are non-decreasing in the FPF; ALROC is at most the FPF."""
    pcl = np.array([jackknife(data, "PCL", fpf=x).fom for x in sorted(FPF_VALUES)])
    alroc = np.array([jackknife(data, "ALROC", fpf=x).fom for x in sorted(FPF_VALUES)])
    assert np.all(np.diff(pcl, axis=0) >= 0) and np.all(np.diff(alroc, axis=0) > 0)
    assert np.all(alroc <= np.array(sorted(FPF_VALUES))[:, None, None])


# --- against RJafroc 2.1.3 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def r_lroc():
    require_rjafroc()
    return r_eval("RJafroc::datasetCadLroc")


@pytest.mark.parametrize("fpf", FPF_VALUES)
@pytest.mark.parametrize("fom", ["Wilcoxon", "PCL", "ALROC"])
def test_foms_equal_rjafroc(data, r_lroc, fom, fpf):
    """UtilFigureOfMerit(datasetCadLroc, FOM, FPFValue) for every reader (Wilcoxon: before the
    fix reader 1 gave 0.628125 here, RJafroc 0.81693)."""
    want = r_matrix(r_call("UtilFigureOfMerit", r_lroc, FOM=fom, FPFValue=fpf))
    np.testing.assert_allclose(jackknife(data, fom, fpf=fpf).fom, want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("fom", ["Wilcoxon", "PCL", "ALROC"])
def test_jackknife_equals_rjafroc(data, r_lroc, fom):
    """UtilPseudoValues(datasetCadLroc, FOM, FPFValue = 0.2)$jkFomValues, every deleted case."""
    want = r_array(r_call("UtilPseudoValues", r_lroc, FOM=fom, FPFValue=0.2).rx2("jkFomValues"))
    np.testing.assert_allclose(jackknife(data, fom, fpf=0.2).values, want, rtol=RTOL, atol=1e-15)


def _lroc_cases(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Small rating sets with ties, missing marks (-inf) and none at all."""
    rng = np.random.default_rng(seed)
    cases = []
    for k1, k2 in ((5, 4), (12, 9), (30, 25), (3, 7)):
        fp = rng.integers(0, 5, k1).astype(float)
        cl = rng.integers(1, 7, k2).astype(float)
        fp[rng.random(k1) < 0.3] = NO_MARK
        cl[rng.random(k2) < 0.3] = NO_MARK
        cases.append((fp, cl))
    cases.append((np.full(4, NO_MARK), np.full(3, NO_MARK)))
    cases.append((np.full(4, NO_MARK), np.array([1.0, 2.0, NO_MARK])))
    cases.append((np.array([1.0, 2.0, 3.0, 4.0]), np.full(3, NO_MARK)))
    return cases


@pytest.mark.parametrize("fpf", [0.2, 0.25, 0.5, 0.75, 1.0, 0.01])
def test_pcl_and_alroc_equal_rjafroc_lroc_foms(fpf):
    """RJafroc:::LrocFoms(zk1, zk2Cl, FPFValue) on ties, missing marks and empty curves."""
    require_rjafroc()
    import rpy2.robjects as ro

    for fp, cl in _lroc_cases(7):
        # LrocFoms takes the NL ratings of all K cases (the abnormal ones -Inf in LROC data).
        zk1 = ro.FloatVector([*fp, *[NO_MARK] * len(cl)])
        got = lroc_foms(fp, cl, len(fp), len(cl), fpf)
        r = r_internal("LrocFoms", zk1, ro.FloatVector(list(cl)), fpf)
        assert got == pytest.approx((r.rx2("PCL")[0], r.rx2("ALroc")[0]), rel=RTOL, abs=1e-15), (fp, cl)


@pytest.fixture(scope="module")
def r_split():
    require_rjafroc()
    return r_eval(R_SPLIT)


@pytest.mark.parametrize(("fom", "fpf"), [("PCL", 0.2), ("ALROC", 0.2), ("PCL", 0.5), ("Wilcoxon", 0.2)])
def test_or_analysis_equals_rjafroc(data, r_split, fom, fpf):
    """St(method = "OR", FOM, FPFValue) for RRRC, FRRC and RRFC on the two-modality split."""
    result = or_analysis(split(data), fom, fpf=fpf)
    assert assert_st_reproduces(r_split, result, FPFValue=fpf) < RTOL


@pytest.mark.parametrize("fom", ["PCL", "ALROC"])
def test_dbm_analysis_equals_rjafroc(data, r_split, fom):
    """St(method = "DBM", FOM, FPFValue = 0.2): every option's F statistic, df and p."""
    result = dbm_analysis(split(data), fom, fpf=0.2)
    for option in ("RRRC", "FRRC", "RRFC"):
        st = r_call("St", r_split, FOM=fom, method="DBM", analysisOption=option, FPFValue=0.2).rx2(option)
        treatment, error = r_frame(st.rx2("FTests")).values()
        test = result.tests[option]
        statistic = next(treatment[c] for c in ("Chisq", "FStat", "F") if c in treatment)
        assert test.statistic == pytest.approx(statistic, rel=RTOL), option
        assert test.ndf == pytest.approx(treatment["DF"], rel=RTOL), option
        if test.ddf is not None:
            assert test.ddf == pytest.approx(error["DF"], rel=RTOL), option
        assert test.p == pytest.approx(treatment["p"], rel=RTOL, abs=1e-12), option


def test_rjafroc_engine_runs_lroc_foms(data):
    """The --engine rjafroc route (our Excel file, read by DfReadDataFile) gives the same OR
    analysis of PCL at FPF 0.5 as the python engine."""
    require_rjafroc()
    from stats.cli import mrmc_payload
    from stats.rjafroc_engine import rjafroc_foms, rjafroc_mrmc

    two = split(data)
    np.testing.assert_allclose(
        rjafroc_foms(two, "PCL", fpf=0.5), jackknife(two, "PCL", fpf=0.5).fom, rtol=RTOL
    )
    ours = mrmc_payload(two, or_analysis(two, "PCL", fpf=0.5))
    theirs = rjafroc_mrmc(two, "PCL", fpf=0.5)
    for option in ("RRRC", "FRRC", "RRFC"):
        assert ours[option]["statistic"] == pytest.approx(theirs[option]["statistic"], rel=RTOL), option
        assert ours[option]["p"] == pytest.approx(theirs[option]["p"], rel=RTOL, abs=1e-12), option
        for got, want in zip(ours[option]["differences"], theirs[option]["differences"], strict=True):
            assert got["estimate"] == pytest.approx(want["estimate"], rel=RTOL)
            assert got["stderr"] == pytest.approx(want["stderr"], rel=RTOL)


def test_excel_round_trip_keeps_correct_and_incorrect_localisations(data, tmp_path):
    """datasetCadLroc marks every abnormal case in both the TP and the FP sheet (one of the two
    rated 0); our Excel file reads back the same, here and in RJafroc (lrocForcedMark = FALSE)."""
    path = tmp_path / "lroc.xlsx"
    write_excel(data, path)
    back = read_excel(path)
    assert back.kind == "LROC"
    np.testing.assert_array_equal(back.nl, data.nl)
    np.testing.assert_array_equal(back.ll, data.ll)
    require_rjafroc()
    import rpy2.robjects as ro

    read = ro.r["::"]("RJafroc", "DfReadDataFile")
    ds = call_r(lambda: read(str(path), newExcelFileFormat=True, lrocForcedMark=False))
    for fom in ("Wilcoxon", "PCL", "ALROC"):
        want = r_matrix(r_call("UtilFigureOfMerit", ds, FOM=fom, FPFValue=0.2))
        np.testing.assert_allclose(jackknife(back, fom).fom, want, rtol=RTOL, atol=0)
