"""Segmentation overlap against the reference masks: per label and condition the mean ± SD and
median (IQR) of Dice, Jaccard, HD95 and the volumes, and paired tests between conditions.

The record's ``overlap`` table holds one row per case x condition x label, computed by
:mod:`stats.overlap` when the masks were imported (the masks themselves are not in the
record). Each case is one pair unit: for two conditions a and b, the differences
``a - b`` of a metric over the cases with a defined value under both are tested with

* the Wilcoxon signed-rank test (:func:`stats.classical.wilcoxon`: scipy's exact
  distribution without ties or zeros and at most 50 pairs, else the exact conditional
  distribution or the normal approximation; Wilcoxon 1945), with Holm's adjustment over
  the comparisons of one label and metric (Holm 1979; it changes nothing with two
  conditions);
* the paired t-test (:func:`stats.classical.paired_t`, ``scipy.stats.ttest_rel``; Student 1908)
  with the mean difference and its confidence interval.

An undefined value (e.g. Dice of a case where both masks are empty, see
:mod:`stats.overlap`) leaves that case out of the metric's summary and tests.
"""

import math
from collections import defaultdict
from itertools import combinations

import numpy as np

from ..classical import holm, paired_t, wilcoxon
from ..matching import natural_key
from ..overlap import summary
from ..study_record import StudyRecord
from .table import Cell, Part, Table, num, pair_name

#: The metrics of the tables (columns of the record's ``overlap`` table), in order.
OVERLAP_METRICS = (
    "dice",
    "jaccard",
    "hd95_mm",
    "volume_ml",
    "volume_difference_ml",
    "relative_volume_difference_percent",
)

SUMMARY_COLUMNS = ("label", "metric", "condition", "n", "mean", "sd", "median", "q1", "q3")
TEST_COLUMNS = (
    "label",
    "metric",
    "comparison",
    "n",
    "mean_difference",
    "sd_difference",
    "ci_lower",
    "ci_upper",
    "t",
    "df",
    "p_t",
    "median_difference",
    "wilcoxon_w",
    "p_wilcoxon",
    "p_wilcoxon_holm",
    "wilcoxon_method",
)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _label_order(record: StudyRecord) -> list[str]:
    seen: dict[str, None] = {}
    for row in record.overlap:
        seen.setdefault(row["label"], None)
    return sorted(seen, key=natural_key)


def _tests(values: dict[tuple[str, str], float], conditions: list[str], conf: float) -> list[dict[str, Cell]]:
    """Paired Wilcoxon and t rows of every pair of conditions over the cases defined under both."""
    rows: list[dict[str, Cell]] = []
    cases = sorted({case for case, _ in values}, key=natural_key)
    for a, b in combinations(conditions, 2):
        both = [c for c in cases if (c, a) in values and (c, b) in values]
        if len(both) < 2:
            continue
        first = np.array([values[(c, a)] for c in both])
        second = np.array([values[(c, b)] for c in both])
        t = paired_t(first, second, confidence=conf)
        w = wilcoxon(first, second)
        d = first - second
        rows.append(
            {
                "comparison": pair_name(a, b),
                "n": len(both),
                "mean_difference": num(t.estimate),
                "sd_difference": num(d.std(ddof=1)),
                "ci_lower": num(t.ci[0]),
                "ci_upper": num(t.ci[1]),
                "t": num(t.statistic),
                "df": num(t.df),
                "p_t": num(t.pvalue),
                "median_difference": num(w.median_difference),
                "wilcoxon_w": num(w.statistic),
                "p_wilcoxon": num(w.pvalue),
                "p_wilcoxon_holm": None,
                "wilcoxon_method": w.method,
            }
        )
    if rows:
        adjusted = holm([float(r["p_wilcoxon"]) for r in rows])  # type: ignore[arg-type]
        for row, p in zip(rows, adjusted, strict=True):
            row["p_wilcoxon_holm"] = num(p)
    return rows


def overlap_part(record: StudyRecord) -> Part:
    """``overlap`` (summary per label x metric x condition) and ``overlap_tests`` (paired tests
    between conditions per label x metric); empty when the record has no overlap rows."""
    if not record.overlap:
        return Part()
    conf = record.settings.confidence
    present = {row["condition"] for row in record.overlap}
    conditions = [c for c in record.condition_ids if c in present]
    conditions += sorted(present - set(conditions), key=natural_key)
    by_label_metric: dict[tuple[str, str], dict[tuple[str, str], float]] = defaultdict(dict)
    for row in record.overlap:
        for metric in OVERLAP_METRICS:
            if _finite(row[metric]):
                by_label_metric[(row["label"], metric)][(row["case"], row["condition"])] = row[metric]
    summary_rows: list[dict[str, Cell]] = []
    test_rows: list[dict[str, Cell]] = []
    for label in _label_order(record):
        for metric in OVERLAP_METRICS:
            values = by_label_metric.get((label, metric), {})
            for condition in conditions:
                described = summary([v for (_, c), v in values.items() if c == condition])
                if described["n"]:
                    summary_rows.append(
                        {"label": label, "metric": metric, "condition": condition, **described}
                    )
            test_rows += [
                {"label": label, "metric": metric, **row} for row in _tests(values, conditions, conf)
            ]
    undefined = sum(1 for row in record.overlap for m in ("dice", "hd95_mm") if not _finite(row[m]))
    notes = ["Each case is one pair: its masks under both conditions against the same reference mask."]
    if undefined:
        notes.append(
            f"{undefined} Dice or HD95 value(s) are undefined (an empty mask) and left out of the tests."
        )
    return Part(
        tables=(
            Table(
                name="overlap",
                title="Segmentation overlap with the reference masks per label and condition",
                columns=SUMMARY_COLUMNS,
                rows=tuple(summary_rows),
                notes=(
                    "Dice, Jaccard, HD95 (the larger of the two directed 95th-percentile surface "
                    "distances, mm; Taha & Hanbury 2015) and volumes (mL) of each condition's mask "
                    "against the case's reference mask; mean ± SD and median (quartiles).",
                ),
            ),
            Table(
                name="overlap_tests",
                title="Segmentation overlap between conditions (paired over cases: Wilcoxon, paired t)",
                columns=TEST_COLUMNS,
                rows=tuple(test_rows),
                notes=tuple(notes),
            ),
        )
    )
