"""Covariance of the FOMs of all modality x reader pairs, three ways, for the OR analysis.

Each estimator returns ``cov[i, j, i', j']``, the covariance (over the sampling of
cases) of FOM(i, j) and FOM(i', j'):

* ``jackknife``: ``(n-1)/n * sum_k (x_k - mean)(y_k - mean)`` over the n leave-one-case-out
  FOMs (Efron, *The Jackknife, the Bootstrap and Other Resampling Plans*, SIAM 1982,
  ch. 3; the estimator RJafroc uses for OR);
* ``bootstrap``: the sample covariance (divisor B-1) of FOMs of B case resamples drawn with
  replacement separately from normal and abnormal cases (Efron & Tibshirani,
  *An Introduction to the Bootstrap*, 1993, ch. 6), seeded;
* ``DeLong``: for the empirical ROC AUC only, from the structural components
  ``V10`` (abnormal cases) and ``V01`` (normal cases):
  ``Cov = S10 / K2 + S01 / K1`` (DeLong, DeLong & Clarke-Pearson, Biometrics 44, 1988).
"""

import numpy as np

from .dataset import DatasetError, ReaderStudy
from .diagnostic import delong_covariance
from .fom import DEFAULT_FPF, Jackknife, jackknife

COVARIANCE_METHODS = ("jackknife", "bootstrap", "DeLong")


def covariance_jackknife(jk: Jackknife) -> np.ndarray:
    i_n, j_n, n = jk.values.shape
    flat = jk.values.reshape(i_n * j_n, n)
    centred = flat - flat.mean(axis=1, keepdims=True)
    return (centred @ centred.T * (n - 1) / n).reshape(i_n, j_n, i_n, j_n)


def covariance_bootstrap(
    data: ReaderStudy, fom: str, n_boot: int = 200, seed: int | None = 0, *, fpf: float = DEFAULT_FPF
) -> np.ndarray:
    """Bootstrap covariance from ``n_boot`` stratified case resamples (same seed, same result);
    ``fpf`` is the false-positive fraction of PCL and ALROC."""
    if n_boot < 2:
        raise DatasetError("The bootstrap needs at least two resamples.")
    rng = np.random.default_rng(seed)
    i_n, j_n, _ = data.shape
    foms = np.empty((n_boot, i_n * j_n))
    for b in range(n_boot):
        normal = rng.integers(0, data.k1, data.k1)
        abnormal = rng.integers(0, data.k2, data.k2)
        foms[b] = jackknife(data.subset(normal=normal, abnormal=abnormal), fom, fpf=fpf).fom.ravel()
    return np.cov(foms, rowvar=False, ddof=1).reshape(i_n, j_n, i_n, j_n)


def covariance_delong(data: ReaderStudy, fom: str) -> np.ndarray:
    """DeLong covariance of empirical ROC AUCs (``Wilcoxon`` or ``HrAuc``), via stats.diagnostic."""
    if fom not in ("Wilcoxon", "HrAuc"):
        raise DatasetError(f"DeLong covariance applies to the ROC AUC (Wilcoxon or HrAuc), not {fom}.")
    i_n, j_n, k = data.shape
    highest_nl = data.nl.max(axis=-1)  # [I, J, K]
    scores = highest_nl.copy()
    scores[:, :, data.k1 :] = np.maximum(highest_nl[:, :, data.k1 :], data.ll.max(axis=-1))
    truth = np.arange(k) >= data.k1
    _, cov = delong_covariance(truth, scores.reshape(i_n * j_n, k))
    return np.atleast_2d(cov).reshape(i_n, j_n, i_n, j_n)


def covariance_summary(cov: np.ndarray) -> dict[str, float]:
    """Var and the averaged covariances Cov1 (same reader, different modalities), Cov2
    (same modality, different readers), Cov3 (both different): Obuchowski & Rockette 1995."""
    i_n, j_n = cov.shape[:2]
    same_i = np.broadcast_to(np.eye(i_n, dtype=bool)[:, None, :, None], cov.shape)
    same_j = np.broadcast_to(np.eye(j_n, dtype=bool)[None, :, None, :], cov.shape)

    def mean_where(mask: np.ndarray) -> float:
        return float(cov[mask].mean()) if mask.any() else 0.0

    return {
        "Var": mean_where(same_i & same_j),
        "Cov1": mean_where(~same_i & same_j),
        "Cov2": mean_where(same_i & ~same_j),
        "Cov3": mean_where(~same_i & ~same_j),
    }
