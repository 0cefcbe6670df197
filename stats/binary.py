"""Binary endpoints: sensitivity and specificity per reader as MRMC figures of merit.

A reader "calls" a case positive when their rating of it reaches a threshold. The calls
form a FROC dataset (:func:`binary_calls`) whose highest-rating figures of merit are
exactly the per-reader sensitivity and specificity of those calls:

* ``HrSe`` = the fraction of abnormal cases with at least one mark (RJafroc 2.1.3's
  ``HrSe``: the highest rating of the case, lesion or not, above "unmarked");
* ``HrSp`` = the fraction of normal cases without a mark (RJafroc's ``HrSp``).

Analysed by Obuchowski-Rockette (:func:`stats.mrmc.or_analysis`), with the jackknife over
the abnormal cases for ``HrSe`` and over the normal cases for ``HrSp`` (as RJafroc does:
each depends on one kind of case only), they are the binary endpoints that MRMCaov
(``binary_sens``, ``binary_spec``; Smith, Hillis & Pesce, MRMCaov R package, 2023) and
iMRMC (Gallas, Pennello & Myers, JOSA A 24:B70-B80, 2007) analyse, and Chakraborty's
"highest rating" FOMs (*Observer Performance Methods for Diagnostic Imaging*, CRC Press
2017, the chapter on empirical operating characteristics). Because the calls are an
ordinary FROC dataset, RJafroc's own ``St(FOM = "HrSe" | "HrSp")`` checks every number.

Where the ratings come from:

* ROC (and LROC) data: case k is called positive when its rating is >= ``threshold``; a
  threshold is required (every case of ROC data has a rating, so "any rating" would call
  every case positive);
* FROC data: a mark counts when rated >= ``threshold`` (``None``: every mark counts), and
  a case is called positive when any of its marks counts. With ``localised=True`` an
  abnormal case is positive only through a lesion localisation (its non-lesion marks are
  dropped), the per-case sensitivity of the platform's ``case_detection`` table.
"""

import math

import numpy as np

from .dataset import NO_MARK, DatasetError, ReaderStudy, equal_weights

#: The FOMs of binary calls: sensitivity and specificity (RJafroc's names).
BINARY_FOMS = ("HrSe", "HrSp")


def check_threshold(threshold: float | None) -> None:
    """A threshold is a finite number (or None: every mark counts, FROC data only)."""
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise DatasetError(f"The threshold of the binary calls must be a finite number; got {threshold!r}.")


def binary_calls(
    data: ReaderStudy, threshold: float | None = None, *, localised: bool = False
) -> ReaderStudy:
    """The positive calls of every reader as a FROC dataset (see the module docstring).

    Each call is a mark rated 1: on a normal case an NL, on an abnormal case of ROC/LROC
    data the case's one LL; FROC marks keep their place (NL or the lesion they localise).
    """
    check_threshold(threshold)
    if data.kind == "ROI":
        raise DatasetError("Binary calls are made per case; ROI data has no case-level calls.")
    if data.kind in ("ROC", "LROC"):
        if threshold is None:
            raise DatasetError(
                f"Sensitivity and specificity of {data.kind} data need a threshold: a case is called "
                "positive when its rating is >= the threshold."
            )
        return _case_calls(data, float(threshold))
    if localised and data.k2 == 0:
        localised = False
    nl = _counted(data.nl, threshold)
    ll = _counted(data.ll, threshold)
    if localised:
        nl[:, :, data.k1 :] = NO_MARK
    return ReaderStudy(
        kind="FROC",
        modality_ids=data.modality_ids,
        reader_ids=data.reader_ids,
        k1=data.k1,
        nl=nl,
        ll=ll,
        lesions_per_case=data.lesions_per_case,
        weights=data.weights,
        lesion_ids=data.lesion_ids,
        case_ids=data.case_ids,
        name=data.name,
    )


def _counted(ratings: np.ndarray, threshold: float | None) -> np.ndarray:
    """Marks that count as 1, the others (and missing marks) as unmarked."""
    marked = np.isfinite(ratings) if threshold is None else np.isfinite(ratings) & (ratings >= threshold)
    return np.where(marked, 1.0, NO_MARK)


def _case_calls(data: ReaderStudy, threshold: float) -> ReaderStudy:
    """ROC/LROC ratings as calls: one mark on every case rated >= ``threshold``."""
    k1, k2 = data.k1, data.k2
    normal = data.nl[:, :, :k1].max(axis=-1, initial=NO_MARK)  # [I, J, K1]
    # The case's rating: its one ROC "lesion", or for LROC data its highest rating (the
    # correct localisation or, in the NL slots of abnormal cases, an incorrect one).
    abnormal = np.maximum(data.ll.max(axis=-1), data.nl[:, :, k1:].max(axis=-1, initial=NO_MARK))
    nl = np.full((*data.shape, 1), NO_MARK)
    nl[:, :, :k1, 0] = np.where(normal >= threshold, 1.0, NO_MARK)
    ll = np.where(abnormal >= threshold, 1.0, NO_MARK)[..., None]
    return ReaderStudy(
        kind="FROC",
        modality_ids=data.modality_ids,
        reader_ids=data.reader_ids,
        k1=k1,
        nl=nl,
        ll=ll,
        lesions_per_case=np.ones(k2, dtype=int),
        weights=equal_weights(np.ones(k2, dtype=int), 1),
        lesion_ids=np.ones((k2, 1), dtype=int),
        case_ids=data.case_ids,
        name=data.name,
    )
