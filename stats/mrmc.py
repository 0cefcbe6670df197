"""Multi-reader multi-case (MRMC) significance testing: Obuchowski-Rockette and DBM.

Both take a figure of merit and its case-deletion jackknife (``stats.fom``) and test
whether the modalities' reader-averaged FOMs differ, treating readers and cases as
random (RRRC), readers fixed (FRRC) or cases fixed (RRFC).

* OR: Obuchowski & Rockette, Commun Stat Simul Comput 24(2), 1995, with Hillis's
  denominator degrees of freedom (Hillis, Stat Med 26, 2007; Hillis, Berbaum & Metz,
  Acad Radiol 15, 2008). Covariances are estimated from the jackknife FOMs,
  ``cov = (n-1)/n * sum_k (x_k - mean x)(y_k - mean y)``.
* DBM: Dorfman, Berbaum & Metz, Invest Radiol 27, 1992: a three-way ANOVA of
  jackknife pseudovalues, with Hillis's modified error term for RRRC. Pseudovalues
  are re-centred so that their mean over cases equals the FOM (as RJafroc does);
  then DBM and OR give the same RRRC and RRFC results.

Following RJafroc 2.1.3 (Chakraborty 2017, ch. 9-11): the RRRC error term adds
``max(J (Cov2 - Cov3), 0)`` (OR) or ``max(MS(TC) - MS(TRC), 0)`` (DBM); OR FRRC is a
chi-square test whose variance also clamps ``Cov2 - Cov3`` at 0 (an RJafroc addition);
DBM FRRC is an F test with ``(I-1)(K-1)`` denominator degrees of freedom.

A modality alone (``or_single_modality``, also for one-modality datasets, which the tests of
equal modalities refuse): the OR single-treatment confidence interval of its reader-averaged
FOM (Hillis 2007, sect. 5.3; Hillis, Berbaum & Metz 2008), the numbers RJafroc's St gives per
modality (``ciAvgRdrEachTrt``). stats.cad builds the algorithm-vs-readers comparison on it.

One-sided and non-inferiority tests of each difference (:func:`one_sided`) reuse the
difference's standard error and degrees of freedom from the analysis above and shift the
t (or z) statistic by the margin (Chen, Petrick & Sahiner, Acad Radiol 19(9), 2012).
"""

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import special

from .covariance import (
    COVARIANCE_METHODS,
    covariance_bootstrap,
    covariance_delong,
    covariance_jackknife,
    covariance_summary,
)
from .dataset import DatasetError, ReaderStudy
from .fom import DEFAULT_FPF, Jackknife, jackknife

ALPHA = 0.05
OPTIONS = ("RRRC", "FRRC", "RRFC")
#: The alternatives of :func:`one_sided` (``two-sided`` is the analyses' own test).
ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True, kw_only=True)
class Difference:
    """One pairwise modality difference (first minus second) or one reader's difference."""

    modalities: tuple[str, str]
    estimate: float
    stderr: float
    df: float  # inf for a normal (z) test
    statistic: float  # t or z
    p: float
    ci: tuple[float, float]
    reader: str | None = None


@dataclass(frozen=True, kw_only=True)
class ModalityEstimate:
    """A modality's reader-averaged FOM with its standard error and confidence interval."""

    modality: str
    estimate: float
    stderr: float
    df: float
    ci: tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class TestResult:
    """The overall test of equal modalities under one analysis option."""

    option: str
    statistic_name: str  # "F" or "Chisq"
    statistic: float
    ndf: float
    ddf: float | None  # None for a chi-square test
    p: float
    differences: list[Difference]
    modality_estimates: list[ModalityEstimate]
    reader_differences: list[Difference] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class MRMCResult:
    method: str  # "OR" or "DBM"
    fom_name: str
    modality_ids: tuple[str, ...]
    reader_ids: tuple[str, ...]
    foms: np.ndarray  # [I, J]
    variance_components: dict[str, float]
    mean_squares: dict[str, float]
    tests: dict[str, TestResult]

    @property
    def modality_means(self) -> np.ndarray:
        return self.foms.mean(axis=1)


@dataclass(frozen=True, kw_only=True)
class OneSided:
    """A one-sided (superiority or non-inferiority) test of one :class:`Difference`.

    ``statistic`` is the difference shifted by the margin over its standard error, ``p`` its
    one-sided p and ``bound`` the one-sided ``1 - alpha`` confidence bound of the difference
    (lower for ``greater``, upper for ``less``); ``rejected`` says whether H0 is rejected at
    ``alpha`` (the bound beyond ``-margin``, resp. ``margin``).
    """

    modalities: tuple[str, str]
    estimate: float
    stderr: float
    df: float  # inf for a normal (z) test
    margin: float
    alternative: str  # "greater" or "less"
    alpha: float
    statistic: float
    p: float
    bound: float
    rejected: bool
    reader: str | None = None


def check_alternative(margin: float, alternative: str) -> None:
    """Refuse a hypothesis :func:`one_sided` cannot test (ValueError, saying why).

    The margin is a non-negative number; a two-sided test has no margin (the analyses'
    two-sided test is of equal FOMs; an equivalence test would be two one-sided tests).
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}.")
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not np.isfinite(margin):
        raise ValueError(f"the margin must be a finite number, got {margin!r}.")
    if margin < 0:
        raise ValueError(f"the margin must be 0 or more, got {margin:g}.")
    if alternative == "two-sided" and margin != 0:
        raise ValueError(
            "a margin needs a one-sided alternative (greater or less); the two-sided test is of equal FOMs."
        )


def one_sided(
    d: Difference, *, margin: float = 0.0, alternative: str = "greater", alpha: float = ALPHA
) -> OneSided:
    """The one-sided test of the difference ``d`` (first minus second modality) with margin δ.

    ``greater``: H0 θ1 - θ2 <= -δ against H1 θ1 - θ2 > -δ (non-inferiority of the first
    modality to the second; δ = 0: superiority); ``less``: H0 θ1 - θ2 >= δ against
    H1 θ1 - θ2 < δ (non-inferiority of the second to the first). The statistic is
    ``(estimate + δ) / SE`` (resp. ``(estimate - δ) / SE``) on the difference's own degrees
    of freedom, Hillis's for OR/DBM RRRC (Hillis, Stat Med 26, 2007; Hillis, Berbaum & Metz,
    Acad Radiol 15, 2008), a z test where ``df`` is infinite (OR FRRC): the margin-shifted
    MRMC t test of Chen, Petrick & Sahiner (Acad Radiol 19(9):1158-1165, 2012). The bound
    is ``estimate -/+ t_{1-alpha, df} SE``, the limit of the two-sided ``1 - 2 alpha``
    interval; H0 is rejected when it lies beyond ``-δ`` (resp. ``δ``), as when p < alpha.
    """
    check_alternative(margin, alternative)
    if alternative == "two-sided":
        raise ValueError("one_sided tests a one-sided alternative (greater or less).")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}.")
    sign = 1.0 if alternative == "greater" else -1.0
    shifted = d.estimate + sign * margin
    statistic = shifted / d.stderr if d.stderr > 0 else np.nan
    if np.isinf(d.df):
        p = float(special.ndtr(-sign * statistic))
        q = float(special.ndtri(1 - alpha))
    else:
        p = float(special.stdtr(d.df, -sign * statistic))
        q = float(special.stdtrit(d.df, 1 - alpha))
    bound = d.estimate - sign * q * d.stderr
    return OneSided(
        modalities=d.modalities,
        estimate=d.estimate,
        stderr=d.stderr,
        df=d.df,
        margin=float(margin),
        alternative=alternative,
        alpha=float(alpha),
        statistic=float(statistic),
        p=p,
        bound=float(bound),
        rejected=bool(sign * bound > -margin),
        reader=d.reader,
    )


def hypothesis_text(first: str, second: str, margin: float, alternative: str) -> str:
    """The hypothesis of :func:`one_sided` on ``first - second`` in words, e.g.
    "non-inferiority of SR to HR with margin 0.05 (H0: SR - HR <= -0.05)"."""
    check_alternative(margin, alternative)
    if alternative == "two-sided":
        return f"equal figures of merit of {first} and {second} (two-sided)"
    winner, loser = (first, second) if alternative == "greater" else (second, first)
    h0 = f"H0: {winner} - {loser} <= {-margin:g}" if margin else f"H0: {winner} - {loser} <= 0"
    if margin == 0:
        return f"superiority of {winner} over {loser} ({h0})"
    return f"non-inferiority of {winner} to {loser} with margin {margin:g} ({h0})"


def _p_two_sided(statistic: float, df: float) -> float:
    """Two-sided p of a t (or, for infinite df, standard normal) statistic."""
    if np.isinf(df):
        return float(2 * special.ndtr(-abs(statistic)))
    return float(2 * special.stdtr(df, -abs(statistic)))


def _quantile(df: float, alpha: float = ALPHA) -> float:
    """The 1 - alpha/2 quantile of t with ``df`` degrees of freedom (normal if infinite)."""
    if np.isinf(df):
        return float(special.ndtri(1 - alpha / 2))
    return float(special.stdtrit(df, 1 - alpha / 2))


def _difference(names, estimate, variance, df, reader=None) -> Difference:
    stderr = float(np.sqrt(variance))
    statistic = estimate / stderr if stderr > 0 else np.nan
    half = _quantile(df) * stderr
    return Difference(
        modalities=names,
        estimate=float(estimate),
        stderr=stderr,
        df=float(df),
        statistic=float(statistic),
        p=_p_two_sided(statistic, df),
        ci=(float(estimate - half), float(estimate + half)),
        reader=reader,
    )


def _modality_estimate(name, estimate, variance, df, alpha: float = ALPHA) -> ModalityEstimate:
    stderr = float(np.sqrt(variance))
    half = _quantile(df, alpha) * stderr
    return ModalityEstimate(
        modality=name,
        estimate=float(estimate),
        stderr=stderr,
        df=float(df),
        ci=(float(estimate - half), float(estimate + half)),
    )


def _pairwise(data_ids, means: np.ndarray, variance: float, df: float) -> list[Difference]:
    return [
        _difference((data_ids[a], data_ids[b]), means[a] - means[b], variance, df)
        for a, b in combinations(range(len(data_ids)), 2)
    ]


def _f_test(option, statistic, ndf, ddf, differences, estimates, readers=()) -> TestResult:
    p = float(special.fdtrc(ndf, ddf, statistic)) if np.isfinite(statistic) else np.nan
    return TestResult(
        option=option,
        statistic_name="F",
        statistic=float(statistic),
        ndf=float(ndf),
        ddf=float(ddf),
        p=p,
        differences=differences,
        modality_estimates=estimates,
        reader_differences=list(readers),
    )


def _check(data: ReaderStudy) -> None:
    i_n, j_n, _ = data.shape
    if data.kind == "ROI":
        raise DatasetError(
            "ROI data needs Obuchowski's ROI covariance for significance testing, which is not "
            "implemented; its ROI figures of merit can be computed."
        )
    if i_n < 2:
        raise DatasetError(
            "Significance testing compares modalities; this dataset has one. Its FOMs, the confidence "
            "interval of its reader-averaged FOM (single-modality analysis) and, with a standalone "
            "algorithm among its readers, the algorithm-vs-readers comparison can still be computed."
        )
    if j_n < 2:
        raise DatasetError("MRMC analysis needs at least two readers.")


def _one_modality(
    name: str, foms: np.ndarray, cov: np.ndarray, alpha: float = ALPHA
) -> tuple[dict[str, ModalityEstimate], dict[str, float]]:
    """One modality's reader-averaged FOM under RRRC, FRRC and RRFC, from its J reader FOMs and
    their J x J covariance (the OR single-treatment analysis).

    With ``MS(R)`` the variance of the J FOMs (divisor J - 1) and ``Var``, ``Cov2`` the mean
    variance and between-reader covariance:

    * RRRC: variance ``(MS(R) + J max(Cov2, 0)) / J`` with Satterthwaite degrees of freedom
      ``(MS(R) + J max(Cov2, 0))^2 / (MS(R)^2 / (J - 1))`` (Hillis, Stat Med 26, 2007, sect. 5.3,
      the single-test formulas on p. 607; Hillis, Berbaum & Metz, Acad Radiol 15, 2008,
      single-treatment confidence intervals);
    * FRRC: variance ``(Var + (J - 1) max(Cov2, 0)) / J``, normal quantiles;
    * RRFC: variance ``MS(R) / J`` with J - 1 degrees of freedom (a one-sample t interval).

    These are the numbers of RJafroc 2.1.3 ``St(method = "OR")``'s ``ciAvgRdrEachTrt``. When
    all J FOMs are equal, MS(R) is 0 exactly and the RRRC degrees of freedom infinite (as in R).
    """
    j_n = len(foms)
    mean = float(foms.mean())
    ms_r = 0.0 if np.ptp(foms) == 0 else float(np.sum((foms - mean) ** 2) / (j_n - 1))
    c = covariance_summary(cov[None, :, None, :])
    var, cov2 = c["Var"], c["Cov2"]
    e = ms_r + j_n * max(cov2, 0.0)
    no_df = np.inf if e > 0 else np.nan
    rrrc_df = e**2 / (ms_r**2 / (j_n - 1)) if ms_r > 0 else no_df
    estimates = {
        "RRRC": _modality_estimate(name, mean, e / j_n, rrrc_df, alpha),
        "FRRC": _modality_estimate(name, mean, (var + (j_n - 1) * max(cov2, 0.0)) / j_n, np.inf, alpha),
        "RRFC": _modality_estimate(name, mean, ms_r / j_n, j_n - 1, alpha),
    }
    return estimates, {"MS(R)": ms_r, "Var": var, "Cov2": cov2}


@dataclass(frozen=True, kw_only=True)
class SingleModalityResult:
    """The reader-averaged FOM of one modality alone, with its SE, df and CI per analysis option."""

    fom_name: str
    modality: str
    reader_ids: tuple[str, ...]
    foms: np.ndarray  # [J]
    alpha: float
    variance_components: dict[str, float]  # MS(R), Var, Cov2
    estimates: dict[str, ModalityEstimate]  # "RRRC", "FRRC", "RRFC"


def or_single_modality(
    data: ReaderStudy,
    fom: str,
    jk: Jackknife | None = None,
    *,
    modality: str | None = None,
    alpha: float = ALPHA,
) -> SingleModalityResult:
    """Single-modality OR analysis: a confidence interval of one modality's reader-averaged FOM.

    Works for one-modality datasets (which ``or_analysis`` refuses: there is nothing to compare)
    and for one modality (``modality``, its id) of a larger one; formulas in ``_one_modality``
    (Hillis 2007 sect. 5.3; Hillis, Berbaum & Metz 2008), covariances from the case-deletion
    jackknife as in RJafroc 2.1.3. For a modality of a multi-modality study the numbers are
    those of RJafroc's ``St(...)$RRRC$ciAvgRdrEachTrt`` (and FRRC, RRFC) for that modality.
    """
    i_n, j_n, _ = data.shape
    if data.kind == "ROI":
        raise DatasetError("ROI data needs Obuchowski's ROI covariance, which is not implemented.")
    if j_n < 2:
        raise DatasetError("A single-modality analysis needs at least two readers.")
    if modality is None:
        if i_n != 1:
            raise DatasetError(
                f"This dataset has {i_n} modalities ({', '.join(data.modality_ids)}); "
                "name the one to analyse."
            )
        i = 0
    elif modality in data.modality_ids:
        i = data.modality_ids.index(modality)
    else:
        raise DatasetError(f"No modality '{modality}'; the modalities are {', '.join(data.modality_ids)}.")
    if not 0 < alpha < 1:
        raise DatasetError(f"alpha must lie between 0 and 1, not {alpha}.")
    jk = jk or jackknife(data, fom)
    cov = covariance_jackknife(jk)
    estimates, components = _one_modality(data.modality_ids[i], jk.fom[i], cov[i, :, i, :], alpha)
    return SingleModalityResult(
        fom_name=fom,
        modality=data.modality_ids[i],
        reader_ids=data.reader_ids,
        foms=jk.fom[i].copy(),
        alpha=alpha,
        variance_components=components,
        estimates=estimates,
    )


def _two_way_mean_squares(table: np.ndarray) -> tuple[float, float, float]:
    """Mean squares of rows, columns and their interaction of a two-way table with one
    observation per cell (the residual), e.g. modality x reader FOMs."""
    n_rows, n_cols = table.shape
    grand = table.mean()
    row_means, col_means = table.mean(axis=1), table.mean(axis=0)
    ms_rows = n_cols * np.sum((row_means - grand) ** 2) / (n_rows - 1)
    ms_cols = n_rows * np.sum((col_means - grand) ** 2) / (n_cols - 1)
    resid = table - row_means[:, None] - col_means[None, :] + grand
    ms_inter = np.sum(resid**2) / ((n_rows - 1) * (n_cols - 1))
    return float(ms_rows), float(ms_cols), float(ms_inter)


def _fom_mean_squares(foms: np.ndarray) -> dict[str, float]:
    """MS(T), MS(R), MS(TR) of the FOM table (OR's two-way layout)."""
    ms_t, ms_r, ms_tr = _two_way_mean_squares(foms)
    return {"MS(T)": ms_t, "MS(R)": ms_r, "MS(TR)": ms_tr}


def or_tests_defined(ms: dict[str, float], frrc_error: float) -> None:
    """Refuse (DatasetError) an OR analysis whose tests are undefined.

    RRRC's denominator degrees of freedom divide by MS(TR), and FRRC's statistic by its
    error variance: with no condition-by-reader variation (e.g. every reader separates the
    cases perfectly under every condition) the tests are undefined.
    """
    if not ms["MS(TR)"] > 0 or not frrc_error > 0:
        raise DatasetError(
            "the figures of merit do not vary between conditions and readers beyond chance "
            f"(MS(TR) = {ms['MS(TR)']:.3g}, FRRC error variance = {frrc_error:.3g}), "
            "so the OR F and chi-square tests are undefined."
        )


def or_tests(
    mods: tuple[str, ...],
    means: np.ndarray,
    ms: dict[str, float],
    j_n: int,
    rrrc_error: float,
    frrc_error: float,
    estimates: dict[str, list[ModalityEstimate]],
    reader_differences: list[Difference],
) -> dict[str, TestResult]:
    """The three OR tests of equal modalities from their error terms (crossed or split-plot).

    RRRC: ``F = MS(T) / rrrc_error`` on ``I - 1`` and Hillis's (2008) ddf
    ``rrrc_error^2 / (MS(TR)^2 / ((I-1)(J-1)))``; FRRC: ``Chisq = (I-1) MS(T) / frrc_error``
    on ``I - 1`` df; RRFC: ``F = MS(T) / MS(TR)`` on ``I - 1`` and ``(I-1)(J-1)`` df. A
    difference's variance is ``2 error / J`` under each (``MS(TR)`` for RRFC).
    """
    i_n = len(mods)
    ddf = rrrc_error**2 / (ms["MS(TR)"] ** 2 / ((i_n - 1) * (j_n - 1)))
    rrrc = _f_test(
        "RRRC",
        ms["MS(T)"] / rrrc_error,
        i_n - 1,
        ddf,
        _pairwise(mods, means, 2 * rrrc_error / j_n, ddf),
        estimates["RRRC"],
    )
    chisq = (i_n - 1) * ms["MS(T)"] / frrc_error
    frrc = TestResult(
        option="FRRC",
        statistic_name="Chisq",
        statistic=float(chisq),
        ndf=float(i_n - 1),
        ddf=None,
        p=float(special.chdtrc(i_n - 1, chisq)),
        differences=_pairwise(mods, means, 2 * frrc_error / j_n, np.inf),
        modality_estimates=estimates["FRRC"],
        reader_differences=reader_differences,
    )
    rrfc_ddf = (i_n - 1) * (j_n - 1)
    rrfc = _f_test(
        "RRFC",
        ms["MS(T)"] / ms["MS(TR)"],
        i_n - 1,
        rrfc_ddf,
        _pairwise(mods, means, 2 * ms["MS(TR)"] / j_n, rrfc_ddf),
        estimates["RRFC"],
    )
    return {"RRRC": rrrc, "FRRC": frrc, "RRFC": rrfc}


def or_analysis(
    data: ReaderStudy,
    fom: str,
    jk: Jackknife | None = None,
    *,
    covariance: str = "jackknife",
    n_boot: int = 200,
    seed: int | None = 0,
    fpf: float = DEFAULT_FPF,
) -> MRMCResult:
    """Obuchowski-Rockette analysis (RRRC, FRRC, RRFC).

    ``covariance`` is ``"jackknife"`` (RJafroc's default), ``"bootstrap"`` (``n_boot``
    stratified resamples, seeded) or ``"DeLong"`` (ROC AUC only); see stats.covariance.
    ``fpf`` is the false-positive fraction of the LROC FOMs PCL and ALROC (stats.fom).
    """
    _check(data)
    jk = jk or jackknife(data, fom, fpf=fpf)
    foms = jk.fom
    i_n, j_n = foms.shape
    mods, rdrs = data.modality_ids, data.reader_ids
    ms = _fom_mean_squares(foms)
    if covariance == "jackknife":
        cov = covariance_jackknife(jk)
    elif covariance == "bootstrap":
        cov = covariance_bootstrap(data, fom, n_boot, seed, fpf=fpf)
    elif covariance == "DeLong":
        cov = covariance_delong(data, fom)
    else:
        raise DatasetError(
            f"Unknown covariance method '{covariance}'; use one of {', '.join(COVARIANCE_METHODS)}."
        )
    c = covariance_summary(cov)
    var, cov1, cov2, cov3 = c["Var"], c["Cov1"], c["Cov2"], c["Cov3"]
    var_tr = ms["MS(TR)"] - var + cov1 + cov2 - cov3
    var_r = (ms["MS(R)"] - var_tr - var - (i_n - 1) * cov1 + cov2 + (i_n - 1) * cov3) / i_n
    means = foms.mean(axis=1)

    # Per modality: its reader-averaged FOM alone (single-modality formulas).
    each = [_one_modality(mods[i], foms[i], cov[i, :, i, :]) for i in range(i_n)]

    # The error terms of RRRC (Hillis 2008) and FRRC.
    frrc_error = var - cov1 + (j_n - 1) * max(cov2 - cov3, 0.0)
    or_tests_defined(ms, frrc_error)
    error = ms["MS(TR)"] + max(j_n * (cov2 - cov3), 0.0)
    # Each reader alone: the variance of a difference pools that reader's variances and
    # between-modality covariances over all modalities (as RJafroc does).
    readers = []
    for j in range(j_n):
        c_j = covariance_summary(cov[:, j : j + 1, :, j : j + 1])
        var_j, cov1_j = c_j["Var"], c_j["Cov1"]
        for a, b in combinations(range(i_n), 2):
            readers.append(
                _difference(
                    (mods[a], mods[b]), foms[a, j] - foms[b, j], 2 * (var_j - cov1_j), np.inf, rdrs[j]
                )
            )
    estimates = {option: [e[option] for e, _ in each] for option in OPTIONS}
    tests = or_tests(mods, means, ms, j_n, error, frrc_error, estimates, readers)
    components = {"VarR": float(var_r), "VarTR": float(var_tr), **c}
    method = "OR" if covariance == "jackknife" else f"OR ({covariance} covariance)"
    return MRMCResult(
        method=method,
        fom_name=fom,
        modality_ids=mods,
        reader_ids=rdrs,
        foms=foms,
        variance_components=components,
        mean_squares=ms,
        tests=tests,
    )


def pseudovalues(jk: Jackknife) -> np.ndarray:
    """DBM pseudovalues ``n*FOM - (n-1)*FOM(k)``, re-centred to average to the FOM over cases."""
    n = jk.values.shape[2]
    raw = n * jk.fom[:, :, None] - (n - 1) * jk.values
    return raw + (jk.fom - raw.mean(axis=2))[:, :, None]


def dbm_mean_squares(y: np.ndarray) -> dict[str, float]:
    """Mean squares of the three-way (treatment x reader x case) ANOVA of pseudovalues."""
    i_n, j_n, k_n = y.shape
    g = y.mean()
    t, r, c = y.mean(axis=(1, 2)), y.mean(axis=(0, 2)), y.mean(axis=(0, 1))
    tr, tc, rc = y.mean(axis=2), y.mean(axis=1), y.mean(axis=0)
    ss = {
        "T": j_n * k_n * np.sum((t - g) ** 2),
        "R": i_n * k_n * np.sum((r - g) ** 2),
        "C": i_n * j_n * np.sum((c - g) ** 2),
        "TR": k_n * np.sum((tr - t[:, None] - r[None, :] + g) ** 2),
        "TC": j_n * np.sum((tc - t[:, None] - c[None, :] + g) ** 2),
        "RC": i_n * np.sum((rc - r[:, None] - c[None, :] + g) ** 2),
    }
    ss["TRC"] = np.sum((y - g) ** 2) - sum(ss.values())
    df = {
        "T": i_n - 1,
        "R": j_n - 1,
        "C": k_n - 1,
        "TR": (i_n - 1) * (j_n - 1),
        "TC": (i_n - 1) * (k_n - 1),
        "RC": (j_n - 1) * (k_n - 1),
        "TRC": (i_n - 1) * (j_n - 1) * (k_n - 1),
    }
    return {f"MS({key})": float(ss[key] / df[key]) for key in ss}


def dbm_analysis(
    data: ReaderStudy, fom: str, jk: Jackknife | None = None, *, fpf: float = DEFAULT_FPF
) -> MRMCResult:
    """Dorfman-Berbaum-Metz analysis (RRRC with Hillis's error term, FRRC, RRFC); ``fpf``: of PCL, ALROC."""
    _check(data)
    jk = jk or jackknife(data, fom, fpf=fpf)
    foms = jk.fom
    y = pseudovalues(jk)
    i_n, j_n, k_n = y.shape
    mods, rdrs = data.modality_ids, data.reader_ids
    ms = dbm_mean_squares(y)
    means = foms.mean(axis=1)
    components = {
        "VarR": (ms["MS(R)"] - ms["MS(TR)"] - ms["MS(RC)"] + ms["MS(TRC)"]) / (i_n * k_n),
        "VarC": (ms["MS(C)"] - ms["MS(TC)"] - ms["MS(RC)"] + ms["MS(TRC)"]) / (i_n * j_n),
        "VarTR": (ms["MS(TR)"] - ms["MS(TRC)"]) / k_n,
        "VarTC": (ms["MS(TC)"] - ms["MS(TRC)"]) / j_n,
        "VarRC": (ms["MS(RC)"] - ms["MS(TRC)"]) / i_n,
        "VarErr": ms["MS(TRC)"],
    }
    # Per modality: two-way (reader x case) mean squares of that modality's pseudovalues.
    per_mod = [_two_way_mean_squares(y[i]) for i in range(i_n)]  # (MS(R), MS(C), MS(RC)) each

    # RRRC with Hillis's error term.
    error = ms["MS(TR)"] + max(ms["MS(TC)"] - ms["MS(TRC)"], 0.0)
    ddf = error**2 / (ms["MS(TR)"] ** 2 / ((i_n - 1) * (j_n - 1)))
    rrrc_est = []
    for i, (ms_r, ms_c, ms_rc) in enumerate(per_mod):
        e_i = ms_r + max(ms_c - ms_rc, 0.0)
        rrrc_est.append(
            _modality_estimate(mods[i], means[i], e_i / (j_n * k_n), e_i**2 / (ms_r**2 / (j_n - 1)))
        )
    rrrc = _f_test(
        "RRRC",
        ms["MS(T)"] / error,
        i_n - 1,
        ddf,
        _pairwise(mods, means, 2 * error / (j_n * k_n), ddf),
        rrrc_est,
    )

    # FRRC: readers fixed, F test with MS(TC).
    frrc_ddf = (i_n - 1) * (k_n - 1)
    frrc_est = [
        _modality_estimate(mods[i], means[i], m[1] / (j_n * k_n), k_n - 1) for i, m in enumerate(per_mod)
    ]
    # Each reader alone: MS(TC) of that reader's pseudovalues, K - 1 degrees of freedom (RJafroc).
    readers = []
    for j in range(j_n):
        ms_tc_j = _two_way_mean_squares(y[:, j, :])[2]
        for a, b in combinations(range(i_n), 2):
            readers.append(
                _difference((mods[a], mods[b]), foms[a, j] - foms[b, j], 2 * ms_tc_j / k_n, k_n - 1, rdrs[j])
            )
    frrc = _f_test(
        "FRRC",
        ms["MS(T)"] / ms["MS(TC)"],
        i_n - 1,
        frrc_ddf,
        _pairwise(mods, means, 2 * ms["MS(TC)"] / (j_n * k_n), frrc_ddf),
        frrc_est,
        readers,
    )

    # RRFC: cases fixed.
    rrfc_ddf = (i_n - 1) * (j_n - 1)
    rrfc_est = [
        _modality_estimate(mods[i], means[i], m[0] / (j_n * k_n), j_n - 1) for i, m in enumerate(per_mod)
    ]
    rrfc = _f_test(
        "RRFC",
        ms["MS(T)"] / ms["MS(TR)"],
        i_n - 1,
        rrfc_ddf,
        _pairwise(mods, means, 2 * ms["MS(TR)"] / (j_n * k_n), rrfc_ddf),
        rrfc_est,
    )
    return MRMCResult(
        method="DBM",
        fom_name=fom,
        modality_ids=mods,
        reader_ids=rdrs,
        foms=foms,
        variance_components={k: float(v) for k, v in components.items()},
        mean_squares=ms,
        tests={"RRRC": rrrc, "FRRC": frrc, "RRFC": rrfc},
    )
