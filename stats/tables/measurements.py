"""Objective measurements (FWHM, edge rise, SNR, CNR) and image fidelity (PSNR, SSIM, RMSE):
mean and SD per condition, and paired t-tests between conditions (:func:`stats.classical.paired_t`).
"""

import math
from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations

import numpy as np

from ..classical import paired_t
from ..matching import natural_key
from ..study_record import StudyRecord
from .table import Cell, Part, Table, num, pair_name

#: The fidelity metrics of the record, in table order.
FIDELITY_METRICS = ("psnr", "ssim", "rmse", "psnr_tissue", "ssim_tissue")


def _paired_by_condition(
    values: dict[tuple[str, str], float], conditions: Sequence[str], units: list[str], conf: float
) -> tuple[list[dict[str, Cell]], list[dict[str, Cell]]]:
    """Summary rows (condition, n, mean, sd) and paired t rows over ``units`` present in both."""
    summary: list[dict[str, Cell]] = []
    tests: list[dict[str, Cell]] = []
    for c in conditions:
        v = np.array([values[(u, c)] for u in units if (u, c) in values], dtype=float)
        if v.size:
            summary.append(
                {
                    "condition": c,
                    "n": int(v.size),
                    "mean": num(v.mean()),
                    "sd": num(v.std(ddof=1)) if v.size > 1 else math.nan,
                }
            )
    for a, b in combinations(conditions, 2):
        both = [u for u in units if (u, a) in values and (u, b) in values]
        if len(both) < 2:
            continue
        t = paired_t([values[(u, a)] for u in both], [values[(u, b)] for u in both], confidence=conf)
        tests.append(
            {
                "comparison": pair_name(a, b),
                "n": len(both),
                "mean_difference": num(t.estimate),
                "ci_lower": num(t.ci[0]),
                "ci_upper": num(t.ci[1]),
                "t": num(t.statistic),
                "df": num(t.df),
                "p": num(t.pvalue),
            }
        )
    return summary, tests


def measurements_part(record: StudyRecord) -> Part:
    """``measurements`` and ``measurement_tests``: each ROI of each case is one unit."""
    if not record.measurements:
        return Part()
    conf = record.settings.confidence
    by_metric: dict[tuple[str, str], dict[tuple[str, str], float]] = defaultdict(dict)
    for row in record.measurements:
        if row["value"] is None or not math.isfinite(row["value"]):
            continue
        unit = f"{row['case']}/{row['roi']}"
        by_metric[(row["kind"], row["metric"])][(unit, row["condition"])] = row["value"]
    summary_rows: list[dict[str, Cell]] = []
    test_rows: list[dict[str, Cell]] = []
    for (kind, metric), values in sorted(by_metric.items()):
        units = sorted({u for u, _ in values}, key=natural_key)
        summary, tests = _paired_by_condition(values, record.condition_ids, units, conf)
        summary_rows += [{"kind": kind, "metric": metric, **row} for row in summary]
        test_rows += [{"kind": kind, "metric": metric, **row} for row in tests]
    return Part(
        tables=(
            Table(
                name="measurements",
                title="Objective image-quality measurements per condition",
                columns=("kind", "metric", "condition", "n", "mean", "sd"),
                rows=tuple(summary_rows),
            ),
            Table(
                name="measurement_tests",
                title="Measurements between conditions (paired t-test over ROIs)",
                columns=(
                    "kind",
                    "metric",
                    "comparison",
                    "n",
                    "mean_difference",
                    "ci_lower",
                    "ci_upper",
                    "t",
                    "df",
                    "p",
                ),
                rows=tuple(test_rows),
                notes=("Each ROI of each case is one pair: the same ROI measured on both conditions.",),
            ),
        )
    )


def fidelity_part(record: StudyRecord) -> Part:
    """``fidelity`` and ``fidelity_tests`` against the reference condition(s); each case is one unit."""
    if not record.fidelity:
        return Part()
    conf = record.settings.confidence
    reference = sorted({row["reference"] for row in record.fidelity})
    conditions = [c for c in record.condition_ids if c not in reference]
    summary_rows: list[dict[str, Cell]] = []
    test_rows: list[dict[str, Cell]] = []
    for metric in FIDELITY_METRICS:
        values = {
            (row["case"], row["condition"]): row[metric]
            for row in record.fidelity
            if row[metric] is not None and math.isfinite(row[metric])
        }
        units = sorted({u for u, _ in values}, key=natural_key)
        summary, tests = _paired_by_condition(values, conditions, units, conf)
        summary_rows += [{"metric": metric, **row} for row in summary]
        test_rows += [{"metric": metric, **row} for row in tests]
    return Part(
        tables=(
            Table(
                name="fidelity",
                title=f"Image fidelity against {', '.join(reference)} per condition",
                columns=("metric", "condition", "n", "mean", "sd"),
                rows=tuple(summary_rows),
            ),
            Table(
                name="fidelity_tests",
                title="Image fidelity between conditions (paired t-test over cases)",
                columns=(
                    "metric",
                    "comparison",
                    "n",
                    "mean_difference",
                    "ci_lower",
                    "ci_upper",
                    "t",
                    "df",
                    "p",
                ),
                rows=tuple(test_rows),
            ),
        )
    )
