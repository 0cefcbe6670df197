"""Every analysis table of a reader study, computed from its :class:`~stats.study_record.StudyRecord`.

One function, :func:`analyse_study`, turns the raw record (readings, answers, marks,
reference, measurements) into the tables of the published study designs, each computed
by the tested functions of ``stats``:

* detection (studies with lesion marks): marks matched to the reference lesions
  (:mod:`stats.matching`); the JAFROC figure of merit (wAFROC by default) per reader x
  condition and its Obuchowski-Rockette analysis, RRRC, FRRC and RRFC
  (:func:`stats.mrmc.or_analysis`; Chakraborty 2017, ch. 9-11); ROC AUC per reader with
  DeLong intervals and tests (:mod:`stats.diagnostic`); lesion sensitivity overall and by
  size with per-reader McNemar tests (:mod:`stats.lesions`, :func:`stats.classical.mcnemar`);
  per-case sensitivity and specificity; false positives per case with paired t-tests;
* Likert items: score distributions, Wilcoxon signed-rank (two conditions) or Friedman
  with Holm-adjusted pairwise Wilcoxon tests (three or more), weighted kappa and ICC(2,1);
* findings against an external reference (e.g. arthroscopy): sensitivity, specificity and
  AUC per reader and condition, McNemar and DeLong tests between conditions;
* objective measurements (FWHM, edge rise, SNR, CNR) and image fidelity (PSNR, SSIM, RMSE):
  mean and SD per condition and paired t-tests between conditions.

Only cases that every reader read (submitted) under every condition enter the paired and
MRMC analyses; the ``design`` table lists what was left out and why. Each table is a
:class:`Table` (named columns, rows of plain values) that the platform shows, exports as
CSV and XLSX, and that ``python -m stats tables BUNDLE`` re-creates from the bundle.
"""

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from .agreement import cohen_kappa, icc
from .classical import friedman, mcnemar, paired_t, wilcoxon
from .dataset import NO_MARK, DatasetError, ReaderStudy, roc_study
from .diagnostic import delong_test, proportion, roc_auc
from .fom import Jackknife, jackknife
from .lesions import sensitivity_by_size
from .matching import (
    Mark,
    MarkMatch,
    TrueLesion,
    froc_study,
    lesions_by_case,
    natural_key,
    roc_from_froc,
)
from .mrmc import OPTIONS, Difference, MRMCResult, or_analysis
from .study_record import StudyRecord, format_cell, table_csv


@dataclass(frozen=True)
class Table:
    """One result table: a name (file name), a title, named columns and rows of plain values."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple]
    notes: tuple[str, ...] = ()

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def csv(self) -> str:
        """The table as CSV text (exact numbers; see :func:`stats.study_record.format_cell`)."""
        return table_csv(self.as_dicts(), self.columns)


@dataclass
class StudyAnalysis:
    """All tables of a study, plus the objects plots and exports are drawn from."""

    tables: dict[str, Table] = field(default_factory=dict)
    froc: ReaderStudy | None = None
    roc: ReaderStudy | None = None
    mrmc: MRMCResult | None = None
    jackknife: Jackknife | None = None
    matches: list[MarkMatch] = field(default_factory=list)
    included_cases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, table: Table) -> None:
        self.tables[table.name] = table


def _f(x: float | None) -> float | None:
    """A float for a table cell (NaN stays NaN, numpy scalars become Python floats)."""
    return None if x is None else float(x)


def _pair_name(a: str, b: str) -> str:
    return f"{a} - {b}"


# --------------------------------------------------------------------------- design


def _complete_cases(record: StudyRecord) -> tuple[list[str], list[str]]:
    """Cases read by every reader under every condition, and notes on the ones left out."""
    conditions, readers = record.condition_ids, record.reader_ids
    read = {(r["condition"], r["reader"], r["case"]) for r in record.readings}
    cases = sorted((row["case"] for row in record.cases), key=natural_key)
    complete, notes = [], []
    for case in cases:
        missing = [(c, r) for c in conditions for r in readers if (c, r, case) not in read]
        if not missing:
            complete.append(case)
        else:
            shown = ", ".join(f"{r} under {c}" for c, r in missing[:4])
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            notes.append(f"Case {case} left out of paired analyses: not read by {shown}{more}.")
    return complete, notes


def _design_table(record: StudyRecord, complete: list[str], notes: list[str]) -> Table:
    rows = [
        ("conditions", len(record.conditions), ", ".join(record.condition_ids)),
        ("readers", len(record.readers), ", ".join(record.reader_ids)),
        ("cases", len(record.cases), ""),
        ("cases read by every reader in every condition", len(complete), ""),
        ("readings submitted", len(record.readings), ""),
        ("answers", len(record.answers), ""),
        ("marks", len(record.marks), ""),
        ("reference lesions", len(record.lesions), ""),
    ]
    return Table("design", "Study design and data", ("item", "count", "detail"), rows, tuple(notes))


# --------------------------------------------------------------------------- detection


def _lesions(record: StudyRecord, cases: set[str]) -> list[TrueLesion]:
    return [
        TrueLesion(
            case=row["case"],
            lesion=row["lesion"],
            position=(row["x_mm"], row["y_mm"], row["z_mm"]),
            size_mm=row["size_mm"],
            weight=row["weight"],
        )
        for row in record.lesions
        if row["case"] in cases
    ]


def _marks(record: StudyRecord, cases: set[str]) -> list[Mark]:
    return [
        Mark(
            modality=row["condition"],
            reader=row["reader"],
            case=row["case"],
            position=(row["x_mm"], row["y_mm"], row["z_mm"]),
            rating=row["rating"],
            mark=row["mark"],
        )
        for row in record.marks
        if row["case"] in cases
    ]


def _detection(record: StudyRecord, analysis: StudyAnalysis, cases: list[str]) -> None:
    settings = record.settings
    flagged_abnormal = {row["case"] for row in record.cases if row["abnormal"]}
    with_lesions = {row["case"] for row in record.lesions}
    unlocalised = sorted((flagged_abnormal - with_lesions) & set(cases), key=natural_key)
    if unlocalised:
        analysis.notes.append(
            "Left out of the detection analysis (abnormal in the reference but without located lesions): "
            + ", ".join(unlocalised)
            + "."
        )
    used = [c for c in cases if c not in set(unlocalised)]
    froc, matches = froc_study(
        _lesions(record, set(used)),
        _marks(record, set(used)),
        modalities=record.condition_ids,
        readers=record.reader_ids,
        cases=used,
        rule=settings.acceptance_rule(),
        duplicates=settings.duplicates,
        name=str(record.study.get("name", "")),
    )
    analysis.froc, analysis.matches = froc, matches
    analysis.add(_matches_table(matches, settings.acceptance_rule().describe()))
    if froc.k1 < 2 or froc.k2 < 2:
        analysis.notes.append(
            f"The JAFROC and ROC analyses need at least two normal and two abnormal cases read by everyone; "
            f"there are {froc.k1} and {froc.k2}."
        )
    else:
        _jafroc(record, analysis, froc)
        roc = _case_ratings(record, froc)
        analysis.roc = roc
        _roc(record, analysis, roc)
    _sensitivity(record, analysis, froc)
    _case_level(record, analysis, froc)
    _false_positives(record, analysis, froc)


def _matches_table(matches: list[MarkMatch], rule: str) -> Table:
    ordered = sorted(
        matches,
        key=lambda m: (m.mark.modality, natural_key(m.mark.reader), natural_key(m.mark.case), m.mark.mark),
    )
    rows = [
        (
            m.mark.modality,
            m.mark.reader,
            m.mark.case,
            m.mark.mark,
            _f(m.mark.rating),
            m.outcome,
            m.lesion or "",
            _f(m.distance_mm),
        )
        for m in ordered
    ]
    return Table(
        "lesion_matches",
        "Marks matched to reference lesions",
        ("condition", "reader", "case", "mark", "rating", "outcome", "lesion", "distance_mm"),
        rows,
        (
            f"A mark is a lesion localisation (LL) when it lies {rule}; one mark per lesion counts "
            "(the highest rated); other marks on a found lesion are duplicates.",
        ),
    )


def _jafroc(record: StudyRecord, analysis: StudyAnalysis, froc: ReaderStudy) -> None:
    settings = record.settings
    fom = settings.fom
    jk = jackknife(froc, fom)
    analysis.jackknife = jk
    conditions = list(froc.modality_ids)
    rows = [
        (reader, *(_f(jk.fom[i, j]) for i in range(len(conditions))))
        for j, reader in enumerate(froc.reader_ids)
    ]
    rows.append(("Average", *(_f(v) for v in jk.fom.mean(axis=1))))
    analysis.add(
        Table(
            "jafroc_fom",
            f"{fom} figure of merit per reader and condition",
            ("reader", *conditions),
            rows,
            (f"{froc.k1} normal and {froc.k2} abnormal cases, {int(froc.lesions_per_case.sum())} lesions.",),
        )
    )
    result = _or_or_note(analysis, froc, fom, jk, settings.covariance)
    if result is None:
        return
    analysis.mrmc = result
    tests, estimates = [], []
    for option in OPTIONS:
        test = result.tests[option]
        overall = (test.statistic_name, _f(test.statistic), _f(test.ndf), _f(test.ddf), _f(test.p))
        tests += [(*_difference_row(option, d), *overall) for d in test.differences]
        for e in test.modality_estimates:
            estimates.append(
                (option, e.modality, _f(e.estimate), _f(e.stderr), _f(e.df), _f(e.ci[0]), _f(e.ci[1]))
            )
    level = f"{settings.confidence:.0%}"
    analysis.add(
        Table(
            "jafroc_tests",
            f"{fom}: Obuchowski-Rockette analysis (differences of reader-averaged FOMs, 95% CI)",
            (
                "analysis",
                "comparison",
                "difference",
                "stderr",
                "df",
                "ci_lower",
                "ci_upper",
                "p",
                "test",
                "statistic",
                "ndf",
                "ddf",
                "p_overall",
            ),
            tests,
            (
                "RRRC: readers and cases random; FRRC: readers fixed; RRFC: cases fixed. "
                f"Covariances by the {settings.covariance}; intervals at 95% (RJafroc's alpha 0.05), "
                f"the other tables at {level}.",
            ),
        )
    )
    analysis.add(
        Table(
            "jafroc_conditions",
            f"{fom} per condition (reader average) with 95% CI",
            ("analysis", "condition", "fom", "stderr", "df", "ci_lower", "ci_upper"),
            estimates,
        )
    )


def _difference_row(option: str, d: Difference) -> tuple:
    """One OR difference: analysis, comparison, difference, stderr, df, CI, p."""
    return (
        option,
        _pair_name(*d.modalities),
        _f(d.estimate),
        _f(d.stderr),
        _f(d.df),
        _f(d.ci[0]),
        _f(d.ci[1]),
        _f(d.p),
    )


def _or_or_note(
    analysis: StudyAnalysis, data: ReaderStudy, fom: str, jk, covariance: str
) -> MRMCResult | None:
    """The OR analysis, or None with a note when the design cannot have one (one reader or condition)."""
    try:
        return or_analysis(data, fom, jk, covariance=covariance, seed=0)
    except DatasetError as exc:
        analysis.notes.append(f"No MRMC test of {fom}: {exc}")
        return None


def _case_ratings(record: StudyRecord, froc: ReaderStudy) -> ReaderStudy:
    """Per-case ROC ratings: the highest mark, or the value of the case-rating question."""
    key = record.settings.case_rating
    if key == "marks":
        return roc_from_froc(froc)
    values = {
        (a["condition"], a["reader"], a["case"]): a["value"]
        for a in record.answers
        if a["question"] == key and a["value"] is not None
    }
    ratings = np.empty(froc.shape)
    missing = []
    for i, condition in enumerate(froc.modality_ids):
        for j, reader in enumerate(froc.reader_ids):
            for k, case in enumerate(froc.case_ids):
                value = values.get((condition, reader, case))
                if value is None:
                    missing.append(f"{reader}/{case}/{condition}")
                ratings[i, j, k] = NO_MARK if value is None else value
    if missing:
        raise DatasetError(
            f"The case-rating question {key!r} is unanswered in {len(missing)} reading(s), "
            f"e.g. {', '.join(missing[:3])}."
        )
    return roc_study(ratings, froc.k1, froc.modality_ids, froc.reader_ids, froc.case_ids, froc.name)


def _roc_truth_scores(roc: ReaderStudy, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    truth = np.r_[np.zeros(roc.k1, bool), np.ones(roc.k2, bool)]
    scores = np.r_[roc.nl[i, j, : roc.k1, 0], roc.ll[i, j, :, 0]]
    # -inf (unmarked) ties with -inf; any finite stand-in below every rating keeps the order.
    finite = scores[np.isfinite(scores)]
    floor = (finite.min() if finite.size else 0.0) - 1.0
    return truth, np.where(np.isfinite(scores), scores, floor)


def _roc(record: StudyRecord, analysis: StudyAnalysis, roc: ReaderStudy) -> None:
    conf = record.settings.confidence
    rows, tests = [], []
    conditions = list(roc.modality_ids)
    for j, reader in enumerate(roc.reader_ids):
        for i, condition in enumerate(conditions):
            truth, scores = _roc_truth_scores(roc, i, j)
            auc = roc_auc(truth, scores, confidence=conf)
            rows.append(
                (
                    reader,
                    condition,
                    _f(auc.estimate),
                    _f(auc.stderr),
                    _f(auc.ci[0]),
                    _f(auc.ci[1]),
                    auc.n_positive,
                    auc.n_negative,
                )
            )
        for a, b in combinations(range(len(conditions)), 2):
            truth, first = _roc_truth_scores(roc, a, j)
            _, second = _roc_truth_scores(roc, b, j)
            t = delong_test(truth, first, second, confidence=conf)
            tests.append(
                (
                    reader,
                    _pair_name(conditions[a], conditions[b]),
                    _f(t.estimate),
                    _f(t.stderr),
                    _f(t.ci[0]),
                    _f(t.ci[1]),
                    _f(t.statistic),
                    _f(t.pvalue),
                )
            )
    source = (
        "the highest mark rating (unmarked cases lowest)"
        if record.settings.case_rating == "marks"
        else f"question {record.settings.case_rating!r}"
    )
    analysis.add(
        Table(
            "roc_auc",
            "ROC AUC per reader and condition (DeLong CI)",
            (
                "reader",
                "condition",
                "auc",
                "stderr",
                "ci_lower",
                "ci_upper",
                "abnormal_cases",
                "normal_cases",
            ),
            rows,
            (f"Case ratings from {source}.",),
        )
    )
    analysis.add(
        Table(
            "roc_auc_tests",
            "ROC AUC differences per reader (DeLong test)",
            ("reader", "comparison", "difference", "stderr", "ci_lower", "ci_upper", "z", "p"),
            tests,
        )
    )
    result = _or_or_note(analysis, roc, "Wilcoxon", None, record.settings.covariance)
    if result is None:
        return
    mrmc_rows = [_difference_row(option, d) for option in OPTIONS for d in result.tests[option].differences]
    analysis.add(
        Table(
            "roc_mrmc",
            "ROC AUC: Obuchowski-Rockette analysis (reader-averaged AUC differences, 95% CI)",
            ("analysis", "comparison", "difference", "stderr", "df", "ci_lower", "ci_upper", "p"),
            mrmc_rows,
        )
    )


def _sensitivity(record: StudyRecord, analysis: StudyAnalysis, froc: ReaderStudy) -> None:
    if froc.k2 == 0:
        return
    settings = record.settings
    conf = settings.confidence
    by_case = lesions_by_case(_lesions(record, set(froc.case_ids)))
    mask = froc.lesion_mask
    sizes = np.array(
        [by_case[froc.case_ids[froc.k1 + k]][slot].size_mm for k, slot in zip(*np.nonzero(mask), strict=True)]
    )
    conditions = list(froc.modality_ids)
    rows, tests = [], []
    for j, reader in enumerate(froc.reader_ids):
        hits = [np.isfinite(froc.ll[i, j])[mask] for i in range(len(conditions))]
        for i, condition in enumerate(conditions):
            result = sensitivity_by_size(hits[i], sizes, settings.size_strata, confidence=conf)
            for s in (result.overall, *result.strata):
                rows.append(
                    (
                        reader,
                        condition,
                        s.label,
                        s.n_detected,
                        s.n_lesions,
                        _f(s.sensitivity),
                        _f(s.ci[0]),
                        _f(s.ci[1]),
                    )
                )
        for a, b in combinations(range(len(conditions)), 2):
            strata = sensitivity_by_size(hits[a], sizes, settings.size_strata).strata
            groups = [("all", np.ones(sizes.size, bool))] + [
                (s.label, (sizes >= s.lower) & (sizes < s.upper)) for s in strata
            ]
            for label, inside in groups:
                if not inside.any():
                    continue
                t = mcnemar(hits[a][inside], hits[b][inside], confidence=conf)
                tests.append(
                    (
                        reader,
                        _pair_name(conditions[a], conditions[b]),
                        label,
                        int(inside.sum()),
                        t.first_only,
                        t.second_only,
                        _f(t.estimate),
                        _f(t.pvalue),
                        t.method,
                    )
                )
    analysis.add(
        Table(
            "sensitivity",
            "Lesion sensitivity per reader and condition, overall and by lesion size (Wilson CI)",
            ("reader", "condition", "size", "detected", "lesions", "sensitivity", "ci_lower", "ci_upper"),
            rows,
            ("A lesion is detected when a mark localises it (see lesion_matches).",),
        )
    )
    analysis.add(
        Table(
            "sensitivity_tests",
            "Lesion sensitivity between conditions per reader (McNemar)",
            (
                "reader",
                "comparison",
                "size",
                "lesions",
                "first_only",
                "second_only",
                "difference",
                "p",
                "method",
            ),
            tests,
        )
    )


def _case_level(record: StudyRecord, analysis: StudyAnalysis, froc: ReaderStudy) -> None:
    conf = record.settings.confidence
    rows = []
    for j, reader in enumerate(froc.reader_ids):
        for i, condition in enumerate(froc.modality_ids):
            found = int(np.isfinite(froc.ll[i, j]).any(axis=1).sum()) if froc.k2 else 0
            clean = int((~np.isfinite(froc.nl[i, j, : froc.k1]).any(axis=1)).sum())
            se = proportion(found, froc.k2, confidence=conf)
            sp = proportion(clean, froc.k1, confidence=conf)
            rows.append(
                (
                    reader,
                    condition,
                    found,
                    froc.k2,
                    _f(se.estimate),
                    _f(se.ci_wilson[0]),
                    _f(se.ci_wilson[1]),
                    clean,
                    froc.k1,
                    _f(sp.estimate),
                    _f(sp.ci_wilson[0]),
                    _f(sp.ci_wilson[1]),
                )
            )
    analysis.add(
        Table(
            "case_detection",
            "Per-case sensitivity and specificity (Wilson CI)",
            (
                "reader",
                "condition",
                "abnormal_found",
                "abnormal_cases",
                "sensitivity",
                "se_ci_lower",
                "se_ci_upper",
                "normal_clear",
                "normal_cases",
                "specificity",
                "sp_ci_lower",
                "sp_ci_upper",
            ),
            rows,
            (
                "An abnormal case is found when at least one of its lesions is localised; "
                "a normal case is clear when it has no marks.",
            ),
        )
    )


def _false_positives(record: StudyRecord, analysis: StudyAnalysis, froc: ReaderStudy) -> None:
    conf = record.settings.confidence
    conditions = list(froc.modality_ids)
    rows, tests = [], []
    for j, reader in enumerate(froc.reader_ids):
        counts = [np.isfinite(froc.nl[i, j]).sum(axis=1).astype(float) for i in range(len(conditions))]
        for i, condition in enumerate(conditions):
            c = counts[i]
            rows.append(
                (
                    reader,
                    condition,
                    int(c.sum()),
                    c.size,
                    _f(c.mean()),
                    _f(c.std(ddof=1)) if c.size > 1 else math.nan,
                )
            )
        for a, b in combinations(range(len(conditions)) if froc.shape[2] >= 2 else (), 2):
            t = paired_t(counts[a], counts[b], confidence=conf)
            tests.append(
                (
                    reader,
                    _pair_name(conditions[a], conditions[b]),
                    _f(t.estimate),
                    _f(t.ci[0]),
                    _f(t.ci[1]),
                    _f(t.statistic),
                    _f(t.df),
                    _f(t.pvalue),
                )
            )
    analysis.add(
        Table(
            "false_positives",
            "False positives (non-lesion localisations) per case",
            ("reader", "condition", "false_positives", "cases", "mean_per_case", "sd"),
            rows,
        )
    )
    analysis.add(
        Table(
            "false_positive_tests",
            "False positives per case between conditions (paired t-test over cases)",
            ("reader", "comparison", "mean_difference", "ci_lower", "ci_upper", "t", "df", "p"),
            tests,
        )
    )


# --------------------------------------------------------------------------- Likert


def _likert(record: StudyRecord, analysis: StudyAnalysis, cases: list[str]) -> None:
    settings = record.settings
    conditions, readers = record.condition_ids, record.reader_ids
    questions = [q for q in record.questions if q["kind"] == "likert"]
    if not questions:
        return
    value = {(a["question"], a["condition"], a["reader"], a["case"]): a["value"] for a in record.answers}
    dist, tests, agreement = [], [], []
    for q in questions:
        key = q["question"]
        points = [p["value"] for p in json.loads(q["scale"] or "[]")]
        order = "/".join(str(p) for p in points)
        for reader in [*readers, "All"]:
            for condition in conditions:
                scores = [
                    value.get((key, condition, r, case))
                    for r in (readers if reader == "All" else [reader])
                    for case in cases
                ]
                scores = [s for s in scores if s is not None]
                counts = "/".join(str(scores.count(p)) for p in points)
                median = float(np.median(scores)) if scores else math.nan
                mean = float(np.mean(scores)) if scores else math.nan
                dist.append((key, reader, condition, order, counts, len(scores), median, mean))
        tests.extend(_likert_tests(key, value, conditions, readers, cases))
        agreement.extend(_likert_agreement(key, value, conditions, readers, cases, points, settings))
    analysis.add(
        Table(
            "likert_distribution",
            "Likert scores per reader and condition (counts per scale point)",
            ("question", "reader", "condition", "scale_points", "counts", "n", "median", "mean"),
            dist,
            ("counts lists how many readings scored each point, in the order of scale_points.",),
        )
    )
    analysis.add(
        Table(
            "likert_tests",
            "Likert scores between conditions "
            "(Wilcoxon signed-rank; Friedman with Holm-adjusted pairwise Wilcoxon)",
            ("question", "reader", "test", "comparison", "n", "statistic", "p", "p_holm"),
            tests,
            (
                "Paired by case (by case and reader for All); "
                "cases missing an answer in any condition are left out of that test.",
            ),
        )
    )
    if agreement:
        analysis.add(
            Table(
                "likert_agreement",
                f"Inter-reader agreement on Likert scores "
                f"({settings.kappa_weights}-weighted kappa, ICC(2,1))",
                ("question", "condition", "measure", "readers", "n", "estimate", "ci_lower", "ci_upper"),
                agreement,
            )
        )


def _paired_scores(key, value, conditions, readers, cases) -> list[np.ndarray]:
    units = [(r, c) for r in readers for c in cases]
    complete = [u for u in units if all(value.get((key, cond, *u)) is not None for cond in conditions)]
    return [np.array([value[(key, cond, *u)] for u in complete], dtype=float) for cond in conditions]


def _likert_tests(key, value, conditions, readers, cases) -> list[tuple]:
    rows = []
    if len(conditions) < 2:
        return rows
    for reader in [*readers, "All"]:
        group = readers if reader == "All" else [reader]
        scores = _paired_scores(key, value, conditions, group, cases)
        n = int(scores[0].size)
        if n == 0:
            continue
        if len(conditions) == 2:
            if not np.any(scores[0] != scores[1]):
                rows.append(
                    (key, reader, "Wilcoxon signed-rank", _pair_name(*conditions), n, math.nan, 1.0, None)
                )
                continue
            t = wilcoxon(scores[0], scores[1])
            rows.append(
                (
                    key,
                    reader,
                    "Wilcoxon signed-rank",
                    _pair_name(*conditions),
                    n,
                    _f(t.statistic),
                    _f(t.pvalue),
                    None,
                )
            )
            continue
        if n < 2:
            continue
        f = friedman(*scores, names=conditions)
        rows.append((key, reader, "Friedman", "all conditions", n, _f(f.statistic), _f(f.pvalue), None))
        for post in f.posthoc:
            rows.append(
                (
                    key,
                    reader,
                    "Wilcoxon signed-rank",
                    _pair_name(post.first, post.second),
                    n,
                    _f(post.test.statistic),
                    _f(post.test.pvalue),
                    _f(post.pvalue_holm),
                )
            )
    return rows


def _likert_agreement(key, value, conditions, readers, cases, points, settings) -> list[tuple]:
    rows = []
    if len(readers) < 2:
        return rows
    conf = settings.confidence
    for condition in conditions:
        table = np.array([[value.get((key, condition, r, c)) for r in readers] for c in cases], dtype=object)
        complete = np.array([all(v is not None for v in row) for row in table], dtype=bool)
        scores = table[complete].astype(float)
        if scores.shape[0] < 2:
            continue
        for a, b in combinations(range(len(readers)), 2):
            k = cohen_kappa(
                scores[:, a], scores[:, b], weights=settings.kappa_weights, categories=points, confidence=conf
            )
            rows.append(
                (
                    key,
                    condition,
                    f"kappa ({settings.kappa_weights})",
                    f"{readers[a]} vs {readers[b]}",
                    scores.shape[0],
                    _f(k.estimate),
                    _f(k.ci[0]),
                    _f(k.ci[1]),
                )
            )
        if np.ptp(scores) > 0:
            result = icc(scores, "ICC(2,1)", confidence=conf)
            rows.append(
                (
                    key,
                    condition,
                    "ICC(2,1)",
                    "all",
                    scores.shape[0],
                    _f(result.estimate),
                    _f(result.ci[0]),
                    _f(result.ci[1]),
                )
            )
    return rows


# --------------------------------------------------------------------------- external reference


def _finding_score(answer: dict, scale: list[int]) -> float | None:
    """A reader's certainty that a finding is present, for the AUC.

    Called present: its confidence (the call itself, 1, without a scale or a confidence);
    called absent (which takes no confidence): one below the lowest confidence, so every
    "present" call ranks above every "absent" one.
    """
    if answer["present"] is None:
        return None
    floor = (min(scale) - 1.0) if scale else 0.0
    if not answer["present"]:
        return floor
    if scale and answer["value"] is not None:
        return float(answer["value"])
    return floor + 1.0 if not scale else float(max(scale))


def _diagnostic(record: StudyRecord, analysis: StudyAnalysis, cases: list[str]) -> None:
    conf = record.settings.confidence
    conditions, readers = record.condition_ids, record.reader_ids
    finding_questions = {
        q["question"]: [point["value"] for point in json.loads(q["scale"] or "[]")]
        for q in record.questions
        if q["kind"] == "finding"
    }
    truth: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for row in record.findings:
        if row["finding"] in finding_questions and row["case"] in set(cases):
            truth[(row["reference"], row["finding"])][row["case"]] = row["present"]
    if not truth:
        return
    answers = {(a["question"], a["condition"], a["reader"], a["case"]): a for a in record.answers}
    rows, tests = [], []
    for (reference, finding), known in sorted(truth.items()):
        scale = finding_questions[finding]
        for reader in readers:
            calls, scores, used = {}, {}, []
            for case in sorted(known, key=natural_key):
                per_condition = [answers.get((finding, c, reader, case)) for c in conditions]
                if any(a is None or a["present"] is None for a in per_condition):
                    continue
                used.append(case)
                for c, a in zip(conditions, per_condition, strict=True):
                    calls.setdefault(c, []).append(bool(a["present"]))
                    scores.setdefault(c, []).append(_finding_score(a, scale))
            if not used:
                continue
            positive = np.array([known[c] for c in used])
            for condition in conditions:
                call = np.array(calls[condition])
                tp, fn = int((call & positive).sum()), int((~call & positive).sum())
                tn, fp = int((~call & ~positive).sum()), int((call & ~positive).sum())
                se, sp = proportion(tp, tp + fn, confidence=conf), proportion(tn, tn + fp, confidence=conf)
                auc = (math.nan, math.nan, math.nan)
                if positive.any() and (~positive).any():
                    a = roc_auc(positive, np.array(scores[condition]), confidence=conf)
                    auc = (a.estimate, a.ci[0], a.ci[1])
                rows.append(
                    (
                        reference,
                        finding,
                        reader,
                        condition,
                        tp,
                        fn,
                        tn,
                        fp,
                        _f(se.estimate),
                        _f(se.ci_wilson[0]),
                        _f(se.ci_wilson[1]),
                        _f(sp.estimate),
                        _f(sp.ci_wilson[0]),
                        _f(sp.ci_wilson[1]),
                        *(_f(x) for x in auc),
                    )
                )
            for a, b in combinations(conditions, 2):
                first, second = np.array(calls[a]), np.array(calls[b])
                se_p = mcnemar(first[positive], second[positive]).pvalue if positive.any() else math.nan
                sp_p = (
                    mcnemar(~first[~positive], ~second[~positive]).pvalue if (~positive).any() else math.nan
                )
                auc_diff = auc_p = math.nan
                if positive.any() and (~positive).any():
                    d = delong_test(positive, np.array(scores[a]), np.array(scores[b]), confidence=conf)
                    auc_diff, auc_p = d.estimate, d.pvalue
                tests.append(
                    (
                        reference,
                        finding,
                        reader,
                        _pair_name(a, b),
                        len(used),
                        _f(se_p),
                        _f(sp_p),
                        _f(auc_diff),
                        _f(auc_p),
                    )
                )
    analysis.add(
        Table(
            "diagnostic",
            "Diagnostic performance against the external reference (Wilson CI; AUC with DeLong CI)",
            (
                "reference",
                "finding",
                "reader",
                "condition",
                "tp",
                "fn",
                "tn",
                "fp",
                "sensitivity",
                "se_ci_lower",
                "se_ci_upper",
                "specificity",
                "sp_ci_lower",
                "sp_ci_upper",
                "auc",
                "auc_ci_lower",
                "auc_ci_upper",
            ),
            rows,
            (
                "Only cases that the reference covers and that the reader answered under every condition. "
                "AUC scores: the confidence when called present, below every confidence when absent.",
            ),
        )
    )
    analysis.add(
        Table(
            "diagnostic_tests",
            "Diagnostic performance between conditions "
            "(McNemar on sensitivity and specificity; DeLong on AUC)",
            (
                "reference",
                "finding",
                "reader",
                "comparison",
                "cases",
                "sensitivity_p",
                "specificity_p",
                "auc_difference",
                "auc_p",
            ),
            tests,
        )
    )


# --------------------------------------------------------------------------- measurements


def _paired_by_condition(
    values: dict[tuple[str, str], float], conditions: Sequence[str], units: list[str], conf: float
) -> tuple[list[tuple], list[tuple]]:
    """Summary rows (condition, n, mean, sd) and paired t rows over ``units`` present in both."""
    summary, tests = [], []
    for c in conditions:
        v = np.array([values[(u, c)] for u in units if (u, c) in values], dtype=float)
        if v.size:
            summary.append((c, int(v.size), _f(v.mean()), _f(v.std(ddof=1)) if v.size > 1 else math.nan))
    for a, b in combinations(conditions, 2):
        both = [u for u in units if (u, a) in values and (u, b) in values]
        if len(both) < 2:
            continue
        t = paired_t([values[(u, a)] for u in both], [values[(u, b)] for u in both], confidence=conf)
        tests.append(
            (
                _pair_name(a, b),
                len(both),
                _f(t.estimate),
                _f(t.ci[0]),
                _f(t.ci[1]),
                _f(t.statistic),
                _f(t.df),
                _f(t.pvalue),
            )
        )
    return summary, tests


def _measurements(record: StudyRecord, analysis: StudyAnalysis) -> None:
    if not record.measurements:
        return
    conf = record.settings.confidence
    conditions = record.condition_ids
    by_metric: dict[tuple[str, str], dict[tuple[str, str], float]] = defaultdict(dict)
    for row in record.measurements:
        if row["value"] is None or not math.isfinite(row["value"]):
            continue
        unit = f"{row['case']}/{row['roi']}"
        by_metric[(row["kind"], row["metric"])][(unit, row["condition"])] = row["value"]
    summary_rows, test_rows = [], []
    for (kind, metric), values in sorted(by_metric.items()):
        units = sorted({u for u, _ in values}, key=natural_key)
        summary, tests = _paired_by_condition(values, conditions, units, conf)
        summary_rows += [(kind, metric, *row) for row in summary]
        test_rows += [(kind, metric, *row) for row in tests]
    analysis.add(
        Table(
            "measurements",
            "Objective image-quality measurements per condition",
            ("kind", "metric", "condition", "n", "mean", "sd"),
            summary_rows,
        )
    )
    analysis.add(
        Table(
            "measurement_tests",
            "Measurements between conditions (paired t-test over ROIs)",
            ("kind", "metric", "comparison", "n", "mean_difference", "ci_lower", "ci_upper", "t", "df", "p"),
            test_rows,
            ("Each ROI of each case is one pair: the same ROI measured on both conditions.",),
        )
    )


def _fidelity(record: StudyRecord, analysis: StudyAnalysis) -> None:
    if not record.fidelity:
        return
    conf = record.settings.confidence
    reference = sorted({row["reference"] for row in record.fidelity})
    conditions = [c for c in record.condition_ids if c not in reference]
    summary_rows, test_rows = [], []
    for metric in ("psnr", "ssim", "rmse", "psnr_tissue", "ssim_tissue"):
        values = {
            (row["case"], row["condition"]): row[metric]
            for row in record.fidelity
            if row[metric] is not None and math.isfinite(row[metric])
        }
        units = sorted({u for u, _ in values}, key=natural_key)
        summary, tests = _paired_by_condition(values, conditions, units, conf)
        summary_rows += [(metric, *row) for row in summary]
        test_rows += [(metric, *row) for row in tests]
    analysis.add(
        Table(
            "fidelity",
            f"Image fidelity against {', '.join(reference)} per condition",
            ("metric", "condition", "n", "mean", "sd"),
            summary_rows,
        )
    )
    analysis.add(
        Table(
            "fidelity_tests",
            "Image fidelity between conditions (paired t-test over cases)",
            ("metric", "comparison", "n", "mean_difference", "ci_lower", "ci_upper", "t", "df", "p"),
            test_rows,
        )
    )


# --------------------------------------------------------------------------- entry point


def analyse_study(record: StudyRecord) -> StudyAnalysis:
    """Every table of the study (see the module docstring); problems become notes, not errors.

    A part that cannot be computed (e.g. too few cases for JAFROC) is left out with a note
    in ``notes`` saying why; bad data (a mark outside the study) raises ``DatasetError``.
    """
    analysis = StudyAnalysis()
    complete, notes = _complete_cases(record)
    analysis.included_cases = complete
    analysis.add(_design_table(record, complete, notes))
    if not complete:
        analysis.notes.append(
            "No case has been read (submitted) by every reader under every condition yet: "
            "there are no readings to analyse."
        )
    else:
        if record.lesions or record.marks or record.study.get("mark_scale"):
            _detection(record, analysis, complete)
        _likert(record, analysis, complete)
        _diagnostic(record, analysis, complete)
    _measurements(record, analysis)
    _fidelity(record, analysis)
    return analysis


def tables_csv(analysis: StudyAnalysis) -> dict[str, str]:
    """``tables/<name>.csv`` -> CSV text of every table (what a bundle carries and re-creates)."""
    return {f"tables/{name}.csv": table.csv() for name, table in analysis.tables.items()}


def display(value: Any, column: str = "") -> str:
    """A cell for people: p-values to 4 significant digits, other floats to 4 decimals."""
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if column.startswith("p") and (column == "p" or column.startswith("p_") or column.endswith("_p")):
            return "<0.0001" if value < 1e-4 else f"{value:.4g}"
        return f"{value:.4f}"
    return format_cell(value)
