"""Mark-to-lesion matching: readers' marks classified as lesion or non-lesion localisations.

In the FROC paradigm a reader marks suspicious regions with a confidence rating; each
mark is scored against the truth by a *proximity criterion* (Chakraborty, *Observer
Performance Methods for Diagnostic Imaging*, CRC Press 2017, §12.3-12.4; Chakraborty &
Berbaum, Med Phys 31(8), 2004): a mark within the *acceptance radius* of a true lesion
is a lesion localisation (LL), any other mark a non-lesion localisation (NL). A lesion
counts at most once, with the rating of the highest-rated mark that localised it; an
unmarked lesion is rated "absent" (``-inf``, :data:`stats.dataset.NO_MARK`).

The rules here, in patient coordinates (mm):

* acceptance radius of a lesion: a fixed ``radius_mm`` when the study sets one, else
  ``max(size_factor * size_mm, min_radius_mm)``, i.e. tied to the lesion's measured
  diameter (by default its own radius, but never below 3 mm, about two slice spacings
  of a thin-slice series, the positional uncertainty of a click);
* on one case, marks and lesions are paired one to one so that (1) as many lesions as
  possible are localised, (2) among those pairings, the sum of the localising marks'
  rating ranks is largest (each lesion takes its highest-rated mark), (3) then the total
  distance is smallest (a mark between two lesions goes to the nearer). This is an
  assignment problem, solved exactly by :func:`scipy.optimize.linear_sum_assignment`;
* a mark within a lesion's radius whose lesion was already localised by a higher-rated
  mark is a *duplicate*: by default it is discarded (neither LL nor NL, as the FROC
  convention of scoring a lesion once, Chakraborty 2017 §12.4), or counted as an NL
  with ``duplicates="nl"``;
* every mark on a case without lesions is an NL.

The result of a whole study is a :class:`stats.dataset.ReaderStudy` of kind ``FROC``, so
every analysis of ``stats`` applies (:func:`froc_study`), together with the list of
decisions, one per mark (:class:`MarkMatch`), for the analysis tables and exports.
"""

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .dataset import NO_MARK, DatasetError, ReaderStudy, equal_weights, roc_study

LL, NL, DUPLICATE = "LL", "NL", "duplicate"


@dataclass(frozen=True, kw_only=True)
class TrueLesion:
    """A lesion of the reference standard: where it is (mm), how large, how important."""

    case: str
    lesion: str
    position: tuple[float, float, float]
    size_mm: float
    weight: float | None = None  # clinical weight for wAFROC; equal weights when None


@dataclass(frozen=True, kw_only=True)
class Mark:
    """A reader's mark on a case read under a modality (condition), with its rating."""

    modality: str
    reader: str
    case: str
    position: tuple[float, float, float]
    rating: float
    mark: str = ""  # an id, to trace the decision back


@dataclass(frozen=True, kw_only=True)
class AcceptanceRule:
    """The proximity criterion (see the module docstring): a fixed radius or one tied to size."""

    radius_mm: float | None = None
    size_factor: float = 0.5
    min_radius_mm: float = 3.0

    def __post_init__(self) -> None:
        if self.radius_mm is not None and not self.radius_mm > 0:
            raise ValueError(f"The acceptance radius must be positive, got {self.radius_mm}.")
        if not self.size_factor > 0 or self.min_radius_mm < 0:
            raise ValueError("size_factor must be positive and min_radius_mm non-negative.")

    def radius(self, size_mm: float) -> float:
        """The acceptance radius (mm) of a lesion of diameter ``size_mm``."""
        if self.radius_mm is not None:
            return float(self.radius_mm)
        return max(self.size_factor * float(size_mm), self.min_radius_mm)

    def describe(self) -> str:
        if self.radius_mm is not None:
            return f"within {self.radius_mm:g} mm of the lesion centre"
        return (
            f"within max({self.size_factor:g} x lesion diameter, {self.min_radius_mm:g} mm) "
            "of the lesion centre"
        )


@dataclass(frozen=True, kw_only=True)
class MarkMatch:
    """What one mark was scored as: ``LL`` (with its lesion), ``NL`` or ``duplicate``."""

    mark: Mark
    outcome: str
    lesion: str | None
    distance_mm: float | None  # to the nearest lesion of the case (None on a normal case)


def natural_key(text: object) -> tuple:
    """Sort key that orders "C2" before "C10" (digit runs compared as numbers)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", str(text))
        if part
    )


def _rank(ratings: np.ndarray) -> np.ndarray:
    """Dense ranks 1..n of the ratings (equal ratings, equal rank)."""
    _, inverse = np.unique(ratings, return_inverse=True)
    return inverse + 1.0


def match_case(
    lesions: Sequence[TrueLesion],
    marks: Sequence[Mark],
    rule: AcceptanceRule = AcceptanceRule(),
    *,
    duplicates: str = "discard",
) -> list[MarkMatch]:
    """Score the marks of one reader on one case read under one modality (same order as ``marks``).

    See the module docstring for the rules. ``duplicates`` is ``"discard"`` (default) or
    ``"nl"``.
    """
    if duplicates not in ("discard", "nl"):
        raise ValueError(f'duplicates must be "discard" or "nl", got {duplicates!r}.')
    if not marks:
        return []
    if not lesions:
        return [MarkMatch(mark=m, outcome=NL, lesion=None, distance_mm=None) for m in marks]
    points = np.array([m.position for m in marks], dtype=float)
    centres = np.array([lesion.position for lesion in lesions], dtype=float)
    if not (np.all(np.isfinite(points)) and np.all(np.isfinite(centres))):
        raise DatasetError("Marks and lesions need finite patient coordinates to be matched.")
    distance = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)  # [marks, lesions]
    radius = np.array([rule.radius(lesion.size_mm) for lesion in lesions])
    eligible = distance <= radius[None, :]

    # Lexicographic objective as one weight per pair: 1 per localised lesion dominates the
    # rating ranks (scaled below 1 in total), which dominate the closeness term.
    n = min(len(marks), len(lesions)) + 1
    rank = _rank(np.array([m.rating for m in marks], dtype=float))
    rank_scale = 1.0 / (n * (rank.max() + 1.0))
    closeness_scale = rank_scale / (n + 1.0)
    gain = 1.0 + rank[:, None] * rank_scale + (1.0 - distance / radius[None, :]) * closeness_scale
    gain = np.where(eligible, gain, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    assigned = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if eligible[r, c]}

    result = []
    for index, mark in enumerate(marks):
        nearest = float(distance[index].min())
        if index in assigned:
            result.append(
                MarkMatch(
                    mark=mark,
                    outcome=LL,
                    lesion=lesions[assigned[index]].lesion,
                    distance_mm=float(distance[index, assigned[index]]),
                )
            )
        elif eligible[index].any() and duplicates == "discard":
            result.append(MarkMatch(mark=mark, outcome=DUPLICATE, lesion=None, distance_mm=nearest))
        else:
            result.append(MarkMatch(mark=mark, outcome=NL, lesion=None, distance_mm=nearest))
    return result


def match_marks(
    lesions: Iterable[TrueLesion],
    marks: Iterable[Mark],
    rule: AcceptanceRule = AcceptanceRule(),
    *,
    duplicates: str = "discard",
) -> list[MarkMatch]:
    """Score every mark of a study (grouped by modality, reader and case; see :func:`match_case`)."""
    by_case: dict[str, list[TrueLesion]] = defaultdict(list)
    for lesion in lesions:
        by_case[lesion.case].append(lesion)
    groups: dict[tuple[str, str, str], list[Mark]] = defaultdict(list)
    for mark in marks:
        groups[(mark.modality, mark.reader, mark.case)].append(mark)
    result = []
    for (_, _, case), group in groups.items():
        result.extend(match_case(by_case.get(case, []), group, rule, duplicates=duplicates))
    return result


def lesions_by_case(lesions: Iterable[TrueLesion]) -> dict[str, list[TrueLesion]]:
    """Each case's lesions in natural order of their ids (the LL slot order of :func:`froc_study`)."""
    by_case: dict[str, list[TrueLesion]] = defaultdict(list)
    for lesion in lesions:
        by_case[lesion.case].append(lesion)
    for case, case_lesions in by_case.items():
        case_lesions.sort(key=lambda lesion: natural_key(lesion.lesion))
        labels = [lesion.lesion for lesion in case_lesions]
        if len(set(labels)) != len(labels):
            raise DatasetError(f"Case {case} has two lesions with one id.")
    return dict(by_case)


def froc_study(
    lesions: Iterable[TrueLesion],
    marks: Iterable[Mark],
    *,
    modalities: Sequence[str],
    readers: Sequence[str],
    cases: Sequence[str],
    rule: AcceptanceRule = AcceptanceRule(),
    duplicates: str = "discard",
    name: str = "",
) -> tuple[ReaderStudy, list[MarkMatch]]:
    """The FROC dataset of a study from its reference lesions and readers' marks.

    ``cases`` are all cases read (by every reader in every modality); those with lesions
    are abnormal, the others normal (ordered normal first, each group in natural order of
    their ids, the layout of :class:`~stats.dataset.ReaderStudy`). NL ratings of a
    reader's case are sorted from highest; LL slots follow :func:`lesions_by_case` (the
    lesions' natural order), and ``lesion_ids`` number them 1, 2, ... in that order.
    Lesion weights are the lesions' ``weight`` normalised to sum to 1 per case, or equal
    when a case's lesions have none. Marks on modalities, readers or cases not listed
    are an error (so nothing is dropped silently).
    """
    lesions = list(lesions)
    marks = list(marks)
    modality_index = {m: i for i, m in enumerate(modalities)}
    reader_index = {r: j for j, r in enumerate(readers)}
    if len(modality_index) != len(modalities) or len(reader_index) != len(readers):
        raise DatasetError("Modality and reader ids must be distinct.")
    by_case = lesions_by_case(lesions)
    unknown = set(by_case) - set(cases)
    if unknown:
        raise DatasetError(
            f"Lesions on cases that were not read: {', '.join(sorted(unknown, key=natural_key))}."
        )
    normal = sorted((c for c in cases if c not in by_case), key=natural_key)
    abnormal = sorted((c for c in cases if c in by_case), key=natural_key)
    case_index = {c: k for k, c in enumerate([*normal, *abnormal])}
    if len(case_index) != len(cases):
        raise DatasetError("Case ids must be distinct.")
    for mark in marks:
        if (
            mark.modality not in modality_index
            or mark.reader not in reader_index
            or mark.case not in case_index
        ):
            raise DatasetError(
                f"A mark of reader {mark.reader} on case {mark.case} under {mark.modality} "
                "is outside the study."
            )

    matches = match_marks(lesions, marks, rule, duplicates=duplicates)
    nl_lists: dict[tuple[int, int, int], list[float]] = defaultdict(list)
    ll_ratings: dict[tuple[int, int, str, str], float] = {}
    for match in matches:
        mark = match.mark
        i, j = modality_index[mark.modality], reader_index[mark.reader]
        if match.outcome == NL:
            nl_lists[(i, j, case_index[mark.case])].append(float(mark.rating))
        elif match.outcome == LL and match.lesion is not None:  # an LL always names its lesion
            ll_ratings[(i, j, mark.case, match.lesion)] = float(mark.rating)

    n_i, n_j, k1, k2 = len(modalities), len(readers), len(normal), len(abnormal)
    max_nl = max((len(v) for v in nl_lists.values()), default=0) or 1
    max_ll = max((len(by_case[c]) for c in abnormal), default=0) or 1
    nl = np.full((n_i, n_j, k1 + k2, max_nl), NO_MARK)
    for (i, j, k), ratings in nl_lists.items():
        nl[i, j, k, : len(ratings)] = sorted(ratings, reverse=True)
    ll = np.full((n_i, n_j, k2, max_ll), NO_MARK)
    lesion_ids = np.zeros((k2, max_ll), dtype=int)
    lesions_per_case = np.array([len(by_case[c]) for c in abnormal], dtype=int)
    weights = equal_weights(lesions_per_case, max_ll) if k2 else np.zeros((0, max_ll))
    for k, case in enumerate(abnormal):
        case_lesions = by_case[case]
        given = [lesion.weight for lesion in case_lesions if lesion.weight is not None]
        if len(given) == len(case_lesions):
            total = float(sum(given))
            if total <= 0 or any(w < 0 for w in given):
                raise DatasetError(
                    f"The lesion weights of case {case} must be non-negative with a positive sum."
                )
            weights[k, : len(given)] = [w / total for w in given]
        for slot, lesion in enumerate(case_lesions):
            lesion_ids[k, slot] = slot + 1
            for i in range(n_i):
                for j in range(n_j):
                    ll[i, j, k, slot] = ll_ratings.get((i, j, case, lesion.lesion), NO_MARK)
    study = ReaderStudy(
        kind="FROC",
        modality_ids=tuple(modalities),
        reader_ids=tuple(readers),
        k1=k1,
        nl=nl,
        ll=ll,
        lesions_per_case=lesions_per_case,
        weights=weights,
        lesion_ids=lesion_ids,
        case_ids=(*normal, *abnormal),
        name=name,
    )
    return study, matches


def roc_from_froc(data: ReaderStudy) -> ReaderStudy:
    """The ROC dataset implied by FROC data: each case rated by its highest mark.

    The "highest rating" inferred ROC rating (Chakraborty 2017, §13.5; RJafroc's
    ``DfFroc2Roc``): a case's rating is the highest of its NL and LL ratings, ``-inf`` when
    it has no marks (all unmarked cases tie below every marked one).
    """
    if data.kind != "FROC":
        raise DatasetError("roc_from_froc needs FROC data.")
    case_max = data.nl.max(axis=3)
    if data.k2:
        case_max[:, :, data.k1 :] = np.maximum(case_max[:, :, data.k1 :], data.ll.max(axis=3))
    return roc_study(case_max, data.k1, data.modality_ids, data.reader_ids, data.case_ids, data.name)
