"""Sample size and power of a planned two-modality MRMC study (Obuchowski-Rockette method).

From the OR variance components of a pilot study with K* cases (``stats.mrmc.or_analysis``),
the power of a pivotal study with J readers and K cases to detect an effect size d
(difference of reader-averaged FOMs) follows Hillis, Obuchowski & Berbaum, "Power
estimation for multireader ROC methods: an updated and unified approach", Acad Radiol
18(2), 2011. The case-dependent components scale as K*/K:

    D    = VarTR + (K*/K) (Var - Cov1 + (J-1) (Cov2 - Cov3))
    ncp  = J d^2 / (2 D)
    ddf  = D^2 / ((VarTR + (K*/K) (Var - Cov1 - (Cov2 - Cov3)))^2 / (J - 1))      (RRRC)

power = P(F'(1, ddf, ncp) > F(1 - alpha; 1, ddf)). As RJafroc 2.1.3 does, negative
VarTR and Cov2 - Cov3 estimates are set to 0. Readers fixed (FRRC): D without VarTR and
an infinite ddf (non-central chi-square); cases fixed (RRFC): D = VarTR + (K*/K)(Var -
Cov1 - (Cov2 - Cov3)) with ddf = J - 1 (Hillis et al. 2011, Table 1).
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .dataset import ReaderStudy
from .fom import DEFAULT_FPF
from .mrmc import OPTIONS, or_analysis


@dataclass(frozen=True, kw_only=True)
class PowerResult:
    option: str
    readers: int
    cases: int
    effect_size: float
    alpha: float
    power: float
    ncp: float
    ddf: float  # inf for the chi-square (FRRC) test


def power_or(
    components: dict[str, float],
    pilot_cases: int,
    *,
    readers: int,
    cases: int,
    effect_size: float,
    option: str = "RRRC",
    alpha: float = 0.05,
) -> PowerResult:
    """Power of a pivotal study with ``readers`` and ``cases`` (see the module docstring)."""
    if option not in OPTIONS:
        raise ValueError(f"option must be one of {OPTIONS}")
    if readers < 2 or cases < 1:
        raise ValueError("A pivotal study needs at least two readers and one case.")
    scale = pilot_cases / cases
    var_tr = max(components["VarTR"], 0.0)
    between = max(components["Cov2"] - components["Cov3"], 0.0)
    within = components["Var"] - components["Cov1"]
    if option == "RRRC":
        denominator = var_tr + scale * (within + (readers - 1) * between)
        ddf = denominator**2 / ((var_tr + scale * (within - between)) ** 2 / (readers - 1))
    elif option == "FRRC":
        denominator = scale * (within + (readers - 1) * between)
        ddf = np.inf
    else:
        denominator = var_tr + scale * (within - between)
        ddf = float(readers - 1)
    ncp = readers * effect_size**2 / (2 * denominator)
    if ncp == 0:  # no effect: the power is the size of the test (scipy's non-central sf fails at 0)
        power = alpha
    elif np.isinf(ddf):
        power = sps.ncx2.sf(sps.chi2.isf(alpha, 1), 1, ncp)
    else:
        power = sps.ncf.sf(sps.f.isf(alpha, 1, ddf), 1, ddf, ncp)
    return PowerResult(
        option=option,
        readers=readers,
        cases=cases,
        effect_size=effect_size,
        alpha=alpha,
        power=float(power),
        ncp=float(ncp),
        ddf=float(ddf),
    )


def cases_for_power(
    components: dict[str, float],
    pilot_cases: int,
    *,
    readers: int,
    effect_size: float,
    desired_power: float = 0.8,
    option: str = "RRRC",
    alpha: float = 0.05,
    max_cases: int = 100_000,
) -> PowerResult:
    """The smallest number of cases giving at least ``desired_power`` with ``readers`` readers.

    Raises ValueError when even ``max_cases`` cases are not enough (e.g. for RRRC, when
    reader variability alone keeps the power below the target).
    """

    def power_at(k: int) -> PowerResult:
        return power_or(
            components,
            pilot_cases,
            readers=readers,
            cases=k,
            effect_size=effect_size,
            option=option,
            alpha=alpha,
        )

    if power_at(max_cases).power < desired_power:
        raise ValueError(
            f"{readers} readers cannot reach power {desired_power} with up to {max_cases} cases."
        )
    low, high = 1, max_cases  # power increases with cases: bisect for the first k that suffices
    while low < high:
        middle = (low + high) // 2
        if power_at(middle).power >= desired_power:
            high = middle
        else:
            low = middle + 1
    return power_at(low)


def pilot_components(
    data: ReaderStudy, fom: str, modalities: tuple[int, int] = (0, 1), *, fpf: float = DEFAULT_FPF
) -> tuple[dict, int]:
    """OR variance components of a pilot dataset (two of its modalities) and its number of cases
    (``fpf``: the false-positive fraction of PCL and ALROC)."""
    if data.shape[0] > 2:
        data = data.subset(modalities=modalities)
    result = or_analysis(data, fom, fpf=fpf)
    return result.variance_components, data.shape[2]
