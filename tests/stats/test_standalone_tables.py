"""The standalone-algorithm tables (stats.tables.standalone): an algorithm's marks or case ratings
against the readers, on the readers' own cases, equal stats.cad.cad_vs_readers on the same data,
and RJafroc 2.1.3's StCadVsRad on that data written as an RJafroc Excel file."""

import dataclasses
import zipfile

import numpy as np
import pytest

from stats.cad import METHODS, cad_vs_readers
from stats.dataset import roc_study
from stats.io_excel import write_excel
from stats.matching import roc_from_froc
from stats.mrmc import Difference, one_sided
from stats.study_record import AnalysisSettings, StudyRecord, read_bundle, write_bundle
from stats.study_tables import SECTIONS, analyse_study, tables_csv

from .rjafroc_support import RTOL, r_array, r_call, r_names, r_read, require_rjafroc
from .study_fixtures import froc_with_algorithms, simulated_record

ALGORITHM = "CAD1"


def with_algorithm(record: StudyRecord, *, kind: str = "marks", seed: int = 5) -> StudyRecord:
    """The record plus a standalone algorithm that read condition SR: marks near most lesions
    and a few false positives, or one rating per case."""
    rng = np.random.default_rng(seed)
    record = dataclasses.replace(record)
    record.standalone_readers = [{"reader": ALGORITHM, "name": "Detector v1", "kind": kind}]
    abnormal = {row["case"] for row in record.lesions}
    if kind == "marks":
        marks = []
        for n, lesion in enumerate(record.lesions):
            if rng.random() < 0.75:
                marks.append(
                    (lesion["case"], lesion["x_mm"] + 0.3, lesion["y_mm"], lesion["z_mm"], 0.5 + rng.random())
                )
            if n % 3 == 0:
                marks.append((lesion["case"], 130.0, 130.0, 20.0, rng.random()))
        for case in [c["case"] for c in record.cases if c["case"] not in abnormal][::3]:
            marks.append((case, 120.0, 125.0, 20.0, rng.random()))
        record.standalone_marks = [
            {
                "reader": ALGORITHM,
                "condition": "SR",
                "case": case,
                "mark": f"a{n}",
                "x_mm": x,
                "y_mm": y,
                "z_mm": z,
                "rating": rating,
            }
            for n, (case, x, y, z, rating) in enumerate(marks)
        ]
    else:
        record.standalone_ratings = [
            {
                "reader": ALGORITHM,
                "condition": "SR",
                "case": row["case"],
                "rating": float(rng.normal(1.2 if row["case"] in abnormal else 0.0)),
            }
            for row in record.cases
        ]
    return record


@pytest.fixture(scope="module")
def marks_record():
    return with_algorithm(simulated_record())


@pytest.fixture(scope="module")
def marks_analysis(marks_record):
    return analyse_study(marks_record)


def by_method(analysis) -> dict[str, dict]:
    return {r["method"]: r for r in analysis.tables["standalone_vs_readers"].as_dicts()}


def independent_froc(record: StudyRecord, cases: tuple[str, ...]):
    """The one-modality FROC data of readers + algorithm under SR, built here from the definitions."""
    return froc_with_algorithms(record, cases, [*record.reader_ids, ALGORITHM])


def test_marks_rows_equal_cad_vs_readers_on_the_same_data(marks_record, marks_analysis):
    data = independent_froc(marks_record, marks_analysis.froc.case_ids)
    rows = by_method(marks_analysis)
    assert set(rows) == set(METHODS)
    for method in METHODS:
        want = cad_vs_readers(data, ALGORITHM, "wAFROC", method)
        row = rows[method]
        assert (row["algorithm"], row["condition"], row["fom"]) == (ALGORITHM, "SR", "wAFROC")
        assert row["fom_algorithm"] == want.fom_cad
        assert row["readers_mean"] == want.reader_mean
        assert row["difference"] == want.estimate == pytest.approx(want.fom_cad - want.reader_mean)
        assert (row["stderr"], row["df"], row["t"], row["p"]) == (
            want.stderr,
            want.df,
            want.statistic,
            want.p,
        )
        assert (row["ci_lower"], row["ci_upper"]) == want.ci
        assert (row["readers_mean_ci_lower"], row["readers_mean_ci_upper"]) == want.reader_mean_ci
    notes = " ".join(marks_analysis.tables["standalone_vs_readers"].notes)
    assert "minus the readers' mean" in notes and "1T-RRFC" in notes and "2T-RRRC" in notes


def test_the_readers_fom_are_those_of_the_readers_analysis(marks_analysis):
    jafroc = {r["reader"]: r["SR"] for r in marks_analysis.tables["jafroc_fom"].as_dicts()}
    fom = marks_analysis.tables["standalone_fom"].as_dicts()
    readers = {r["reader"]: r["value"] for r in fom if not r["standalone"]}
    assert readers == {
        **{k: v for k, v in jafroc.items() if k != "Average"},
        "Readers' mean": jafroc["Average"],
    }
    (own,) = [r for r in fom if r["standalone"]]
    assert (
        own["reader"] == ALGORITHM and own["value"] == by_method(marks_analysis)["1T-RRRC"]["fom_algorithm"]
    )


def test_the_algorithm_never_enters_the_human_analyses(marks_record, marks_analysis):
    plain = analyse_study(dataclasses.replace(marks_record, standalone_readers=[], standalone_marks=[]))
    assert ALGORITHM not in marks_analysis.froc.reader_ids
    for name, table in plain.tables.items():
        assert marks_analysis.tables[name].csv() == table.csv(), name
    assert set(marks_analysis.tables) - set(plain.tables) == {"standalone_fom", "standalone_vs_readers"}
    section = next(s for s in SECTIONS if s.key == "standalone")
    assert section.title == "Standalone algorithm against the readers"
    assert section.tables == ("standalone_fom", "standalone_vs_readers")


def test_ratings_are_roc_against_the_readers_case_ratings():
    record = with_algorithm(simulated_record(), kind="ratings")
    analysis = analyse_study(record)
    roc = roc_from_froc(analysis.froc)
    i = roc.modality_ids.index("SR")
    human = np.where(np.arange(roc.shape[2]) < roc.k1, roc.nl[i, :, :, 0], -np.inf)
    human[:, roc.k1 :] = roc.ll[i, :, :, 0]
    given = {r["case"]: r["rating"] for r in record.standalone_ratings}
    ratings = np.vstack([human, [[given[c] for c in roc.case_ids]]])[None]
    data = roc_study(ratings, roc.k1, ["SR"], [*roc.reader_ids, ALGORITHM], roc.case_ids)
    rows = by_method(analysis)
    for method in METHODS:
        want = cad_vs_readers(data, ALGORITHM, "Wilcoxon", method)
        assert rows[method]["fom"] == "Wilcoxon"
        assert (rows[method]["difference"], rows[method]["p"]) == (want.estimate, want.p)
        assert rows[method]["stderr"] == want.stderr


def test_a_one_sided_alternative_adds_the_non_inferiority_test():
    settings = AnalysisSettings(alternative="greater", margin=0.05)
    analysis = analyse_study(with_algorithm(simulated_record(settings=settings)))
    for row in analysis.tables["standalone_vs_readers"].as_dicts():
        d = Difference(
            modalities=(ALGORITHM, "readers"),
            estimate=row["difference"],
            stderr=row["stderr"],
            df=row["df"],
            statistic=row["t"],
            p=row["p"],
            ci=(row["ci_lower"], row["ci_upper"]),
        )
        test = one_sided(d, margin=0.05, alternative="greater")
        assert row["p_one_sided"] == test.p and row["bound_one_sided"] == test.bound
        assert row["h0_rejected"] == test.rejected
        assert (
            row["hypothesis"]
            == "non-inferiority of CAD1 to readers with margin 0.05 (H0: CAD1 - readers <= -0.05)"
        )
    assert any("non-inferiority" in n for n in analysis.tables["standalone_vs_readers"].notes)


def test_too_few_readers_or_missing_ratings_are_notes():
    one = analyse_study(with_algorithm(simulated_record(readers=1)))
    assert "standalone_vs_readers" not in one.tables
    assert any("at least two readers" in n for n in one.notes)
    record = with_algorithm(simulated_record(), kind="ratings")
    record.standalone_ratings = record.standalone_ratings[1:]
    partial = analyse_study(record)
    assert "standalone_vs_readers" not in partial.tables
    assert any("no rating for 1 of the analysed cases" in n for n in partial.notes)
    assert "standalone_fom" not in analyse_study(simulated_record()).tables


def test_bundle_keeps_the_standalone_tables_and_an_old_bundle_still_reads(
    marks_record, marks_analysis, tmp_path
):
    path = tmp_path / "bundle.zip"
    write_bundle(marks_record, path, tables_csv(marks_analysis))
    again = read_bundle(path)
    assert again.standalone_readers == marks_record.standalone_readers
    assert again.standalone_marks == marks_record.standalone_marks
    assert tables_csv(analyse_study(again)) == tables_csv(marks_analysis)
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            if not name.startswith("record/standalone_"):
                dst.writestr(name, src.read(name))
    before = read_bundle(old)
    assert before.standalone_readers == before.standalone_marks == before.standalone_ratings == []
    assert "standalone_vs_readers" not in analyse_study(before).tables


@pytest.mark.parametrize("method", ["1T-RRFC", "1T-RRRC"])
def test_the_comparison_matches_rjafroc_stcadvsrad(marks_analysis, tmp_path, method):
    """The one-modality dataset (readers + algorithm) written as an RJafroc Excel file, read by
    RJafroc 2.1.3 (DfReadDataFile) and compared by StCadVsRad(ds, FOM = "wAFROC"): the table's
    numbers to 1e-9 relative (RJafroc's difference is readers minus CAD: signs flipped)."""
    require_rjafroc()
    (comparison,) = marks_analysis.standalone
    path = tmp_path / "standalone.xlsx"
    # RJafroc's StCadVsRad takes the first reader as the algorithm: the algorithm is written first.
    j = comparison.data.reader_ids.index(ALGORITHM)
    order = [j, *[k for k in range(len(comparison.data.reader_ids)) if k != j]]
    reordered = comparison.data.subset(readers=order)
    write_excel(reordered, path)
    ret = r_call("StCadVsRad", r_read(path), FOM="wAFROC", method=method)
    r = {n: ret.rx2(n) for n in r_names(ret)}
    row = by_method(marks_analysis)[method]

    def num(key: str) -> float:
        return float(r_array(r[key]).ravel()[0])

    assert row["fom_algorithm"] == pytest.approx(num("fomCAD"), rel=RTOL)
    assert row["readers_mean"] == pytest.approx(num("avgRadFom"), rel=RTOL)
    assert -row["difference"] == pytest.approx(num("avgDiffFom"), rel=RTOL)
    assert -row["t"] == pytest.approx(num("Tstat"), rel=RTOL)
    assert row["df"] == pytest.approx(num("df"), rel=RTOL)
    assert row["p"] == pytest.approx(num("pval"), rel=RTOL)
    ci = r_array(r["CIAvgDiffFom"]).ravel()
    assert (-row["ci_upper"], -row["ci_lower"]) == pytest.approx(tuple(ci), rel=RTOL)


@pytest.mark.parametrize("method", METHODS)
def test_case_ratings_match_rjafroc_stcadvsrad_every_number(method, tmp_path):
    """Case ratings against the readers' highest-mark ratings (ROC, Wilcoxon AUC): the comparison's
    data written as an RJafroc Excel file, the algorithm first, and every number StCadVsRad returns
    checked (tests.stats.test_cad.check_against_r), 2T-RRRC included."""
    require_rjafroc()
    from .test_cad import check_against_r, r_cad

    (comparison,) = analyse_study(with_algorithm(simulated_record(), kind="ratings")).standalone
    j = comparison.data.reader_ids.index(ALGORITHM)
    order = [j, *[k for k in range(len(comparison.data.reader_ids)) if k != j]]
    data = comparison.data.subset(readers=order)
    # RJafroc's ROC file needs a rating for every case: an unmarked case (-inf, tied below every
    # mark) gets one finite rating below all others, which leaves every Wilcoxon AUC as it is.
    given = np.concatenate([data.nl[:, :, : data.k1, 0].ravel(), data.ll[..., 0].ravel()])
    floor = given[np.isfinite(given)].min() - 1
    nl, ll = data.nl.copy(), data.ll.copy()
    nl[:, :, : data.k1, 0] = np.where(np.isinf(nl[:, :, : data.k1, 0]), floor, nl[:, :, : data.k1, 0])
    ll[..., 0] = np.where(np.isinf(ll[..., 0]), floor, ll[..., 0])
    finite = dataclasses.replace(data, nl=nl, ll=ll)
    (result,) = [r for r in comparison.results if r.method == method]
    same = cad_vs_readers(finite, ALGORITHM, "Wilcoxon", method)
    assert same.estimate == pytest.approx(result.estimate, rel=1e-12) and same.p == pytest.approx(
        result.p, rel=1e-12
    )
    path = tmp_path / "ratings.xlsx"
    write_excel(finite, path)
    check_against_r(result, r_cad(r_read(path), "Wilcoxon", method))


def test_a_split_plot_study_gets_a_note():
    from .test_split_plot_tables import split_record

    analysis = analyse_study(with_algorithm(split_record()))
    assert "standalone_vs_readers" not in analysis.tables
    assert any("needs a crossed study" in n for n in analysis.notes)
