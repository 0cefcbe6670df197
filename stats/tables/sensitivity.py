"""Lesion sensitivity per reader and condition, overall and by lesion-size stratum (Wilson CI,
:func:`stats.lesions.sensitivity_by_size`), and McNemar tests between conditions per reader
(McNemar, Psychometrika 12, 1947; :func:`stats.classical.mcnemar`).

A lesion is detected by a reader when a mark localises it; with the setting
``detection_min_rating`` = k only a mark rated >= k counts (:func:`detected`), as in reader
studies whose lowest confidence level means "not present" (e.g. a lesion counted as
detected at confidence >= 2 on a 4-point scale, with McNemar on those per-lesion detections).
"""

from itertools import combinations

import numpy as np

from ..classical import mcnemar
from ..dataset import ReaderStudy
from ..lesions import sensitivity_by_size
from ..matching import lesions_by_case
from ..study_record import StudyRecord
from .marks import true_lesions
from .table import Cell, Part, Table, num, pair_name


def detected(ratings: np.ndarray, min_rating: float | None = None) -> np.ndarray:
    """Which ratings are detections: any mark (a finite rating, -inf = unmarked) or, with
    ``min_rating``, a mark rated at least that. ``ratings`` are FROC LL (or NL) ratings: the
    highest rating of the marks that localise each lesion (:mod:`stats.matching`)."""
    if min_rating is None:
        return np.isfinite(ratings)
    return np.isfinite(ratings) & (ratings >= min_rating)


def sensitivity_part(record: StudyRecord, froc: ReaderStudy) -> Part:
    """``sensitivity`` and ``sensitivity_tests`` (nothing without abnormal cases)."""
    if froc.k2 == 0:
        return Part()
    settings = record.settings
    conf = settings.confidence
    by_case = lesions_by_case(true_lesions(record, set(froc.case_ids)))
    mask = froc.lesion_mask
    sizes = np.array(
        [by_case[froc.case_ids[froc.k1 + k]][slot].size_mm for k, slot in zip(*np.nonzero(mask), strict=True)]
    )
    conditions = list(froc.modality_ids)
    rows: list[dict[str, Cell]] = []
    tests: list[dict[str, Cell]] = []
    for j, reader in enumerate(froc.reader_ids):
        hits = [detected(froc.ll[i, j], settings.detection_min_rating)[mask] for i in range(len(conditions))]
        for i, condition in enumerate(conditions):
            result = sensitivity_by_size(hits[i], sizes, settings.size_strata, confidence=conf)
            rows += [
                {
                    "reader": reader,
                    "condition": condition,
                    "size": s.label,
                    "detected": s.n_detected,
                    "lesions": s.n_lesions,
                    "sensitivity": num(s.sensitivity),
                    "ci_lower": num(s.ci[0]),
                    "ci_upper": num(s.ci[1]),
                }
                for s in (result.overall, *result.strata)
            ]
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
                    {
                        "reader": reader,
                        "comparison": pair_name(conditions[a], conditions[b]),
                        "size": label,
                        "lesions": int(inside.sum()),
                        "first_only": t.first_only,
                        "second_only": t.second_only,
                        "difference": num(t.estimate),
                        "p": num(t.pvalue),
                        "method": t.method,
                    }
                )
    return Part(
        tables=(
            Table(
                name="sensitivity",
                title="Lesion sensitivity per reader and condition, overall and by lesion size (Wilson CI)",
                columns=(
                    "reader",
                    "condition",
                    "size",
                    "detected",
                    "lesions",
                    "sensitivity",
                    "ci_lower",
                    "ci_upper",
                ),
                rows=tuple(rows),
                notes=(
                    "A lesion is detected when a mark localises it (see lesion_matches).",
                    settings.detection_note(),
                ),
            ),
            Table(
                name="sensitivity_tests",
                title="Lesion sensitivity between conditions per reader (McNemar)",
                columns=(
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
                rows=tuple(tests),
                notes=(settings.detection_note(),),
            ),
        )
    )
