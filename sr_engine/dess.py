"""T2 maps from dual-echo steady-state (DESS) images, and their agreement with a reference map.

DESS records two signals per TR: S1, the gradient-echo (FID, S+) signal at ``TE``
after each pulse, and S2, the echo (S-) signal refocused by the next pulse, at ``TE``
before it. Their ratio depends on T2 (and weakly on T1). The analytic model of
Sveinsson, Chaudhari, Gold & Hargreaves, "A simple analytic method for estimating T2
in the knee from DESS", Magn Reson Imaging 38:63-70, 2017 (their linear approximation
of the extended-phase-graph signal) is::

    S2/S1 = exp(-2 (TR - TE) / T2 - (TR - Tg/3) dk^2 D)
            * sin^2(a/2) (1 + exp(-TR/T1 - TR dk^2 D)) / (1 - cos(a) exp(-TR/T1 - TR dk^2 D))

with flip angle ``a``, spoiler duration ``Tg``, spoiler dephasing ``dk`` (rad per unit
length) and diffusivity ``D``. With no diffusion weighting (``dk = 0``, the default
here) it is::

    S2/S1 = exp(-2 (TR - TE) / T2) * sin^2(a/2) (1 + exp(-TR/T1)) / (1 - cos(a) exp(-TR/T1))

and T2 follows in closed form::

    T2 = -2 (TR - TE) / (ln(S2 / (S1 k)) + (TR - Tg/3) dk^2 D),   k the T1 factor above.

``TE`` is the first echo's time. Scanners report the second echo's time as
``2 TR - TE`` (e.g. GE: TE 7.48 and 42.52 ms with TR 25 ms), so ``2 (TR - TE)`` is the
difference of the two echo times. T1 is assumed (1.2 s for cartilage at 3 T by default).

Agreement of a map with a reference map (e.g. from an SR volume against the HR one)
is Lin's concordance correlation coefficient and the root-mean-square within-voxel
coefficient of variation of the paired values (:mod:`stats.agreement`).
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stats.agreement import concordance_correlation, within_subject_cv

from .metrics import tissue_mask
from .volume import Volume

#: Assumed T1 of articular cartilage at 3 T (ms), as used for DESS T2 mapping by Sveinsson et al. 2017.
CARTILAGE_T1_MS = 1200.0


@dataclass(frozen=True)
class SpoilerDiffusion:
    """The spoiler's diffusion weighting: dephasing ``dk`` (rad/mm), duration (ms), diffusivity (mm^2/s).

    Sveinsson et al. 2017 used D = 1.25e-3 mm^2/s for cartilage. For GE DESS the private
    tags (0019,10B6) (spoiler area, G us/cm) and (0019,10B7) (duration, us) give
    ``dk = gamma * area``: see :meth:`from_gradient_area`.
    """

    dk_rad_per_mm: float
    duration_ms: float
    diffusivity_mm2_per_s: float = 1.25e-3

    @classmethod
    def from_gradient_area(
        cls, area_gauss_us_per_cm: float, duration_us: float, diffusivity_mm2_per_s: float = 1.25e-3
    ) -> "SpoilerDiffusion":
        """From the spoiler's gradient area (G us/cm) and duration (us): ``dk = gamma * area``.

        gamma = 2 pi x 4257.7 rad/(G s) for protons.
        """
        gamma = 2 * math.pi * 4257.7  # rad / (G s)
        dk_per_cm = gamma * area_gauss_us_per_cm * 1e-6
        return cls(dk_per_cm / 10.0, duration_us / 1000.0, diffusivity_mm2_per_s)

    def attenuations(self, tr_ms: float) -> tuple[float, float]:
        """``(TR - Tg/3) dk^2 D`` and ``TR dk^2 D`` (dimensionless)."""
        rate_per_ms = self.dk_rad_per_mm**2 * self.diffusivity_mm2_per_s / 1000.0
        return (tr_ms - self.duration_ms / 3) * rate_per_ms, tr_ms * rate_per_ms


NO_DIFFUSION = SpoilerDiffusion(0.0, 0.0, 0.0)


def t1_factor(
    *, tr_ms: float, flip_deg: float, t1_ms: float, diffusion: SpoilerDiffusion = NO_DIFFUSION
) -> float:
    """``k = sin^2(a/2) (1 + E) / (1 - cos(a) E)``, ``E = exp(-TR/T1 - TR dk^2 D)`` (Sveinsson 2017)."""
    alpha = math.radians(flip_deg)
    _, repeat = diffusion.attenuations(tr_ms)
    e1 = math.exp(-tr_ms / t1_ms - repeat)
    return math.sin(alpha / 2) ** 2 * (1 + e1) / (1 - math.cos(alpha) * e1)


def dess_signal_ratio(
    t2_ms: np.ndarray | float,
    *,
    tr_ms: float,
    te_ms: float,
    flip_deg: float,
    t1_ms: float = CARTILAGE_T1_MS,
    diffusion: SpoilerDiffusion = NO_DIFFUSION,
) -> np.ndarray:
    """The model ratio S2/S1 for a given T2 (the forward model of the module docstring)."""
    during, _ = diffusion.attenuations(tr_ms)
    k = t1_factor(tr_ms=tr_ms, flip_deg=flip_deg, t1_ms=t1_ms, diffusion=diffusion)
    return k * np.exp(-2 * (tr_ms - te_ms) / np.asarray(t2_ms, dtype=float) - during)


def t2_from_ratio(
    ratio: np.ndarray,
    *,
    tr_ms: float,
    te_ms: float,
    flip_deg: float,
    t1_ms: float = CARTILAGE_T1_MS,
    diffusion: SpoilerDiffusion = NO_DIFFUSION,
) -> np.ndarray:
    """T2 (ms) from S2/S1: the inverse of :func:`dess_signal_ratio`; NaN where there is none.

    A ratio of 0 or less, or of ``k exp(-(TR - Tg/3) dk^2 D)`` or more (the limit for an
    infinite T2), has no T2.
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    during, _ = diffusion.attenuations(tr_ms)
    k = t1_factor(tr_ms=tr_ms, flip_deg=flip_deg, t1_ms=t1_ms, diffusion=diffusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = np.log(ratio / k) + during
        t2 = -2 * (tr_ms - te_ms) / denominator
    return np.where((ratio > 0) & (denominator < 0), t2, np.nan)


def _dess_parameters(volume: Volume) -> tuple[float, float, float]:
    """TR, the first echo's TE and the flip angle from the acquisition record, or a clear error."""
    record = volume.acquisition
    missing = [
        key for key in ("repetition_time_ms", "flip_angle_deg", "echo_times_ms") if not record.get(key)
    ]
    if missing:
        raise ValueError(
            f"A DESS T2 map needs {', '.join(missing)} in the volume's acquisition record "
            "(read from the DICOM headers, or set with Volume.with_data)."
        )
    echo_times = [float(t) for t in record["echo_times_ms"]]
    if len(echo_times) != 2:
        raise ValueError(f"A DESS T2 map needs two echoes; the record lists {len(echo_times)} echo time(s).")
    return float(record["repetition_time_ms"]), min(echo_times), float(record["flip_angle_deg"])


def dess_t2_map(
    volume: Volume,
    *,
    t1_ms: float = CARTILAGE_T1_MS,
    mask: np.ndarray | None = None,
    max_t2_ms: float = 100.0,
    diffusion: SpoilerDiffusion = NO_DIFFUSION,
) -> Volume:
    """The T2 map (ms, float32) of a two-echo DESS volume by the analytic model (module docstring).

    S1 is the channel with the shorter echo time. TR, TE and flip angle come from the
    acquisition record (``repetition_time_ms``, ``echo_times_ms``, ``flip_angle_deg``).
    Voxels are NaN outside ``mask`` (default: :func:`sr_engine.metrics.tissue_mask` of
    the volume), where either signal is not positive, where the ratio has no T2, and
    where T2 exceeds ``max_t2_ms`` (the model is for cartilage-range T2; fluid's long
    T2 is outside its accuracy). The map keeps the volume's geometry.
    """
    if volume.n_channels != 2:
        raise ValueError(
            f"A DESS T2 map needs a two-echo volume; this one has {volume.n_channels} channel(s)."
        )
    tr_ms, te_ms, flip_deg = _dess_parameters(volume)
    echo_times = [float(t) for t in volume.acquisition["echo_times_ms"]]
    first = int(np.argmin(echo_times))
    s1 = volume.data[first].astype(np.float64)
    s2 = volume.data[1 - first].astype(np.float64)
    if mask is None:
        mask = tissue_mask(s1)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != volume.shape:
        raise ValueError(f"The mask's shape {mask.shape} is not the volume's {volume.shape}.")
    valid = mask & (s1 > 0) & (s2 > 0)
    ratio = np.full(volume.shape, np.nan)
    ratio[valid] = s2[valid] / s1[valid]
    t2 = t2_from_ratio(ratio, tr_ms=tr_ms, te_ms=te_ms, flip_deg=flip_deg, t1_ms=t1_ms, diffusion=diffusion)
    t2[~(t2 <= max_t2_ms)] = np.nan
    acquisition = {k: v for k, v in volume.acquisition.items() if k not in ("echo_times_ms", "provenance")}
    acquisition["quantity"] = "T2_ms"
    acquisition["provenance"] = {
        "method": "dess_t2",
        "model": "Sveinsson et al., Magn Reson Imaging 38:63-70, 2017",
        "t1_ms": float(t1_ms),
        "max_t2_ms": float(max_t2_ms),
        "repetition_time_ms": tr_ms,
        "echo_time_ms": te_ms,
        "flip_angle_deg": flip_deg,
        "spoiler_dk_rad_per_mm": diffusion.dk_rad_per_mm,
        "spoiler_duration_ms": diffusion.duration_ms,
        "diffusivity_mm2_per_s": diffusion.diffusivity_mm2_per_s,
        "input_provenance": volume.acquisition.get("provenance"),
    }
    return Volume(t2.astype(np.float32), volume.affine, acquisition)


@dataclass(frozen=True)
class T2Agreement:
    """Agreement of a T2 map with a reference map over the voxels where both have a value.

    ``ccc`` is Lin's concordance correlation coefficient with its 95 % interval,
    ``cv_percent`` the root-mean-square within-voxel CV% of the pairs (Glueer et al.
    1995), ``mean_difference_ms`` the mean of test minus reference.
    """

    ccc: float
    ccc_ci: tuple[float, float]
    cv_percent: float
    mean_difference_ms: float
    n_voxels: int


def t2_agreement(
    reference_t2: Volume | np.ndarray, test_t2: Volume | np.ndarray, mask: np.ndarray | None = None
) -> T2Agreement:
    """Lin's CCC and within-voxel CV% of two T2 maps (:mod:`stats.agreement`).

    Voxels count where ``mask`` (default: everywhere) holds and both maps have a
    positive finite value. The CV% treats each voxel as a subject measured twice.
    """

    def values(map_: Any) -> np.ndarray:
        return np.asarray(map_.data if isinstance(map_, Volume) else map_, dtype=np.float64)

    reference, test = values(reference_t2), values(test_t2)
    if reference.shape != test.shape:
        raise ValueError(f"The T2 maps differ in shape: {reference.shape} vs {test.shape}.")
    keep = np.isfinite(reference) & np.isfinite(test) & (reference > 0) & (test > 0)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    if keep.sum() < 3:
        raise ValueError("Fewer than three voxels have a T2 value in both maps.")
    x, y = reference[keep], test[keep]
    ccc = concordance_correlation(x, y)
    cv = within_subject_cv(np.stack([x, y], axis=1))
    ci_low, ci_high = ccc.ci
    return T2Agreement(
        ccc=float(ccc.estimate),
        ccc_ci=(float(ci_low), float(ci_high)),
        cv_percent=float(cv.cv_percent),
        mean_difference_ms=float(np.mean(y - x)),
        n_voxels=int(keep.sum()),
    )
