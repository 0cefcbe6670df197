"""Case-level ROC: AUC per reader and condition with DeLong intervals, DeLong tests between
conditions (DeLong, DeLong & Clarke-Pearson, Biometrics 44:837-845, 1988; :mod:`stats.diagnostic`) and
the Obuchowski-Rockette analysis of the Wilcoxon AUC (:func:`stats.mrmc.or_analysis`).
"""

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..dataset import NO_MARK, DatasetError, ReaderStudy, roc_study
from ..diagnostic import delong_test, roc_auc
from ..matching import roc_from_froc
from ..mrmc import OPTIONS
from ..study_record import StudyRecord
from .jafroc import (
    DIFFERENCE_COLUMNS,
    difference_cells,
    one_sided_cells,
    one_sided_columns,
    one_sided_note,
    or_or_note,
)
from .table import Cell, Part, Table, num, pair_name


@dataclass(frozen=True, kw_only=True)
class Roc(Part):
    """The ROC tables and the per-case ratings they are computed from."""

    roc: ReaderStudy


def case_ratings(record: StudyRecord, froc: ReaderStudy) -> ReaderStudy:
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


def _truth_scores(roc: ReaderStudy, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    truth = np.r_[np.zeros(roc.k1, bool), np.ones(roc.k2, bool)]
    scores = np.r_[roc.nl[i, j, : roc.k1, 0], roc.ll[i, j, :, 0]]
    # -inf (unmarked) ties with -inf; any finite stand-in below every rating keeps the order.
    finite = scores[np.isfinite(scores)]
    floor = (finite.min() if finite.size else 0.0) - 1.0
    return truth, np.where(np.isfinite(scores), scores, floor)


def roc_part(record: StudyRecord, froc: ReaderStudy) -> Roc:
    """``roc_auc`` and ``roc_auc_tests``, and ``roc_mrmc`` when the design has an OR analysis."""
    roc = case_ratings(record, froc)
    conf = record.settings.confidence
    rows: list[dict[str, Cell]] = []
    tests: list[dict[str, Cell]] = []
    conditions = list(roc.modality_ids)
    for j, reader in enumerate(roc.reader_ids):
        for i, condition in enumerate(conditions):
            truth, scores = _truth_scores(roc, i, j)
            auc = roc_auc(truth, scores, confidence=conf)
            rows.append(
                {
                    "reader": reader,
                    "condition": condition,
                    "auc": num(auc.estimate),
                    "stderr": num(auc.stderr),
                    "ci_lower": num(auc.ci[0]),
                    "ci_upper": num(auc.ci[1]),
                    "abnormal_cases": auc.n_positive,
                    "normal_cases": auc.n_negative,
                }
            )
        for a, b in combinations(range(len(conditions)), 2):
            truth, first = _truth_scores(roc, a, j)
            _, second = _truth_scores(roc, b, j)
            t = delong_test(truth, first, second, confidence=conf)
            tests.append(
                {
                    "reader": reader,
                    "comparison": pair_name(conditions[a], conditions[b]),
                    "difference": num(t.estimate),
                    "stderr": num(t.stderr),
                    "ci_lower": num(t.ci[0]),
                    "ci_upper": num(t.ci[1]),
                    "z": num(t.statistic),
                    "p": num(t.pvalue),
                }
            )
    source = (
        "the highest mark rating (unmarked cases lowest)"
        if record.settings.case_rating == "marks"
        else f"question {record.settings.case_rating!r}"
    )
    tables = [
        Table(
            name="roc_auc",
            title="ROC AUC per reader and condition (DeLong CI)",
            columns=(
                "reader",
                "condition",
                "auc",
                "stderr",
                "ci_lower",
                "ci_upper",
                "abnormal_cases",
                "normal_cases",
            ),
            rows=tuple(rows),
            notes=(f"Case ratings from {source}.",),
        ),
        Table(
            name="roc_auc_tests",
            title="ROC AUC differences per reader (DeLong test)",
            columns=("reader", "comparison", "difference", "stderr", "ci_lower", "ci_upper", "z", "p"),
            rows=tuple(tests),
        ),
    ]
    result, notes = or_or_note(roc, "Wilcoxon", None, record.settings.covariance)
    if result is not None:
        tables.append(
            Table(
                name="roc_mrmc",
                title="ROC AUC: Obuchowski-Rockette analysis (reader-averaged AUC differences, 95% CI)",
                columns=(*DIFFERENCE_COLUMNS, *one_sided_columns(record.settings)),
                rows=tuple(
                    {**difference_cells(option, d), **one_sided_cells(record.settings, d)}
                    for option in OPTIONS
                    for d in result.tests[option].differences
                ),
                notes=one_sided_note(record.settings),
            )
        )
    return Roc(tables=tuple(tables), notes=notes, roc=roc)
