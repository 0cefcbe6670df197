"""Obuchowski-Rockette analysis of split-plot reader studies.

In a split-plot design the readers are partitioned into G groups and the cases into G
disjoint subsets; group g (J_g readers, K_g cases) reads its own subset under every
modality, fully crossed. Each group is given here as its own :class:`ReaderStudy` (its
readers x its cases, the same modalities in the same order). The modality means average
the FOMs of all J = sum_g J_g readers, each on its own group's cases.

Model: the OR model (Obuchowski & Rockette, Commun Stat Simul Comput 24(2), 1995) of the
split-plot design studied by Obuchowski (Acad Radiol 19(12), 2012) and Hillis (Stat Med
33(2), 2014, "A marginal-mean ANOVA approach for analyzing multireader multicase
radiological imaging data"); the equations (1)-(3) below are derived here from that model
and numbered here, not taken from those papers:
``theta_ij = mu + tau_i + R_j + (tau R)_ij + e_ij``, with
readers and cases random. The errors ``e_ij`` of readers in *different* groups are
independent (they read different cases); within group g they have the usual OR
covariances Var_g, Cov1_g (same reader, different modality), Cov2_g (same modality,
different readers), Cov3_g (both different), estimated from that group's cases only
(jackknife, bootstrap or DeLong, :mod:`stats.covariance`). With

    S = sum_g J_g (J_g - 1) (Cov2_g - Cov3_g)          (reader pairs within groups)

the variance of a difference of two modality means is

    Var(theta_a. - theta_b.) = (2/J) [ sigma2_TR + (1/J) sum_g J_g (Var_g - Cov1_g) + S/J ]   (1)

and the expected interaction mean square of the I x J FOM table over all readers is

    E[MS(TR)] = sigma2_TR + (1/J) sum_g J_g (Var_g - Cov1_g) - S / (J (J - 1)),               (2)

so that (1) = (2/J) [E MS(TR) + S / (J - 1)]. Writing Cov2 - Cov3 for the covariances
averaged over the groups' reader pairs (weights J_g (J_g - 1): equal weights for groups of
equal size), S / (J - 1) = J_pairs (Cov2 - Cov3) with
``J_pairs = sum_g J_g (J_g - 1) / (J - 1)``, and the RRRC statistic is

    F = MS(T) / [MS(TR) + J_pairs max(Cov2 - Cov3, 0)],
    ddf = [MS(TR) + J_pairs max(Cov2 - Cov3, 0)]^2 / (MS(TR)^2 / ((I-1)(J-1)))   (3)

(Hillis's ddf, Hillis, Stat Med 26, 2007; the clamp at 0 as in RJafroc 2.1.3's OR).
With one group J_pairs = J and (3) is the crossed OR RRRC test of
:func:`stats.mrmc.or_analysis`; with one reader per group (cases nested within readers)
J_pairs = 0 and it is the paired t-test of the readers' FOM differences.
A modality's own mean uses the same algebra with MS_R(i) (the reader mean square within
modality i) and Cov2_i:  ``Var(theta_i.) = [MS_R(i) + J_pairs max(Cov2_i, 0)] / J``
with Hillis's df ``(.)^2 / (MS_R(i)^2 / (J-1))``.

FRRC (readers fixed) needs only the covariances:
``Var(theta_a. - theta_b.) = (2/J^2) [sum_g J_g (Var_g - Cov1_g) + max(S, 0)]``, a
chi-square test on I - 1 df; RRFC (cases fixed) is ``MS(T) / MS(TR)`` on (I-1)(J-1) df.
Both reduce to :func:`stats.mrmc.or_analysis`'s with one group.

(1)-(3) hold for any within-group covariances, so the test needs no assumption that the
groups share them; its size is checked by simulation in tests/stats/test_splitplot.py.
Using J in place of J_pairs (the crossed error term with pooled covariances) would count
the between-group reader pairs as correlated and, when Cov2 > Cov3, overstate the variance.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .covariance import (
    COVARIANCE_METHODS,
    covariance_bootstrap,
    covariance_delong,
    covariance_jackknife,
    covariance_summary,
)
from .dataset import DatasetError, ReaderStudy
from .fom import Jackknife, jackknife
from .mrmc import (
    Difference,
    MRMCResult,
    _difference,
    _fom_mean_squares,
    _modality_estimate,
    or_tests,
    or_tests_defined,
)


@dataclass(frozen=True, kw_only=True)
class SplitPlotResult(MRMCResult):
    """An OR result of a split-plot study; ``groups`` holds each reader group's readers and cases."""

    groups: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()


def split_plot_method_name(n_groups: int, covariance: str = "jackknife") -> str:
    """The name results carry, e.g. ``split-plot OR, 2 reader groups``."""
    groups = "1 reader group" if n_groups == 1 else f"{n_groups} reader groups"
    name = f"split-plot OR, {groups}"
    return name if covariance == "jackknife" else f"{name} ({covariance} covariance)"


def _group_covariance(
    data: ReaderStudy, fom: str, jk: Jackknife, covariance: str, n_boot: int, seed
) -> np.ndarray:
    if covariance == "jackknife":
        return covariance_jackknife(jk)
    if covariance == "bootstrap":
        return covariance_bootstrap(data, fom, n_boot, seed)
    if covariance == "DeLong":
        return covariance_delong(data, fom)
    raise DatasetError(
        f"Unknown covariance method '{covariance}'; use one of {', '.join(COVARIANCE_METHODS)}."
    )


def _check_groups(groups: Sequence[ReaderStudy]) -> None:
    if not groups:
        raise DatasetError("A split-plot analysis needs at least one reader group.")
    modalities = groups[0].modality_ids
    if any(g.modality_ids != modalities for g in groups):
        raise DatasetError("Every reader group must read the same modalities, in the same order.")
    if len(modalities) < 2:
        raise DatasetError("Significance testing compares modalities; this dataset has one.")
    if any(g.kind == "ROI" for g in groups):
        raise DatasetError("ROI data needs Obuchowski's ROI covariance, which is not implemented.")
    readers = [r for g in groups for r in g.reader_ids]
    if len(set(readers)) != len(readers):
        raise DatasetError("A reader belongs to more than one reader group.")
    cases = [c for g in groups for c in g.case_ids]
    if len(set(cases)) != len(cases):
        raise DatasetError("The reader groups' case subsets must be disjoint.")
    if len(readers) < 2:
        raise DatasetError("MRMC analysis needs at least two readers.")


def split_plot_or_analysis(
    groups: Sequence[ReaderStudy],
    fom: str,
    jackknifes: Sequence[Jackknife] | None = None,
    *,
    covariance: str = "jackknife",
    n_boot: int = 200,
    seed: int | None = 0,
) -> SplitPlotResult:
    """OR analysis (RRRC, FRRC, RRFC) of a split-plot study, one ReaderStudy per reader group.

    Equations (1)-(3) and the FRRC/RRFC forms of the module docstring; covariances are
    estimated within each group by ``covariance`` (as :func:`stats.mrmc.or_analysis`).
    """
    _check_groups(groups)
    jks = list(jackknifes) if jackknifes is not None else [jackknife(g, fom) for g in groups]
    if len(jks) != len(groups):
        raise DatasetError("Give one jackknife per reader group.")
    foms = np.concatenate([jk.fom for jk in jks], axis=1)  # [I, J]
    i_n, j_n = foms.shape
    mods = groups[0].modality_ids
    rdrs = tuple(r for g in groups for r in g.reader_ids)
    sizes = np.array([g.shape[1] for g in groups], dtype=float)
    pairs = sizes * (sizes - 1)
    ms = _fom_mean_squares(foms)
    ms_r_i = np.sum((foms - foms.mean(axis=1, keepdims=True)) ** 2, axis=1) / (j_n - 1)

    covs = [
        _group_covariance(g, fom, jk, covariance, n_boot, seed) for g, jk in zip(groups, jks, strict=True)
    ]
    summaries = [covariance_summary(c) for c in covs]
    per_mod = [[covariance_summary(c[i : i + 1, :, i : i + 1, :]) for i in range(i_n)] for c in covs]

    def reader_weighted(key: str) -> float:  # (1/J) sum_g J_g X_g
        return float(sum(n * s[key] for n, s in zip(sizes, summaries, strict=True)) / j_n)

    def pair_sum(values: Sequence[float]) -> float:  # sum_g J_g (J_g - 1) X_g
        return float(sum(p * v for p, v in zip(pairs, values, strict=True)))

    var, cov1 = reader_weighted("Var"), reader_weighted("Cov1")
    s_23 = pair_sum([s["Cov2"] - s["Cov3"] for s in summaries])  # S of (1)
    n_pairs = float(pairs.sum())
    cov2 = pair_sum([s["Cov2"] for s in summaries]) / n_pairs if n_pairs else 0.0
    cov3 = pair_sum([s["Cov3"] for s in summaries]) / n_pairs if n_pairs else 0.0

    # Variance components from (2) and from E[MS(R)] (the same algebra for reader means).
    var_tr = ms["MS(TR)"] - var + cov1 + s_23 / (j_n * (j_n - 1))
    s_r = pair_sum([s["Cov2"] + (i_n - 1) * s["Cov3"] for s in summaries])
    var_r = (ms["MS(R)"] - var_tr - var - (i_n - 1) * cov1 + s_r / (j_n * (j_n - 1))) / i_n

    frrc_error = var - cov1 + max(s_23, 0.0) / j_n
    or_tests_defined(ms, frrc_error)
    means = foms.mean(axis=1)

    # RRRC, (3).
    error = ms["MS(TR)"] + max(s_23, 0.0) / (j_n - 1)
    rrrc_est = []
    for i in range(i_n):
        s2_i = pair_sum([pm[i]["Cov2"] for pm in per_mod])
        e_i = ms_r_i[i] + max(s2_i, 0.0) / (j_n - 1)
        rrrc_est.append(
            _modality_estimate(mods[i], means[i], e_i / j_n, e_i**2 / (ms_r_i[i] ** 2 / (j_n - 1)))
        )

    # FRRC: chi-square on I - 1 df.
    frrc_est = []
    for i in range(i_n):
        var_i = float(sum(n * pm[i]["Var"] for n, pm in zip(sizes, per_mod, strict=True)))
        s2_i = pair_sum([pm[i]["Cov2"] for pm in per_mod])
        frrc_est.append(_modality_estimate(mods[i], means[i], (var_i + max(s2_i, 0.0)) / j_n**2, np.inf))
    readers: list[Difference] = []
    column = 0
    for g, c in zip(groups, covs, strict=True):
        for j in range(g.shape[1]):
            c_j = covariance_summary(c[:, j : j + 1, :, j : j + 1])
            for a, b in combinations(range(i_n), 2):
                readers.append(
                    _difference(
                        (mods[a], mods[b]),
                        foms[a, column] - foms[b, column],
                        2 * (c_j["Var"] - c_j["Cov1"]),
                        np.inf,
                        rdrs[column],
                    )
                )
            column += 1
    rrfc_est = [_modality_estimate(mods[i], means[i], ms_r_i[i] / j_n, j_n - 1) for i in range(i_n)]
    estimates = {"RRRC": rrrc_est, "FRRC": frrc_est, "RRFC": rrfc_est}
    tests = or_tests(mods, means, ms, j_n, error, frrc_error, estimates, readers)
    components = {
        "VarR": float(var_r),
        "VarTR": float(var_tr),
        "Var": var,
        "Cov1": cov1,
        "Cov2": float(cov2),
        "Cov3": float(cov3),
    }
    return SplitPlotResult(
        method=split_plot_method_name(len(groups), covariance),
        fom_name=fom,
        modality_ids=mods,
        reader_ids=rdrs,
        foms=foms,
        variance_components=components,
        mean_squares=ms,
        tests=tests,
        groups=tuple((g.reader_ids, tuple(g.case_ids)) for g in groups),
    )
