"""The reader-study data object: ratings of modalities x readers x cases, and the truth.

The layout follows the one of Chakraborty's RJafroc (and of his book, *Observer
Performance Methods for Diagnostic Imaging*, CRC Press 2017, ch. 13), so that its
published figures of merit can be checked number for number:

* cases are ordered normal first (``k < K1``), then abnormal (``K1 <= k < K``);
* ``nl[i, j, k, m]`` is the rating of the m-th non-lesion localisation (NL) of reader
  ``j`` in modality ``i`` on case ``k``; ``ll[i, j, k2, l]`` the rating of the lesion
  localisation (LL) of lesion ``l`` of abnormal case ``k2``;
* a missing mark is ``-inf``: it compares like any number, so two missing marks tie.

ROC data is the special case with one "NL" per normal case (its rating) and one
"lesion" per abnormal case (its rating).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_MARK = -np.inf


class DatasetError(ValueError):
    """The data cannot form a reader study (bad sizes, truth or weights)."""


@dataclass(frozen=True, kw_only=True)
class ReaderStudy:
    """Ratings and truth of one reader study (see the module docstring for the layout)."""

    kind: str  # "ROC", "FROC" or "LROC"
    modality_ids: tuple[str, ...]
    reader_ids: tuple[str, ...]
    k1: int
    nl: np.ndarray  # [I, J, K, maxNL]
    ll: np.ndarray  # [I, J, K2, maxLL]
    lesions_per_case: np.ndarray  # [K2] ints >= 1
    weights: np.ndarray  # [K2, maxLL], rows sum to 1 over the case's lesions
    lesion_ids: np.ndarray | None = None  # [K2, maxLL]
    case_ids: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        i, j = len(self.modality_ids), len(self.reader_ids)
        if self.nl.ndim != 4 or self.ll.ndim != 4:
            raise DatasetError("NL and LL must be 4-dimensional [modality, reader, case, mark].")
        if self.nl.shape[:2] != (i, j) or self.ll.shape[:2] != (i, j):
            raise DatasetError("NL/LL arrays do not match the numbers of modalities and readers.")
        k2 = self.ll.shape[2]
        if self.nl.shape[2] != self.k1 + k2:
            raise DatasetError(f"NL has {self.nl.shape[2]} cases, expected K1 + K2 = {self.k1 + k2}.")
        if self.lesions_per_case.shape != (k2,) or np.any(self.lesions_per_case < 1):
            raise DatasetError("Every abnormal case needs at least one lesion.")
        if self.lesions_per_case.max(initial=0) > self.ll.shape[3]:
            raise DatasetError("A case has more lesions than LL has slots.")
        if self.weights.shape != (k2, self.ll.shape[3]):
            raise DatasetError("Lesion weights must be [K2, maxLL].")
        valid = self.lesion_mask
        if np.any(self.weights[~valid] != 0):
            raise DatasetError("Weights beyond a case's lesions must be 0.")
        if k2 and not np.allclose(self.weights.sum(axis=1), 1.0, atol=1e-6):
            raise DatasetError("The lesion weights of each abnormal case must sum to 1.")
        if np.any(self.ll[:, :, ~valid] != NO_MARK):
            raise DatasetError("LL ratings exist for lesion slots beyond a case's lesions.")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(I modalities, J readers, K cases)."""
        return len(self.modality_ids), len(self.reader_ids), self.k1 + self.k2

    @property
    def k2(self) -> int:
        return int(self.ll.shape[2])

    def subset(
        self,
        *,
        modalities: Sequence[int] | None = None,
        readers: Sequence[int] | None = None,
        normal: Sequence[int] | np.ndarray | None = None,
        abnormal: Sequence[int] | np.ndarray | None = None,
    ) -> "ReaderStudy":
        """The study restricted to some modalities, readers and (possibly repeated) normal and
        abnormal cases, given as 0-based indexes (cases within each group; all when None)."""
        mods = np.arange(self.shape[0]) if modalities is None else np.asarray(modalities, dtype=int)
        rdrs = np.arange(self.shape[1]) if readers is None else np.asarray(readers, dtype=int)
        norm = np.arange(self.k1) if normal is None else np.asarray(normal, dtype=int)
        abn = np.arange(self.k2) if abnormal is None else np.asarray(abnormal, dtype=int)
        cases = np.concatenate([norm, self.k1 + abn])
        return ReaderStudy(
            kind=self.kind,
            modality_ids=tuple(self.modality_ids[i] for i in mods),
            reader_ids=tuple(self.reader_ids[j] for j in rdrs),
            k1=len(norm),
            nl=self.nl[mods][:, rdrs][:, :, cases],
            ll=self.ll[mods][:, rdrs][:, :, abn],
            lesions_per_case=self.lesions_per_case[abn],
            weights=self.weights[abn],
            lesion_ids=None if self.lesion_ids is None else self.lesion_ids[abn],
            case_ids=tuple(self.case_ids[k] for k in cases) if self.case_ids else (),
            name=self.name,
        )

    @property
    def lesion_mask(self) -> np.ndarray:
        """[K2, maxLL]: True where the slot is a real lesion of the case."""
        return np.arange(self.ll.shape[3])[None, :] < self.lesions_per_case[:, None]


def equal_weights(lesions_per_case: np.ndarray, max_ll: int) -> np.ndarray:
    """Weights 1/n for each of a case's n lesions (the default)."""
    slots = np.arange(max_ll)[None, :] < lesions_per_case[:, None]
    return np.where(slots, 1.0 / lesions_per_case[:, None], 0.0)


def roc_study(
    ratings: np.ndarray,
    k1: int,
    modalities: Sequence[str],
    readers: Sequence[str],
    case_ids: Sequence[str] = (),
    name: str = "",
) -> ReaderStudy:
    """An ROC dataset from case ratings ``[I, J, K]`` (normal cases first, ``k1`` of them)."""
    ratings = np.asarray(ratings, dtype=float)
    n_i, n_j, n_k = ratings.shape
    k2 = n_k - k1
    nl = np.full((n_i, n_j, n_k, 1), NO_MARK)
    nl[:, :, :k1, 0] = ratings[:, :, :k1]
    ll = ratings[:, :, k1:, None].copy()
    return ReaderStudy(
        kind="ROC",
        modality_ids=tuple(modalities),
        reader_ids=tuple(readers),
        k1=k1,
        nl=nl,
        ll=ll,
        lesions_per_case=np.ones(k2, dtype=int),
        weights=np.ones((k2, 1)),
        lesion_ids=np.ones((k2, 1), dtype=int),
        case_ids=tuple(case_ids),
        name=name,
    )
