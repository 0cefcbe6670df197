"""Parametric ROC fits by maximum likelihood: the binormal model and the contaminated
binormal model (CBM), one reader and modality at a time, as RJafroc 2.1.3 fits them.

Ratings are binned into their distinct values (RJafroc's ``RawOpPtsROC2ROC`` and
``UtilBinCountsOpPts``): bin ``i`` (ascending) holds ``f_i`` normal and ``t_i`` abnormal cases,
and with thresholds ``zeta_1 < ... < zeta_{L-1}`` (``zeta_0 = -inf``, ``zeta_L = inf``) the
log likelihood is ``sum_i f_i log Q_i + t_i log P_i`` (Dorfman & Alf, J Math Psychol 6, 1969,
eq. 5), ``Q_i = Phi(zeta_{i+1}) - Phi(zeta_i)`` for the normal cases (N(0, 1)) and

* binormal (Dorfman & Alf 1969; Metz, Invest Radiol 21, 1986; RJafroc ``FitBinormalRoc``,
  C++ ``BMNLLInner``): ``P_i = Phi(b zeta_{i+1} - a) - Phi(b zeta_i - a)``, the abnormal
  cases N(a / b, 1 / b²); ROC curve ``TPF = Phi(a + b Phi^-1(FPF))``, ``AUC = Phi(a / sqrt(1 +
  b²))``;
* CBM (Dorfman & Berbaum, Acad Radiol 7, 2000; RJafroc ``FitCbmRoc``, ``CBMNLLInner``): a
  fraction ``alpha`` of abnormal cases shows its disease, N(mu, 1), the others look normal:
  ``P_i = (1 - alpha) Q_i + alpha (Phi(zeta_{i+1} - mu) - Phi(zeta_i - mu))``;
  ``AUC = (1 - alpha) / 2 + alpha Phi(mu / sqrt(2))``.

The likelihood is maximised with scipy's BFGS on RJafroc's transformed parameters (bounded
``v = lo + (hi - lo) exp(-exp(u))`` with RJafroc's bounds: ``a`` in (-4, 4), ``b`` in (0.01,
4), ``mu`` in (0.01, maxMu) with maxMu 6 (raised as RJafroc does for an empirical AUC at
or above ``Phi(6 / sqrt(2))``, to ``Phi^-1(AUC) sqrt(2) + 0.5``; left at 6 for an AUC of 1,
where RJafroc 2.1.3's loop never ends), ``alpha`` in (0.01, 0.99); thresholds as the first and the
logs of the successive differences), with the analytic gradient, then polished by Newton
steps. The AUC's standard error is the delta method on the inverse of the observed
information (the Hessian of the negative log likelihood, by central differences of the
analytic gradient), as RJafroc's ``StdDevBinormalAuc1`` / ``StdDevCbmAuc`` compute it from
``mle2``'s covariance (the delta method is invariant to the parametrisation at the maximum).

FROC data are fitted as the ROC data of their highest ratings (``DfFroc2Roc``), normal
cases giving the false positives. (RJafroc's own ``FitBinormalRoc`` on FROC data also counts
the highest NL of each *abnormal* case as a false positive, as it keeps every case of its
converted NL array; ``FitCbmRoc`` refuses FROC data.) RJafroc's handling of special cases is
followed: data whose operating points all lie on
the edges of the ROC square, or near its origin, are *degenerate* (``isDataDegenerate``):
the binormal fit is refused (``note`` says why, numbers are NaN); the CBM gives ``mu = 0,
alpha = 0, AUC = 0.5`` or ``mu = maxMu, alpha = max TPF, AUC = 1``. A CBM fit reaching
``mu > maxMu - 0.01`` or ``alpha > 0.98`` is refitted with that parameter fixed there; when
``mu`` is within 0.1 of maxMu or ``alpha`` within 0.1 of 1 the standard error is not given
(``se_auc`` None). Not reproduced: RJafroc's CBM objective returns 1e10 where the lowest
threshold leaves [-2, 2] or the highest exceeds 10; a fit whose thresholds lie there says
so in ``note``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .dataset import DatasetError, ReaderStudy

MODELS = ("binormal", "cbm")
BOUNDS = {"a": (-4.0, 4.0), "b": (0.01, 4.0), "mu": (0.01, 6.0), "alpha": (0.01, 0.99)}


@dataclass(frozen=True, kw_only=True)
class RocFit:
    """A fitted ROC model of one modality and reader.

    ``parameters`` holds ``a``, ``b`` (binormal) or ``mu``, ``alpha`` (CBM); ``zetas`` the
    thresholds; ``covariance`` the inverse observed information of (the two parameters, the
    thresholds); ``se_auc`` None where the fit gives none (see the module docstring), and
    ``note`` says why (empty otherwise).
    """

    model: str
    modality: str
    reader: str
    parameters: dict[str, float]
    zetas: np.ndarray
    auc: float
    se_auc: float | None
    nll: float
    covariance: np.ndarray | None
    fpf: np.ndarray
    tpf: np.ndarray
    note: str = ""


def binned_counts(fp: np.ndarray, tp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts of normal and abnormal ratings in each distinct rating (ascending) and the
    empirical operating points (highest threshold first, the trivial (1, 1) left out),
    as RJafroc's ``RawOpPtsROC2ROC``."""
    values = np.unique(np.concatenate([fp, tp]))
    f = np.array([(fp == v).sum() for v in values], dtype=float)
    t = np.array([(tp == v).sum() for v in values], dtype=float)
    fpf = np.cumsum(f[::-1])[:-1] / len(fp)
    tpf = np.cumsum(t[::-1])[:-1] / len(tp)
    return f, t, fpf, tpf


def degenerate(fpf: np.ndarray, tpf: np.ndarray) -> str:
    """RJafroc's ``isDataDegenerate``: why the operating points cannot be fitted, or ''."""
    edge = (fpf == 0) | (tpf == 0) | (fpf == 1) | (tpf == 1)
    if np.all(edge):
        return "degenerate data: every operating point lies on an edge of the ROC square"
    if fpf.max(initial=0) * tpf.max(initial=0) < 0.025:
        return "degenerate data: the operating points lie near the origin"
    return ""


def _forward(v: float, lo: float, hi: float) -> float:
    return float(np.log(-np.log((v - lo) / (hi - lo))))


def _inverse(u: np.ndarray | float, lo: float, hi: float) -> np.ndarray | float:
    return lo + (hi - lo) * np.exp(-np.exp(u))


def _d_inverse(u: float, lo: float, hi: float) -> float:
    return float(-(hi - lo) * np.exp(-np.exp(u)) * np.exp(u))


Cdf = Callable[[np.ndarray, float, float], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def _binormal_cdf(z: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Abnormal cases' cdf at z and its derivatives in (a, b, z): Phi(b z - a)."""
    s = b * z - a
    pdf = stats.norm.pdf(s)
    finite = np.where(np.isfinite(z), z, 0.0)  # z pdf is 0 at +-inf
    return stats.norm.cdf(s), -pdf, finite * pdf, b * pdf


def _cbm_cdf(z: np.ndarray, mu: float, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Abnormal cases' cdf (1 - alpha) Phi(z) + alpha Phi(z - mu) and its derivatives."""
    c0, c1 = stats.norm.cdf(z), stats.norm.cdf(z - mu)
    p0, p1 = stats.norm.pdf(z), stats.norm.pdf(z - mu)
    return (1 - alpha) * c0 + alpha * c1, -alpha * p1, c1 - c0, (1 - alpha) * p0 + alpha * p1


def _nll(theta: np.ndarray, f: np.ndarray, t: np.ndarray, cdf: Cdf) -> tuple[float, np.ndarray]:
    """Negative log likelihood and its gradient in the natural parameters (p1, p2, zetas)."""
    p1, p2, zetas = theta[0], theta[1], theta[2:]
    z = np.r_[-np.inf, zetas, np.inf]
    g, g_z = stats.norm.cdf(z), stats.norm.pdf(z)
    h, h_1, h_2, h_z = cdf(z, p1, p2)
    q, p = np.diff(g), np.diff(h)
    if np.any(q[f > 0] <= 0) or np.any(p[t > 0] <= 0):
        return np.inf, np.full(theta.shape, np.nan)
    fq = np.divide(f, q, out=np.zeros_like(f), where=f > 0)
    tp = np.divide(t, p, out=np.zeros_like(t), where=t > 0)
    value = -(f[f > 0] @ np.log(q[f > 0]) + t[t > 0] @ np.log(p[t > 0]))
    grad = np.empty_like(theta)
    grad[0] = -tp @ np.diff(h_1)
    grad[1] = -tp @ np.diff(h_2)
    grad[2:] = -((fq[:-1] - fq[1:]) * g_z[1:-1] + (tp[:-1] - tp[1:]) * h_z[1:-1])
    return float(value), grad


def _hessian(theta: np.ndarray, f: np.ndarray, t: np.ndarray, cdf: Cdf) -> np.ndarray:
    """The Hessian of the NLL by central differences of its analytic gradient."""
    n = len(theta)
    out = np.empty((n, n))
    for k in range(n):
        step = 1e-5 * max(1.0, abs(theta[k]))
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        out[:, k] = (_nll(up, f, t, cdf)[1] - _nll(down, f, t, cdf)[1]) / (2 * step)
    return (out + out.T) / 2


def _maximise(
    start: np.ndarray,
    f: np.ndarray,
    t: np.ndarray,
    cdf: Cdf,
    bounds: tuple[tuple[float, float], tuple[float, float]],
    fixed: dict[int, float],
) -> np.ndarray:
    """The maximum-likelihood natural parameters from ``start``; ``fixed``: index -> value."""
    free = [k for k in (0, 1) if k not in fixed]

    def natural(u: np.ndarray) -> np.ndarray:
        theta = np.empty(len(start))
        for k in (0, 1):
            theta[k] = fixed[k] if k in fixed else _inverse(u[free.index(k)], *bounds[k])
        zf = u[len(free) :]
        theta[2:] = zf[0] + np.r_[0.0, np.cumsum(np.exp(zf[1:]))]
        return theta

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        theta = natural(u)
        value, grad = _nll(theta, f, t, cdf)
        if not np.isfinite(value):
            return 1e10, np.zeros_like(u)
        out = np.empty_like(u)
        for n, k in enumerate(free):
            out[n] = grad[k] * _d_inverse(u[n], *bounds[k])
        zg = grad[2:]
        zf = u[len(free) :]
        # zeta_m = zf_0 + sum_{l <= m} exp(zf_l): d/dzf_0 = sum of all, d/dzf_l = exp(zf_l) sum_{m >= l}
        tail = np.cumsum(zg[::-1])[::-1]
        out[len(free)] = tail[0]
        out[len(free) + 1 :] = np.exp(zf[1:]) * tail[1:]
        return value, out

    u0 = np.r_[[_forward(start[k], *bounds[k]) for k in free], start[2], np.log(np.diff(start[2:]))]
    result = optimize.minimize(
        objective, u0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000}
    )
    theta = natural(result.x)
    # Newton polish in the natural parameters of the free ones (the bounds are not active here).
    index = [*free, *range(2, len(theta))]
    value = _nll(theta, f, t, cdf)[0]
    for _ in range(20):
        grad = _nll(theta, f, t, cdf)[1][index]
        hess = _hessian(theta, f, t, cdf)[np.ix_(index, index)]
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        trial = theta.copy()
        trial[index] -= step
        lows = [bounds[k][0] for k in free]
        highs = [bounds[k][1] for k in free]
        in_bounds = all(lo < trial[k] < hi for k, lo, hi in zip(free, lows, highs, strict=True))
        new = _nll(trial, f, t, cdf)[0] if in_bounds and np.all(np.diff(trial[2:]) > 0) else np.inf
        if not new <= value:
            break
        theta, value = trial, new
        if np.max(np.abs(step)) < 1e-12:
            break
    return theta


def _start_zetas(f: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Starting thresholds: normal quantiles of the pooled cumulative fractions, increasing."""
    cum = (np.cumsum(f) + np.cumsum(t))[:-1] / (f.sum() + t.sum())
    z = stats.norm.ppf(np.clip(cum, 1e-3, 1 - 1e-3))
    for k in range(1, len(z)):
        z[k] = max(z[k], z[k - 1] + 1e-3)
    return z


def _ratings(data: ReaderStudy, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Normal and abnormal case ratings.

    FROC data: the highest mark of each case (of any kind on an abnormal case), an unmarked
    case rated one below the dataset's lowest rating, as RJafroc's ``DfFroc2Roc``.
    """
    k1 = data.k1
    fp = data.nl[i, j, :k1].max(axis=-1)
    if data.kind in ("ROC", "LROC"):
        return fp, data.ll[i, j, :, 0]
    tp = np.maximum(data.nl[i, j, k1:].max(axis=-1), data.ll[i, j].max(axis=-1))
    given = np.concatenate([data.nl[np.isfinite(data.nl)], data.ll[np.isfinite(data.ll)]])
    below = given.min() - 1 if given.size else 0.0
    return np.where(np.isfinite(fp), fp, below), np.where(np.isfinite(tp), tp, below)


def fit_binormal(data: ReaderStudy, modality: int = 0, reader: int = 0) -> RocFit:
    """The binormal model of one modality and reader (RJafroc ``FitBinormalRoc``)."""
    fp, tp = _ratings(data, modality, reader)
    fp = fp[fp != -np.inf]  # as FitBinormalRoc: unrated normal cases are left out
    f, t, fpf, tpf = binned_counts(fp, tp)
    ids = dict(model="binormal", modality=data.modality_ids[modality], reader=data.reader_ids[reader])
    why = degenerate(fpf, tpf)
    if why:
        nan = float("nan")
        return RocFit(
            **ids,
            parameters={"a": nan, "b": nan},
            zetas=np.array([]),
            auc=nan,
            se_auc=None,
            nll=nan,
            covariance=None,
            fpf=fpf,
            tpf=tpf,
            note=why,
        )
    zf, zt = stats.norm.ppf(fpf), stats.norm.ppf(tpf)
    zf, zt = np.clip(zf, -4, 4), np.clip(zt, -4, 4)  # RJafroc's minZeta, maxZeta
    if len(fpf) > 1 and np.ptp(zf) > 0:
        b0, a0 = np.polyfit(zf, zt, 1)  # RJafroc's straight-line start, lm(qnorm(TPF) ~ qnorm(FPF))
    else:
        a0, b0 = 1.0, 1.0
    a0 = float(np.clip(a0, -3.9, 3.9))
    b0 = float(np.clip(b0, 0.05, 3.9))
    start = np.r_[a0, b0, _start_zetas(f, t)]
    bounds = (BOUNDS["a"], BOUNDS["b"])
    theta = _maximise(start, f, t, _binormal_cdf, bounds, {})
    a, b = theta[0], theta[1]
    covariance = np.linalg.inv(_hessian(theta, f, t, _binormal_cdf))
    s = np.sqrt(1 + b**2)
    d = stats.norm.pdf(a / s)
    grad = np.array([d / s, -d * a * b / s**3])
    variance = float(grad @ covariance[:2, :2] @ grad)
    return RocFit(
        **ids,
        parameters={"a": float(a), "b": float(b)},
        zetas=theta[2:],
        auc=float(stats.norm.cdf(a / s)),
        se_auc=float(np.sqrt(variance)) if variance >= 0 else None,
        nll=_nll(theta, f, t, _binormal_cdf)[0],
        covariance=covariance,
        fpf=fpf,
        tpf=tpf,
    )


def _cbm_auc(mu: float, alpha: float) -> float:
    return float(0.5 * (1 - alpha) + alpha * stats.norm.cdf(mu / np.sqrt(2)))


def fit_cbm(data: ReaderStudy, modality: int = 0, reader: int = 0) -> RocFit:
    """The contaminated binormal model of one modality and reader (RJafroc ``FitCbmRoc``)."""
    fp, tp = _ratings(data, modality, reader)
    f, t, fpf, tpf = binned_counts(fp, tp)  # unrated normal cases kept, as UtilBinCountsOpPts
    ids = dict(model="cbm", modality=data.modality_ids[modality], reader=data.reader_ids[reader])
    empirical = float(((tp[None, :] > fp[:, None]) + 0.5 * (tp[None, :] == fp[:, None])).mean())
    max_mu = BOUNDS["mu"][1]
    if empirical < 1 and stats.norm.cdf(max_mu / np.sqrt(2)) <= empirical:
        # RJafroc's while loop, which never ends for an empirical AUC of 1 (maxMu stays 6 here)
        max_mu = float(stats.norm.ppf(empirical) * np.sqrt(2) + 0.5)
    why = degenerate(fpf, tpf)
    if why:
        if fpf.max(initial=0) >= tpf.max(initial=0):
            mu, alpha, auc = 0.0, 0.0, 0.5
        else:
            mu, alpha, auc = max_mu, float(tpf.max(initial=0)), 1.0
        return RocFit(
            **ids,
            parameters={"mu": mu, "alpha": alpha},
            zetas=np.array([]),
            auc=auc,
            se_auc=None,
            nll=float("nan"),
            covariance=None,
            fpf=fpf,
            tpf=tpf,
            note=why,
        )
    lo_a, hi_a = BOUNDS["alpha"]
    last = np.nonzero(tpf > fpf)[0][-1]
    alpha0 = max(min(1 - (1 - tpf[last]) / (1 - fpf[last]), hi_a - 0.01), lo_a + 0.01)  # RJafroc's start
    mu0 = stats.norm.ppf(max(min((empirical - (1 - alpha0) / 2) / alpha0, 0.99), 0.51)) * np.sqrt(2)
    bounds = ((BOUNDS["mu"][0], max_mu), BOUNDS["alpha"])
    start = np.r_[mu0, alpha0, _start_zetas(f, t)]
    theta = _maximise(start, f, t, _cbm_cdf, bounds, {})
    fixed: dict[int, float] = {}
    if theta[0] > max_mu - 0.01:
        fixed[0] = max_mu - 0.01
    if theta[1] > hi_a - 0.01:
        fixed[1] = hi_a - 0.01
    if fixed:
        start = theta.copy()
        for k, v in fixed.items():
            start[k] = v
        theta = _maximise(start, f, t, _cbm_cdf, bounds, fixed)
    mu, alpha = float(theta[0]), float(theta[1])
    notes = []
    if abs(theta[2]) > 2 or theta[-1] > 10:
        notes.append("thresholds outside RJafroc's search region (|lowest| <= 2, highest <= 10)")
    covariance: np.ndarray | None = None
    se: float | None = None
    if abs(mu - max_mu) < 0.1 or abs(alpha - 1) < 0.1:
        notes.append("near the boundary of the parameter space (mu near its maximum or alpha near 1): no SE")
    else:
        covariance = np.linalg.inv(_hessian(theta, f, t, _cbm_cdf))
        grad = np.array(
            [alpha * stats.norm.pdf(mu / np.sqrt(2)) / np.sqrt(2), stats.norm.cdf(mu / np.sqrt(2)) - 0.5]
        )
        variance = float(grad @ covariance[:2, :2] @ grad)
        se = float(np.sqrt(variance)) if variance >= 0 else None
    return RocFit(
        **ids,
        parameters={"mu": mu, "alpha": alpha},
        zetas=theta[2:],
        auc=_cbm_auc(mu, alpha),
        se_auc=se,
        nll=_nll(theta, f, t, _cbm_cdf)[0],
        covariance=covariance,
        fpf=fpf,
        tpf=tpf,
        note="; ".join(notes),
    )


def fit_all(data: ReaderStudy, model: str = "binormal") -> list[RocFit]:
    """The ``model`` fit of every modality and reader, modality by modality."""
    if model not in MODELS:
        raise DatasetError(f"Unknown ROC model '{model}'. Known: {', '.join(MODELS)}.")
    if data.kind == "ROI":
        raise DatasetError("ROI data has no ROC curve to fit.")
    if data.k1 < 1 or data.k2 < 1:
        raise DatasetError("An ROC fit needs at least one normal and one abnormal case.")
    fit = fit_binormal if model == "binormal" else fit_cbm
    return [fit(data, i, j) for i in range(len(data.modality_ids)) for j in range(len(data.reader_ids))]
