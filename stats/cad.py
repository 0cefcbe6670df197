"""A standalone algorithm ("CAD") against the radiologists who read the same cases.

One reader of a one-modality study (or of one modality of a larger one) is the algorithm;
the others are radiologists. The null hypothesis is that the algorithm's FOM equals the
radiologists' average FOM. The algorithm is one fixed "reader": only the radiologists are
sampled from a population of readers. Three analyses, those of RJafroc 2.1.3's
``StCadVsRad`` (Chakraborty, *Observer Performance Methods for Diagnostic Imaging*, CRC
Press 2017, and the chapter "Standalone CAD vs. radiologists" of his RJafrocBook; Hupse et
al., Eur Radiol 23, 2013, for the study and the ``dataset09`` / ``datasetCadLroc`` data):

* ``1T-RRFC`` (readers random, cases fixed): a one-sample t test of the differences
  ``psi_j = FOM(reader j) - FOM(CAD)``, J - 1 degrees of freedom (RJafroc's
  ``SingleModalityRRFC``).
* ``1T-RRRC`` (readers and cases random): the single-treatment Obuchowski-Rockette analysis
  of the differences ``psi_j`` (Hillis, Stat Med 26, 2007, sect. 5.3, p. 607; as in
  RJafroc's ``SingleModalityRRRC``): ``Var`` and ``Cov2`` are the jackknife variance and
  between-reader covariance of the differences, ``MS(R)`` their variance over readers, the
  error term ``MS(R) + J max(Cov2, 0)``, the SE ``sqrt(error / J)`` and the Satterthwaite
  degrees of freedom ``error^2 / (MS(R)^2 / (J - 1))``.
* ``2T-RRRC``: the algorithm's ratings are copied J times to form a second "modality" read
  by J "readers", and the standard two-modality OR RRRC analysis (stats.mrmc.or_analysis,
  Hillis's degrees of freedom) compares it with the radiologists (Kooi et al., "A comparison
  between a deep convolutional neural network and radiologists for classifying regions of
  interest in mammography", IWDM 2016; RJafroc's ``DualModalityRRRC``). Its F, ddf and p
  equal those of ``1T-RRRC``; its variance components describe the artificial design.

Signs: ``estimate`` is the algorithm's FOM minus the radiologists' average (so a positive
estimate favours the algorithm), and ``ci`` and ``statistic`` go with it. RJafroc reports
the opposite difference (``avgDiffFom`` = radiologists minus CAD, its ``Tstat``,
``CIAvgDiffFom``); the tests compare with the sign flipped.

Where RJafroc 2.1.3 restricts the FOM (``2T-RRRC`` only for ROC and LROC data), these
functions take any FOM that stats.fom.jackknife computes for the data.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .covariance import covariance_jackknife
from .dataset import DatasetError, ReaderStudy
from .fom import Jackknife, jackknife
from .mrmc import ALPHA, ModalityEstimate, _one_modality, _p_two_sided, _quantile, or_analysis

METHODS = ("1T-RRFC", "1T-RRRC", "2T-RRRC")


@dataclass(frozen=True, kw_only=True)
class CadVsReadersResult:
    """A standalone algorithm against the radiologists, one method (see the module docstring).

    ``reader_mean_ci`` is RJafroc's ``CIAvgRadFom`` (1T-RRFC) or ``CIAvgRad`` (1T-RRRC): the
    difference's interval moved onto the radiologists' average, i.e. the algorithm held fixed;
    for 2T-RRRC it is the radiologists' own single-modality RRRC interval (``ciAvgRdrEachTrt``).
    ``reader_variance`` is the variance of the radiologists' FOMs (RJafroc's ``varR`` of the
    1T methods, ``varDiffFom`` of 2T-RRRC). ``variance_components``: 1T-RRRC ``Var``, ``Cov2``
    and ``MS(R)`` of the differences; 2T-RRRC the OR model's ``VarR``, ``VarTR``, ``Var``,
    ``Cov1``, ``Cov2``, ``Cov3``; 1T-RRFC none. ``f_statistic`` / ``ndf`` and
    ``modality_estimates`` (algorithm first, then radiologists) only for 2T-RRRC.
    """

    method: str
    fom_name: str
    modality: str
    cad: str
    reader_ids: tuple[str, ...]  # the radiologists
    fom_cad: float
    fom_readers: np.ndarray  # [J]
    reader_mean: float
    reader_mean_ci: tuple[float, float]
    reader_variance: float
    estimate: float  # FOM(CAD) - mean FOM(readers)
    stderr: float
    df: float
    statistic_name: str  # "t"
    statistic: float
    p: float
    ci: tuple[float, float]
    alpha: float
    variance_components: dict[str, float] = field(default_factory=dict)
    f_statistic: float | None = None
    ndf: float | None = None
    modality_estimates: tuple[ModalityEstimate, ...] = ()


def _one_modality_study(data: ReaderStudy, modality: str | None) -> ReaderStudy:
    i_n = data.shape[0]
    if modality is None:
        if i_n != 1:
            raise DatasetError(
                f"This dataset has {i_n} modalities ({', '.join(data.modality_ids)}); "
                "name the one in which the algorithm and the radiologists read."
            )
        return data
    if modality not in data.modality_ids:
        raise DatasetError(f"No modality '{modality}'; the modalities are {', '.join(data.modality_ids)}.")
    return data.subset(modalities=[data.modality_ids.index(modality)])


def _cad_index(data: ReaderStudy, cad: str) -> int:
    if cad not in data.reader_ids:
        raise DatasetError(f"No reader '{cad}'; the readers are {', '.join(data.reader_ids)}.")
    if len(data.reader_ids) < 3:
        raise DatasetError(
            "Comparing an algorithm with radiologists needs at least two radiologists besides the "
            f"algorithm; this dataset has {len(data.reader_ids) - 1}."
        )
    return data.reader_ids.index(cad)


def readers_alone(data: ReaderStudy, cad: str, modality: str | None = None) -> ReaderStudy:
    """The radiologists alone: the one modality of the comparison, without reader ``cad``
    (for their own single-modality interval, stats.mrmc.or_single_modality)."""
    one = _one_modality_study(data, modality)
    c = _cad_index(one, cad)
    return one.subset(readers=[j for j in range(len(one.reader_ids)) if j != c])


def cad_vs_readers(
    data: ReaderStudy,
    cad: str,
    fom: str,
    method: str = "1T-RRRC",
    *,
    modality: str | None = None,
    alpha: float = ALPHA,
    jk: Jackknife | None = None,
) -> CadVsReadersResult:
    """Compare reader ``cad`` (the standalone algorithm) with the other readers' average FOM.

    ``method`` is ``"1T-RRFC"``, ``"1T-RRRC"`` or ``"2T-RRRC"`` (RJafroc 2.1.3
    ``StCadVsRad``; formulas in the module docstring). ``modality`` names the modality to use
    when the dataset has more than one. ``jk``: the jackknife of the one-modality data, if
    already computed.
    """
    if method not in METHODS:
        raise DatasetError(f"Unknown method '{method}'; use one of {', '.join(METHODS)}.")
    if not 0 < alpha < 1:
        raise DatasetError(f"alpha must lie between 0 and 1, not {alpha}.")
    if data.kind == "ROI":
        raise DatasetError("ROI data needs Obuchowski's ROI covariance, which is not implemented.")
    one = _one_modality_study(data, modality)
    c = _cad_index(one, cad)
    if jk is not None and jk.fom.shape != (1, len(one.reader_ids)):
        raise DatasetError("The jackknife given is not that of the one modality compared.")
    jk = jk or jackknife(one, fom)
    others = [j for j in range(len(one.reader_ids)) if j != c]
    fom_cad = float(jk.fom[0, c])
    fom_readers = jk.fom[0, others].copy()
    common: dict[str, Any] = dict(
        method=method,
        fom_name=fom,
        modality=one.modality_ids[0],
        cad=cad,
        reader_ids=tuple(one.reader_ids[j] for j in others),
        fom_cad=fom_cad,
        fom_readers=fom_readers,
        reader_mean=float(fom_readers.mean()),
        reader_variance=float(np.var(fom_readers, ddof=1)),
        alpha=alpha,
    )
    if method == "2T-RRRC":
        return _two_treatment(one, jk, c, others, common)
    # 1T: the single-modality analysis of the differences psi_j = FOM(reader j) - FOM(CAD).
    psi = fom_readers - fom_cad
    psi_jk = Jackknife(
        fom=psi[None, :], values=(jk.values[0, others] - jk.values[0, c])[None], cases=jk.cases
    )
    cov = covariance_jackknife(psi_jk)[0, :, 0, :]
    estimates, components = _one_modality("difference", psi, cov, alpha)
    e = estimates["RRFC" if method == "1T-RRFC" else "RRRC"]
    estimate = -e.estimate
    statistic = estimate / e.stderr if e.stderr > 0 else float("nan")
    half = _quantile(e.df, alpha) * e.stderr
    return CadVsReadersResult(
        **common,
        reader_mean_ci=(fom_cad + e.ci[0], fom_cad + e.ci[1]),
        estimate=estimate,
        stderr=e.stderr,
        df=e.df,
        statistic_name="t",
        statistic=statistic,
        p=_p_two_sided(statistic, e.df),
        ci=(estimate - half, estimate + half),
        variance_components={} if method == "1T-RRFC" else components,
    )


def _two_treatment(
    one: ReaderStudy, jk: Jackknife, c: int, others: list[int], common: dict[str, Any]
) -> CadVsReadersResult:
    """2T-RRRC: the algorithm copied to every radiologist as a second modality, then OR RRRC."""
    j_n = len(others)
    rep = [c] * j_n
    combined = ReaderStudy(
        kind=one.kind,
        modality_ids=(f"{common['cad']} (standalone)", "readers"),
        reader_ids=tuple(one.reader_ids[j] for j in others),
        k1=one.k1,
        nl=np.stack([one.nl[0, rep], one.nl[0, others]]),
        ll=np.stack([one.ll[0, rep], one.ll[0, others]]),
        lesions_per_case=one.lesions_per_case,
        weights=one.weights,
        lesion_ids=one.lesion_ids,
        case_ids=one.case_ids,
        name=one.name,
    )
    combined_jk = Jackknife(
        fom=np.stack([jk.fom[0, rep], jk.fom[0, others]]),
        values=np.stack([jk.values[0, rep], jk.values[0, others]]),
        cases=jk.cases,
    )
    result = or_analysis(combined, common["fom_name"], combined_jk)
    test = result.tests["RRRC"]
    d = test.differences[0]  # CAD - readers
    alpha = common["alpha"]
    half = _quantile(d.df, alpha) * d.stderr
    estimates = tuple(
        ModalityEstimate(
            modality=m.modality,
            estimate=m.estimate,
            stderr=m.stderr,
            df=m.df,
            ci=(
                m.estimate - _quantile(m.df, alpha) * m.stderr,
                m.estimate + _quantile(m.df, alpha) * m.stderr,
            ),
        )
        for m in test.modality_estimates
    )
    components = {k: result.variance_components[k] for k in ("VarR", "VarTR", "Var", "Cov1", "Cov2", "Cov3")}
    return CadVsReadersResult(
        **common,
        reader_mean_ci=estimates[1].ci,
        estimate=d.estimate,
        stderr=d.stderr,
        df=d.df,
        statistic_name="t",
        statistic=d.statistic,
        p=d.p,
        ci=(d.estimate - half, d.estimate + half),
        variance_components=components,
        f_statistic=test.statistic,
        ndf=test.ndf,
        modality_estimates=estimates,
    )
