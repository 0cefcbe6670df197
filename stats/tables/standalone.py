"""A standalone algorithm ("CAD") against the study's readers: ``standalone_fom`` and
``standalone_vs_readers``.

For each algorithm of the record (``standalone_readers``) and each condition it has outputs
for, on the cases the readers' detection analysis uses (the FROC data of :mod:`.marks`), a
one-modality dataset of the readers plus the algorithm is built:

* marks (``standalone_marks``): matched to the reference lesions by the study's acceptance rule,
  exactly as the readers' marks (:func:`.marks.froc_of_marks`), and scored by the settings'
  FROC figure of merit (wAFROC by default); a case without marks is read and unmarked;
* case ratings (``standalone_ratings``): ROC data against the readers' case ratings
  (:func:`.roc.case_ratings`: the highest mark, or the case-rating question), Wilcoxon AUC.

It is compared with the readers' average FOM by the three analyses of RJafroc 2.1.3's
``StCadVsRad`` (:func:`stats.cad.cad_vs_readers`: 1T-RRFC, 1T-RRRC, 2T-RRRC; Chakraborty 2017,
Hupse et al. 2013, Hillis 2007, Kooi et al. 2016). The difference is the algorithm's FOM minus
the readers' mean. With a one-sided alternative in the settings each difference also gets its
margin-shifted one-sided test (:func:`.jafroc.one_sided_cells`, as the JAFROC tables).

Algorithms never enter the human analyses: the record's ``readers``, ``marks`` and ``answers``
hold only people.
"""

from dataclasses import dataclass

import numpy as np

from ..cad import METHODS, CadVsReadersResult, cad_vs_readers
from ..dataset import DatasetError, ReaderStudy, roc_study
from ..fom import jackknife
from ..mrmc import ALPHA, Difference
from ..study_record import StudyRecord
from .jafroc import one_sided_cells, one_sided_columns, one_sided_note
from .marks import froc_of_marks
from .roc import case_ratings
from .table import Cell, Part, Table, num

#: What each method assumes (the notes of ``standalone_vs_readers``).
METHOD_NOTES = (
    "1T-RRFC: readers random, cases fixed; a one-sample t test of the readers' FOMs minus the "
    "algorithm's, J - 1 df (it ignores case sampling: the conclusion holds for these cases only).",
    "1T-RRRC: readers and cases random; the single-treatment Obuchowski-Rockette analysis of those "
    "differences with jackknife covariances and Satterthwaite df (Hillis 2007): the usual choice.",
    "2T-RRRC: the algorithm copied to each reader as a second modality, then the two-modality OR RRRC "
    "analysis (Kooi et al. 2016); same t and p as 1T-RRRC, its interval from Hillis's df. RJafroc 2.1.3 "
    "runs it for ROC/LROC data only; here it also runs for FROC data.",
)

VS_COLUMNS = (
    "algorithm",
    "condition",
    "fom",
    "method",
    "fom_algorithm",
    "readers_mean",
    "difference",
    "stderr",
    "df",
    "ci_lower",
    "ci_upper",
    "t",
    "p",
    "readers_mean_ci_lower",
    "readers_mean_ci_upper",
)

SPLIT_PLOT_NOTE = (
    "Standalone algorithm: the comparison with the readers needs a crossed study (every reader reading "
    "the same cases); this split-plot study has none."
)


@dataclass(frozen=True, kw_only=True)
class StandaloneComparison:
    """One algorithm x condition: its one-modality dataset (readers, then the algorithm) and the
    result of each method."""

    algorithm: str
    condition: str
    kind: str  # "marks" or "ratings"
    fom: str
    data: ReaderStudy
    results: tuple[CadVsReadersResult, ...]


@dataclass(frozen=True, kw_only=True)
class Standalone(Part):
    """The standalone tables and the comparisons they are made of."""

    comparisons: tuple[StandaloneComparison, ...] = ()


def _marks_data(record: StudyRecord, froc: ReaderStudy, algorithm: str, condition: str) -> ReaderStudy:
    """Readers' and the algorithm's marks on ``froc``'s cases under ``condition``, matched alike."""
    rows = [r for r in record.marks if r["condition"] == condition]
    rows += [r for r in record.standalone_marks if r["reader"] == algorithm and r["condition"] == condition]
    data, _ = froc_of_marks(
        record,
        rows,
        cases=list(froc.case_ids),
        conditions=[condition],
        readers=[*froc.reader_ids, algorithm],
    )
    if data.case_ids != froc.case_ids:  # same cases, same lesions: the readers' FOMs stay theirs
        raise DatasetError("The standalone dataset's cases differ from the readers' analysis.")
    return data


def _ratings_data(
    record: StudyRecord, roc: ReaderStudy, algorithm: str, condition: str
) -> tuple[ReaderStudy | None, str | None]:
    """The readers' case ratings under ``condition`` plus the algorithm's; a note when it lacks some."""
    given = {
        r["case"]: r["rating"]
        for r in record.standalone_ratings
        if r["reader"] == algorithm and r["condition"] == condition
    }
    missing = [case for case in roc.case_ids if given.get(case) is None]
    if missing:
        return None, (
            f"Standalone {algorithm} under {condition}: no rating for {len(missing)} of the analysed "
            f"cases (e.g. {', '.join(missing[:3])}); not compared."
        )
    i = roc.modality_ids.index(condition)
    readers = roc.nl[i, :, :, 0].copy()  # ROC data: one rating per case (normal cases first)
    readers[:, roc.k1 :] = np.maximum(readers[:, roc.k1 :], roc.ll[i, :, :, 0])
    ratings = np.vstack([readers, [[given[c] for c in roc.case_ids]]])[None]
    return (
        roc_study(ratings, roc.k1, [condition], [*roc.reader_ids, algorithm], roc.case_ids, roc.name),
        None,
    )


def _difference(result: CadVsReadersResult) -> Difference:
    """The algorithm-minus-readers difference as an OR :class:`~stats.mrmc.Difference`, for the
    one-sided test of :func:`.jafroc.one_sided_cells`."""
    return Difference(
        modalities=(result.cad, "readers"),
        estimate=result.estimate,
        stderr=result.stderr,
        df=result.df,
        statistic=result.statistic,
        p=result.p,
        ci=result.ci,
    )


def _comparison(
    algorithm: str, condition: str, kind: str, fom: str, data: ReaderStudy
) -> StandaloneComparison:
    jk = jackknife(data, fom)
    results = tuple(cad_vs_readers(data, algorithm, fom, m, jk=jk, alpha=ALPHA) for m in METHODS)
    return StandaloneComparison(
        algorithm=algorithm, condition=condition, kind=kind, fom=fom, data=data, results=results
    )


def standalone_part(record: StudyRecord, froc: ReaderStudy | None) -> Standalone:
    """``standalone_fom`` and ``standalone_vs_readers`` (see the module docstring); what cannot
    be compared becomes a note, never an error."""
    algorithms = [r for r in record.standalone_readers if r["kind"] in ("marks", "ratings")]
    outputs = {(r["reader"], r["condition"]) for r in record.standalone_marks} | {
        (r["reader"], r["condition"]) for r in record.standalone_ratings
    }
    wanted = [(a, c) for a in algorithms for c in record.condition_ids if (a["reader"], c) in outputs]
    if not wanted:
        return Standalone()
    if froc is None:
        return Standalone(
            notes=(
                "Standalone algorithm: the comparison needs the readers' detection analysis "
                "(reference lesions and cases read by every reader); this study has none.",
            )
        )
    notes: list[str] = []
    if len(froc.reader_ids) < 2:
        return Standalone(
            notes=(
                f"Standalone algorithm: the comparison needs at least two readers; "
                f"this study has {len(froc.reader_ids)}.",
            )
        )
    if froc.k1 < 2 or froc.k2 < 2:
        return Standalone(
            notes=(
                "Standalone algorithm: the comparison needs at least two normal and two abnormal cases "
                f"read by everyone; there are {froc.k1} and {froc.k2}.",
            )
        )
    roc: ReaderStudy | None = None
    comparisons: list[StandaloneComparison] = []
    for algorithm, condition in wanted:
        code, kind = algorithm["reader"], algorithm["kind"]
        if code in froc.reader_ids:
            notes.append(f"Standalone {code}: its code is a reader's; not compared.")
            continue
        try:
            if kind == "marks":
                data = _marks_data(record, froc, code, condition)
                comparisons.append(_comparison(code, condition, kind, record.settings.fom, data))
                continue
            roc = roc or case_ratings(record, froc)
            ratings, note = _ratings_data(record, roc, code, condition)
            if ratings is None:
                notes.append(note or "")
                continue
            comparisons.append(_comparison(code, condition, kind, "Wilcoxon", ratings))
        except DatasetError as exc:
            notes.append(f"Standalone {code} under {condition}: not compared ({exc})")
    if not comparisons:
        return Standalone(notes=tuple(notes))
    return Standalone(
        tables=(_fom_table(comparisons), _vs_table(record, comparisons)),
        notes=tuple(notes),
        comparisons=tuple(comparisons),
    )


def _fom_table(comparisons: list[StandaloneComparison]) -> Table:
    rows: list[dict[str, Cell]] = []
    for c in comparisons:
        first = c.results[0]
        common: dict[str, Cell] = {"algorithm": c.algorithm, "condition": c.condition, "fom": c.fom}
        rows += [
            {**common, "reader": reader, "standalone": False, "value": num(value)}
            for reader, value in zip(first.reader_ids, first.fom_readers, strict=True)
        ]
        rows.append(
            {**common, "reader": "Readers' mean", "standalone": False, "value": num(first.reader_mean)}
        )
        rows.append({**common, "reader": c.algorithm, "standalone": True, "value": num(first.fom_cad)})
    return Table(
        name="standalone_fom",
        title="Standalone algorithm and readers: figure of merit per reader",
        columns=("algorithm", "condition", "fom", "reader", "standalone", "value"),
        rows=tuple(rows),
        notes=(
            "Marks are matched to the reference lesions by the study's acceptance rule, as the readers' "
            "marks, and scored by the study's FROC figure of merit; case ratings are scored by the "
            "Wilcoxon AUC against the readers' case ratings. The readers' values are those of the "
            "readers' own analysis of the same cases.",
        ),
    )


def _vs_table(record: StudyRecord, comparisons: list[StandaloneComparison]) -> Table:
    settings = record.settings
    rows: list[dict[str, Cell]] = []
    for c in comparisons:
        for r in c.results:
            rows.append(
                {
                    "algorithm": c.algorithm,
                    "condition": c.condition,
                    "fom": c.fom,
                    "method": r.method,
                    "fom_algorithm": num(r.fom_cad),
                    "readers_mean": num(r.reader_mean),
                    "difference": num(r.estimate),
                    "stderr": num(r.stderr),
                    "df": num(r.df),
                    "ci_lower": num(r.ci[0]),
                    "ci_upper": num(r.ci[1]),
                    "t": num(r.statistic),
                    "p": num(r.p),
                    "readers_mean_ci_lower": num(r.reader_mean_ci[0]),
                    "readers_mean_ci_upper": num(r.reader_mean_ci[1]),
                    **one_sided_cells(settings, _difference(r)),
                }
            )
    return Table(
        name="standalone_vs_readers",
        title="Standalone algorithm against the readers' mean (difference = algorithm - readers, 95% CI)",
        columns=(*VS_COLUMNS, *one_sided_columns(settings)),
        rows=tuple(rows),
        notes=(
            "difference = the algorithm's FOM minus the readers' mean FOM (positive favours the "
            "algorithm); the algorithm is one fixed reader, only the readers are sampled. Intervals at "
            f"{1 - ALPHA:.0%}; readers_mean_ci is the readers' mean's interval (1T: the difference's "
            "interval moved onto the mean; 2T-RRRC: the readers' own single-modality RRRC interval).",
            *METHOD_NOTES,
            *one_sided_note(settings),
        ),
    )
