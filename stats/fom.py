"""Figures of merit (FOMs) and their case-deletion jackknife, computed all at once.

Definitions follow Chakraborty, *Observer Performance Methods for Diagnostic
Imaging* (CRC Press, 2017), ch. 13-14, as implemented by RJafroc 2.1.3:

* ``Wilcoxon``: empirical ROC AUC (Hanley & McNeil, Radiology 143, 1982); ties 1/2.
* ``HrAuc``: the AUC of the ROC ratings inferred from FROC data, a normal case rated by
  its highest NL, an abnormal case by its highest mark of any kind.
* ``AFROC`` / ``wAFROC``: the probability that a lesion's rating exceeds the highest
  NL rating of a normal case, lesions counted equally or weighted per case
  (Chakraborty & Zhai, Med Phys 43, 2016). ``AFROC1`` / ``wAFROC1`` take the highest
  NL rating of every case, abnormal ones included, as false-positive ratings.
* ``ROI``: the region-of-interest AUC of Obuchowski, Lieber & Powell (Acad Radiol 7,
  2000): every normal ROI (an NL rating, on any case) against every lesion ROI, ties 1/2,
  averaged over all pairs.
* ``PCL`` / ``ALROC`` (LROC data only): the probability of correct localisation at a
  chosen false-positive fraction (``fpf``, default 0.2) and the area under the empirical
  LROC curve from FPF 0 to ``fpf`` (Chakraborty 2017, the chapter on the LROC paradigm;
  Swensson, Med Phys 23, 1996; RJafroc 2.1.3 ``LrocFoms`` and
  ``LrocOperatingPointsFromRatings``, its ``FPFValue``), see :func:`lroc_foms`. LROC data
  keeps its incorrect localisations (RJafroc's ``LL_IL``) as NL marks of the abnormal
  cases, so its ``Wilcoxon`` rates an abnormal case by its highest rating over correct and
  incorrect localisations alike (RJafroc's ``DfLroc2Roc``). LROC data takes ``Wilcoxon``,
  ``PCL`` and ``ALROC`` only, as in RJafroc (``isValidDataset``).
* ``HrSe`` / ``HrSp``: fraction of abnormal cases with at least one mark / of normal
  cases without any mark. ``MaxLLF``: fraction of lesions marked; ``MaxNLF``: NL marks
  per normal case; ``MaxNLFAllCases``: NL marks per case.

Every comparison counts 1 if the lesion (or abnormal case) rating is higher, 1/2 on
a tie (including two missing marks, both -inf) and 0 otherwise.

The jackknife deletes one case at a time. All K deletions come from row and column
sums of the comparison matrix (found by sorting, O(n log n)), never from K recalls.
FOMs of normal cases only (HrSp, MaxNLF) delete only normal cases; those of abnormal
cases only (HrSe, MaxLLF) only abnormal ones, as in RJafroc. PCL and ALROC are
recomputed for each deleted case (O(K^2 log K) per reader and modality).
"""

from dataclasses import dataclass

import numpy as np

from .dataset import NO_MARK, DatasetError, ReaderStudy

ROC_FOMS = ("Wilcoxon",)
ROI_FOMS = ("ROI",)
LROC_FOMS = ("PCL", "ALROC")
#: The FOMs RJafroc 2.1.3 accepts for LROC data (``isValidDataset``).
LROC_DATA_FOMS = ("Wilcoxon", *LROC_FOMS)
DEFAULT_FPF = 0.2
FROC_FOMS = (
    "wAFROC",
    "AFROC",
    "wAFROC1",
    "AFROC1",
    "HrAuc",
    "HrSe",
    "HrSp",
    "MaxLLF",
    "MaxNLF",
    "MaxNLFAllCases",
)


@dataclass(frozen=True, kw_only=True)
class Jackknife:
    """FOMs ``fom[I, J]`` and leave-one-case-out FOMs ``values[I, J, n]``.

    ``cases`` says which cases were deleted: ``"all"`` (n = K), ``"normal"`` (n = K1)
    or ``"abnormal"`` (n = K2).
    """

    fom: np.ndarray
    values: np.ndarray
    cases: str


def comparison_sums(fp: np.ndarray, tp: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column sums of ``w_b * psi(fp_a, tp_b)``, psi = 1 if tp > fp, 1/2 if equal.

    Returns ``rows[a] = sum_b w_b psi(fp_a, tp_b)`` and ``cols[b] = w_b sum_a psi(fp_a, tp_b)``.
    """
    rows, cols = comparison_sums_batch(fp[None, :], tp[None, :], w)
    return rows[0], cols[0]


def comparison_sums_batch(fp: np.ndarray, tp: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``comparison_sums`` of every row of ``fp[R, A]`` against the same row of ``tp[R, B]``.

    One stable sort of each row of ``[fp | tp]`` puts equal values in runs. Cumulative sums
    along the sorted row give, for each fp, the weight of the tps above its run and in it,
    and for each tp, the number of fps below its run and in it. All rows (modalities x
    readers) are sorted in one call; each row's numbers depend on that row alone.
    """
    n_rows, a = fp.shape
    width = a + tp.shape[1]
    values = np.concatenate([fp, tp], axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    is_fp = order < a
    zero = np.zeros((n_rows, 1))
    # fp_cum[:, p] / w_cum[:, p]: fps / tp weight among the first p sorted entries.
    fp_cum = np.concatenate([zero, np.cumsum(is_fp, axis=1)], axis=1)
    w_sorted = np.where(is_fp, 0.0, w[np.where(is_fp, 0, order - a)])
    w_cum = np.concatenate([zero, np.cumsum(w_sorted, axis=1)], axis=1)
    # Each sorted entry's run is [start, stop): start = first position of its run, stop =
    # the next run's first position.
    new_run = np.ones((n_rows, width + 1), dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new_run[:, 1:width])
    positions = np.arange(width + 1)
    start = np.maximum.accumulate(np.where(new_run, positions, 0), axis=1)[:, :width]
    stop = np.minimum.accumulate(np.where(new_run, positions, width)[:, ::-1], axis=1)[:, ::-1][:, 1:]
    rows_index = np.arange(n_rows)[:, None]
    total = w_cum[:, -1:]
    above = total - w_cum[rows_index, stop]  # tp weight above the run
    at_or_above = total - w_cum[rows_index, start]
    below = fp_cum[rows_index, start]  # fps below the run
    at_or_below = fp_cum[rows_index, stop]
    scored = np.where(is_fp, above + 0.5 * (at_or_above - above), below + 0.5 * (at_or_below - below))
    sums = np.empty((n_rows, width))
    np.put_along_axis(sums, order, scored, axis=1)
    return sums[:, :a], sums[:, a:] * w


def _highest(ratings: np.ndarray) -> np.ndarray:
    return ratings.max(axis=-1) if ratings.shape[-1] else np.full(ratings.shape[:-1], NO_MARK)


def _by_case(values: np.ndarray, case: np.ndarray, n_cases: int) -> np.ndarray:
    """Row-wise sums of ``values[R, n]`` grouped by ``case[n]`` (0..n_cases-1): ``[R, n_cases]``."""
    n_rows = values.shape[0]
    keys = (np.arange(n_rows)[:, None] * n_cases + case[None, :]).ravel()
    return np.bincount(keys, weights=values.ravel(), minlength=n_rows * n_cases).reshape(n_rows, n_cases)


def _afroc_family(data: ReaderStudy, *, weighted: bool, all_cases_fp: bool) -> Jackknife:
    i_n, j_n, k = data.shape
    k1, k2 = data.k1, data.k2
    mask = data.lesion_mask
    case_of_lesion = np.nonzero(mask)[0]
    n_lesions = int(mask.sum())
    w = data.weights[mask] if weighted else np.ones(n_lesions)
    case_totals = data.weights.sum(axis=1) if weighted else data.lesions_per_case.astype(float)
    total = float(k2) if weighted else float(n_lesions)
    # Every modality x reader at once: row r = i * J + j.
    fp = _highest(data.nl).reshape(i_n * j_n, k)
    if not all_cases_fp:
        fp = fp[:, :k1]
    tp = data.ll[:, :, mask].reshape(i_n * j_n, n_lesions)
    rows, cols = comparison_sums_batch(fp, tp, w)
    by_case = _by_case(cols, case_of_lesion, k2)
    s = rows.sum(axis=1)
    n_fp = fp.shape[1]
    jk = np.empty((i_n * j_n, k))
    jk[:, :k1] = (s[:, None] - rows[:, :k1]) / ((n_fp - 1) * total)
    if all_cases_fp:
        # The abnormal case also leaves the false-positive set: remove its row and add back
        # its own lesions' comparison with its own highest NL (counted twice).
        own_fp = fp[:, k1:][:, case_of_lesion]
        own = _by_case(w * np.where(tp > own_fp, 1.0, np.where(tp == own_fp, 0.5, 0.0)), case_of_lesion, k2)
        removed = by_case + rows[:, k1:] - own
        denominator = (n_fp - 1) * (total - case_totals)
    else:
        removed = by_case
        denominator = n_fp * (total - case_totals)
    jk[:, k1:] = (s[:, None] - removed) / denominator
    return Jackknife(fom=(s / (n_fp * total)).reshape(i_n, j_n), values=jk.reshape(i_n, j_n, k), cases="all")


def _hr_auc(data: ReaderStudy) -> Jackknife:
    i_n, j_n, k = data.shape
    k1, k2 = data.k1, data.k2
    highest_nl = _highest(data.nl).reshape(i_n * j_n, k)  # every modality x reader at once
    fp = highest_nl[:, :k1]
    tp = np.maximum(highest_nl[:, k1:], _highest(data.ll).reshape(i_n * j_n, k2))
    rows, cols = comparison_sums_batch(fp, tp, np.ones(k2))
    s = rows.sum(axis=1)[:, None]
    jk = np.empty((i_n * j_n, k))
    jk[:, :k1] = (s - rows) / ((k1 - 1) * k2)
    jk[:, k1:] = (s - cols) / (k1 * (k2 - 1))
    fom = s[:, 0] / (k1 * k2)
    return Jackknife(fom=fom.reshape(i_n, j_n), values=jk.reshape(i_n, j_n, k), cases="all")


def _roi(data: ReaderStudy) -> Jackknife:
    """ROI AUC and its case-deletion jackknife (a deleted case takes all its ROIs along)."""
    i_n, j_n, k = data.shape
    k1 = data.k1
    mask = data.lesion_mask
    case_of_lesion = np.nonzero(mask)[0] + k1
    fom = np.empty((i_n, j_n))
    jk = np.empty((i_n, j_n, k))
    for i in range(i_n):
        for j in range(j_n):
            nl = data.nl[i, j]
            finite = np.isfinite(nl)
            fp, case_of_fp = nl[finite], np.nonzero(finite)[0]
            tp = data.ll[i, j][mask]
            rows, cols = comparison_sums(fp, tp, np.ones(len(tp)))
            s = rows.sum()
            fom[i, j] = s / (len(fp) * len(tp))
            fp_by_case = np.bincount(case_of_fp, weights=rows, minlength=k)
            tp_by_case = np.bincount(case_of_lesion, weights=cols, minlength=k)
            n_fp = np.bincount(case_of_fp, minlength=k)
            n_tp = np.bincount(case_of_lesion, minlength=k)
            # Comparisons within one case are removed twice by the row and column sums.
            within = np.zeros(k)
            for case in range(k1, k):
                own_fp = nl[case][np.isfinite(nl[case])]
                own_tp = data.ll[i, j, case - k1][mask[case - k1]]
                if own_fp.size and own_tp.size:
                    within[case] = comparison_sums(own_fp, own_tp, np.ones(own_tp.size))[0].sum()
            removed = fp_by_case + tp_by_case - within
            jk[i, j] = (s - removed) / ((len(fp) - n_fp) * (len(tp) - n_tp))
    return Jackknife(fom=fom, values=jk, cases="all")


def _fraction(counts: np.ndarray, sizes: np.ndarray, cases: str) -> Jackknife:
    """FOM = sum(counts) / sum(sizes) over cases, and its leave-one-out values."""
    total, size = counts.sum(axis=-1), sizes.sum()
    fom = total / size
    values = (total[..., None] - counts) / (size - sizes)
    return Jackknife(fom=fom, values=values, cases=cases)


def lroc_curve(fp: np.ndarray, cl: np.ndarray, k1: int, k2: int) -> tuple[np.ndarray, np.ndarray]:
    """The empirical LROC operating points (FPF, PCL), in increasing FPF.

    ``fp`` are the normal cases' ratings (``k1`` cases), ``cl`` the correct-localisation
    ratings of the abnormal cases (``k2`` cases); missing ones (-inf) never count as marks.
    As RJafroc 2.1.3 ``LrocOperatingPointsFromRatings`` defines them: for each distinct
    finite rating c, FPF = #{fp > c} / k1 and PCL = #{cl > c} / k2, and a last point at
    FPF = 1 with the PCL of the lowest cutoff (Chakraborty 2017, chapter on the LROC
    paradigm; Swensson, Med Phys 23, 1996).
    """
    fp_f, cl_f = np.sort(fp[np.isfinite(fp)]), np.sort(cl[np.isfinite(cl)])
    cutoffs = np.unique(np.concatenate([fp_f, cl_f]))
    if cutoffs.size == 0:  # RJafroc: cutoff Inf, one point (0, 0) and then (1, 0)
        return np.array([0.0, 1.0]), np.array([0.0, 0.0])
    fpf = (fp_f.size - np.searchsorted(fp_f, cutoffs, side="right")) / k1
    pcl = (cl_f.size - np.searchsorted(cl_f, cutoffs, side="right")) / k2
    return np.append(fpf[::-1], 1.0), np.append(pcl[::-1], pcl[0])


def lroc_foms(fp: np.ndarray, cl: np.ndarray, k1: int, k2: int, fpf: float) -> tuple[float, float]:
    """(PCL, ALROC) at false-positive fraction ``fpf`` from the empirical LROC curve.

    PCL interpolates linearly between the operating point with the largest FPF below
    ``fpf`` (its highest PCL) and the one with the smallest FPF at or above it (its lowest
    PCL); ALROC is the trapezoidal area under the curve from FPF 0 to ``fpf``
    (RJafroc 2.1.3 ``LrocFoms``; Chakraborty 2017, chapter on the LROC paradigm).
    """
    x, y = lroc_curve(fp, cl, k1, k2)
    below, above = x < fpf, x >= fpf
    lower_x, upper_x = x[below].max(), x[above].min()
    lower_y, upper_y = y[below].max(), y[above].min()
    pcl = (fpf - lower_x) / (upper_x - lower_x) * (upper_y - lower_y) + lower_y
    xs, ys = np.append(x[below], fpf), np.append(y[below], pcl)
    area = float(np.dot(np.diff(xs), ys[1:] + ys[:-1]) / 2)
    return float(pcl), area


def check_fpf(fpf: float) -> None:
    """PCL and ALROC are defined for a false-positive fraction in (0, 1]."""
    if not (isinstance(fpf, int | float) and 0 < fpf <= 1):
        raise DatasetError(f"The FPF of PCL and ALROC must lie in (0, 1]; got {fpf}.")


def _lroc(data: ReaderStudy, fom: str, fpf: float) -> Jackknife:
    """PCL or ALROC and their jackknife, each deletion recomputed."""
    check_fpf(fpf)
    if data.kind != "LROC":
        raise DatasetError(f"{fom} is a figure of merit of LROC data; this dataset is {data.kind}.")
    if np.any(data.lesions_per_case != 1):
        raise DatasetError(f"{fom} needs one lesion per abnormal case (LROC data).")
    i_n, j_n, k = data.shape
    k1, k2 = data.k1, data.k2
    pick = 0 if fom == "PCL" else 1
    fom_values = np.empty((i_n, j_n))
    jk = np.empty((i_n, j_n, k))
    for i in range(i_n):
        for j in range(j_n):
            fp = _highest(data.nl[i, j, :k1])
            cl = data.ll[i, j, :, 0]
            fom_values[i, j] = lroc_foms(fp, cl, k1, k2, fpf)[pick]
            keep1, keep2 = np.ones(k1, dtype=bool), np.ones(k2, dtype=bool)
            for n in range(k1):
                keep1[n] = False
                jk[i, j, n] = lroc_foms(fp[keep1], cl, k1 - 1, k2, fpf)[pick]
                keep1[n] = True
            for n in range(k2):
                keep2[n] = False
                jk[i, j, k1 + n] = lroc_foms(fp, cl[keep2], k1, k2 - 1, fpf)[pick]
                keep2[n] = True
    return Jackknife(fom=fom_values, values=jk, cases="all")


def jackknife(data: ReaderStudy, fom: str, *, fpf: float = DEFAULT_FPF) -> Jackknife:
    """The FOM ``fom`` of every modality x reader and its case-deletion jackknife.

    ``fpf`` is the false-positive fraction of PCL and ALROC (RJafroc's ``FPFValue``);
    the other FOMs ignore it.
    """
    k1 = data.k1
    if data.k1 < 2 or data.k2 < 2:
        raise DatasetError("A figure of merit needs at least two normal and two abnormal cases.")
    if fom in LROC_FOMS:
        return _lroc(data, fom, fpf)
    if data.kind == "LROC" and fom not in LROC_DATA_FOMS:
        raise DatasetError(f"LROC data takes the figures of merit {', '.join(LROC_DATA_FOMS)}, not {fom}.")
    if (fom == "ROI") != (data.kind == "ROI"):
        raise DatasetError("ROI data takes the ROI figure of merit, and the ROI figure of merit ROI data.")
    if fom == "ROI":
        return _roi(data)
    if fom in ("Wilcoxon", "HrAuc"):
        if fom == "Wilcoxon" and data.kind not in ("ROC", "LROC"):
            raise DatasetError("Wilcoxon is the FOM of ROC data; use HrAuc for FROC data.")
        return _hr_auc(data)
    if data.kind == "ROC" and fom in FROC_FOMS:
        raise DatasetError(f"{fom} needs FROC data; this dataset is ROC.")
    marked_nl = np.isfinite(data.nl).sum(axis=-1).astype(float)  # [I, J, K]
    if fom == "wAFROC":
        return _afroc_family(data, weighted=True, all_cases_fp=False)
    if fom == "AFROC":
        return _afroc_family(data, weighted=False, all_cases_fp=False)
    if fom == "wAFROC1":
        return _afroc_family(data, weighted=True, all_cases_fp=True)
    if fom == "AFROC1":
        return _afroc_family(data, weighted=False, all_cases_fp=True)
    if fom == "HrSe":
        any_mark = np.maximum(_highest(data.nl[:, :, k1:]), _highest(data.ll)) > NO_MARK
        return _fraction(any_mark.astype(float), np.ones(data.k2), "abnormal")
    if fom == "HrSp":
        unmarked = _highest(data.nl[:, :, :k1]) == NO_MARK
        return _fraction(unmarked.astype(float), np.ones(k1), "normal")
    if fom == "MaxLLF":
        marked_ll = np.isfinite(data.ll).sum(axis=-1).astype(float)
        return _fraction(marked_ll, data.lesions_per_case.astype(float), "abnormal")
    if fom == "MaxNLF":
        return _fraction(marked_nl[:, :, :k1], np.ones(k1), "normal")
    if fom == "MaxNLFAllCases":
        return _fraction(marked_nl, np.ones(data.shape[2]), "all")
    raise DatasetError(
        f"Unknown figure of merit '{fom}'. Known: {', '.join(ROC_FOMS + FROC_FOMS + ROI_FOMS + LROC_FOMS)}."
    )


def figure_of_merit(data: ReaderStudy, fom: str, *, fpf: float = DEFAULT_FPF) -> np.ndarray:
    """The FOM of every modality x reader, ``[I, J]`` (``fpf``: of PCL and ALROC)."""
    return jackknife(data, fom, fpf=fpf).fom
