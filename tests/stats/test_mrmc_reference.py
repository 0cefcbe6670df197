"""DBM and Obuchowski-Rockette analyses reproduce RJafroc 2.1.3's St() output in full."""

import numpy as np
import pytest

from stats.dataset import DatasetError, roc_study
from stats.fom import jackknife
from stats.io_plain import read_plain
from stats.mrmc import dbm_analysis, dbm_mean_squares, or_analysis, pseudovalues

from .reference import DATASETS, REFERENCE_NAMES, fom_table, r_array, reference

RTOL = 1e-9
P_ATOL = 1e-12  # R computes p = 1 - cdf, which loses digits for tiny p; compare absolutely


def close(got, want, what):
    if want is None:
        assert got is None or np.isinf(got), what
    else:
        assert got == pytest.approx(want, rel=RTOL, abs=1e-15), what


@pytest.fixture(scope="module", params=[(n, m) for n in REFERENCE_NAMES for m in ("OR", "DBM")], ids=str)
def analysis(request):
    name, method = request.param
    data = read_plain(DATASETS / name)
    ref = reference(name)
    run = or_analysis if method == "OR" else dbm_analysis
    return data, run(data, ref["St_FOM"]), ref["St"][method]


def pair_key(d):
    return f"trt{d.modalities[0]}-trt{d.modalities[1]}"


def test_foms_and_modality_means(analysis):
    data, result, ref = analysis
    np.testing.assert_allclose(
        result.foms, fom_table(ref["FOMs"]["foms"], data.modality_ids, data.reader_ids), rtol=RTOL
    )
    for m, mean in zip(data.modality_ids, result.modality_means, strict=True):
        close(mean, ref["FOMs"]["trtMeans"][f"trt{m}"]["Estimate"], m)


def test_overall_tests(analysis):
    _, result, ref = analysis
    for option in ("RRRC", "FRRC", "RRFC"):
        got, want = result.tests[option], ref["summary"][option]
        assert got.statistic_name == want["statistic_name"]
        close(got.statistic, want["statistic"], f"{option} statistic")
        close(got.ndf, want["ndf"], f"{option} ndf")
        close(got.ddf, want["ddf"], f"{option} ddf")
        assert got.p == pytest.approx(want["p"], rel=1e-9, abs=P_ATOL), option


def test_pairwise_differences(analysis):
    _, result, ref = analysis
    for option in ("RRRC", "FRRC", "RRFC"):
        table = ref[option]["ciDiffTrt"]
        assert len(result.tests[option].differences) == len(table)
        for d in result.tests[option].differences:
            want = table[pair_key(d)]
            close(d.estimate, want["Estimate"], "estimate")
            close(d.stderr, want["StdErr"], "stderr")
            close(d.statistic, want.get("t", want.get("z")), "statistic")
            assert d.p == pytest.approx(want.get("PrGTt", want.get("PrGTz")), rel=1e-9, abs=P_ATOL)
            close(d.ci[0], want["CILower"], "ci lower")
            close(d.ci[1], want["CIUpper"], "ci upper")
            if "DF" in want:
                close(d.df, want["DF"], "df")


def test_modality_estimates(analysis):
    _, result, ref = analysis
    for option in ("RRRC", "FRRC", "RRFC"):
        table = ref[option]["ciAvgRdrEachTrt"]
        for e in result.tests[option].modality_estimates:
            want = table[f"trt{e.modality}"]
            close(e.estimate, want["Estimate"], "estimate")
            close(e.stderr, want["StdErr"], "stderr")
            close(e.ci[0], want["CILower"], "lower")
            close(e.ci[1], want["CIUpper"], "upper")
            if np.isfinite(e.df):
                close(e.df, want["DF"], "df")


def test_each_reader_differences_with_readers_fixed(analysis):
    _, result, ref = analysis
    table = ref["FRRC"]["ciDiffTrtEachRdr"]
    assert len(result.tests["FRRC"].reader_differences) == len(table)
    for d in result.tests["FRRC"].reader_differences:
        want = table[f"rdr{d.reader}::{pair_key(d)}"]
        close(d.estimate, want["Estimate"], "estimate")
        close(d.stderr, want["StdErr"], "stderr")
        assert d.p == pytest.approx(want.get("PrGTt", want.get("PrGTz")), rel=1e-9, abs=P_ATOL)
        close(d.ci[0], want["CILower"], "lower")


def test_variance_components(analysis):
    _, result, ref = analysis
    for key, value in ref["ANOVA"]["VarCom"].items():
        close(result.variance_components[key], value["Estimates"], key)


def test_anova_mean_squares(analysis):
    _, result, ref = analysis
    table = ref["ANOVA"].get("TRCanova") or ref["ANOVA"]["TRanova"]
    for key, row in table.items():
        if row["MS"] is not None:
            close(result.mean_squares[f"MS({key})"], row["MS"], key)


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_pseudovalues(name):
    ref = reference(name)
    data = read_plain(DATASETS / name)
    y = pseudovalues(jackknife(data, ref["St_FOM"]))
    np.testing.assert_allclose(y, r_array(ref["pseudovalues"]["jkPseudoValues"]), rtol=RTOL, atol=1e-12)
    assert dbm_mean_squares(y)["MS(T)"] > 0


def test_published_dataset02_result():
    """Van Dyke ROC data: RRRC F = 4.456, ddf = 15.26, p = 0.0517 (Hillis 2008)."""
    result = or_analysis(read_plain(DATASETS / "dataset02"), "Wilcoxon").tests["RRRC"]
    assert (round(result.statistic, 3), round(result.ddf, 2), round(result.p, 4)) == (4.456, 15.26, 0.0517)


def test_one_modality_gets_a_clear_message():
    data = read_plain(DATASETS / "dataset09")
    with pytest.raises(DatasetError, match="this dataset has one"):
        or_analysis(data, "Wilcoxon")


def test_perfectly_separating_readers_have_no_or_test_and_say_why():
    """Every reader separates every case under both conditions: every FOM is 1, MS(TR) is 0,
    and the F and chi-square tests are undefined; a clear DatasetError (the results page turns
    it into a note) instead of a division by zero."""
    normal, abnormal = [1.0, 2.0, 1.0], [4.0, 5.0, 5.0]
    ratings = np.array([[normal + abnormal] * 3] * 2)  # 2 conditions x 3 readers x 6 cases
    data = roc_study(ratings, 3, ["A", "B"], ["R1", "R2", "R3"])
    with pytest.raises(DatasetError, match=r"MS\(TR\) = 0.*tests are undefined"):
        or_analysis(data, "Wilcoxon")
