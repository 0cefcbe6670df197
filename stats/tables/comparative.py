"""Comparative readings ("A vs B" questions): preference shares with Wilson intervals, sign
tests, and the Wilcoxon signed-rank test of the comparative scale, per reader and pooled.

The numbers are those of :func:`stats.comparative.analyse_comparisons` (its docstring gives
the formulas and their sources), on the record's ``comparisons`` table, with the conditions
in the study's order: every answer is oriented so that a positive score favours the second
condition of the pair, whichever viewport (A or B) showed it.
"""

from collections.abc import Iterable, Sequence

from ..comparative import ALL_READERS, ComparativeAnalysis, PairSummary, analyse_comparisons
from ..study_record import StudyRecord
from .table import Cell, Part, Table, num

#: The note every comparative table carries about the pooled rows.
POOLED_NOTE = (
    f"Reader {ALL_READERS} pools every reader's answers and treats each reader-case answer as "
    "independent: readers are not modelled as exchangeable random effects, so the pooled rows "
    "speak for these readers, not for readers in general; the per-reader rows make no such assumption."
)
ORIENTATION_NOTE = (
    "Answers are mapped to condition order: for the pair (first, second) a positive score favours "
    "the second condition, whichever viewport (A or B) showed it."
)


def _key(s: PairSummary) -> dict[str, Cell]:
    return {
        "phase": s.phase,
        "question": s.question,
        "kind": s.kind,
        "first": s.first,
        "second": s.second,
        "reader": s.reader,
    }


def preference_table(analysis: ComparativeAnalysis) -> Table:
    """``comparative_preference``: the shares favouring first, neither, second, with Wilson CIs."""
    rows = []
    for s in analysis.summaries:
        row: dict[str, Cell] = {**_key(s), "reference": ", ".join(s.references), "n": s.n}
        for name, share in (
            ("first", s.first_preferred),
            ("none", s.no_preference),
            ("second", s.second_preferred),
        ):
            row[f"n_{name}"] = share.count
            row[f"{name}_share"] = num(share.estimate)
            row[f"{name}_lower"] = num(share.ci_lower)
            row[f"{name}_upper"] = num(share.ci_upper)
        rows.append(row)
    columns: tuple[str, ...] = ("phase", "question", "kind", "first", "second", "reader", "reference", "n")
    for name in ("first", "none", "second"):
        columns += (f"n_{name}", f"{name}_share", f"{name}_lower", f"{name}_upper")
    level = f"{100 * analysis.confidence:g}%"
    return Table(
        name="comparative_preference",
        title=f"Comparative preference: first preferred, none, second preferred ({level} Wilson intervals)",
        columns=columns,
        rows=tuple(rows),
        notes=(
            ORIENTATION_NOTE,
            "For the 5-point A/B scale an answer favours a condition by the sign of its score; "
            "0 (equal) is no preference.",
            f"Intervals: Wilson score ({level}; Wilson 1927, Agresti & Coull 1998), as R's "
            "prop.test(k, n, correct = FALSE).",
            "reference: the labelled reference condition(s) shown beside the pair.",
            POOLED_NOTE,
        ),
    )


def scale_table(analysis: ComparativeAnalysis) -> Table:
    """``comparative_scale``: the oriented 5-point scores per point, their median and mean."""
    rows = []
    for s in analysis.summaries:
        if s.scale is None:
            continue
        rows.append(
            {
                **_key(s),
                "n": s.n,
                "scale_points": "/".join(str(p) for p in s.scale.points),
                "counts": "/".join(str(c) for c in s.scale.counts),
                "median": num(s.scale.median),
                "mean": num(s.scale.mean),
            }
        )
    return Table(
        name="comparative_scale",
        title="Comparative A/B scale in condition order (-2 first much better ... +2 second much better)",
        columns=(
            "phase",
            "question",
            "kind",
            "first",
            "second",
            "reader",
            "n",
            "scale_points",
            "counts",
            "median",
            "mean",
        ),
        rows=tuple(rows),
        notes=(
            ORIENTATION_NOTE,
            "counts: answers per oriented point, in the order of scale_points.",
            POOLED_NOTE,
        ),
    )


def tests_table(analysis: ComparativeAnalysis) -> Table:
    """``comparative_tests``: the sign test of every pair, the Wilcoxon signed-rank test of the scale."""
    rows: list[dict[str, Cell]] = []
    for s in analysis.summaries:
        t = s.sign_test
        rows.append(
            {
                **_key(s),
                "test": "sign test",
                "n": s.n,
                "n_used": t.n_untied,
                "statistic": float(t.n_second),
                "p": num(t.pvalue),
                "method": "exact binomial",
            }
        )
        if s.scale is not None:
            w = s.scale.wilcoxon
            rows.append(
                {
                    **_key(s),
                    "test": "Wilcoxon signed-rank",
                    "n": s.n,
                    "n_used": w.n_nonzero,
                    "statistic": num(w.statistic),
                    "p": num(w.pvalue),
                    "method": "exact" if w.method == "exact" else "normal, continuity-corrected",
                }
            )
    return Table(
        name="comparative_tests",
        title="Comparative tests: sign test (exact binomial) and Wilcoxon signed-rank of the scale against 0",
        columns=(
            "phase",
            "question",
            "kind",
            "first",
            "second",
            "reader",
            "test",
            "n",
            "n_used",
            "statistic",
            "p",
            "method",
        ),
        rows=tuple(rows),
        notes=(
            ORIENTATION_NOTE,
            "Sign test: the answers favouring the second condition (statistic) among the untied ones "
            "(n_used) against 1/2, exact two-sided (R's binom.test); ties dropped.",
            "Wilcoxon signed-rank of the oriented scale scores against 0: statistic W+ (R's V), the rank "
            "sum of the scores favouring the second condition; zeros (equal) dropped (n_used: the others), "
            "midranks for ties; p exact without ties or zeros (fewer than 50 scores), otherwise the normal "
            "approximation with tie-corrected variance and continuity correction, as R's "
            "wilcox.test(x, exact = FALSE, correct = TRUE).",
            POOLED_NOTE,
        ),
    )


def comparative_tables(analysis: ComparativeAnalysis) -> list[Table]:
    """The comparative tables of an analysis (``comparative_scale`` only with A/B-scale answers)."""
    tables = [preference_table(analysis)]
    if any(s.scale is not None for s in analysis.summaries):
        tables.append(scale_table(analysis))
    tables.append(tests_table(analysis))
    return tables


def analyse_rows(rows: Iterable[dict], conditions: Sequence[str], *, confidence: float = 0.95) -> list[Table]:
    """The comparative tables of comparison rows outside a study record (the command line)."""
    return comparative_tables(analyse_comparisons(rows, conditions, confidence=confidence))


def comparative_part(record: StudyRecord) -> Part:
    """The comparative tables of a record with comparisons; nothing for a record without."""
    if not record.comparisons:
        return Part()
    analysis = analyse_comparisons(
        record.comparisons,
        record.condition_ids,
        readers=record.reader_ids or None,
        questions=[q["question"] for q in record.questions],
        confidence=record.settings.confidence,
    )
    return Part(tables=tuple(comparative_tables(analysis)))
