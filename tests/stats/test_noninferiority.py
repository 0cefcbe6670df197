"""One-sided and non-inferiority tests of the OR and DBM differences (stats.mrmc.one_sided).

RJafroc has no one-sided test, so R computes it from RJafroc 2.1.3's own St() output
(each difference's Estimate, StdErr and DF) with base R's pt/qt (pnorm/qnorm for OR FRRC's
z test), and ours must equal those numbers to 1e-9 relative; the identities with the
two-sided test (p halves, the bound is the two-sided 90% limit) hold on every dataset.
"""

import math

import pytest

from stats.io_plain import read_plain
from stats.mrmc import (
    OPTIONS,
    Difference,
    check_alternative,
    dbm_analysis,
    hypothesis_text,
    one_sided,
    or_analysis,
)

from .reference import DATASETS, REFERENCE_NAMES
from .rjafroc_support import require_rjafroc

RTOL = 1e-9
MARGINS = (0.0, 0.05)


def _analyses(name: str):
    data = read_plain(DATASETS / name)
    fom = "Wilcoxon" if data.kind == "ROC" else "wAFROC"
    return fom, {"OR": or_analysis(data, fom), "DBM": dbm_analysis(data, fom)}


def _r_one_sided(name: str, fom: str, method: str, option: str, margin: float, alternative: str):
    """R's one-sided p and bound of every difference (pairwise, then per reader) from RJafroc's St()."""
    import rpy2.robjects as ro

    from stats.rjafroc_engine import call_r

    code = f"""
    local({{
      ds <- RJafroc::{name}
      st <- RJafroc::St(ds, FOM = "{fom}", method = "{method}", analysisOption = "{option}")[["{option}"]]
      tabs <- list(st$ciDiffTrt, st$ciDiffTrtEachRdr)
      tabs <- tabs[!vapply(tabs, is.null, TRUE)]
      s <- if ("{alternative}" == "greater") 1 else -1
      out <- c()
      for (tab in tabs) {{
        shifted <- (tab$Estimate + s * {margin}) / tab$StdErr
        if ("DF" %in% names(tab)) {{
          p <- pt(s * shifted, tab$DF, lower.tail = FALSE)
          bound <- tab$Estimate - s * qt(0.95, tab$DF) * tab$StdErr
        }} else {{
          p <- pnorm(s * shifted, lower.tail = FALSE)
          bound <- tab$Estimate - s * qnorm(0.95) * tab$StdErr
        }}
        out <- c(out, as.vector(rbind(p, bound)))
      }}
      out
    }})
    """
    values = list(call_r(lambda: ro.r(code)))
    return list(zip(values[::2], values[1::2], strict=True))


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_one_sided_p_and_bound_equal_r_from_rjafroc_output(name):
    require_rjafroc()
    fom, analyses = _analyses(name)
    checked = 0
    for method, result in analyses.items():
        for option in OPTIONS:
            test = result.tests[option]
            diffs = [*test.differences, *test.reader_differences]
            for margin in MARGINS:
                for alternative in ("greater", "less"):
                    want = _r_one_sided(name, fom, method, option, margin, alternative)
                    assert len(want) == len(diffs), (method, option)
                    for d, (p, bound) in zip(diffs, want, strict=True):
                        got = one_sided(d, margin=margin, alternative=alternative)
                        what = (name, method, option, margin, alternative, d.modalities, d.reader)
                        assert got.p == pytest.approx(p, rel=RTOL, abs=1e-15), what
                        assert got.bound == pytest.approx(bound, rel=RTOL), what
                        checked += 1
    assert checked > 0


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_identities_with_the_two_sided_test(name):
    _, analyses = _analyses(name)
    for result in analyses.values():
        for option in OPTIONS:
            test = result.tests[option]
            for d in [*test.differences, *test.reader_differences]:
                toward = "greater" if d.estimate > 0 else "less"
                away = "less" if toward == "greater" else "greater"
                near = one_sided(d, alternative=toward)
                far = one_sided(d, alternative=away)
                assert near.p == pytest.approx(d.p / 2, rel=1e-12)
                assert far.p == pytest.approx(1 - d.p / 2, rel=1e-12)
                assert near.statistic == pytest.approx(d.statistic, rel=1e-12)
                # The one-sided 1 - alpha bounds are the limits of the two-sided 1 - 2 alpha
                # interval: at alpha 0.025, the analysis's own 95% CI (computed apart).
                lower = one_sided(d, alternative="greater", alpha=0.025).bound
                upper = one_sided(d, alternative="less", alpha=0.025).bound
                assert (lower, upper) == pytest.approx(d.ci, rel=1e-12)
                # At alpha 0.05 (the default) they lie inside it, symmetric about the estimate.
                lo, hi = near.bound, far.bound
                lo, hi = min(lo, hi), max(lo, hi)
                assert d.ci[0] < lo < d.estimate < hi < d.ci[1]
                assert hi - d.estimate == pytest.approx(d.estimate - lo, rel=1e-9)


def _difference(estimate: float, stderr: float, df: float) -> Difference:
    return Difference(
        modalities=("SR", "HR"),
        estimate=estimate,
        stderr=stderr,
        df=df,
        statistic=estimate / stderr,
        p=math.nan,
        ci=(math.nan, math.nan),
    )


def test_a_margin_shifts_the_statistic_and_decides_with_the_bound():
    # SR - HR = -0.02 (SE 0.015, 20 df): not superior, but non-inferior with margin 0.05.
    d = _difference(-0.02, 0.015, 20.0)
    ni = one_sided(d, margin=0.05, alternative="greater")
    assert ni.statistic == pytest.approx(0.03 / 0.015)
    # Literal numbers from R: pt(2, 20, lower.tail = FALSE); -0.02 - qt(0.95, 20) * 0.015.
    assert ni.p == pytest.approx(0.0296327677232853, rel=1e-9)
    assert ni.bound == pytest.approx(-0.02 - 1.724718242920787 * 0.015, rel=1e-12)
    assert ni.rejected and ni.bound > -0.05 and ni.p < 0.05
    sup = one_sided(d, alternative="greater")
    assert not sup.rejected and sup.p > 0.5
    # "less" with the same margin: H0 SR - HR >= 0.05, i.e. HR non-inferior to SR.
    less = one_sided(d, margin=0.05, alternative="less")
    assert less.statistic == pytest.approx(-0.07 / 0.015)
    assert less.bound == pytest.approx(-0.02 + 1.724718242920787 * 0.015, rel=1e-12)
    assert less.rejected
    # A z test where the analysis has one (infinite df): 1 - pnorm(2) in R.
    z = one_sided(_difference(-0.02, 0.015, math.inf), margin=0.05, alternative="greater")
    assert z.p == pytest.approx(0.0227501319481792, rel=1e-9)


@pytest.mark.parametrize(
    ("margin", "alternative", "message"),
    [
        (-0.01, "greater", "0 or more"),
        (0.05, "two-sided", "needs a one-sided alternative"),
        (0.05, "bigger", "alternative must be one of"),
        (math.nan, "greater", "finite number"),
    ],
)
def test_bad_hypotheses_are_refused(margin, alternative, message):
    with pytest.raises(ValueError, match=message):
        check_alternative(margin, alternative)
    with pytest.raises(ValueError, match=message):
        one_sided(_difference(0.01, 0.01, 10.0), margin=margin, alternative=alternative)


def test_the_hypothesis_in_words():
    assert hypothesis_text("SR", "HR", 0.05, "greater") == (
        "non-inferiority of SR to HR with margin 0.05 (H0: SR - HR <= -0.05)"
    )
    assert hypothesis_text("HR", "SR", 0.05, "less") == (
        "non-inferiority of SR to HR with margin 0.05 (H0: SR - HR <= -0.05)"
    )
    assert hypothesis_text("SR", "HR", 0, "greater") == "superiority of SR over HR (H0: SR - HR <= 0)"
    assert hypothesis_text("SR", "HR", 0, "less") == "superiority of HR over SR (H0: HR - SR <= 0)"


def test_the_mrmc_tables_add_the_one_sided_test_only_when_the_settings_ask(tmp_path):
    from stats.study_record import AnalysisSettings, read_bundle, write_bundle
    from stats.study_tables import analyse_study, tables_csv
    from stats.tables.jafroc import ONE_SIDED_COLUMNS

    from .study_fixtures import simulated_record

    plain = analyse_study(simulated_record())
    for name in ("jafroc_tests", "roc_mrmc"):
        assert not set(ONE_SIDED_COLUMNS) & set(plain.tables[name].columns), name
        assert not any("One-sided" in note for note in plain.tables[name].notes)

    settings = AnalysisSettings(alternative="less", margin=0.05)
    record = simulated_record(settings=settings)
    analysis = analyse_study(record)
    expected = {
        "jafroc_tests": or_analysis(analysis.froc, "wAFROC"),
        "roc_mrmc": or_analysis(analysis.roc, "Wilcoxon"),
    }
    table = analysis.tables["jafroc_tests"]
    assert table.columns[-4:] == ONE_SIDED_COLUMNS
    rows = table.as_dicts()
    assert {r["analysis"] for r in rows} == set(OPTIONS)
    for row in rows:
        d = expected["jafroc_tests"].tests[row["analysis"]].differences[0]
        assert row["difference"] == d.estimate
        want = one_sided(d, margin=0.05, alternative="less")
        assert row["comparison"] == "LR - SR"
        assert row["hypothesis"] == "non-inferiority of SR to LR with margin 0.05 (H0: SR - LR <= -0.05)"
        assert (row["p_one_sided"], row["bound_one_sided"], row["h0_rejected"]) == (
            want.p,
            want.bound,
            want.rejected,
        )
        assert row["difference"] < row["bound_one_sided"] < row["ci_upper"]  # upper bound, inside the 95% CI
    assert any("upper bound" in note and "below 0.05" in note for note in table.notes)
    roc = analysis.tables["roc_mrmc"]
    assert roc.columns[-4:] == ONE_SIDED_COLUMNS and len(roc.rows) == 3
    for row in roc.as_dicts():
        d = expected["roc_mrmc"].tests[row["analysis"]].differences[0]
        want = one_sided(d, margin=0.05, alternative="less")
        assert row["hypothesis"].startswith("non-inferiority of SR to LR with margin 0.05")
        assert (row["p_one_sided"], row["bound_one_sided"]) == (want.p, want.bound)
    assert any("One-sided test (non-inferiority with margin 0.05" in note for note in roc.notes)

    # The bundle carries the settings, so its tables are re-created with the one-sided columns.
    path = tmp_path / "bundle.zip"
    write_bundle(record, path, tables_csv(analysis))
    again = read_bundle(path)
    assert (again.settings.alternative, again.settings.margin) == ("less", 0.05)
    assert tables_csv(analyse_study(again)) == tables_csv(analysis)


def test_the_settings_refuse_a_margin_without_a_one_sided_alternative():
    from stats.study_record import AnalysisSettings

    with pytest.raises(ValueError, match="needs a one-sided alternative"):
        AnalysisSettings(margin=0.05)
    with pytest.raises(ValueError, match="0 or more"):
        AnalysisSettings.from_dict({"alternative": "greater", "margin": -0.1})
    assert AnalysisSettings.from_dict({"alternative": "greater", "margin": 0}).margin == 0.0
