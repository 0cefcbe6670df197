"""Per-case results of lesion detection: sensitivity and specificity per case (Wilson CI,
Wilson, JASA 22, 1927; :func:`stats.diagnostic.proportion`), their Obuchowski-Rockette
analysis as binary MRMC endpoints (:mod:`stats.binary`, :func:`stats.mrmc.or_analysis`), and
false positives per case with paired t-tests between conditions (:func:`stats.classical.paired_t`).
"""

import math
from itertools import combinations

from ..binary import binary_calls
from ..classical import paired_t
from ..dataset import ReaderStudy
from ..diagnostic import proportion
from ..fom import jackknife
from ..mrmc import OPTIONS
from ..study_record import AnalysisSettings
from .jafroc import (
    DIFFERENCE_COLUMNS,
    difference_cells,
    one_sided_cells,
    one_sided_columns,
    one_sided_note,
    or_or_note,
)
from .sensitivity import detected
from .table import Cell, Part, Table, num, pair_name


def case_detection_part(settings: AnalysisSettings, froc: ReaderStudy) -> Part:
    """``case_detection``: abnormal cases with a lesion localised, normal cases without marks."""
    conf = settings.confidence
    rows: list[dict[str, Cell]] = []
    for j, reader in enumerate(froc.reader_ids):
        for i, condition in enumerate(froc.modality_ids):
            k = settings.detection_min_rating
            found = int(detected(froc.ll[i, j], k).any(axis=1).sum()) if froc.k2 else 0
            clean = int((~detected(froc.nl[i, j, : froc.k1], k).any(axis=1)).sum())
            se = proportion(found, froc.k2, confidence=conf)
            sp = proportion(clean, froc.k1, confidence=conf)
            rows.append(
                {
                    "reader": reader,
                    "condition": condition,
                    "abnormal_found": found,
                    "abnormal_cases": froc.k2,
                    "sensitivity": num(se.estimate),
                    "se_ci_lower": num(se.ci_wilson[0]),
                    "se_ci_upper": num(se.ci_wilson[1]),
                    "normal_clear": clean,
                    "normal_cases": froc.k1,
                    "specificity": num(sp.estimate),
                    "sp_ci_lower": num(sp.ci_wilson[0]),
                    "sp_ci_upper": num(sp.ci_wilson[1]),
                }
            )
    table = Table(
        name="case_detection",
        title="Per-case sensitivity and specificity (Wilson CI)",
        columns=(
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
        rows=tuple(rows),
        notes=(
            "An abnormal case is found when at least one of its lesions is localised; "
            "a normal case is clear when it has no marks.",
            settings.detection_note(),
        ),
    )
    return Part(tables=(table,))


#: The binary endpoints of ``case_detection_mrmc``: (name, FOM of stats.binary).
ENDPOINTS = (("sensitivity", "HrSe"), ("specificity", "HrSp"))


def case_detection_mrmc_part(settings: AnalysisSettings, froc: ReaderStudy) -> Part:
    """``case_detection_mrmc``: the per-case sensitivity and specificity of ``case_detection``
    as MRMC endpoints, their OR analysis (RRRC, FRRC, RRFC) between conditions.

    The calls are those of ``case_detection`` (:func:`stats.binary.binary_calls` with the
    detection threshold, an abnormal case positive only through a lesion localisation), so
    each reader's FOM is the table's sensitivity or specificity. Needs two conditions and at
    least two normal and two abnormal cases (as every OR analysis here).
    """
    if froc.shape[0] < 2 or froc.k1 < 2 or froc.k2 < 2:
        return Part()
    calls = binary_calls(froc, settings.detection_min_rating, localised=True)
    rows: list[dict[str, Cell]] = []
    notes: list[str] = []
    for endpoint, fom in ENDPOINTS:
        result, why = or_or_note(calls, fom, jackknife(calls, fom), settings.covariance)
        notes += [note.replace(f"of {fom}:", f"of {endpoint}:") for note in why]
        if result is None:
            continue
        rows += [
            {"endpoint": endpoint, **difference_cells(option, d), **one_sided_cells(settings, d)}
            for option in OPTIONS
            for d in result.tests[option].differences
        ]
    if not rows:
        return Part(notes=tuple(notes))
    table = Table(
        name="case_detection_mrmc",
        title="Per-case sensitivity and specificity: Obuchowski-Rockette analysis (differences, 95% CI)",
        columns=("endpoint", *DIFFERENCE_COLUMNS, *one_sided_columns(settings)),
        rows=tuple(rows),
        notes=(
            "Each reader's sensitivity and specificity as in case_detection, analysed as MRMC figures of "
            "merit (RJafroc's HrSe and HrSp of the reader's calls; covariances by the "
            f"{settings.covariance} over abnormal cases for sensitivity, normal cases for specificity).",
            settings.detection_note(),
            *one_sided_note(settings),
        ),
    )
    return Part(tables=(table,), notes=tuple(notes))


def false_positives_part(settings: AnalysisSettings, froc: ReaderStudy) -> Part:
    """``false_positives`` (NLs per case) and ``false_positive_tests`` (paired t-tests over cases)."""
    conf = settings.confidence
    conditions = list(froc.modality_ids)
    rows: list[dict[str, Cell]] = []
    tests: list[dict[str, Cell]] = []
    for j, reader in enumerate(froc.reader_ids):
        counts = [
            detected(froc.nl[i, j], settings.detection_min_rating).sum(axis=1).astype(float)
            for i in range(len(conditions))
        ]
        for i, condition in enumerate(conditions):
            c = counts[i]
            rows.append(
                {
                    "reader": reader,
                    "condition": condition,
                    "false_positives": int(c.sum()),
                    "cases": c.size,
                    "mean_per_case": num(c.mean()),
                    "sd": num(c.std(ddof=1)) if c.size > 1 else math.nan,
                }
            )
        for a, b in combinations(range(len(conditions)) if froc.shape[2] >= 2 else (), 2):
            t = paired_t(counts[a], counts[b], confidence=conf)
            tests.append(
                {
                    "reader": reader,
                    "comparison": pair_name(conditions[a], conditions[b]),
                    "mean_difference": num(t.estimate),
                    "ci_lower": num(t.ci[0]),
                    "ci_upper": num(t.ci[1]),
                    "t": num(t.statistic),
                    "df": num(t.df),
                    "p": num(t.pvalue),
                }
            )
    return Part(
        tables=(
            Table(
                name="false_positives",
                title="False positives (non-lesion localisations) per case",
                columns=("reader", "condition", "false_positives", "cases", "mean_per_case", "sd"),
                rows=tuple(rows),
                notes=(settings.detection_note(),),
            ),
            Table(
                name="false_positive_tests",
                title="False positives per case between conditions (paired t-test over cases)",
                columns=("reader", "comparison", "mean_difference", "ci_lower", "ci_upper", "t", "df", "p"),
                rows=tuple(tests),
            ),
        )
    )
