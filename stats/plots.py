"""Plots of a study's results as SVG text (matplotlib, no display needed).

* :func:`operating_curves_svg`: empirical ROC, AFROC and wAFROC curves per condition,
  averaged over readers with a pointwise 95% band (:func:`stats.curves.averaged_curves`:
  vertical averaging, Chen & Samuelson, Br J Radiol 87, 2014; stratified case bootstrap of
  ``PLOT_N_BOOT`` resamples, seed 0). :func:`operating_points` gives the readers-pooled
  operating points (Chakraborty, *Observer Performance Methods for Diagnostic Imaging*, CRC
  Press 2017: ROC ch. 3, AFROC and weighted AFROC ch. 13 and 17). Operating points are
  counted at every rating threshold ``t``: ``FPF`` is the fraction of normal cases whose
  highest mark is rated ``>= t``; ``LLF`` the fraction of lesions localised with a rating
  ``>= t``; ``wLLF`` the lesion-weighted fraction averaged over abnormal cases; the ROC
  ``TPF`` the fraction of abnormal cases whose highest mark (or case rating) is ``>= t``.
  Curves start at (0, 0) and are completed to (1, 1) by a straight line, the convention
  under which their areas are the AFROC and wAFROC figures of merit.
* :func:`likert_bars_svg`: stacked bars of Likert score distributions per condition;
  :func:`likert_plots_svg` draws one per question from a study's
  :attr:`stats.study_tables.StudyAnalysis.likert` (all readers pooled).
* :func:`fom_per_reader_svg`: the figure of merit per reader and condition with
  jackknife 95% intervals (``FOM -/+ 1.96 SE``, the case-deletion jackknife standard error,
  Efron 1982), and the reader average with its RRRC interval.

Every function returns SVG text with fixed ids and no date, so that one result gives one
file.
"""

import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from .curves import averaged_curves
from .dataset import ReaderStudy
from .fom import Jackknife
from .mrmc import MRMCResult
from .tables.likert import ALL_READERS, LikertCounts

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
#: Bootstrap resamples of the plotted curves' bands (a page's plots are drawn on request).
PLOT_N_BOOT = 200


def _svg(figure: Figure) -> str:
    with matplotlib.rc_context({"svg.hashsalt": "readerstudy", "svg.fonttype": "none"}):
        out = io.StringIO()
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    return out.getvalue()


def _thresholds(*arrays: np.ndarray) -> np.ndarray:
    values = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    return np.unique(values)[::-1]


def operating_points(data: ReaderStudy, modality: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Empirical (x, y) operating points of one modality, readers pooled (see the module docstring).

    ROC data gives ``{"ROC": ...}``; FROC data ``{"ROC", "AFROC", "wAFROC"}``. Each curve
    starts at (0, 0) and ends at (1, 1).
    """
    i, k1 = modality, data.k1
    normal_high = data.nl[i, :, :k1].max(axis=2)  # [J, K1]
    if data.kind == "ROC":
        abnormal_high = data.ll[i, :, :, 0]
    else:
        abnormal_high = np.maximum(data.nl[i, :, k1:].max(axis=2), data.ll[i].max(axis=2))  # [J, K2]
    thresholds = _thresholds(normal_high, abnormal_high, data.ll[i])
    fpf = np.array([(normal_high >= t).mean() for t in thresholds])
    curves = {"ROC": (fpf, np.array([(abnormal_high >= t).mean() for t in thresholds]))}
    if data.kind == "FROC":
        n_lesions = data.lesions_per_case.sum() * data.ll.shape[1]
        llf = np.array([(data.ll[i] >= t).sum() / n_lesions for t in thresholds])
        wllf = np.array([((data.ll[i] >= t) * data.weights[None]).sum(axis=2).mean() for t in thresholds])
        curves["AFROC"] = (fpf, llf)
        curves["wAFROC"] = (fpf, wllf)
    return {name: (np.r_[0.0, x, 1.0], np.r_[0.0, y, 1.0]) for name, (x, y) in curves.items()}


def operating_curves_svg(data: ReaderStudy, roc: ReaderStudy | None = None) -> str:
    """Reader-averaged ROC (from ``roc`` when given, e.g. case ratings from a question), AFROC
    and wAFROC curves of every condition, each with its pointwise 95% bootstrap band (drawn
    as a shaded area with the SVG id ``band-<curve>-<condition index>``)."""
    panels = ["ROC", "AFROC", "wAFROC"] if data.kind == "FROC" else ["ROC"]
    figure = Figure(figsize=(4.0 * len(panels), 4.0))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    curves = {
        name: {
            c.modality: c
            for c in averaged_curves(
                roc if name == "ROC" and roc is not None else data, name, n_boot=PLOT_N_BOOT
            )
        }
        for name in panels
    }
    for i, condition in enumerate(data.modality_ids):
        colour = COLOURS[i % len(COLOURS)]
        for ax, name in zip(axes, panels, strict=True):
            curve = curves[name].get(condition)
            if curve is None:  # a condition without case ratings in ``roc``
                continue
            ax.fill_between(
                curve.x,
                curve.lower,
                curve.upper,
                color=colour,
                alpha=0.18,
                linewidth=0,
                gid=f"band-{name}-{i}",
            )
            ax.plot(curve.x, curve.y, color=colour, label=condition)
    labels = {"ROC": ("FPF", "TPF"), "AFROC": ("FPF", "LLF"), "wAFROC": ("FPF", "wLLF")}
    for ax, name in zip(axes, panels, strict=True):
        ax.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=0.8, linestyle=":")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel=labels[name][0],
            ylabel=labels[name][1],
            title=f"{name} (reader average, 95% band)",
        )
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize=8)
    return _svg(figure)


def likert_bars_svg(
    question: str, conditions: Sequence[str], points: Sequence[int], counts: Sequence[Sequence[int]]
) -> str:
    """Stacked bars of one Likert question: ``counts[c][p]`` readings of condition c scored ``points[p]``."""
    figure = Figure(figsize=(6.0, 0.6 + 0.45 * len(conditions)))
    ax = figure.subplots()
    cmap = matplotlib.colormaps["RdYlGn"]
    shares = np.array(counts, dtype=float)
    totals = shares.sum(axis=1, keepdims=True)
    shares = np.divide(shares, totals, out=np.zeros_like(shares), where=totals > 0)
    left = np.zeros(len(conditions))
    for p, point in enumerate(points):
        colour = cmap(p / max(len(points) - 1, 1))
        ax.barh(list(conditions), shares[:, p], left=left, color=colour, edgecolor="white", label=str(point))
        for c in range(len(conditions)):
            if shares[c, p] >= 0.06:
                ax.text(
                    left[c] + shares[c, p] / 2,
                    c,
                    str(int(counts[c][p])),
                    ha="center",
                    va="center",
                    fontsize=8,
                )
        left += shares[:, p]
    ax.set(xlim=(0, 1), xlabel="share of readings", title=question)
    ax.invert_yaxis()
    ax.legend(
        title="score",
        ncols=len(points),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35),
        fontsize=8,
        frameon=False,
    )
    return _svg(figure)


def likert_plots_svg(distribution: Sequence[LikertCounts]) -> list[str]:
    """One :func:`likert_bars_svg` per question, of the readers pooled (reader ``All``), in order."""
    questions: dict[str, list[LikertCounts]] = {}
    for counts in distribution:
        if counts.reader == ALL_READERS:
            questions.setdefault(counts.question, []).append(counts)
    return [
        likert_bars_svg(question, [c.condition for c in rows], rows[0].points, [c.counts for c in rows])
        for question, rows in questions.items()
    ]


def fom_per_reader_svg(
    jk: Jackknife, result: MRMCResult, *, option: str = "RRRC", z: float = 1.959963984540054
) -> str:
    """The FOM of each reader and condition with jackknife intervals, and the reader average."""
    foms = result.foms  # [I, J]
    n_k = jk.values.shape[2]
    se = np.sqrt((n_k - 1) / n_k * ((jk.values - jk.values.mean(axis=2, keepdims=True)) ** 2).sum(axis=2))
    readers = [*result.reader_ids, "Average"]
    estimates = {e.modality: e for e in result.tests[option].modality_estimates}
    figure = Figure(figsize=(max(4.0, 0.9 * len(readers) + 1.5), 3.6))
    ax = figure.subplots()
    n_i = len(result.modality_ids)
    for i, condition in enumerate(result.modality_ids):
        offset = (i - (n_i - 1) / 2) * 0.18
        x = np.arange(len(readers)) + offset
        e = estimates[condition]
        y = np.r_[foms[i], e.estimate]
        low = np.r_[foms[i] - z * se[i], e.ci[0]]
        high = np.r_[foms[i] + z * se[i], e.ci[1]]
        ax.errorbar(
            x,
            y,
            yerr=[y - low, high - y],
            fmt="o",
            capsize=3,
            color=COLOURS[i % len(COLOURS)],
            label=condition,
        )
    ax.set_xticks(range(len(readers)), readers)
    ax.set(ylabel=result.fom_name, title=f"{result.fom_name} per reader (95% CI; average: {option})")
    top = max(1.0, float(np.nanmax(foms)) if foms.size else 1.0)
    ax.set_ylim(
        max(0.0, float(np.nanmin(foms)) - 0.25) if foms.size and math.isfinite(np.nanmin(foms)) else 0.0,
        top + 0.02,
    )
    ax.legend(fontsize=8)
    return _svg(figure)
