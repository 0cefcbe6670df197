"""Agreement of DESS T2 maps with the reference condition's map: per case, mean over cases and
pooled, and paired tests between conditions.

The record's ``t2_agreement`` rows hold, per case x condition x region (the tissue mask or a
circle ROI), the voxel-wise agreement of the condition's T2 map with the reference's (e.g. HR):
Lin's concordance correlation coefficient with its 95 % interval and the root-mean-square
within-voxel CV%, and the mean T2 of both maps over the voxels compared
(``sr_engine.dess.t2_agreement``). The published DESS super-resolution study reported such
agreement as Lin's CCC and CV%. The table ``t2_agreement`` gives, per region and condition:

* one row per case (``n`` = voxels): the stored voxel-wise values;
* ``case = "mean"`` (``n`` = cases): the mean over cases of the per-case CCC, CV% and mean T2;
* ``case = "pooled"`` (``n`` = cases): the agreement of the cases' mean T2 under the condition
  with the reference's, each case one subject measured twice: Lin's CCC with its interval
  (Lin, Biometrics 45:255-268, 1989; :func:`stats.agreement.concordance_correlation`) and the
  root-mean-square within-subject CV% (Glueer et al., Osteoporos Int 5:262-270, 1995;
  :func:`stats.agreement.within_subject_cv`).

``t2_agreement_tests`` compares conditions by paired t-tests over cases
(:func:`stats.classical.paired_t`) of the per-case CCC, CV% and mean T2.
"""

import math
from collections import defaultdict

import numpy as np

from ..agreement import concordance_correlation, within_subject_cv
from ..matching import natural_key
from ..study_record import StudyRecord
from .measurements import _paired_by_condition
from .table import Cell, Part, Table, num

#: The per-case values compared between conditions, in table order.
T2_TEST_METRICS = ("ccc", "cv_percent", "mean_t2_ms")

T2_COLUMNS = (
    "region",
    "condition",
    "case",
    "n",
    "ccc",
    "ccc_lower",
    "ccc_upper",
    "cv_percent",
    "mean_t2_ms",
    "reference_mean_t2_ms",
)

T2_TEST_COLUMNS = (
    "region",
    "metric",
    "comparison",
    "n",
    "mean_difference",
    "ci_lower",
    "ci_upper",
    "t",
    "df",
    "p",
)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _region_key(region: str) -> tuple:
    """The tissue mask first, then the ROIs by name."""
    return (region != "tissue", natural_key(region))


def pooled_t2_agreement(
    reference_means: list[float], condition_means: list[float], confidence: float = 0.95
) -> dict[str, float]:
    """Lin's CCC (with its interval) and the RMS within-subject CV% of the cases' mean T2 under a
    condition against the reference's (the module docstring); NaN where fewer than three cases
    (CCC) or two (CV%) have both."""
    x = np.asarray(reference_means, dtype=float)
    y = np.asarray(condition_means, dtype=float)
    nan = math.nan
    out = {"ccc": nan, "ccc_lower": nan, "ccc_upper": nan, "cv_percent": nan}
    if x.size >= 3:
        ccc = concordance_correlation(x, y, confidence=confidence)
        out.update(ccc=float(ccc.estimate), ccc_lower=float(ccc.ci[0]), ccc_upper=float(ccc.ci[1]))
    if x.size >= 1:
        out["cv_percent"] = within_subject_cv(np.stack([x, y], axis=1)).cv_percent
    return out


def t2_part(record: StudyRecord) -> Part:
    """``t2_agreement`` and ``t2_agreement_tests`` (see the module docstring)."""
    if not record.t2_agreement:
        return Part()
    confidence = record.settings.confidence
    reference = sorted({row["reference"] for row in record.t2_agreement})
    conditions = [c for c in record.condition_ids if c not in reference]
    by_region: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in record.t2_agreement:
        if _finite(row["ccc"]) and row["condition"] in conditions:
            by_region[row["region"]][row["condition"]].append(row)
    rows: list[dict[str, Cell]] = []
    test_rows: list[dict[str, Cell]] = []
    notes: list[str] = []
    for region in sorted(by_region, key=_region_key):
        per_condition = by_region[region]
        for condition in conditions:
            cases = sorted(per_condition.get(condition, []), key=lambda r: natural_key(r["case"]))
            if not cases:
                continue
            for row in cases:
                rows.append(
                    {
                        "region": region,
                        "condition": condition,
                        "case": row["case"],
                        "n": row["n_voxels"],
                        **{k: num(row[k]) for k in T2_COLUMNS[4:]},
                    }
                )
            mean_row: dict[str, Cell] = {"region": region, "condition": condition, "case": "mean"}
            mean_row["n"] = len(cases)
            for key in T2_COLUMNS[4:]:
                finite = [row[key] for row in cases if _finite(row[key])]
                mean_row[key] = float(np.mean(finite)) if finite else math.nan
            rows.append(mean_row)
            pairs = [
                (row["reference_mean_t2_ms"], row["mean_t2_ms"])
                for row in cases
                if _finite(row["reference_mean_t2_ms"]) and _finite(row["mean_t2_ms"])
            ]
            pooled = pooled_t2_agreement([p[0] for p in pairs], [p[1] for p in pairs], confidence)
            rows.append(
                {
                    "region": region,
                    "condition": condition,
                    "case": "pooled",
                    "n": len(pairs),
                    **pooled,
                    "mean_t2_ms": mean_row["mean_t2_ms"],
                    "reference_mean_t2_ms": mean_row["reference_mean_t2_ms"],
                }
            )
            if len(pairs) < 3:
                notes.append(
                    f"T2 agreement, {region}, {condition}: the pooled CCC needs three cases; there are "
                    f"{len(pairs)}."
                )
        for metric in T2_TEST_METRICS:
            values = {
                (row["case"], condition): row[metric]
                for condition, cases in per_condition.items()
                for row in cases
                if _finite(row[metric])
            }
            units = sorted({unit for unit, _ in values}, key=natural_key)
            _, tests = _paired_by_condition(values, conditions, units, confidence)
            test_rows += [{"region": region, "metric": metric, **test} for test in tests]
    if not rows:
        return Part(notes=("No T2 map could be compared with the reference's (see the measurement page).",))
    return Part(
        notes=tuple(notes),
        tables=(
            Table(
                name="t2_agreement",
                title=f"DESS T2 agreement with {', '.join(reference)} per condition",
                columns=T2_COLUMNS,
                rows=tuple(rows),
                notes=(
                    "Per case: Lin's CCC (95 % interval) and the RMS within-voxel CV% of the T2 maps "
                    "over the region's voxels (n = voxels). mean: the mean over cases (n = cases). "
                    "pooled: Lin's CCC and the RMS within-subject CV% of the cases' mean T2 against "
                    "the reference's (n = cases).",
                ),
            ),
            Table(
                name="t2_agreement_tests",
                title="DESS T2 agreement between conditions (paired t-test over cases)",
                columns=T2_TEST_COLUMNS,
                rows=tuple(test_rows),
                notes=("Each case is one pair: its T2 maps under both conditions against the reference.",),
            ),
        ),
    )
