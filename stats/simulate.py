"""Seeded simulators of reader studies, for testing methods and planning studies.

* ``roe_metz``: ROC ratings from the Roe & Metz model (Roe & Metz, "Dorfman-Berbaum-Metz
  method for statistical analysis of multireader, multimodality receiver operating
  characteristic data: validation with computer simulation", Acad Radiol 4(4), 1997):
  the rating of case k by reader j in modality i is
  ``mu_t(i) + R_j + C_k + TR_ij + TC_ik + RC_jk + E_ijk``, with independent zero-mean
  normal components drawn separately for normal (t = 0, mean 0) and abnormal
  (t = 1, mean ``mu + tau_i``) cases.
* ``rsm_froc``: FROC marks from the radiological search model (Chakraborty, "A search
  model and figure of merit for observer data acquired according to the free-response
  paradigm", Phys Med Biol 51, 2006; *Observer Performance Methods*, 2017, ch. 16):
  each case has Poisson(``lam``) non-lesion localisations rated N(0, 1); each lesion is
  found with probability ``nu`` and then rated N(``mu``, 1). Unfound lesions are
  unmarked (-inf).
"""

from dataclasses import dataclass

import numpy as np

from .dataset import NO_MARK, ReaderStudy, equal_weights


@dataclass(frozen=True, kw_only=True)
class RoeMetzVariances:
    """Variance components of the Roe-Metz model (the defaults sum to 1: unit-variance ratings)."""

    reader: float = 0.0055
    case: float = 0.3
    modality_reader: float = 0.0055
    modality_case: float = 0.3
    reader_case: float = 0.2
    error: float = 0.189

    @property
    def total(self) -> float:
        return (
            self.reader
            + self.case
            + self.modality_reader
            + self.modality_case
            + self.reader_case
            + self.error
        )


def roe_metz(
    *,
    modalities: int = 2,
    readers: int = 5,
    normal_cases: int = 50,
    abnormal_cases: int = 50,
    mu: float = 1.5,
    tau: tuple[float, ...] | None = None,
    variances: RoeMetzVariances = RoeMetzVariances(),
    seed: int | None = 0,
) -> ReaderStudy:
    """Continuous ROC ratings from the Roe-Metz model; ``tau`` adds to ``mu`` per modality."""
    rng = np.random.default_rng(seed)
    tau_array = np.zeros(modalities) if tau is None else np.asarray(tau, dtype=float)
    if tau_array.shape != (modalities,):
        raise ValueError("tau needs one value per modality.")
    v = variances

    def ratings(n_cases: int, mean: np.ndarray) -> np.ndarray:
        shape = (modalities, readers, n_cases)
        x = mean[:, None, None] + np.zeros(shape)
        x += rng.normal(0, np.sqrt(v.reader), (1, readers, 1))
        x += rng.normal(0, np.sqrt(v.case), (1, 1, n_cases))
        x += rng.normal(0, np.sqrt(v.modality_reader), (modalities, readers, 1))
        x += rng.normal(0, np.sqrt(v.modality_case), (modalities, 1, n_cases))
        x += rng.normal(0, np.sqrt(v.reader_case), (1, readers, n_cases))
        x += rng.normal(0, np.sqrt(v.error), shape)
        return x

    normal = ratings(normal_cases, np.zeros(modalities))
    abnormal = ratings(abnormal_cases, mu + tau_array)
    nl = np.full((modalities, readers, normal_cases + abnormal_cases, 1), NO_MARK)
    nl[:, :, :normal_cases, 0] = normal
    return ReaderStudy(
        kind="ROC",
        modality_ids=tuple(str(i + 1) for i in range(modalities)),
        reader_ids=tuple(str(j + 1) for j in range(readers)),
        k1=normal_cases,
        nl=nl,
        ll=abnormal[..., None],
        lesions_per_case=np.ones(abnormal_cases, dtype=int),
        weights=np.ones((abnormal_cases, 1)),
        name="Roe-Metz simulation",
    )


def roe_metz_expected_auc(mu: float, variances: RoeMetzVariances = RoeMetzVariances()) -> float:
    """Population AUC of the model: Phi(mu / sqrt(2 * total variance))."""
    from scipy.stats import norm

    return float(norm.cdf(mu / np.sqrt(2 * variances.total)))


def rsm_froc(
    *,
    modalities: int = 2,
    readers: int = 4,
    normal_cases: int = 50,
    abnormal_cases: int = 50,
    mu: float | tuple[float, ...] = 2.0,
    lam: float | tuple[float, ...] = 1.0,
    nu: float | tuple[float, ...] = 0.7,
    max_lesions: int = 3,
    seed: int | None = 0,
) -> ReaderStudy:
    """FROC data from the radiological search model; parameters may differ per modality."""
    rng = np.random.default_rng(seed)

    def per_modality(value) -> np.ndarray:
        array = np.broadcast_to(np.asarray(value, dtype=float), (modalities,))
        return array.copy()

    mus, lams, nus = per_modality(mu), per_modality(lam), per_modality(nu)
    if np.any((nus < 0) | (nus > 1)) or np.any(lams < 0):
        raise ValueError("nu must lie in [0, 1] and lam must be non-negative.")
    k = normal_cases + abnormal_cases
    lesions = rng.integers(1, max_lesions + 1, abnormal_cases)
    counts = rng.poisson(lams[:, None, None], (modalities, readers, k))
    max_nl = max(int(counts.max(initial=0)), 1)
    nl = np.full((modalities, readers, k, max_nl), NO_MARK)
    slots = np.arange(max_nl) < counts[..., None]
    nl[slots] = rng.normal(0.0, 1.0, int(slots.sum()))
    real = np.arange(max_lesions)[None, :] < lesions[:, None]
    found = (rng.random((modalities, readers, abnormal_cases, max_lesions)) < nus[:, None, None, None]) & real
    ll = np.where(found, rng.normal(mus[:, None, None, None], 1.0, found.shape), NO_MARK)
    return ReaderStudy(
        kind="FROC",
        modality_ids=tuple(str(i + 1) for i in range(modalities)),
        reader_ids=tuple(str(j + 1) for j in range(readers)),
        k1=normal_cases,
        nl=nl,
        ll=ll,
        lesions_per_case=lesions,
        weights=equal_weights(lesions, max_lesions),
        name="RSM simulation",
    )
