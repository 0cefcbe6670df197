"""Likert items: score distributions per reader and condition, tests between conditions and
inter-reader agreement.

* Two conditions: Wilcoxon signed-rank test (Wilcoxon, Biometrics Bull 1, 1945); three or
  more: Friedman test (Friedman, JASA 32, 1937) with pairwise Wilcoxon tests, Holm-adjusted
  (Holm, Scand J Stat 6, 1979); see :mod:`stats.classical`.
* Agreement: weighted Cohen's kappa per pair of readers (Cohen, Psychol Bull 70, 1968) and
  ICC(2,1) (Shrout & Fleiss, Psychol Bull 86:420-428, 1979); see :mod:`stats.agreement`.

Besides its tables the section gives the distributions as numbers (:class:`LikertCounts`),
which the plots are drawn from.
"""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..agreement import cohen_kappa, icc
from ..classical import friedman, wilcoxon
from ..study_record import AnalysisSettings, StudyRecord
from .table import Cell, Part, Table, num, pair_name

#: The pseudo-reader whose rows pool every reader.
ALL_READERS = "All"

#: Answers by (question, condition, reader, case).
Values = dict[tuple[str, str, str, str], int | None]


@dataclass(frozen=True, kw_only=True)
class LikertCounts:
    """How often one reader (or ``All``) scored each point of a question under a condition."""

    question: str
    reader: str
    condition: str
    points: tuple[int, ...]
    counts: tuple[int, ...]  # readings per point, in the order of ``points``
    n: int  # readings scored (a score off the scale is counted here, not in ``counts``)
    median: float
    mean: float


@dataclass(frozen=True, kw_only=True)
class Likert(Part):
    """The Likert tables and the score distributions behind ``likert_distribution``."""

    distribution: tuple[LikertCounts, ...] = ()


def _counts(
    question: str, points: tuple[int, ...], reader: str, condition: str, scores: list[int]
) -> LikertCounts:
    return LikertCounts(
        question=question,
        reader=reader,
        condition=condition,
        points=points,
        counts=tuple(scores.count(p) for p in points),
        n=len(scores),
        median=float(np.median(scores)) if scores else math.nan,
        mean=float(np.mean(scores)) if scores else math.nan,
    )


def answer_unit(answer: dict) -> str:
    """What an answer is about: its case, or ``case/lesion`` for a question about a chosen lesion."""
    return f"{answer['case']}/{answer['lesion']}" if answer.get("lesion") else answer["case"]


def lesion_units(record: StudyRecord, question: str, cases: Sequence[str]) -> list[str]:
    """The ``case/lesion`` units answered for a question about chosen lesions, by case order;
    empty for a question about the case."""
    order = {case: i for i, case in enumerate(cases)}
    units = {
        (a["case"], a["lesion"])
        for a in record.answers
        if a["question"] == question and a.get("lesion") and a["case"] in order
    }
    return [f"{case}/{lesion}" for case, lesion in sorted(units, key=lambda u: (order[u[0]], u[1]))]


#: Question kinds analysed as ordinal ratings of a condition: Likert scales, and a comparative
#: "test against the labelled reference" scale (its answer is about the one blinded test condition).
LIKERT_KINDS = ("likert", "reference_scale")


def likert_part(record: StudyRecord, cases: list[str]) -> Likert:
    """``likert_distribution``, ``likert_tests`` and (two readers or more) ``likert_agreement``."""
    settings = record.settings
    conditions, readers = record.condition_ids, record.reader_ids
    questions = [q for q in record.questions if q["kind"] in LIKERT_KINDS]
    if not questions:
        return Likert()
    value: Values = {
        (a["question"], a["condition"], a["reader"], answer_unit(a)): a["value"] for a in record.answers
    }
    distribution: list[LikertCounts] = []
    tests: list[dict[str, Cell]] = []
    agreement: list[dict[str, Cell]] = []
    for q in questions:
        key = q["question"]
        points = tuple(p["value"] for p in json.loads(q["scale"] or "[]"))
        units = lesion_units(record, key, cases) or cases
        for reader in [*readers, ALL_READERS]:
            group = readers if reader == ALL_READERS else [reader]
            for condition in conditions:
                scores = [value.get((key, condition, r, unit)) for r in group for unit in units]
                given = [s for s in scores if s is not None]
                distribution.append(_counts(key, points, reader, condition, given))
        tests.extend(_tests(key, value, conditions, readers, units))
        agreement.extend(_agreement(key, value, conditions, readers, units, list(points), settings))
    tables = [
        Table(
            name="likert_distribution",
            title="Likert scores per reader and condition (counts per scale point)",
            columns=("question", "reader", "condition", "scale_points", "counts", "n", "median", "mean"),
            rows=tuple(
                {
                    "question": d.question,
                    "reader": d.reader,
                    "condition": d.condition,
                    "scale_points": "/".join(str(p) for p in d.points),
                    "counts": "/".join(str(c) for c in d.counts),
                    "n": d.n,
                    "median": d.median,
                    "mean": d.mean,
                }
                for d in distribution
            ),
            notes=("counts lists how many readings scored each point, in the order of scale_points.",),
        ),
        Table(
            name="likert_tests",
            title="Likert scores between conditions "
            "(Wilcoxon signed-rank; Friedman with Holm-adjusted pairwise Wilcoxon)",
            columns=("question", "reader", "test", "comparison", "n", "statistic", "p", "p_holm"),
            rows=tuple(tests),
            notes=(
                "Paired by case (by case and reader for All); a question about chosen lesions is "
                "paired by case and lesion; cases missing an answer in any condition are left out "
                "of that test.",
            ),
        ),
    ]
    if agreement:
        tables.append(
            Table(
                name="likert_agreement",
                title=f"Inter-reader agreement on Likert scores "
                f"({settings.kappa_weights}-weighted kappa, ICC(2,1))",
                columns=(
                    "question",
                    "condition",
                    "measure",
                    "readers",
                    "n",
                    "estimate",
                    "ci_lower",
                    "ci_upper",
                ),
                rows=tuple(agreement),
            )
        )
    return Likert(tables=tuple(tables), distribution=tuple(distribution))


def _paired_scores(
    key: str, value: Values, conditions: Sequence[str], readers: Sequence[str], cases: Sequence[str]
) -> list[np.ndarray]:
    units = [(r, c) for r in readers for c in cases]
    complete = [u for u in units if all(value.get((key, cond, *u)) is not None for cond in conditions)]
    return [np.array([value[(key, cond, *u)] for u in complete], dtype=float) for cond in conditions]


def _tests(
    key: str, value: Values, conditions: Sequence[str], readers: Sequence[str], cases: Sequence[str]
) -> list[dict[str, Cell]]:
    rows: list[dict[str, Cell]] = []
    if len(conditions) < 2:
        return rows
    for reader in [*readers, ALL_READERS]:
        group = readers if reader == ALL_READERS else [reader]
        scores = _paired_scores(key, value, conditions, group, cases)
        n = int(scores[0].size)
        if n == 0:
            continue
        unit: dict[str, Cell] = {"question": key, "reader": reader, "n": n}
        if len(conditions) == 2:
            pair: dict[str, Cell] = {
                **unit,
                "test": "Wilcoxon signed-rank",
                "comparison": pair_name(*conditions),
            }
            if not np.any(scores[0] != scores[1]):
                rows.append({**pair, "statistic": math.nan, "p": 1.0, "p_holm": None})
                continue
            t = wilcoxon(scores[0], scores[1])
            rows.append({**pair, "statistic": num(t.statistic), "p": num(t.pvalue), "p_holm": None})
            continue
        if n < 2:
            continue
        f = friedman(*scores, names=conditions)
        rows.append(
            {
                **unit,
                "test": "Friedman",
                "comparison": "all conditions",
                "statistic": num(f.statistic),
                "p": num(f.pvalue),
                "p_holm": None,
            }
        )
        rows += [
            {
                **unit,
                "test": "Wilcoxon signed-rank",
                "comparison": pair_name(post.first, post.second),
                "statistic": num(post.test.statistic),
                "p": num(post.test.pvalue),
                "p_holm": num(post.pvalue_holm),
            }
            for post in f.posthoc
        ]
    return rows


def _agreement(
    key: str,
    value: Values,
    conditions: Sequence[str],
    readers: Sequence[str],
    cases: Sequence[str],
    points: list[int],
    settings: AnalysisSettings,
) -> list[dict[str, Cell]]:
    rows: list[dict[str, Cell]] = []
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
                {
                    "question": key,
                    "condition": condition,
                    "measure": f"kappa ({settings.kappa_weights})",
                    "readers": f"{readers[a]} vs {readers[b]}",
                    "n": scores.shape[0],
                    "estimate": num(k.estimate),
                    "ci_lower": num(k.ci[0]),
                    "ci_upper": num(k.ci[1]),
                }
            )
        if np.ptp(scores) > 0:
            result = icc(scores, "ICC(2,1)", confidence=conf)
            rows.append(
                {
                    "question": key,
                    "condition": condition,
                    "measure": "ICC(2,1)",
                    "readers": "all",
                    "n": scores.shape[0],
                    "estimate": num(result.estimate),
                    "ci_lower": num(result.ci[0]),
                    "ci_upper": num(result.ci[1]),
                }
            )
    return rows
