"""MRMC analysis of the ROC AUC on every read of an arbitrary design, by the unbiased U-statistic
("one-shot") variance estimator of Gallas.

References:

* B. D. Gallas, "One-shot estimate of MRMC variance: AUC", Acad Radiol 13:353-362, 2006
  (the moments M1..M8 and the coefficients c1..c8 of a fully-crossed study);
* B. D. Gallas, G. A. Pennello & K. J. Myers, "Multireader multicase variance analysis for
  binary data", JOSA A 24:B70-B80, 2007;
* B. D. Gallas & D. G. Brown, "Reader studies for validation of CAD systems", Neural
  Networks 21:387-397, 2008 (design matrices: missing reads, split-plot, partially paired
  designs);
* the iMRMC program and R package of the FDA (DIDSR), which implement these papers (their
  "U-statistic"/"BDG" columns).

Notation. Modality X, reader r, normal case i, abnormal case j; ``d^X_ir = 1`` when reader r
read case i in modality X. The kernel is ``s(x, y) = 1, 1/2, 0`` as the abnormal rating y is
above, equal to or below the normal rating x (Wilcoxon/Mann-Whitney, ties 1/2). With

* ``D^X_rij = d^X_ir d^X_jr`` (the pair (i, j) is in the design of reader r),
* ``A^X_rij = D^X_rij s(x^X_ir, y^X_jr)``,
* ``n^X_r = sum_ij D^X_rij`` (the reader's normal x abnormal pairs),

reader r's AUC is ``sum_ij A^X_rij / n^X_r`` and the reader-averaged AUC is
``AUC_X = sum_rij B^X_rij s(x^X_ir, y^X_jr)``, ``B^X_rij = D^X_rij / (N^X_R n^X_r)``, averaging
the ``N^X_R`` readers who read at least one normal and one abnormal case in X. (iMRMC weights
each reader by its number of pairs instead, ``B = D / sum D``: ``reader_weights="pairs"``; the two
coincide when every reader read every case.)

Variance. A pair of terms, (r, i, j) of X and (r', i', j') of Y, falls into one of eight
patterns k by whether r = r', i = i', j = j' (numbered as Gallas 2006 and iMRMC):

====  ======  ======  ========
k     reader  normal  abnormal
====  ======  ======  ========
1     same    same    same
2     same    differ  same
3     same    same    differ
4     same    differ  differ
5-8   differ  as 1-4
====  ======  ======  ========

Readers and cases being independent draws, ``E[s s']`` is the same moment ``M_k`` for every pair of
pattern k, so ``E[AUC_X AUC_Y] = sum_k c_k M_k`` with ``c_k`` the sum of ``B^X B^Y`` over the pairs
of pattern k (``sum_k c_k = 1``), and ``E[AUC_X] E[AUC_Y] = M_8`` (all different: independent
terms). Hence

    Cov(AUC_X, AUC_Y) = sum_k c_k M_k - M_8,

estimated without bias by putting in each ``M_k`` the average of ``A^X A^Y`` over the pairs of
pattern k that the design holds, ``sum_k A^X A^Y / sum_k D^X D^Y`` (Gallas 2006 for the
fully-crossed design, Gallas & Brown 2008 for arbitrary ones; the U-statistic moments of
iMRMC). Each pattern's sum is an inclusion-exclusion of sums over groups sharing a reader, a
normal and/or an abnormal case ("different" = "any" minus "same"), so nothing loops over pairs.
``Var(AUC_X)`` is the case X = Y and ``Var(AUC_X - AUC_Y) = Var_X + Var_Y - 2 Cov_XY``. The
estimate is unbiased for any design fixed in advance (reads missing at random), and can be
negative: its SE is then NaN.

A pattern without pairs has ``c_k = 0`` and needs no moment. When no pair of terms has different
readers (a single reader), ``M_8`` cannot be estimated and the readers are taken as fixed: the
product of the means is estimated by ``M_4`` (same reader, different cases) and the variance is the
one over cases given the reader; for one reader and complete data it is the unbiased estimate of
the variance of the two-sample (Mann-Whitney) U-statistic, its moments estimated by U-statistics
(Hoeffding, Ann Math Stat 19:293-325, 1948). ``readers_random`` says which variance the result holds.

Tests and intervals are normal approximations (iMRMC's "Normal" columns): z = difference / SE,
two-sided p and a CI of +/- z_(1 - alpha/2) SE. The Hillis or BDG degrees of freedom iMRMC also
reports are not computed.
"""

import math
from dataclasses import dataclass
from itertools import combinations, product

import numpy as np
from scipy.stats import norm

from .dataset import NO_MARK, DatasetError, ReaderStudy

METHOD = "U-statistic (Gallas 2006/2008), all reads"
READER_WEIGHTS = ("equal", "pairs")

#: The eight patterns (same reader, same normal case, same abnormal case), k = 1..8.
PATTERNS: tuple[tuple[bool, bool, bool], ...] = (
    (True, True, True),
    (True, False, True),
    (True, True, False),
    (True, False, False),
    (False, True, True),
    (False, False, True),
    (False, True, False),
    (False, False, False),
)


@dataclass(frozen=True, kw_only=True)
class UStatModality:
    """One modality's reader-averaged AUC, its variance, SE and (normal-approximation) CI."""

    modality: str
    auc: float
    variance: float
    stderr: float
    ci: tuple[float, float]
    readers: int  # readers with at least one read normal and one read abnormal case
    reads: int  # the reads of those readers in this modality


@dataclass(frozen=True, kw_only=True)
class UStatDifference:
    """AUC of the first modality minus the second's: SE, z, two-sided p and CI (normal)."""

    modalities: tuple[str, str]
    estimate: float
    variance: float
    stderr: float
    statistic: float  # z
    p: float
    ci: tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class UStatResult:
    """The U-statistic analysis of a ROC study on all its reads (see the module docstring)."""

    method: str
    modality_ids: tuple[str, ...]
    reader_ids: tuple[str, ...]
    reader_aucs: np.ndarray  # [I, J]; NaN where the reader lacks a read normal or abnormal case
    normal_reads: np.ndarray  # [I, J] read normal cases
    abnormal_reads: np.ndarray  # [I, J] read abnormal cases
    modalities: tuple[UStatModality, ...]
    differences: tuple[UStatDifference, ...]
    covariance: np.ndarray  # [I, I] of the reader-averaged AUCs
    moments: np.ndarray  # [I, I, 8] M_1..M_8 (NaN where the design has no pair of the pattern)
    coefficients: np.ndarray  # [I, I, 8] c_1..c_8 (sum 1)
    reads: int  # reads used: those of every reader x modality with an AUC
    readers_random: bool  # False: a single reader, the variance is the one given the readers
    reader_weights: str
    confidence: float


def roc_ratings(data: ReaderStudy) -> np.ndarray:
    """The case ratings ``[I, J, K]`` of ROC data (normal cases first), or DatasetError."""
    if data.kind != "ROC":
        raise DatasetError(f"The U-statistic analysis takes ROC data; this dataset is {data.kind}.")
    if data.ll.shape[3] != 1 or np.any(data.lesions_per_case != 1) or np.any(data.nl[:, :, :, 1:] != NO_MARK):
        raise DatasetError("The U-statistic analysis takes one rating per case (ROC data).")
    return np.concatenate([data.nl[:, :, : data.k1, 0], data.ll[:, :, :, 0]], axis=2)


def _check_mask(data: ReaderStudy, read: np.ndarray | None) -> np.ndarray:
    shape = data.shape
    if read is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(read)
    if mask.shape != shape:
        raise DatasetError(
            f"The read mask has shape {mask.shape}; the study is {shape} (modalities, readers, cases)."
        )
    if mask.dtype != bool:
        raise DatasetError(f"The read mask must be boolean (True = read); it is {mask.dtype}.")
    return mask


def _exact_patterns(shared: dict[tuple[bool, bool, bool], np.ndarray]) -> np.ndarray:
    """``[X, Y, k]``: the sums over the pairs of terms of each pattern k from the group sums.

    ``shared[U][X, Y]`` sums ``p^X q^Y`` over the pairs that share (at least) the indexes in U;
    the pairs that share exactly S follow by inclusion-exclusion,
    ``E(S) = sum_{U >= S} (-1)^{|U|-|S|} T(U)``.
    """
    first = next(iter(shared.values()))
    exact = np.zeros((*first.shape, len(PATTERNS)))
    for k, same in enumerate(PATTERNS):
        for wider, value in shared.items():
            if all(w or not s for s, w in zip(same, wider, strict=True)):  # wider >= same
                exact[:, :, k] += (-1) ** (sum(wider) - sum(same)) * value
    return exact


def _group_sums(
    ratings: np.ndarray, normal: np.ndarray, abnormal: np.ndarray, weight: np.ndarray
) -> tuple[dict[str, dict[tuple[bool, bool, bool], np.ndarray]], np.ndarray]:
    """The group sums ``T(U)[X, Y]`` of A (kernel on the design), D (design) and B (weights), for
    every pair of modalities, one reader at a time (memory of one reader's pairs per modality);
    and ``sum_ij A^X_rij`` ``[I, J]``.

    ``ratings`` ``[I, J, K]`` (normal cases first), ``normal`` ``[I, J, K1]`` and ``abnormal``
    ``[I, J, K2]`` the reads, ``weight`` ``[I, J]`` the B of each of a reader's pairs.
    """
    n_mod, n_rdr, k1 = normal.shape
    k2 = abnormal.shape[2]
    kinds = ("A", "D", "B")
    same_all = {kind: np.zeros((n_mod, n_mod)) for kind in kinds}
    rows = {kind: np.zeros((n_mod, n_rdr, k1)) for kind in kinds}  # summed over abnormal cases
    cols = {kind: np.zeros((n_mod, n_rdr, k2)) for kind in kinds}  # summed over normal cases
    over_readers = {kind: np.zeros((n_mod, k1, k2)) for kind in kinds}
    for r in range(n_rdr):
        x, y = ratings[:, r, :k1, None], ratings[:, r, None, k1:]
        design = (normal[:, r, :, None] & abnormal[:, r, None, :]).astype(float)
        terms = {
            "A": design * np.where(y > x, 1.0, np.where(y == x, 0.5, 0.0)),
            "D": design,
            "B": design * weight[:, r, None, None],
        }
        for kind, p in terms.items():
            same_all[kind] += np.einsum("xkl,ykl->xy", p, p)
            rows[kind][:, r] = p.sum(axis=2)
            cols[kind][:, r] = p.sum(axis=1)
            over_readers[kind] += p
    sums = {}
    for kind in kinds:
        row, col = rows[kind], cols[kind]
        total = row.sum(axis=2)  # [I, J]
        sums[kind] = {
            (True, True, True): same_all[kind],
            (True, True, False): np.einsum("xrk,yrk->xy", row, row),
            (True, False, True): np.einsum("xrl,yrl->xy", col, col),
            (True, False, False): total @ total.T,
            (False, True, True): np.einsum("xkl,ykl->xy", over_readers[kind], over_readers[kind]),
            (False, True, False): row.sum(axis=1) @ row.sum(axis=1).T,
            (False, False, True): col.sum(axis=1) @ col.sum(axis=1).T,
            (False, False, False): np.outer(total.sum(axis=1), total.sum(axis=1)),
        }
    return sums, rows["A"].sum(axis=2)


def _covariance(
    numerator: np.ndarray, denominator: np.ndarray, coefficients: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, bool]:
    """Cov(AUC_X, AUC_Y) = sum_k c_k M_k - M_8 from the pattern sums of A, D and B (module
    docstring); its moments, coefficients, and whether the readers are random (else M_4 stands
    for M_8)."""
    has_pairs = denominator > 0.5  # integer counts of pairs
    moments = np.full(len(PATTERNS), math.nan)
    moments[has_pairs] = numerator[has_pairs] / denominator[has_pairs]
    coefficients = np.where(has_pairs, coefficients, 0.0)  # no such pair: exactly 0 up to rounding
    second = float(np.sum(coefficients[has_pairs] * moments[has_pairs]))
    different_readers = bool(np.any(has_pairs[4:]))
    if has_pairs[7]:
        return second - moments[7], moments, coefficients, True
    if not different_readers and has_pairs[3]:
        return second - moments[3], moments, coefficients, False
    raise DatasetError(
        "Too few reads for the U-statistic variance: it needs two different normal and two different "
        "abnormal cases read by two different readers (by the one reader, when there is only one)."
    )


def ustat_analysis(
    data: ReaderStudy,
    read: np.ndarray | None = None,
    *,
    confidence: float = 0.95,
    reader_weights: str = "equal",
) -> UStatResult:
    """The reader-averaged Wilcoxon AUC per modality, its variance and the modality differences,
    by the unbiased U-statistic estimator on the reads in ``read`` (module docstring).

    ``read`` is a boolean ``[I, J, K]`` mask (True = reader j read case k in modality i; None:
    every case read); ratings outside it are ignored. ``reader_weights`` "equal" averages the
    readers' AUCs, "pairs" weights them by their numbers of normal x abnormal pairs (iMRMC).
    """
    if not 0 < confidence < 1:
        raise DatasetError(f"The confidence level must lie in (0, 1); it is {confidence}.")
    if reader_weights not in READER_WEIGHTS:
        raise DatasetError(
            f"reader_weights must be one of {', '.join(READER_WEIGHTS)}; not {reader_weights!r}."
        )
    ratings = roc_ratings(data)
    mask = _check_mask(data, read)
    if np.any(np.isnan(ratings) & mask):
        raise DatasetError("A read case has no rating (NaN).")
    k1 = data.k1
    n_modalities = len(data.modality_ids)
    normal, abnormal = mask[:, :, :k1], mask[:, :, k1:]
    pairs = normal.sum(axis=2) * abnormal.sum(axis=2)  # n_r per modality and reader
    counted = pairs > 0
    for i, modality in enumerate(data.modality_ids):
        if not counted[i].any():
            raise DatasetError(
                f"Modality {modality}: no reader read both a normal and an abnormal case; "
                "its AUC is not defined."
            )
    safe_pairs = np.where(counted, pairs, 1)
    if reader_weights == "equal":
        weight = np.where(counted, 1.0 / safe_pairs, 0.0) / counted.sum(axis=1)[:, None]
    else:
        weight = np.broadcast_to(1.0 / pairs.sum(axis=1)[:, None], pairs.shape)
    sums, a_per_reader = _group_sums(np.where(mask, ratings, 0.0), normal, abnormal, weight)
    numerators = _exact_patterns(sums["A"])
    denominators = _exact_patterns(sums["D"])
    b_sums = _exact_patterns(sums["B"])
    reader_aucs = np.where(counted, a_per_reader / safe_pairs, math.nan)
    if reader_weights == "equal":  # sum B s, summed per reader first (exact for complete data)
        aucs = np.array([reader_aucs[i][counted[i]].mean() for i in range(n_modalities)])
    else:
        aucs = a_per_reader.sum(axis=1) / pairs.sum(axis=1)

    covariance = np.empty((n_modalities, n_modalities))
    moments = np.empty((n_modalities, n_modalities, len(PATTERNS)))
    coefficients = np.empty_like(moments)
    random_readers = True
    for s, t in product(range(n_modalities), repeat=2):
        if t < s:
            covariance[s, t], moments[s, t], coefficients[s, t] = (
                covariance[t, s],
                moments[t, s],
                coefficients[t, s],
            )
            continue
        cov, moments[s, t], coefficients[s, t], random = _covariance(
            numerators[s, t], denominators[s, t], b_sums[s, t]
        )
        covariance[s, t] = cov
        random_readers &= random

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    modalities = []
    for i, modality in enumerate(data.modality_ids):
        se = _stderr(covariance[i, i])
        reads = int(normal[i][counted[i]].sum() + abnormal[i][counted[i]].sum())
        modalities.append(
            UStatModality(
                modality=modality,
                auc=float(aucs[i]),
                variance=float(covariance[i, i]),
                stderr=se,
                ci=(float(aucs[i]) - z * se, float(aucs[i]) + z * se),
                readers=int(counted[i].sum()),
                reads=reads,
            )
        )
    differences = []
    for s, t in combinations(range(n_modalities), 2):
        estimate = float(aucs[s] - aucs[t])
        variance = float(covariance[s, s] + covariance[t, t] - 2 * covariance[s, t])
        se = _stderr(variance)
        statistic = estimate / se if se > 0 else math.nan
        differences.append(
            UStatDifference(
                modalities=(data.modality_ids[s], data.modality_ids[t]),
                estimate=estimate,
                variance=variance,
                stderr=se,
                statistic=statistic,
                p=float(2 * norm.sf(abs(statistic))) if math.isfinite(statistic) else math.nan,
                ci=(estimate - z * se, estimate + z * se),
            )
        )
    return UStatResult(
        method=METHOD,
        modality_ids=tuple(data.modality_ids),
        reader_ids=tuple(data.reader_ids),
        reader_aucs=reader_aucs,
        normal_reads=normal.sum(axis=2),
        abnormal_reads=abnormal.sum(axis=2),
        modalities=tuple(modalities),
        differences=tuple(differences),
        covariance=covariance,
        moments=moments,
        coefficients=coefficients,
        reads=sum(m.reads for m in modalities),
        readers_random=random_readers,
        reader_weights=reader_weights,
        confidence=confidence,
    )


def _stderr(variance: float) -> float:
    """The square root of a variance estimate; NaN when the (unbiased) estimate is not positive."""
    return math.sqrt(variance) if variance > 0 else math.nan
