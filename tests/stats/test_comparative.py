"""Comparative ("A vs B") readings: stats.comparative and its tables, as a statistician checks them.

Hand-checked small examples, reference numbers from R 4 (each with the R call that gave it),
a run of R itself on random answers (skipped without ``Rscript``, failing when CI is set),
the record's ``comparisons`` table through the reproducibility bundle, and
``python -m stats comparative``.
"""

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stats.cli import main
from stats.comparative import (
    ALL_READERS,
    COLUMNS,
    analyse_comparisons,
    orient,
    scale_test,
    sign_test,
    wilson_interval,
)
from stats.dataset import DatasetError
from stats.study_record import StudyRecord, normalise, read_bundle, write_bundle
from stats.study_tables import SECTIONS, analyse_study, tables_csv

from .study_fixtures import simulated_record

ROOT = Path(__file__).resolve().parents[2]
CONDITIONS = ("LR", "SR", "HR")

# Oriented scores (positive: the second condition of the pair, SR, favoured) of two readers
R1_SCALE = [2, 1, 1, 0, -1, 2, 1, 1]
R2_SCALE = [1, 0, 2, 1, 1, -2, 0, 1]
R1_PREF = [1, 1, 0, -1, 1, 1, 1, 0]
R2_PREF = [1, 0, 1, 1, -1, 1, 1, 1]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def placed(reader, question, kind, first, second, oriented, *, phase="", reference=""):
    """Rows as the platform stores them: placement alternating, the value as read off A/B."""
    rows = []
    for k, v in enumerate(oriented):
        second_in_b = k % 2 == 0
        rows.append(
            {
                "reader": reader,
                "case": f"C{k + 1}",
                "phase": phase,
                "question": question,
                "kind": kind,
                "condition_a": first if second_in_b else second,
                "condition_b": second if second_in_b else first,
                "reference": reference,
                "value": v if second_in_b else -v,
            }
        )
    return rows


def example_rows():
    return [
        *placed("R1", "sharp", "ab_scale", "LR", "SR", R1_SCALE),
        *placed("R2", "sharp", "ab_scale", "LR", "SR", R2_SCALE),
        *placed("R1", "pref", "preference", "LR", "SR", R1_PREF, reference="HR"),
        *placed("R2", "pref", "preference", "LR", "SR", R2_PREF, reference="HR"),
    ]


def by_key(table, **where):
    rows = [r for r in table.rows if all(r[k] == v for k, v in where.items())]
    assert len(rows) == 1, (where, rows)
    return rows[0]


# ----------------------------------------------------------------------------- orientation


def test_an_answer_is_oriented_to_the_study_s_condition_order():
    """A preferred with SR in A is the second condition (SR) favoured: +1; with LR in A, -1."""
    row = {"reader": "R1", "case": "C1", "phase": "", "question": "q", "kind": "preference", "reference": ""}
    sr_in_a = {**row, "condition_a": "SR", "condition_b": "LR", "value": -1}
    lr_in_a = {**row, "condition_a": "LR", "condition_b": "SR", "value": -1}
    scale = {**row, "kind": "ab_scale", "condition_a": "HR", "condition_b": "LR", "value": 2, "question": "s"}
    a, b, c = orient([sr_in_a, lr_in_a, scale], CONDITIONS)
    assert (a.first, a.second, a.value, a.second_in_b) == ("LR", "SR", 1, False)
    assert (b.first, b.second, b.value, b.second_in_b) == ("LR", "SR", -1, True)
    # B (LR) much better: LR is first of (LR, HR), so the second (HR) is much worse
    assert (c.first, c.second, c.value) == ("LR", "HR", -2)


def test_the_same_answers_in_swapped_viewports_give_the_same_tables():
    rows = example_rows()
    swapped = [
        {**r, "condition_a": r["condition_b"], "condition_b": r["condition_a"], "value": -r["value"]}
        for r in rows
    ]
    one, two = analyse_comparisons(rows, CONDITIONS), analyse_comparisons(swapped, CONDITIONS)
    assert one == two


def test_the_order_of_the_conditions_decides_which_is_first():
    reordered = analyse_comparisons(example_rows(), ["SR", "LR", "HR"])
    pooled = next(s for s in reordered.summaries if s.reader == ALL_READERS and s.question == "sharp")
    assert (pooled.first, pooled.second) == ("SR", "LR")
    assert pooled.scale is not None
    assert pooled.scale.mean == pytest.approx(-np.mean(R1_SCALE + R2_SCALE))


# ----------------------------------------------------------------------------- hand-checked numbers


def test_wilson_interval_is_the_score_interval():
    """(k + z^2/2 +- z sqrt(k(n-k)/n + z^2/4)) / (n + z^2), z = 1.959963984540054 at 95 %."""
    z = 1.959963984540054
    k, n = 3, 10
    half = z * math.sqrt(k * (n - k) / n + z * z / 4)
    share = wilson_interval(k, n)
    assert share.estimate == 0.3
    assert share.ci_lower == pytest.approx((k + z * z / 2 - half) / (n + z * z), rel=1e-12)
    assert share.ci_upper == pytest.approx((k + z * z / 2 + half) / (n + z * z), rel=1e-12)
    # k = 0: the lower end is 0 and the upper z^2 / (n + z^2)
    none = wilson_interval(0, n)
    assert none.ci_lower == pytest.approx(0, abs=1e-15)
    assert none.ci_upper == pytest.approx(z * z / (n + z * z), rel=1e-12)
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.estimate) and math.isnan(empty.ci_lower)


def test_sign_test_drops_ties_and_is_the_binomial_tail():
    # 5 of 6 untied favour the second: p = 2 * (C(6,5) + C(6,6)) / 2^6 = 14/64
    t = sign_test([1, 1, 0, -1, 1, 1, 1, 0])
    assert (t.n_first, t.n_tied, t.n_second, t.n_untied) == (1, 2, 5, 6)
    assert t.pvalue == pytest.approx(14 / 64, rel=1e-12)
    assert math.isnan(sign_test([0, 0]).pvalue)


def test_scale_test_hand_ranks():
    """[2, 1, -1, 0]: zero dropped; |d| = 2, 1, 1 get ranks 3, 1.5, 1.5; W+ = 4.5, W- = 1.5;
    E = 3, Var = (9 + 2.25 + 2.25) / 4 = 3.375; z = (4.5 - 3 - 0.5) / sqrt(3.375)."""
    t = scale_test([2, 1, -1, 0])
    assert t.wilcoxon.statistic == 4.5 and t.wilcoxon.w_minus == 1.5
    assert t.wilcoxon.method == "asymptotic"
    z = 1 / math.sqrt(3.375)
    assert t.wilcoxon.pvalue == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert (t.median, t.mean, t.counts) == (0.5, 0.5, (0, 1, 1, 1, 1))


# ----------------------------------------------------------------------------- R's numbers


def test_pooled_and_per_reader_scale_tests_match_r():
    analysis = analyse_comparisons(example_rows(), CONDITIONS)
    sharp = {s.reader: s for s in analysis.summaries if s.question == "sharp"}
    assert list(sharp) == ["R1", "R2", ALL_READERS]
    # R: wilcox.test(c(2, 1, 1, 0, -1, 2, 1, 1), exact = FALSE, correct = TRUE)
    #    V = 25, p-value = 0.064983144508210799; median 1, mean 0.875
    # R: wilcox.test(c(1, 0, 2, 1, 1, -2, 0, 1), exact = FALSE, correct = TRUE)
    #    V = 15.5, p-value = 0.3303900488487943; median 1, mean 0.5
    # R: wilcox.test(c(<both>), exact = FALSE, correct = TRUE)
    #    V = 74.5, p-value = 0.03791082708754473; median 1, mean 0.6875
    for reader, v, p, median, mean in (
        ("R1", 25, 0.064983144508210799, 1, 0.875),
        ("R2", 15.5, 0.3303900488487943, 1, 0.5),
        (ALL_READERS, 74.5, 0.03791082708754473, 1, 0.6875),
    ):
        scale = sharp[reader].scale
        assert scale is not None
        assert scale.wilcoxon.statistic == v
        assert scale.wilcoxon.pvalue == pytest.approx(p, rel=1e-12)
        assert (scale.median, scale.mean) == (median, mean)


def test_preference_shares_and_sign_tests_match_r():
    analysis = analyse_comparisons(example_rows(), CONDITIONS)
    pref = {s.reader: s for s in analysis.summaries if s.question == "pref"}
    # R: binom.test(5, 6)$p.value = 0.21875000000000008
    # R: binom.test(6, 7)$p.value = 0.12500000000000003
    # R: binom.test(11, 13)$p.value = 0.022460937500000017
    assert pref["R1"].sign_test.pvalue == pytest.approx(0.21875000000000008, rel=1e-12)
    assert pref["R2"].sign_test.pvalue == pytest.approx(0.12500000000000003, rel=1e-12)
    assert pref[ALL_READERS].sign_test.pvalue == pytest.approx(0.022460937500000017, rel=1e-12)
    pooled = pref[ALL_READERS]
    # R: prop.test(2, 16, correct = FALSE)$conf.int = 0.034977487743240478 0.36022827265758689
    # R: prop.test(3, 16, correct = FALSE)$conf.int = 0.065915990714281433 0.43008880961974139
    # R: prop.test(11, 16, correct = FALSE)$conf.int = 0.44404355834740677 0.85835356145217956
    for share, k, lo, hi in (
        (pooled.first_preferred, 2, 0.034977487743240478, 0.36022827265758689),
        (pooled.no_preference, 3, 0.065915990714281433, 0.43008880961974139),
        (pooled.second_preferred, 11, 0.44404355834740677, 0.85835356145217956),
    ):
        assert (share.count, share.n) == (k, 16)
        assert (share.ci_lower, share.ci_upper) == pytest.approx((lo, hi), rel=1e-12)
    # R: prop.test(5, 8, correct = FALSE)$conf.int = 0.30574239460262742 0.86315571417640269
    assert (pref["R1"].second_preferred.ci_lower, pref["R1"].second_preferred.ci_upper) == pytest.approx(
        (0.30574239460262742, 0.86315571417640269), rel=1e-12
    )
    assert pref[ALL_READERS].references == ("HR",)


def test_confidence_level_and_exact_wilcoxon_match_r():
    # R: prop.test(11, 16, correct = FALSE, conf.level = 0.9)$conf.int
    #    = 0.48202618536167036 0.83873434291297611
    share = wilson_interval(11, 16, 0.9)
    assert (share.ci_lower, share.ci_upper) == pytest.approx(
        (0.48202618536167036, 0.83873434291297611), rel=1e-12
    )
    # no ties, no zeros: R's default exact test. R: wilcox.test(c(2, 1)): V = 3, p-value = 0.5;
    # wilcox.test(c(1, -2)): V = 1, p-value = 1
    exact = scale_test([2, 1]).wilcoxon
    assert (exact.method, exact.statistic, exact.pvalue) == ("exact", 3, pytest.approx(0.5, rel=1e-12))
    assert scale_test([1, -2]).wilcoxon.pvalue == pytest.approx(1.0, rel=1e-12)


R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE, na.strings = character(0))
conditions <- strsplit(args[2], ",")[[1]]
ia <- match(d$condition_a, conditions); ib <- match(d$condition_b, conditions)
d$first <- ifelse(ia < ib, d$condition_a, d$condition_b)
d$second <- ifelse(ia < ib, d$condition_b, d$condition_a)
d$oriented <- ifelse(ia < ib, d$value, -d$value)
pooled <- d; pooled$reader <- "All"
d <- rbind(d, pooled)
out <- NULL
for (key in unique(paste(d$question, d$first, d$second, d$reader, sep = "|"))) {
  g <- d[paste(d$question, d$first, d$second, d$reader, sep = "|") == key, ]
  x <- g$oriented; n <- length(x); k <- c(sum(x < 0), sum(x == 0), sum(x > 0))
  ci <- sapply(k, function(j) suppressWarnings(prop.test(j, n, correct = FALSE)$conf.int))
  sp <- if (k[1] + k[3] > 0) binom.test(k[3], k[1] + k[3])$p.value else NA
  v <- NA; wp <- NA
  if (g$kind[1] == "ab_scale" && any(x != 0)) {
    w <- suppressWarnings(wilcox.test(x, correct = TRUE))
    v <- w$statistic; wp <- w$p.value
  }
  out <- rbind(out, data.frame(question = g$question[1], first = g$first[1], second = g$second[1],
    reader = g$reader[1], n = n, n_first = k[1], n_none = k[2], n_second = k[3],
    first_lower = ci[1, 1], first_upper = ci[2, 1], none_lower = ci[1, 2], none_upper = ci[2, 2],
    second_lower = ci[1, 3], second_upper = ci[2, 3], sign_p = sp, V = v, wilcoxon_p = wp,
    median = median(x), mean = mean(x)))
}
write.csv(out, args[3], row.names = FALSE)
"""


def test_r_on_random_answers_gives_the_same_tables(tmp_path):
    rscript = shutil.which("Rscript")
    if rscript is None:
        if in_ci():
            pytest.fail("CI is set, so the R comparison must run, but Rscript is not installed.")
        pytest.skip("Rscript is not installed (bin/test installs R)")
    rng = np.random.default_rng(19)
    rows = []
    for question, kind, points in (
        ("pref", "preference", (-1, 0, 1)),
        ("sharp", "ab_scale", (-2, -1, 0, 1, 2)),
    ):
        for reader in ("R1", "R2", "R3"):
            for case in range(int(rng.integers(12, 30))):
                a, b = rng.choice(CONDITIONS, size=2, replace=False)
                # a reader leaning towards the later condition of the study
                lean = 1 if CONDITIONS.index(b) > CONDITIONS.index(a) else -1
                value = int(np.clip(round(rng.normal(0.4 * lean, 1.2)), points[0], points[-1]))
                rows.append(
                    dict(
                        reader=reader,
                        case=f"C{case}",
                        phase="",
                        question=question,
                        kind=kind,
                        condition_a=str(a),
                        condition_b=str(b),
                        reference="",
                        value=value,
                    )
                )
    data = tmp_path / "comparisons.csv"
    with data.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    script, out = tmp_path / "ref.R", tmp_path / "r.csv"
    script.write_text(R_SCRIPT)
    done = subprocess.run(
        [rscript, str(script), str(data), ",".join(CONDITIONS), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as handle:
        expected = {(r["question"], r["first"], r["second"], r["reader"]): r for r in csv.DictReader(handle)}
    analysis = analyse_comparisons(rows, CONDITIONS)
    assert {(s.question, s.first, s.second, s.reader) for s in analysis.summaries} == set(expected)
    assert len(analysis.summaries) == 2 * 3 * 4  # questions x pairs x (readers + All)

    def r_number(text):
        return math.nan if text == "NA" else float(text)

    for s in analysis.summaries:
        r = expected[(s.question, s.first, s.second, s.reader)]
        assert (s.n, s.first_preferred.count, s.no_preference.count, s.second_preferred.count) == (
            int(r["n"]),
            int(r["n_first"]),
            int(r["n_none"]),
            int(r["n_second"]),
        )
        for share, name in (
            (s.first_preferred, "first"),
            (s.no_preference, "none"),
            (s.second_preferred, "second"),
        ):
            assert share.ci_lower == pytest.approx(float(r[f"{name}_lower"]), rel=1e-9, abs=1e-12)
            assert share.ci_upper == pytest.approx(float(r[f"{name}_upper"]), rel=1e-9, abs=1e-12)
        assert s.sign_test.pvalue == pytest.approx(r_number(r["sign_p"]), rel=1e-9, nan_ok=True)
        if s.kind == "ab_scale":
            assert s.scale is not None
            assert s.scale.wilcoxon.statistic == pytest.approx(float(r["V"]))
            assert s.scale.wilcoxon.pvalue == pytest.approx(float(r["wilcoxon_p"]), rel=1e-9)
            assert (s.scale.median, s.scale.mean) == pytest.approx((float(r["median"]), float(r["mean"])))
        else:
            assert s.scale is None and r["V"] == "NA"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"condition_b": "XR"}, "unknown condition 'XR'"),
        ({"condition_a": "SR", "condition_b": "SR"}, "both show 'SR'"),
        ({"value": 2}, "value 2 is not a preference answer"),
        ({"value": None}, "value None is not a preference answer"),
        ({"kind": "likert"}, "unknown kind 'likert'"),
        ({"reader": 7}, "reader must be text"),
    ],
)
def test_bad_rows_are_refused_with_a_clear_error(change, message):
    rows = example_rows()
    rows[-1] = {**rows[-1], **change}
    with pytest.raises(DatasetError, match=message):
        analyse_comparisons(rows, CONDITIONS)


def test_a_scale_value_beyond_two_and_a_question_of_two_kinds_are_refused():
    rows = example_rows()
    with pytest.raises(DatasetError, match="value -3 is not a ab_scale answer"):
        analyse_comparisons([*rows, {**rows[0], "value": -3}], CONDITIONS)
    with pytest.raises(DatasetError, match="answered as ab_scale and as preference"):
        analyse_comparisons([*rows, {**rows[0], "kind": "preference", "value": 1}], CONDITIONS)
    with pytest.raises(DatasetError, match="not a reader of the study"):
        analyse_comparisons(rows, CONDITIONS, readers=["R1"])


# ----------------------------------------------------------------------------- the study record


def comparative_record() -> StudyRecord:
    record = simulated_record(conditions=CONDITIONS, readers=3, normal=5, abnormal=5)
    record.comparisons = [
        *example_rows(),
        *placed("R1", "pref", "preference", "SR", "HR", [-1, -1, 0, -1], phase="", reference=""),
        # a formula-like case code survives the bundle exactly
        {**placed("R2", "sharp", "ab_scale", "SR", "HR", [1])[0], "case": "=HYPERLINK(1)"},
    ]
    return normalise(record)


def test_the_analysis_has_the_comparative_tables_only_with_comparisons():
    record = comparative_record()
    tables = analyse_study(record).tables
    assert {"comparative_preference", "comparative_scale", "comparative_tests"} <= set(tables)
    (section,) = [s for s in SECTIONS if s.key == "comparative"]
    assert set(section.tables) == {"comparative_preference", "comparative_scale", "comparative_tests"}
    tests = tables["comparative_tests"]
    row = by_key(tests, question="sharp", first="LR", second="SR", reader="All", test="Wilcoxon signed-rank")
    assert (row["statistic"], row["n"], row["n_used"]) == (74.5, 16, 13)
    assert row["p"] == pytest.approx(0.03791082708754473, rel=1e-12)
    pref = by_key(tables["comparative_preference"], question="pref", first="SR", second="HR", reader="R1")
    assert (pref["n_first"], pref["n_none"], pref["n_second"], pref["first_share"]) == (3, 1, 0, 0.75)
    assert any("independent" in note for note in tests.notes)
    assert any("independent" in note for note in tables["comparative_preference"].notes)
    # the preference question has no scale rows
    assert {r["question"] for r in tables["comparative_scale"].rows} == {"sharp"}
    without = simulated_record(conditions=CONDITIONS, readers=3, normal=5, abnormal=5)
    assert not any(name.startswith("comparative") for name in analyse_study(without).tables)


def test_bundle_round_trip_with_comparisons(tmp_path):
    record = comparative_record()
    analysis = analyse_study(record)
    path = tmp_path / "bundle.zip"
    write_bundle(record, path, tables_csv(analysis))
    with zipfile.ZipFile(path) as archive:
        text = archive.read("record/comparisons.csv").decode()
    assert text.startswith("reader,case,phase,question,kind,condition_a,condition_b,reference,value\n")
    assert "'=HYPERLINK(1)" in text
    again = read_bundle(path)
    assert again.comparisons == record.comparisons
    assert tables_csv(analyse_study(again)) == tables_csv(analysis)
    done = subprocess.run(
        [sys.executable, "-m", "stats", "tables", str(path), "--check", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "identical to the" in done.stdout
    assert (tmp_path / "out" / "comparative_tests.csv").read_text() == analysis.tables[
        "comparative_tests"
    ].csv()


def test_a_bundle_written_before_the_comparisons_table_reads_it_empty(tmp_path):
    record = comparative_record()
    path, older = tmp_path / "bundle.zip", tmp_path / "older.zip"
    write_bundle(record, path)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(older, "w") as target:
        for name in source.namelist():
            if name != "record/comparisons.csv":
                target.writestr(name, source.read(name))
    again = read_bundle(older)
    assert again.comparisons == []
    assert not any(name.startswith("comparative") for name in analyse_study(again).tables)


# ----------------------------------------------------------------------------- the command line


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stats", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def write_csv(path: Path, rows, columns=COLUMNS) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_cli_json_gives_the_tables_of_the_analysis(tmp_path, capsys):
    data = write_csv(tmp_path / "c.csv", example_rows())
    assert main(["comparative", str(data), "--conditions", "LR,SR,HR", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in payload["tables"]] == [
        "comparative_preference",
        "comparative_scale",
        "comparative_tests",
    ]
    tests = next(t for t in payload["tables"] if t["name"] == "comparative_tests")
    row = next(
        r
        for r in tests["rows"]
        if r["question"] == "pref" and r["reader"] == "All" and r["test"] == "sign test"
    )
    assert row["p"] == pytest.approx(0.022460937500000017, rel=1e-12)  # R: binom.test(11, 13)


def test_cli_takes_a_conditions_csv_leaves_out_optional_columns_and_prints_for_people(tmp_path):
    columns = tuple(c for c in COLUMNS if c not in ("phase", "reference"))
    data = write_csv(tmp_path / "c.csv", example_rows(), columns)
    conditions = tmp_path / "conditions.csv"
    conditions.write_text("condition,order\nHR,3\nSR,2\nLR,1\n")
    done = run("comparative", str(data), "--conditions-csv", str(conditions))
    assert done.returncode == 0, done.stderr
    assert "conditions in order: LR, SR, HR" in done.stdout
    assert "Wilcoxon signed-rank" in done.stdout and "0.03791" in done.stdout
    ninety = run("comparative", str(data), "--conditions", "LR,SR,HR", "--confidence", "0.9", "--json")
    assert ninety.returncode == 0, ninety.stderr
    pref = json.loads(ninety.stdout)["tables"][0]
    row = next(r for r in pref["rows"] if r["question"] == "pref" and r["reader"] == "All")
    # R: prop.test(11, 16, correct = FALSE, conf.level = 0.9)$conf.int
    assert (row["second_lower"], row["second_upper"]) == pytest.approx(
        (0.48202618536167036, 0.83873434291297611), rel=1e-12
    )


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ("--conditions", "LR,HR"), "unknown condition 'SR'"),
        ("reader,case,question,kind,condition_a,value\n", ("--conditions", "LR,SR"), "missing condition_b"),
        (
            "reader,case,question,kind,condition_a,condition_b,value,colour\n",
            ("--conditions", "LR,SR"),
            "unknown colour",
        ),
        (
            "reader,case,question,kind,condition_a,condition_b,value\nR1,C1,q,preference,LR,SR,x\n",
            ("--conditions", "LR,SR"),
            "line 2: value 'x'",
        ),
        (
            "reader,case,question,kind,condition_a,condition_b,value\n",
            ("--conditions", "LR,SR"),
            "no comparisons",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, content, args, message):
    path = tmp_path / "c.csv"
    if content is None:
        write_csv(path, example_rows())
    else:
        path.write_text(content)
    assert main(["comparative", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and message in err
    assert len(err.strip().splitlines()) == 1
