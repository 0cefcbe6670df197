"""Acquisition simulation: the low-resolution (LR) scan that a high-resolution (HR) volume would give.

Three effects, each a function, chained by :func:`simulate_acquisition`:

* **Thick slices** (:func:`simulate_slices`): a thick slice records the tissue inside
  its slice profile (the partial-volume effect; Greenspan, "Super-resolution in
  medical imaging", The Computer Journal 52(1), 2009, §2). The profile is a Gaussian
  whose FWHM is the slice thickness, the model of SMORE (Zhao et al., "SMORE: a
  self-supervised anti-aliasing and super-resolution algorithm for MRI using deep
  learning", IEEE TMI 40(3), 2021; Zhao et al., "Applications of a deep learning method
  for anti-aliasing and super-resolution in MRI", Magn Reson Imaging 64, 2019), or a
  box (rectangle) as wide as the thickness.
* **In-plane resolution** (:func:`simulate_inplane`): a scan with a smaller matrix
  measures only the central part of k-space (Bernstein, King & Zhou, Handbook of MRI
  Pulse Sequences, Elsevier 2004, on k-space sampling and resolution; Haacke et al.,
  Magnetic Resonance Imaging: Physical Principles and Sequence Design, Wiley 1999, on
  truncation, filtering and resolution).
* **Noise** (:func:`add_noise`): complex Gaussian noise whose magnitude is Rician
  (Gudbjartsson & Patz, "The Rician distribution of noisy MRI data", Magn Reson Med
  34(6), 1995).

Lesions for simulation studies are inserted into the HR volume *before* these steps
(:mod:`sr_engine.lesions`), so that they are degraded like the anatomy.

Multi-echo (4D) volumes degrade consistently: the same slice and k-space operators
act on every echo, and noise of one standard deviation, set from the first echo's
signal (the echoes share the receiver), is drawn independently for every echo.

Every result records in ``acquisition["provenance"]`` the steps that made it
(``{"simulation": [step, ...], "input_sha256": ..., "sr_engine_version": ...}``).
"""

import hashlib
import math
from typing import Any

import numpy as np
from scipy.special import ndtr

from . import __version__
from .interpolate import AXES, apply_along_axis, downscaled_affine, fourier_operator
from .metrics import tissue_mask
from .volume import Volume, affine_from_steps

PROFILES = ("gaussian", "box")
APODIZATIONS = (None, "hann", "tukey", "hamming")

#: sigma = FWHM * FWHM_TO_SIGMA for a Gaussian: 1 / (2 sqrt(2 ln 2)).
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def voxel_sha256(data: np.ndarray) -> str:
    """SHA-256 of a voxel array: its dtype, shape and C-ordered bytes."""
    array = np.ascontiguousarray(data)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def derived_volume(
    volume: Volume, data: np.ndarray, affine: np.ndarray, step: dict[str, Any], **acquisition
) -> Volume:
    """``volume`` with new voxels and one more simulation step in its provenance.

    The first step records the SHA-256 of the input voxels and the code version; a
    provenance record the input already had (not a simulation) is kept as
    ``source_provenance``.
    """
    previous = volume.acquisition.get("provenance")
    if isinstance(previous, dict) and "simulation" in previous:
        record = {**previous, "simulation": [*previous["simulation"], step]}
    else:
        record = {
            "simulation": [step],
            "input_sha256": voxel_sha256(volume.data),
            "sr_engine_version": __version__,
        }
        if previous:
            record["source_provenance"] = previous
    return volume.with_data(data.astype(np.float32, copy=False), affine, provenance=record, **acquisition)


# --------------------------------------------------------------------------- thick slices


def _reflect(index: np.ndarray, n: int) -> np.ndarray:
    """Half-sample symmetric reflection of indexes into 0..n-1 (about the outer faces of the end slices)."""
    index = np.mod(index, 2 * n)
    return np.where(index < n, index, 2 * n - 1 - index)


def slice_profile_operator(
    n: int, *, thickness: float, spacing: float, first_center: float, profile: str
) -> np.ndarray:
    """The matrix (thick slices x ``n`` thin slices) of a slice profile, all lengths in thin slices.

    Thick slice ``m`` is centred at ``first_center + m * spacing``. Each thin slice
    ``k`` covers ``[k - 1/2, k + 1/2]``; its weight is the integral of the profile over
    that extent: for a box of width ``thickness`` its exact overlap, for a Gaussian
    with FWHM ``thickness`` the difference of normal CDFs (tails beyond 5 sigma
    dropped, weights renormalised). Thin slices beyond the volume are taken from the
    volume mirrored about its outer faces (``x[-1] = x[0]``, ``x[n] = x[n-1]``), so the
    first and last thick slices are not darkened by empty space.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}.")
    if thickness <= 0 or spacing <= 0:
        raise ValueError("Slice thickness and spacing must be positive.")
    last_center = n - 0.5 - thickness / 2  # the last profile still within the volume
    n_thick = math.floor((last_center - first_center) / spacing + 1e-9) + 1
    if n_thick < 1:
        raise ValueError(f"A volume of {n} slices is thinner than one slice of {thickness:g} slices.")
    reach = thickness / 2 if profile == "box" else 5 * thickness * FWHM_TO_SIGMA
    operator = np.zeros((n_thick, n))
    for m in range(n_thick):
        center = first_center + m * spacing
        k = np.arange(math.floor(center - reach - 1), math.ceil(center + reach + 1) + 1)
        lower, upper = k - 0.5 - center, k + 0.5 - center
        if profile == "box":
            weight = np.clip(np.minimum(upper, thickness / 2) - np.maximum(lower, -thickness / 2), 0, None)
        else:
            sigma = thickness * FWHM_TO_SIGMA
            weight = ndtr(upper / sigma) - ndtr(lower / sigma)
        np.add.at(operator[m], _reflect(k, n), weight)
        operator[m] /= operator[m].sum()
    return operator


def simulate_slices(
    volume: Volume,
    *,
    factor: int | None = None,
    thickness_mm: float | None = None,
    gap_mm: float = 0.0,
    profile: str = "gaussian",
) -> Volume:
    """Thick slices from a thin-slice volume (through-plane resolution loss).

    Give either ``factor`` (an integer: slices ``factor`` times as thick as the thin
    spacing, no gap) or ``thickness_mm`` (and optionally ``gap_mm``: thick slices then
    lie ``thickness + gap`` apart). ``profile`` is ``"gaussian"`` (FWHM = thickness) or
    ``"box"`` (see :func:`slice_profile_operator` and the module docstring). The first
    thick slice starts at the outer face of the first thin slice, so with ``factor``
    thick slice ``m`` is centred at thin index ``m*f + (f-1)/2``: the exact inverse of
    :func:`sr_engine.interpolate.upscaled_affine`. Thick slices whose profile would
    reach past the last thin slice are not made. The affine,
    ``acquisition["slice_thickness_mm"]`` and ``acquisition["slice_profile"]`` (read by
    :mod:`sr_engine.selfsr`) record the result.
    """
    thin = volume.axis_spacing[0]
    if factor is not None and thickness_mm is None:
        if int(factor) != factor or factor < 1:
            raise ValueError(f"The factor must be a positive integer, got {factor!r}.")
        if gap_mm:
            raise ValueError("A factor means thick slices without gap; give thickness_mm with gap_mm.")
        factor = int(factor)
        thick_mm = float(factor * thin)
    elif factor is None and thickness_mm is not None:
        thick_mm = float(thickness_mm)
    else:
        raise ValueError("Give exactly one of factor and thickness_mm.")
    if gap_mm < 0:
        raise ValueError("The gap must not be negative.")
    thickness = thick_mm / thin
    spacing = (thick_mm + float(gap_mm)) / thin
    first_center = thickness / 2 - 0.5
    operator = slice_profile_operator(
        volume.shape[0], thickness=thickness, spacing=spacing, first_center=first_center, profile=profile
    )
    data = apply_along_axis(operator, volume.data, volume.data.ndim - 3)
    steps = volume.axis_steps
    origin = volume.slice_position(0) + first_center * steps[0]
    steps[0] = steps[0] * spacing
    affine = affine_from_steps(steps, origin)
    step = {
        "operation": "simulate_slices",
        "profile": profile,
        "factor": factor,
        "thickness_mm": thick_mm,
        "gap_mm": float(gap_mm),
        "thin_spacing_mm": thin,
    }
    return derived_volume(volume, data, affine, step, slice_thickness_mm=thick_mm, slice_profile=profile)


# --------------------------------------------------------------------------- in-plane


def _window(apodization: str | None, size: int) -> np.ndarray | None:
    """Apodisation weights for the ``size`` kept k-space lines, symmetric about k = 0."""
    if apodization is None:
        return None
    from scipy.signal import windows  # imported here: a slow import that only apodisation needs

    if apodization == "hann":
        return windows.hann(size, sym=True)
    if apodization == "tukey":
        return windows.tukey(size, alpha=0.5, sym=True)
    if apodization == "hamming":
        return windows.hamming(size, sym=True)
    raise ValueError(f"apodization must be one of {APODIZATIONS}, got {apodization!r}.")


def kspace_truncation_operator(
    n: int, factor: int, *, apodization: str | None = None, keep_matrix: bool = False
):
    """The matrix of k-space truncation along one axis of ``n`` samples.

    The central ``n // factor`` k-space lines are kept (the outer ones are not
    acquired), weighted by the apodisation window and, for an even count, with the
    outermost line split between ``+`` and ``-`` frequency (so real images stay real).
    With ``keep_matrix`` the result is sampled on the same ``n`` positions
    (zero-filled reconstruction); otherwise on ``n // factor`` coarse positions, coarse
    sample ``m`` centred at fine index ``m*f + (f-1)/2`` (the grid rule of
    :mod:`sr_engine.interpolate`; this evaluation is the linear phase ramp that shifts
    the coarse samples by ``(f-1)/2`` fine pixels).
    """
    if not keep_matrix and n % factor:
        raise ValueError(f"{n} pixels are not a multiple of the in-plane factor {factor}.")
    band = n // factor
    if band < 1:
        raise ValueError(f"{n} pixels are fewer than the in-plane factor {factor}.")
    size = 2 * (band // 2) + 1
    positions = np.arange(n) if keep_matrix else np.arange(band) * factor + (factor - 1) / 2
    return fourier_operator(positions, n, period=n, band=band, window=_window(apodization, size))


def simulate_inplane(
    volume: Volume, *, factor: int, apodization: str | None = None, keep_matrix: bool = False
) -> Volume:
    """In-plane resolution loss by k-space truncation (see :func:`kspace_truncation_operator`).

    The 2D Fourier transform of each slice is cut to its central ``1/factor`` along
    rows and columns (a rectangular k-space window is separable, so this is done one
    axis after the other), optionally apodised (``"hann"``, ``"tukey"`` with alpha 0.5,
    ``"hamming"``). With ``keep_matrix=False`` the matrix shrinks by ``factor`` and the
    affine follows the grid rule; with ``keep_matrix=True`` the grid is kept (a
    zero-filled reconstruction). Magnitude data (no negative voxel) stay magnitude:
    the result's absolute value is kept, as a scanner's magnitude image would be;
    truncation ringing makes negative lobes that become positive.
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"The in-plane factor must be a positive integer, got {factor!r}.")
    factor = int(factor)
    data = volume.data
    magnitude = float(data.min()) >= 0
    for name in ("row", "column"):
        axis = data.ndim + AXES[name]
        operator = kspace_truncation_operator(
            data.shape[axis], factor, apodization=apodization, keep_matrix=keep_matrix
        )
        data = apply_along_axis(operator, data, axis)
    if magnitude:
        data = np.abs(data)
    affine = volume.affine.copy() if keep_matrix else downscaled_affine(volume.affine, factor, "inplane")
    step = {
        "operation": "simulate_inplane",
        "factor": factor,
        "apodization": apodization,
        "keep_matrix": bool(keep_matrix),
    }
    return derived_volume(volume, data, affine, step)


# --------------------------------------------------------------------------- noise


def noise_sigma(volume: Volume, snr: float, *, reference: float | None = None) -> float:
    """The noise standard deviation for ``snr``: the signal over ``snr``.

    The signal is ``reference`` if given, else the mean of the first channel inside
    its :func:`sr_engine.metrics.tissue_mask`.
    """
    if snr <= 0:
        raise ValueError("The SNR must be positive.")
    if reference is None:
        first = next(volume.channels())
        mask = tissue_mask(first)
        if not mask.any():
            raise ValueError("No tissue found to measure the signal; give reference=.")
        reference = float(first[mask].mean())
    return float(reference) / float(snr)


def add_noise(
    volume: Volume, *, snr: float, seed: int, rician: bool = True, reference: float | None = None
) -> Volume:
    """Noise at a given SNR: ``sigma = signal / snr`` (see :func:`noise_sigma`).

    With ``rician`` (magnitude data) the voxel is the real part of a complex signal
    plus Gaussian noise ``sigma`` in the real and imaginary channels, and the result is
    the magnitude, which is Rician distributed (Gudbjartsson & Patz 1995); without, it
    is the voxel plus Gaussian noise. The same seed gives the same noise. Every channel
    gets the same ``sigma`` (set from the first) and its own draws.
    """
    sigma = noise_sigma(volume, snr, reference=reference)
    rng = np.random.default_rng(seed)
    data = volume.data.astype(np.float64)
    real = data + rng.normal(0.0, sigma, data.shape)
    noisy = np.hypot(real, rng.normal(0.0, sigma, data.shape)) if rician else real
    step = {
        "operation": "add_noise",
        "snr": float(snr),
        "sigma": sigma,
        "seed": int(seed),
        "rician": bool(rician),
    }
    return derived_volume(volume, noisy, volume.affine, step)


# --------------------------------------------------------------------------- the chain


def simulate_acquisition(
    volume: Volume,
    *,
    factor: int | None = None,
    thickness_mm: float | None = None,
    gap_mm: float = 0.0,
    profile: str = "gaussian",
    inplane_factor: int = 1,
    apodization: str | None = None,
    snr: float | None = None,
    seed: int = 0,
) -> Volume:
    """The LR acquisition of an HR volume: thick slices, then in-plane truncation, then noise.

    Each step runs only when asked for (``factor`` or ``thickness_mm``; ``inplane_factor``
    above 1 or an ``apodization``; ``snr``). Multi-echo volumes degrade consistently (see
    the module docstring). The result's provenance lists the steps.
    """
    result = volume
    if factor is not None or thickness_mm is not None:
        result = simulate_slices(
            result, factor=factor, thickness_mm=thickness_mm, gap_mm=gap_mm, profile=profile
        )
    if inplane_factor != 1 or apodization is not None:
        result = simulate_inplane(result, factor=inplane_factor, apodization=apodization)
    if snr is not None:
        result = add_noise(result, snr=snr, seed=seed)
    return result
