"""Binormal and contaminated binormal ROC fits (stats.fits): against real RJafroc 2.1.3's
FitBinormalRoc and FitCbmRoc, and on simulated data of known parameters."""

import numpy as np
import pytest
from scipy import stats

from stats.dataset import DatasetError, roc_study
from stats.fits import _binormal_cdf, _cbm_cdf, _nll, binned_counts, fit_all, fit_binormal, fit_cbm
from stats.io_plain import read_plain

from .reference import DATASETS
from .rjafroc_support import r_call, require_rjafroc

ROC_DATASETS = ("dataset02", "dataset03", "dataset14")


def simulated(model: str, seed: int = 1, n: int = 4000) -> tuple:
    """Five-category ratings of n normal and n abnormal cases from a known model."""
    rng = np.random.default_rng(seed)
    zetas = np.array([-0.5, 0.3, 1.0, 1.8])
    normal = rng.normal(size=n)
    if model == "binormal":
        a, b = 1.2, 0.8
        abnormal = rng.normal(a / b, 1 / b, size=n)
        truth = {"a": a, "b": b}
    else:
        mu, alpha = 2.0, 0.7
        abnormal = np.where(rng.random(n) < alpha, rng.normal(mu, 1, n), rng.normal(0, 1, n))
        truth = {"mu": mu, "alpha": alpha}
    ratings = np.concatenate([np.searchsorted(zetas, normal), np.searchsorted(zetas, abnormal)]) + 1.0
    return roc_study(ratings[None, None], n, ["M"], ["R"]), truth, zetas


@pytest.mark.parametrize("model", ["binormal", "cbm"])
def test_recovers_known_parameters(model):
    data, truth, zetas = simulated(model)
    fit = (fit_binormal if model == "binormal" else fit_cbm)(data)
    assert fit.note == ""
    for name, value in truth.items():
        assert fit.parameters[name] == pytest.approx(value, abs=0.08), name
    np.testing.assert_allclose(fit.zetas, zetas, atol=0.08)
    if model == "binormal":
        a, b = truth["a"], truth["b"]
        true_auc = stats.norm.cdf(a / np.sqrt(1 + b**2))
        assert fit.auc == pytest.approx(
            stats.norm.cdf(fit.parameters["a"] / np.sqrt(1 + fit.parameters["b"] ** 2))
        )
    else:
        true_auc = 0.3 / 2 + 0.7 * stats.norm.cdf(2 / np.sqrt(2))
    assert fit.se_auc is not None and 0 < fit.se_auc < 0.02
    assert abs(fit.auc - true_auc) < 3 * fit.se_auc


@pytest.mark.parametrize("model", ["binormal", "cbm"])
def test_the_maximum_is_a_stationary_point(model):
    data, _, _ = simulated(model, seed=2, n=300)
    fit = (fit_binormal if model == "binormal" else fit_cbm)(data)
    fp, tp = data.nl[0, 0, :300, 0], data.ll[0, 0, :, 0]
    f, t, _, _ = binned_counts(fp, tp)
    theta = np.r_[list(fit.parameters.values()), fit.zetas]
    value, grad = _nll(theta, f, t, _binormal_cdf if model == "binormal" else _cbm_cdf)
    assert value == pytest.approx(fit.nll, rel=1e-15)
    assert np.max(np.abs(grad)) < 1e-7
    # the analytic gradient is the derivative of the likelihood
    step = 1e-6
    for k in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        cdf = _binormal_cdf if model == "binormal" else _cbm_cdf
        numeric = (_nll(up, f, t, cdf)[0] - _nll(down, f, t, cdf)[0]) / (2 * step)
        assert numeric == pytest.approx(grad[k], abs=1e-5)


def test_degenerate_data_as_rjafroc_treats_it():
    # every operating point on the edges of the ROC square: perfect separation
    ratings = np.array([[[1.0, 1, 2, 3, 3, 4]]])
    data = roc_study(ratings, 3, ["M"], ["R"])
    binormal = fit_binormal(data)
    assert "degenerate" in binormal.note and np.isnan(binormal.auc) and binormal.se_auc is None
    cbm = fit_cbm(data)
    assert (cbm.parameters["mu"], cbm.parameters["alpha"], cbm.auc, cbm.se_auc) == (6.0, 1.0, 1.0, None)


def test_froc_data_are_fitted_as_their_highest_ratings():
    data = read_plain(DATASETS / "dataset04")
    fit = fit_binormal(data, 1, 2)
    k1 = data.k1
    fp = data.nl[1, 2, :k1].max(axis=1)
    tp = np.maximum(data.nl[1, 2, k1:].max(axis=1), data.ll[1, 2].max(axis=1))
    low = min(data.nl[np.isfinite(data.nl)].min(), data.ll[np.isfinite(data.ll)].min()) - 1
    ratings = np.where(np.isfinite(np.r_[fp, tp]), np.r_[fp, tp], low)
    same = fit_binormal(roc_study(ratings[None, None], k1, ["M"], ["R"]))
    assert fit.parameters == same.parameters and fit.auc == same.auc


def test_fit_all_checks_its_input():
    data = read_plain(DATASETS / "dataset02")
    with pytest.raises(DatasetError, match="Unknown ROC model"):
        fit_all(data, "rsm")
    fits = fit_all(data, "binormal")
    assert [(f.modality, f.reader) for f in fits[:2]] == [("0", "0"), ("0", "1")]


def _number(x) -> float:
    """An R number (NA, of any type, as nan)."""
    import rpy2.robjects as ro

    if bool(ro.r["is.na"](x)[0]):
        return float("nan")
    return float(np.asarray(x, dtype=float).ravel()[0])


@pytest.fixture(scope="module")
def rjafroc_fits():
    """RJafroc's FitBinormalRoc and FitCbmRoc and ours, every modality and reader of the ROC datasets."""
    require_rjafroc()
    from stats.rjafroc_engine import r_dataset_in_memory

    out = []
    for name in ROC_DATASETS:
        data = read_plain(DATASETS / name)
        ds = r_dataset_in_memory(data)
        n_i, n_j, _ = data.shape
        for i in range(n_i):
            for j in range(n_j):
                for model, fit, function in (
                    ("binormal", fit_binormal, "FitBinormalRoc"),
                    ("cbm", fit_cbm, "FitCbmRoc"),
                ):
                    out.append((name, model, data, i, j, fit(data, i, j), r_call(function, ds, i + 1, j + 1)))
    return out


# RJafroc's fits stop where optim's BFGS (reltol 1e-8 on the likelihood) stops, so its
# parameters are good to about 4-6 digits; ours are the maximum to about 1e-10.
PARAMETER_RTOL, AUC_RTOL, SE_RTOL = 5e-4, 3e-5, 2e-4


def test_binormal_fits_agree_with_rjafroc(rjafroc_fits):
    compared = 0
    for name, model, data, i, j, ours, r in rjafroc_fits:
        if model != "binormal":
            continue
        where = f"{name} trt {i + 1} rdr {j + 1}"
        if ours.note:  # degenerate: RJafroc warns and returns NA
            assert "degenerate" in ours.note and np.isnan(_number(r.rx2("AUC"))), where
            continue
        r_nll = _number(r.rx2("NLLFin"))
        # our likelihood at RJafroc's estimates is RJafroc's likelihood (BMNLLInner)
        theta = np.r_[_number(r.rx2("a")), _number(r.rx2("b")), np.asarray(r.rx2("zetas"), dtype=float)]
        fp, tp = data.nl[i, j, : data.k1, 0], data.ll[i, j, :, 0]
        f, t, _, _ = binned_counts(fp[np.isfinite(fp)], tp)
        assert _nll(theta, f, t, _binormal_cdf)[0] == pytest.approx(r_nll, rel=1e-12), where
        assert ours.nll <= r_nll + 1e-9, where  # our maximum is at least as high
        assert ours.nll == pytest.approx(r_nll, abs=1e-5), where
        assert ours.parameters["a"] == pytest.approx(_number(r.rx2("a")), rel=PARAMETER_RTOL), where
        assert ours.parameters["b"] == pytest.approx(_number(r.rx2("b")), rel=PARAMETER_RTOL), where
        assert ours.auc == pytest.approx(_number(r.rx2("AUC")), rel=AUC_RTOL), where
        assert ours.se_auc == pytest.approx(_number(r.rx2("StdAUC")), rel=SE_RTOL), where
        compared += 1
    assert compared == 10 - 1 + 8 + 8


def test_cbm_fits_agree_with_rjafroc(rjafroc_fits):
    """Where both reach the same maximum (RJafroc's likelihood within 1e-6 of ours) every
    number agrees; where RJafroc's BFGS stopped early on the ridge towards mu = maxMu
    (dataset02 trt 1 rdr 4, trt 2 rdr 2 and rdr 5) our maximum is higher."""
    compared, ridge = 0, []
    for name, model, _data, i, j, ours, r in rjafroc_fits:
        if model != "cbm":
            continue
        where = f"{name} trt {i + 1} rdr {j + 1}"
        r_values = (_number(r.rx2("mu")), _number(r.rx2("alpha")), _number(r.rx2("AUC")))
        if "degenerate" in ours.note:
            assert (ours.parameters["mu"], ours.parameters["alpha"], ours.auc) == r_values, where
            continue
        r_nll = _number(r.rx2("NLLFin"))  # before any refit with a parameter fixed
        fixed = ours.parameters["alpha"] == pytest.approx(0.98, abs=1e-15) or ours.parameters["mu"] > 5.98
        if not fixed:
            assert ours.nll <= r_nll + 1e-9, where
        if fixed and ours.nll < r_nll - 1e-6 and abs(r_values[0] - ours.parameters["mu"]) > 1e-3:
            ridge.append(where)
            continue
        assert ours.parameters["mu"] == pytest.approx(r_values[0], rel=PARAMETER_RTOL), where
        assert ours.parameters["alpha"] == pytest.approx(r_values[1], rel=PARAMETER_RTOL), where
        assert ours.auc == pytest.approx(r_values[2], rel=AUC_RTOL), where
        r_se = _number(r.rx2("StdAUC"))
        assert (ours.se_auc is None) == np.isnan(r_se), where
        if ours.se_auc is not None:
            assert ours.se_auc == pytest.approx(r_se, rel=SE_RTOL), where
        compared += 1
    assert ridge == ["dataset02 trt 1 rdr 4", "dataset02 trt 2 rdr 2", "dataset02 trt 2 rdr 5"]
    assert compared == 10 - 1 - 3 + 8 + 8
