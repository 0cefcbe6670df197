"""Sample size and power from pilot OR variance components."""

import pytest

from stats.io_plain import read_plain
from stats.power import cases_for_power, pilot_components, power_or

from .reference import DATASETS


@pytest.fixture(scope="module")
def franken():
    return pilot_components(read_plain(DATASETS / "dataset03"), "Wilcoxon")


def test_cases_for_power_reproduces_rjafroc(franken):
    """RJafroc 2.1.3: SsSampleSizeKGivenJ(dataset03, "Wilcoxon", effectSize = 0.05, J = 6,
    method = "OR") gives powerRRRC = 0.8004469 (its test suite, test-SsSampleSizeRoc.R)."""
    components, pilot = franken
    result = cases_for_power(components, pilot, readers=6, effect_size=0.05)
    assert result.cases == 121
    assert result.power == pytest.approx(0.8004469, abs=1e-7)
    assert power_or(components, pilot, readers=6, cases=120, effect_size=0.05).power < 0.8


def test_power_grows_with_readers_cases_and_effect(franken):
    components, pilot = franken
    base = power_or(components, pilot, readers=5, cases=100, effect_size=0.05).power
    assert power_or(components, pilot, readers=8, cases=100, effect_size=0.05).power > base
    assert power_or(components, pilot, readers=5, cases=200, effect_size=0.05).power > base
    assert power_or(components, pilot, readers=5, cases=100, effect_size=0.08).power > base
    assert power_or(components, pilot, readers=5, cases=100, effect_size=0.0).power == pytest.approx(0.05)


def test_each_option_and_unreachable_power():
    components, pilot = pilot_components(read_plain(DATASETS / "dataset02"), "Wilcoxon")
    for option in ("RRRC", "FRRC", "RRFC"):
        result = power_or(components, pilot, readers=6, cases=150, effect_size=0.05, option=option)
        assert 0.05 < result.power < 1
    assert power_or(components, pilot, readers=6, cases=150, effect_size=0.05, option="FRRC").ddf == float(
        "inf"
    )
    with pytest.raises(ValueError, match="cannot reach power"):
        cases_for_power(components, pilot, readers=2, effect_size=0.01, option="RRFC", max_cases=1000)


# --------------------------------------------------------------------------- against real RJafroc

#: R's non-central F and beta distribution functions stop their series at an absolute error
#: of 1e-9 (``errmax`` in R's nmath/pnbeta.c), so RJafroc's power is good to about that;
#: the non-centrality and degrees of freedom it is computed from agree to 1e-9 relative.
R_NONCENTRAL_ATOL = 2e-9


def _r_power(name_or_components, fom: str, readers: int, cases: int, effect: float, option: str) -> dict:
    """RJafroc 2.1.3's ``SsPowerGivenJK`` (method OR): from a two-modality ROC dataset of its own,
    or from the OR variance components (the list route, for FROC pilots it refuses as datasets)."""
    import rpy2.robjects as ro

    from .rjafroc_support import r_call, r_eval, r_frame

    common = dict(FOM=fom, J=readers, K=cases, effectSize=effect, method="OR", analysisOption=option)
    if isinstance(name_or_components, str):
        frame = r_call("SsPowerGivenJK", r_eval(f"RJafroc::{name_or_components}"), **common)
    else:
        components, pilot_cases = name_or_components
        values = ro.r["list"](
            KStar=pilot_cases, **{k: components[k] for k in ("VarTR", "Cov1", "Cov2", "Cov3", "Var")}
        )
        frame = r_call("SsPowerGivenJK", ro.NULL, values, **common)
    (row,) = r_frame(frame).values()
    return {key.removesuffix(option): value for key, value in row.items()}


@pytest.mark.parametrize("option", ["RRRC", "FRRC", "RRFC"])
@pytest.mark.parametrize(("readers", "cases"), [(4, 60), (10, 250)])
@pytest.mark.parametrize("name", ["dataset02", "dataset03"])
def test_power_equals_rjafroc_for_roc_pilots(name, readers, cases, option):
    from .rjafroc_support import RTOL, require_rjafroc

    require_rjafroc()
    components, pilot = pilot_components(read_plain(DATASETS / name), "Wilcoxon")
    ours = power_or(components, pilot, readers=readers, cases=cases, effect_size=0.05, option=option)
    r = _r_power(name, "Wilcoxon", readers, cases, 0.05, option)
    assert ours.power == pytest.approx(r["power"], rel=RTOL, abs=R_NONCENTRAL_ATOL)
    assert ours.ncp == pytest.approx(r["ncp"], rel=RTOL)
    if option != "FRRC":  # RJafroc's FRRC df is NA: a chi-square test
        assert ours.ddf == pytest.approx(r["df2"], rel=RTOL)


@pytest.mark.parametrize("option", ["RRRC", "FRRC", "RRFC"])
@pytest.mark.parametrize("name", ["dataset04", "dataset05"])
def test_power_equals_rjafroc_for_froc_pilots_from_their_components(name, option):
    """RJafroc's SsPowerGivenJK takes only ROC datasets; FROC pilots go in as OR components
    (its documented route for them), here the wAFROC components of its own St()."""
    from .rjafroc_support import RTOL, r_call, r_eval, require_rjafroc

    require_rjafroc()
    data = read_plain(DATASETS / name)
    components, pilot = pilot_components(data, "wAFROC")
    import rpy2.robjects as ro

    st = r_call("St", r_eval(f"RJafroc::DfExtractDataset(RJafroc::{name}, trts = c(1, 2))"), FOM="wAFROC")
    var_com = st.rx2("ANOVA").rx2("VarCom")
    rows = list(ro.r["rownames"](var_com))
    estimates = list(var_com.rx2("Estimates"))
    r_components = dict(zip(rows, estimates, strict=True))
    for key in ("VarTR", "Cov1", "Cov2", "Cov3", "Var"):
        assert components[key] == pytest.approx(r_components[key], rel=RTOL, abs=1e-15), key
    ours = power_or(components, pilot, readers=6, cases=150, effect_size=0.05, option=option)
    r = _r_power((r_components, pilot), "wAFROC", 6, 150, 0.05, option)
    assert ours.power == pytest.approx(r["power"], rel=RTOL, abs=R_NONCENTRAL_ATOL)
    assert ours.ncp == pytest.approx(r["ncp"], rel=RTOL)
