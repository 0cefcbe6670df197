"""Every analysis table of a reader study, computed from its :class:`~stats.study_record.StudyRecord`.

One function, :func:`analyse_study`, turns the raw record (readings, answers, marks,
reference, measurements) into the tables of the published study designs. Each section is
a module of :mod:`stats.tables` that returns its own tables, computed by the tested
functions of ``stats``:

* detection (studies with lesion marks): marks matched to the reference lesions
  (:mod:`stats.tables.marks`, :mod:`stats.matching`); the JAFROC figure of merit (wAFROC by
  default) per reader x condition and its Obuchowski-Rockette analysis, RRRC, FRRC and RRFC
  (:mod:`stats.tables.jafroc`; Chakraborty 2017, ch. 9-11); ROC AUC per reader with DeLong
  intervals and tests (:mod:`stats.tables.roc`); lesion sensitivity overall and by size with
  per-reader McNemar tests (:mod:`stats.tables.sensitivity`); per-case sensitivity and
  specificity with their OR analysis as binary endpoints, false positives per case with
  paired t-tests (:mod:`stats.tables.per_case`);
* Likert items: score distributions, Wilcoxon signed-rank (two conditions) or Friedman
  with Holm-adjusted pairwise Wilcoxon tests (three or more), weighted kappa and ICC(2,1)
  (:mod:`stats.tables.likert`);
* findings against an external reference (e.g. arthroscopy): sensitivity, specificity and
  AUC per reader and condition, McNemar and DeLong tests between conditions
  (:mod:`stats.tables.external`);
* objective measurements (FWHM, edge rise, SNR, CNR, contrast ratio) and image fidelity
  (PSNR, SSIM, RMSE): mean and SD per condition (over all ROIs and per region) and paired
  t-tests between conditions (:mod:`stats.tables.measurements`); DESS T2 maps against the
  reference's: Lin's CCC and CV% per case, over cases and pooled, paired t-tests (:mod:`stats.tables.t2`);
* case characteristics (case attributes such as age and sex) between normal and abnormal
  cases or another grouping: t-tests, Fisher's exact and chi-square tests
  (:mod:`stats.tables.characteristics`);
* segmentation overlap with reference masks (Dice, Jaccard, HD95, volumes): per label and
  condition, Wilcoxon signed-rank and paired t-tests between conditions
  (:mod:`stats.tables.overlap`);
* comparative readings ("A vs B" questions, conditions side by side): preference shares with
  Wilson intervals and sign tests, the Wilcoxon signed-rank test of the A/B scale against 0,
  in condition order, per reader and pooled (:mod:`stats.tables.comparative`,
  :mod:`stats.comparative`); they use every submitted comparative answer;
* standalone algorithms (the record's ``standalone_*`` tables, never readers of the analyses
  above): each algorithm's FOM against the readers' mean on the cases of the detection
  analysis, by RJafroc's StCadVsRad methods (:mod:`stats.tables.standalone`, :mod:`stats.cad`).

Only cases that every reader read (submitted) under every condition enter the paired and
MRMC analyses; the ``design`` table lists what was left out and why. Such an incomplete crossed
study also gets the case-level ROC AUC on every submitted reading (``roc_all_reads``,
``roc_all_reads_auc``: the U-statistic analysis of :mod:`stats.ustat`, Gallas 2006/2008), which
the ``design`` table points to; it is the only case-level analysis when no case is complete
(e.g. a reader has not started). A split-plot study
(reader groups reading disjoint case subsets, :mod:`stats.tables.split_plot`) is analysed
instead by the split-plot OR analysis of its JAFROC figure of merit
(:mod:`stats.splitplot`), each group on the cases all its readers read; the tables that
need cases read by every reader (ROC, sensitivity, per-case, Likert, external reference)
are left out of it with a note. A study is taken as split-plot when its readers fall
into two or more such groups and its schedule (the record's provenance) is split-plot or
unknown: a crossed study part-way through its first session stays crossed. Each table is a
:class:`stats.tables.Table` (named columns, rows by column name) that the platform shows
in the order of :data:`SECTIONS`, exports as CSV and XLSX, and that
``python -m stats tables BUNDLE`` re-creates from the bundle.
"""

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .dataset import DatasetError, ReaderStudy
from .fom import Jackknife
from .matching import MarkMatch
from .mrmc import MRMCResult
from .study_record import StudyRecord
from .tables.characteristics import characteristics_part
from .tables.comparative import comparative_part
from .tables.design import complete_cases, design_part
from .tables.external import external_part
from .tables.jafroc import Jafroc, jafroc_part
from .tables.likert import Likert, LikertCounts, likert_part
from .tables.marks import Matching, matching_part
from .tables.measurements import fidelity_part, measurements_part
from .tables.overlap import overlap_part
from .tables.per_case import case_detection_mrmc_part, case_detection_part, false_positives_part
from .tables.roc import Roc, all_cases, roc_all_reads_part, roc_part
from .tables.sensitivity import sensitivity_part
from .tables.split_plot import (
    ReaderGroup,
    SplitPlotDetection,
    design_rows,
    reader_groups,
    split_plot_detection_part,
)
from .tables.standalone import SPLIT_PLOT_NOTE as STANDALONE_SPLIT_PLOT_NOTE
from .tables.standalone import StandaloneComparison, standalone_part
from .tables.t2 import t2_part
from .tables.table import Cell, Part, Table


@dataclass(frozen=True, kw_only=True)
class Section:
    """A heading of the results page and report, and its tables by name, in order."""

    key: str
    title: str
    tables: tuple[str, ...]


#: The sections of the results page and report; tables a study lacks are skipped.
SECTIONS = (
    Section(key="design", title="Design", tables=("design",)),
    Section(
        key="characteristics",
        title="Case characteristics",
        tables=("case_characteristics", "case_characteristic_tests"),
    ),
    Section(
        key="jafroc",
        title="Lesion detection: JAFROC",
        tables=("jafroc_fom", "jafroc_conditions", "jafroc_tests"),
    ),
    Section(
        key="roc",
        title="Case-level ROC",
        tables=("roc_auc", "roc_auc_tests", "roc_mrmc", "roc_all_reads", "roc_all_reads_auc"),
    ),
    Section(
        key="standalone",
        title="Standalone algorithm against the readers",
        tables=("standalone_fom", "standalone_vs_readers"),
    ),
    Section(
        key="lesions",
        title="Sensitivity, specificity and false positives",
        tables=(
            "sensitivity",
            "sensitivity_tests",
            "case_detection",
            "case_detection_mrmc",
            "false_positives",
            "false_positive_tests",
        ),
    ),
    Section(
        key="likert",
        title="Likert items",
        tables=("likert_distribution", "likert_tests", "likert_agreement"),
    ),
    Section(
        key="comparative",
        title="Comparative readings (A vs B)",
        tables=("comparative_preference", "comparative_scale", "comparative_tests"),
    ),
    Section(
        key="diagnostic",
        title="Against the external reference",
        tables=("diagnostic", "diagnostic_tests"),
    ),
    Section(
        key="measurements",
        title="Objective image quality",
        tables=(
            "measurements",
            "measurement_tests",
            "measurements_by_region",
            "measurement_region_tests",
            "fidelity",
            "fidelity_tests",
            "t2_agreement",
            "t2_agreement_tests",
        ),
    ),
    Section(key="overlap", title="Segmentation overlap", tables=("overlap", "overlap_tests")),
    Section(key="matches", title="Marks matched to lesions", tables=("lesion_matches",)),
)

#: Tables too long to show whole: how many of their first rows a page shows (the CSV has all).
PREVIEW_ROWS = {"lesion_matches": 25}

NO_READINGS = (
    "No case has been read (submitted) by every reader under every condition yet: "
    "there are no readings to analyse."
)
NO_COMPLETE_CASES = (
    "No case has been read (submitted) by every reader under every condition yet: the paired and "
    "MRMC analyses have no cases; roc_all_reads analyses the case-level ROC on the submitted readings."
)


@dataclass(frozen=True, kw_only=True)
class StudyAnalysis:
    """All tables of a study, plus the objects plots and exports are drawn from."""

    tables: dict[str, Table] = field(default_factory=dict)
    froc: ReaderStudy | None = None
    roc: ReaderStudy | None = None
    mrmc: MRMCResult | None = None
    jackknife: Jackknife | None = None
    matches: tuple[MarkMatch, ...] = ()
    likert: tuple[LikertCounts, ...] = ()  # the numbers of ``likert_distribution``, for its plots
    included_cases: tuple[str, ...] = ()
    standalone: tuple[StandaloneComparison, ...] = ()  # each algorithm x condition compared
    notes: tuple[str, ...] = ()


def _detection_parts(record: StudyRecord, matching: Matching) -> tuple[list[Part], Jafroc | None, Roc | None]:
    """The sections computed from the FROC data of the matched marks."""
    froc, settings = matching.froc, record.settings
    parts: list[Part] = [matching]
    jafroc = roc = None
    if froc.k1 < 2 or froc.k2 < 2:
        note = (
            f"The JAFROC and ROC analyses need at least two normal and two abnormal cases read by everyone; "
            f"there are {froc.k1} and {froc.k2}."
        )
        parts.append(Part(notes=(note,)))
    else:
        jafroc = jafroc_part(settings, froc)
        roc = roc_part(record, froc)
        parts += [jafroc, roc]
    parts += [
        sensitivity_part(record, froc),
        case_detection_part(settings, froc),
        case_detection_mrmc_part(settings, froc),
        false_positives_part(settings, froc),
    ]
    return parts, jafroc, roc


def _tables(parts: Iterable[Part]) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    for table in (t for part in parts for t in part.tables):
        if table.name in tables:
            raise ValueError(f"Two analysis tables are named {table.name!r}.")
        tables[table.name] = table
    return tables


def analyse_study(record: StudyRecord) -> StudyAnalysis:
    """Every table of the study (see the module docstring); problems become notes, not errors.

    A part that cannot be computed (e.g. too few cases for JAFROC) is left out with a note
    in ``notes`` saying why; bad data (a mark outside the study) raises ``DatasetError``.
    """
    groups = reader_groups(record)
    schedule_kind = (record.provenance.get("schedule") or {}).get("kind")
    if len(groups) > 1 and schedule_kind in (None, "split_plot"):
        return _split_plot_analysis(record, groups)
    complete, left_out = complete_cases(record)
    parts: list[Part] = []
    matching: Matching | None = None
    jafroc: Jafroc | None = None
    roc: Roc | None = None
    all_reads: Part | None = None
    likert = Likert()
    has_marks = bool(record.lesions or record.marks or record.study.get("mark_scale"))
    if not complete:
        if has_marks and record.readings:  # e.g. a reader has not started: the others' readings
            all_reads = _all_reads_part(record, None)
        ready = all_reads is not None and bool(all_reads.tables)
        parts.append(Part(notes=(NO_COMPLETE_CASES if ready else NO_READINGS,)))
        if all_reads is not None:
            parts.append(all_reads)
    else:
        if has_marks:
            matching = matching_part(record, complete)
            detection, jafroc, roc = _detection_parts(record, matching)
            parts += detection
            if left_out:
                all_reads = _all_reads_part(record, matching)
                parts.append(all_reads)
        likert = likert_part(record, complete)
        parts += [likert, external_part(record, complete)]
    standalone = standalone_part(record, matching.froc if matching else None)
    parts.append(standalone)
    parts += [measurements_part(record), fidelity_part(record), t2_part(record), characteristics_part(record)]
    parts.append(overlap_part(record))
    parts.append(comparative_part(record))
    parts.insert(0, design_part(record, complete, left_out, _incomplete_rows(left_out, all_reads)))
    return StudyAnalysis(
        tables=_tables(parts),
        froc=matching.froc if matching else None,
        roc=roc.roc if roc else None,
        mrmc=jafroc.mrmc if jafroc else None,
        jackknife=jafroc.jackknife if jafroc else None,
        matches=matching.matches if matching else (),
        likert=likert.distribution,
        included_cases=tuple(complete),
        standalone=standalone.comparisons,
        notes=tuple(note for part in parts for note in part.notes),
    )


def _all_reads_part(record: StudyRecord, complete: Matching | None) -> Part:
    """The case-level ROC on every submitted reading of an incomplete crossed study (``roc_all_reads``).

    The marks of every read case are matched to the lesions as those of the complete cases are
    (:func:`stats.tables.marks.matching_part`; its table and notes are the complete cases' already).
    """
    readers, conditions = set(record.reader_ids), set(record.condition_ids)
    ours = dataclasses.replace(  # the readings and marks of the study's readers and conditions
        record,
        readings=[r for r in record.readings if r["reader"] in readers and r["condition"] in conditions],
        marks=[m for m in record.marks if m["reader"] in readers and m["condition"] in conditions],
    )
    try:
        every = matching_part(ours, all_cases(ours))
    except DatasetError as exc:
        return Part(
            notes=(f"The case-level ROC analysis on all readings (roc_all_reads) is left out: {exc}",)
        )
    complete_readings = int(np.prod(complete.froc.shape)) if complete is not None else 0
    return roc_all_reads_part(ours, every.froc, complete_readings=complete_readings)


def _incomplete_rows(left_out: list[str], all_reads: Part | None) -> tuple[dict[str, Cell], ...]:
    """The ``design`` row of an incomplete crossed study: how many cases, and which table uses them."""
    if not left_out:
        return ()
    detail = "left out of the paired and MRMC analyses (see the notes)"
    if all_reads is not None and all_reads.tables:
        detail += "; roc_all_reads (Case-level ROC) analyses every submitted reading"
    return (
        {
            "item": "incomplete: cases not read by every reader in every condition",
            "count": len(left_out),
            "detail": detail,
        },
    )


SPLIT_PLOT_LEFT_OUT = (
    "Split-plot study ({n} reader groups reading disjoint case subsets): the case-level ROC, "
    "sensitivity, per-case, Likert and external-reference tables need cases read by every reader "
    "and are left out; the JAFROC figure of merit is analysed by the split-plot OR analysis."
)


def _split_plot_analysis(record: StudyRecord, groups: list[ReaderGroup]) -> StudyAnalysis:
    """The tables of a split-plot study (see the module docstring)."""
    complete = [case for g in groups for case in g.cases]
    left_out = [note for g in groups for note in g.left_out]
    # No case is read by every reader: the design table says so, and each group's count follows.
    parts: list[Part] = [design_part(record, [], left_out, design_rows(groups))]
    detection: SplitPlotDetection | None = None
    if record.lesions or record.marks or record.study.get("mark_scale"):
        detection = split_plot_detection_part(record, groups)
        parts.append(detection)
    parts.append(Part(notes=(SPLIT_PLOT_LEFT_OUT.format(n=len(groups)),)))
    if record.standalone_marks or record.standalone_ratings:
        parts.append(Part(notes=(STANDALONE_SPLIT_PLOT_NOTE,)))
    parts += [measurements_part(record), fidelity_part(record), t2_part(record), characteristics_part(record)]
    parts.append(overlap_part(record))
    parts.append(comparative_part(record))
    return StudyAnalysis(
        tables=_tables(parts),
        mrmc=detection.mrmc if detection else None,
        matches=detection.matches if detection else (),
        included_cases=tuple(complete),
        notes=tuple(note for part in parts for note in part.notes),
    )


def tables_csv(analysis: StudyAnalysis) -> dict[str, str]:
    """``tables/<name>.csv`` -> CSV text of every table (what a bundle carries and re-creates)."""
    return {f"tables/{name}.csv": table.csv() for name, table in analysis.tables.items()}
