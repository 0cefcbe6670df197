"""Objective measurements (FWHM, edge rise, SNR, CNR) and image fidelity (PSNR, SSIM, RMSE):
mean and SD per condition, and paired t-tests between conditions (:func:`stats.classical.paired_t`),
over every ROI (``measurements``) and per named region (``measurements_by_region``).

A circle ROI has its mean, SD and SNR = mean / SD (as measured: :func:`sr_engine.roi.snr`). An ROI pair (A the
structure, B the background or reference tissue; the record's ``roi_pairs``) has its CNR by
the formula of the setting ``cnr_formula`` (:func:`cnr_value`) and, for the pairs named in
``contrast_ratio_pairs``, the contrast ratio m_A / m_B (:func:`contrast_ratio`).
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

#: The metric name of a pair's CNR under each ``cnr_formula`` (``cnr`` is the platform's own).
CNR_METRICS = {"background_sd": "cnr", "pooled_sd": "cnr_pooled_sd"}

#: What each CNR formula is, for the tables' notes.
CNR_FORMULA_TEXT = {
    "background_sd": "CNR = |m_A - m_B| / SD_B (region B, the background, gives the noise)",
    "pooled_sd": "CNR = |m_A - m_B| / sqrt((SD_A^2 + SD_B^2) / 2) (metric cnr_pooled_sd)",
}


def cnr_value(
    mean_a: float, sd_a: float, mean_b: float, sd_b: float, formula: str = "background_sd"
) -> float:
    """Contrast-to-noise ratio of region A (the structure) against region B (the background).

    * ``background_sd``: |m_A - m_B| / SD_B, the background's SD as the noise (Bushberg,
      Seibert, Leidholdt and Boone, *The Essential Physics of Medical Imaging*, 3rd ed.,
      2012, ch. 4); what the platform measures (:func:`sr_engine.roi.cnr`);
    * ``pooled_sd``: |m_A - m_B| / sqrt((SD_A^2 + SD_B^2) / 2), the root mean square of the two
      regions' SDs as the noise: the definition of the published brain-metastasis
      super-resolution reader study, CNR = (SI_CSF - SI_BRAIN) / sqrt((SD_BRAIN^2 + SD_CSF^2) / 2).

    Sign: both are the magnitude of the contrast (the platform's convention), so A and B may
    be given in either order for ``pooled_sd``; the study's signed form equals it whenever
    SI_CSF >= SI_BRAIN. NaN when the noise SD is not positive.
    """
    if formula == "background_sd":
        noise = float(sd_b)
    elif formula == "pooled_sd":
        noise = math.sqrt((float(sd_a) ** 2 + float(sd_b) ** 2) / 2)
    else:
        raise ValueError(f"Unknown CNR formula {formula!r}: background_sd or pooled_sd.")
    if not (math.isfinite(noise) and noise > 0):
        return math.nan
    return abs(float(mean_a) - float(mean_b)) / noise


def contrast_ratio(mean_a: float, mean_b: float) -> float:
    """Contrast ratio of region A to region B, m_A / m_B (e.g. the lesion-to-brain contrast ratio
    SI_lesion / SI_brain of the brain-metastasis super-resolution reader study); 1 means no
    contrast. NaN when m_B is 0."""
    return float(mean_a) / float(mean_b) if float(mean_b) != 0 else math.nan


def _pair_measurements(record: StudyRecord) -> tuple[list[dict], list[str]]:
    """The record's measurements with the pairs' CNR by ``cnr_formula`` and their contrast ratios,
    and notes on what could not be computed."""
    settings = record.settings
    formula = settings.cnr_formula
    circles: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for row in record.measurements:
        if row["kind"] == "circle" and row["value"] is not None:
            circles[(row["case"], row["condition"], row["roi"])][row["metric"]] = row["value"]
    rows = list(record.measurements)
    notes: list[str] = []
    defined = {(p["case"], p["pair"]) for p in record.roi_pairs}
    if formula != "background_sd":
        stored = {(r["case"], r["roi"]) for r in rows if r["kind"] == "cnr" and r["metric"] == "cnr"}
        rows = [r for r in rows if not (r["kind"] == "cnr" and r["metric"] == "cnr")]
        if lacking := sorted(stored - defined, key=lambda cp: (natural_key(cp[0]), cp[1])):
            notes.append(
                f"Left out of the CNR ({formula}): the record does not say which ROIs form "
                + ", ".join(f"{case} {pair}" for case, pair in lacking)
                + "."
            )
    ratio_pairs = set(settings.contrast_ratio_pairs)
    if unknown := sorted(ratio_pairs - {p["pair"] for p in record.roi_pairs}):
        notes.append(
            "No ROI pair is named " + ", ".join(repr(n) for n in unknown) + " (contrast_ratio_pairs)."
        )
    conditions = sorted({r["condition"] for r in record.measurements})
    for pair in record.roi_pairs:
        for condition in record.condition_ids or conditions:
            a = circles.get((pair["case"], condition, pair["roi_a"]), {})
            b = circles.get((pair["case"], condition, pair["roi_b"]), {})
            if "mean" not in a or "mean" not in b:
                continue
            key = {"case": pair["case"], "condition": condition, "roi": pair["pair"], "kind": "cnr"}
            if formula != "background_sd" and "sd" in a and "sd" in b:
                value = cnr_value(a["mean"], a["sd"], b["mean"], b["sd"], formula)
                rows.append({**key, "metric": CNR_METRICS[formula], "value": value})
            if pair["pair"] in ratio_pairs:
                rows.append(
                    {**key, "metric": "contrast_ratio", "value": contrast_ratio(a["mean"], b["mean"])}
                )
    return rows, notes


def _measurement_notes(record: StudyRecord) -> tuple[str, ...]:
    notes = [
        "SNR = mean / SD of one circle ROI. "
        + CNR_FORMULA_TEXT[record.settings.cnr_formula]
        + ", over the circles A (structure) and B (background) of each ROI pair."
    ]
    if record.settings.contrast_ratio_pairs:
        notes.append(
            "Contrast ratio = m_A / m_B for the pairs "
            + ", ".join(record.settings.contrast_ratio_pairs)
            + "."
        )
    return tuple(notes)


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
    """``measurements`` and ``measurement_tests`` (each ROI of each case is one unit), and
    ``measurements_by_region`` and ``measurement_region_tests`` (per ROI name; each case is one unit)."""
    if not record.measurements:
        return Part()
    conf = record.settings.confidence
    measurements, part_notes = _pair_measurements(record)
    by_metric: dict[tuple[str, str], dict[tuple[str, str], float]] = defaultdict(dict)
    by_region: dict[tuple[str, str, str], dict[tuple[str, str], float]] = defaultdict(dict)
    for row in measurements:
        if row["value"] is None or not math.isfinite(row["value"]):
            continue
        unit = f"{row['case']}/{row['roi']}"
        by_metric[(row["kind"], row["metric"])][(unit, row["condition"])] = row["value"]
        by_region[(row["roi"], row["kind"], row["metric"])][(row["case"], row["condition"])] = row["value"]
    summary_rows: list[dict[str, Cell]] = []
    test_rows: list[dict[str, Cell]] = []
    for (kind, metric), values in sorted(by_metric.items()):
        units = sorted({u for u, _ in values}, key=natural_key)
        summary, tests = _paired_by_condition(values, record.condition_ids, units, conf)
        summary_rows += [{"kind": kind, "metric": metric, **row} for row in summary]
        test_rows += [{"kind": kind, "metric": metric, **row} for row in tests]
    region_rows: list[dict[str, Cell]] = []
    region_tests: list[dict[str, Cell]] = []
    for (region, kind, metric), values in sorted(
        by_region.items(), key=lambda item: (natural_key(item[0][0]), item[0][1], item[0][2])
    ):
        units = sorted({u for u, _ in values}, key=natural_key)
        summary, tests = _paired_by_condition(values, record.condition_ids, units, conf)
        region_rows += [{"region": region, "kind": kind, "metric": metric, **row} for row in summary]
        region_tests += [{"region": region, "kind": kind, "metric": metric, **row} for row in tests]
    notes = _measurement_notes(record)
    return Part(
        notes=tuple(part_notes),
        tables=(
            Table(
                name="measurements",
                title="Objective image-quality measurements per condition",
                columns=("kind", "metric", "condition", "n", "mean", "sd"),
                rows=tuple(summary_rows),
                notes=notes,
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
            Table(
                name="measurements_by_region",
                title="Measurements per region (ROI name) and condition",
                columns=("region", "kind", "metric", "condition", "n", "mean", "sd"),
                rows=tuple(region_rows),
                notes=(
                    *notes,
                    "A region is the ROIs (or ROI pairs) of one name across cases; n counts cases.",
                ),
            ),
            Table(
                name="measurement_region_tests",
                title="Measurements per region between conditions (paired t-test over cases)",
                columns=(
                    "region",
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
                rows=tuple(region_tests),
            ),
        ),
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
