"""JAFROC: the FROC figure of merit (wAFROC by default) per reader and condition, and its
Obuchowski-Rockette analysis, RRRC, FRRC and RRFC (:func:`stats.mrmc.or_analysis`;
Chakraborty, *Observer Performance Methods for Diagnostic Imaging*, CRC Press 2017, ch. 9-11).

With a one-sided alternative in the settings (``alternative``, ``margin``) each difference
also gets its one-sided test (:func:`stats.mrmc.one_sided`, Chen, Petrick & Sahiner, Acad
Radiol 2012): the hypothesis in words, its p and its one-sided 95% bound; the two-sided
default leaves the tables as they were.
"""

from dataclasses import dataclass

from ..dataset import DatasetError, ReaderStudy
from ..fom import Jackknife, jackknife
from ..mrmc import ALPHA, OPTIONS, Difference, MRMCResult, hypothesis_text, one_sided, or_analysis
from ..study_record import AnalysisSettings
from .table import Cell, Part, Table, num, pair_name


@dataclass(frozen=True, kw_only=True)
class Jafroc(Part):
    """The JAFROC tables with the jackknife FOMs and the OR analysis (None when it has none)."""

    jackknife: Jackknife
    mrmc: MRMCResult | None = None


def difference_cells(option: str, d: Difference) -> dict[str, Cell]:
    """One OR difference: analysis, comparison, difference, stderr, df, CI, p."""
    return {
        "analysis": option,
        "comparison": pair_name(*d.modalities),
        "difference": num(d.estimate),
        "stderr": num(d.stderr),
        "df": num(d.df),
        "ci_lower": num(d.ci[0]),
        "ci_upper": num(d.ci[1]),
        "p": num(d.p),
    }


#: The columns of :func:`difference_cells`.
DIFFERENCE_COLUMNS = ("analysis", "comparison", "difference", "stderr", "df", "ci_lower", "ci_upper", "p")


#: The columns :func:`one_sided_cells` adds under a one-sided alternative.
ONE_SIDED_COLUMNS = ("hypothesis", "p_one_sided", "bound_one_sided", "h0_rejected")


def one_sided_columns(settings: AnalysisSettings) -> tuple[str, ...]:
    """:data:`ONE_SIDED_COLUMNS` under a one-sided alternative, none under the two-sided default."""
    return () if settings.alternative == "two-sided" else ONE_SIDED_COLUMNS


def one_sided_cells(settings: AnalysisSettings, d: Difference) -> dict[str, Cell]:
    """The one-sided test of ``d`` under the settings' alternative and margin (none if two-sided)."""
    if settings.alternative == "two-sided":
        return {}
    test = one_sided(d, margin=settings.margin, alternative=settings.alternative)
    return {
        "hypothesis": hypothesis_text(*d.modalities, settings.margin, settings.alternative),
        "p_one_sided": num(test.p),
        "bound_one_sided": num(test.bound),
        "h0_rejected": test.rejected,
    }


def one_sided_note(settings: AnalysisSettings) -> tuple[str, ...]:
    """What the one-sided columns are (no note under the two-sided default)."""
    if settings.alternative == "two-sided":
        return ()
    kind, limit = (
        ("lower", -settings.margin) if settings.alternative == "greater" else ("upper", settings.margin)
    )
    test = "superiority" if settings.margin == 0 else f"non-inferiority with margin {settings.margin:g}"
    return (
        f"One-sided test ({test}, alternative {settings.alternative!r}) of each difference (first minus "
        f"second condition): the t (z for FRRC) statistic shifted by the margin, on the analysis's SE and "
        f"df; bound_one_sided is the one-sided {1 - ALPHA:.0%} {kind} bound of the difference, and H0 is "
        f"rejected at alpha {ALPHA:g} when it is {'above' if kind == 'lower' else 'below'} {limit:g}.",
    )


def or_or_note(
    data: ReaderStudy, fom: str, jk: Jackknife | None, covariance: str
) -> tuple[MRMCResult | None, tuple[str, ...]]:
    """The OR analysis, or None with a note when the design cannot have one (one reader or condition)."""
    try:
        return or_analysis(data, fom, jk, covariance=covariance, seed=0), ()
    except DatasetError as exc:
        return None, (f"No MRMC test of {fom}: {exc}",)


def jafroc_part(settings: AnalysisSettings, froc: ReaderStudy) -> Jafroc:
    """``jafroc_fom``, and with an OR analysis ``jafroc_tests`` and ``jafroc_conditions``."""
    fom = settings.fom
    jk = jackknife(froc, fom)
    conditions = list(froc.modality_ids)
    fom_rows: list[dict[str, Cell]] = [
        {"reader": reader, **{c: num(jk.fom[i, j]) for i, c in enumerate(conditions)}}
        for j, reader in enumerate(froc.reader_ids)
    ]
    average = jk.fom.mean(axis=1)
    fom_rows.append({"reader": "Average", **{c: num(average[i]) for i, c in enumerate(conditions)}})
    fom_table = Table(
        name="jafroc_fom",
        title=f"{fom} figure of merit per reader and condition",
        columns=("reader", *conditions),
        rows=tuple(fom_rows),
        notes=(
            f"{froc.k1} normal and {froc.k2} abnormal cases, {int(froc.lesions_per_case.sum())} lesions.",
        ),
    )
    result, notes = or_or_note(froc, fom, jk, settings.covariance)
    if result is None:
        return Jafroc(tables=(fom_table,), notes=notes, jackknife=jk)
    tests_table, conditions_table = or_tables(settings, result, "Obuchowski-Rockette analysis")
    return Jafroc(tables=(fom_table, tests_table, conditions_table), notes=notes, jackknife=jk, mrmc=result)


def or_tables(
    settings: AnalysisSettings, result: MRMCResult, method: str, notes: tuple[str, ...] = ()
) -> tuple[Table, Table]:
    """``jafroc_tests`` and ``jafroc_conditions`` of an OR result; ``method`` goes into the title."""
    fom = result.fom_name
    tests: list[dict[str, Cell]] = []
    estimates: list[dict[str, Cell]] = []
    for option in OPTIONS:
        test = result.tests[option]
        overall: dict[str, Cell] = {
            "test": test.statistic_name,
            "statistic": num(test.statistic),
            "ndf": num(test.ndf),
            "ddf": num(test.ddf),
            "p_overall": num(test.p),
        }
        tests += [
            {**difference_cells(option, d), **overall, **one_sided_cells(settings, d)}
            for d in test.differences
        ]
        estimates += [
            {
                "analysis": option,
                "condition": e.modality,
                "fom": num(e.estimate),
                "stderr": num(e.stderr),
                "df": num(e.df),
                "ci_lower": num(e.ci[0]),
                "ci_upper": num(e.ci[1]),
            }
            for e in test.modality_estimates
        ]
    level = f"{settings.confidence:.0%}"
    tests_table = Table(
        name="jafroc_tests",
        title=f"{fom}: {method} (differences of reader-averaged FOMs, 95% CI)",
        columns=(
            *DIFFERENCE_COLUMNS,
            "test",
            "statistic",
            "ndf",
            "ddf",
            "p_overall",
            *one_sided_columns(settings),
        ),
        rows=tuple(tests),
        notes=(
            "RRRC: readers and cases random; FRRC: readers fixed; RRFC: cases fixed. "
            f"Covariances by the {settings.covariance}; intervals at 95% (RJafroc's alpha 0.05), "
            f"the other tables at {level}.",
            *one_sided_note(settings),
            *notes,
        ),
    )
    conditions_table = Table(
        name="jafroc_conditions",
        title=f"{fom} per condition (reader average) with 95% CI",
        columns=("analysis", "condition", "fom", "stderr", "df", "ci_lower", "ci_upper"),
        rows=tuple(estimates),
    )
    return tests_table, conditions_table
