"""Classical interpolation onto the upscaled grid: nearest, linear, tricubic (TCI) and Fourier (FI).

The upscaled grid (one rule, :func:`upscaled_affine`): upscaling ``n`` samples with
step ``v`` by an integer factor ``f`` gives ``n*f`` samples with step ``v/f``, the first
centred at ``origin - (f-1)/(2f) * v``. Sample ``j`` of the fine grid lies at coarse
index ``t_j = (j - (f-1)/2) / f``; coarse sample ``m`` is the mean position of fine
samples ``m*f .. m*f+f-1``. This is the exact inverse of box thickening
(:func:`sr_engine.simulate.simulate_slices` with ``factor``), so a volume thickened
from ``n*f`` thin slices and upscaled back lands on the thin grid exactly.

Every method here is linear and acts along one axis, so each is a matrix (``n*f`` by
``n``) applied along that axis (:func:`apply_along_axis`); in-plane factors apply
the same matrix along rows and columns. Outer fine samples (the outer ``(f-1)/(2f)``
of the first and last coarse sample) need values beyond the first and last coarse
centres; every method extends the data *linearly* there (point reflection about the
edge sample, ``x[-k] = 2 x[0] - x[k]``), so a linear ramp is reproduced exactly on every
output sample by ``linear``, ``tci`` and ``fi``. A mirror (even) extension would
instead flatten the slope at the edges.
"""

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import make_interp_spline

from .volume import Volume, affine_from_steps, index_steps, index_to_patient

#: The axis names accepted by the functions of this module and the spatial data axis of each,
#: counted from the end so that it holds for 3D and 4D (channels first) data alike.
AXES = {"slice": -3, "row": -2, "column": -1}


def _axes(axis: str) -> tuple[str, ...]:
    if axis == "inplane":
        return ("row", "column")
    if axis not in AXES:
        raise ValueError(f"axis must be one of {(*AXES, 'inplane')}, got {axis!r}.")
    return (axis,)


def _check_factor(factor: int) -> int:
    if int(factor) != factor or factor < 1:
        raise ValueError(f"The factor must be a positive integer, got {factor!r}.")
    return int(factor)


def _geometry(volume: Volume | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The data-order voxel steps (one row per spatial axis) and first-voxel centre of a volume or affine."""
    affine = volume.affine if isinstance(volume, Volume) else np.asarray(volume, dtype=float)
    return index_steps(affine), index_to_patient(affine, (0.0, 0.0, 0.0))


def upscaled_affine(volume: Volume | np.ndarray, factor: int, axis: str = "slice") -> np.ndarray:
    """The affine of ``volume`` upscaled by the integer ``factor`` along ``axis``.

    ``axis`` is ``"slice"``, ``"row"``, ``"column"`` or ``"inplane"`` (rows and
    columns). Along each upscaled axis with step vector ``v`` (see
    :func:`sr_engine.volume.index_steps`) the new step is ``v/f`` and the first centre
    moves by ``-(f-1)/(2f) v``:
    the centres of the ``f`` fine samples that tile coarse sample ``m`` average to its
    centre (the partial-volume model of thick slices, Greenspan, The Computer Journal
    52(1), 2009, §2). ``volume`` may be a Volume or a 4x4 affine.
    """
    factor = _check_factor(factor)
    steps, origin = _geometry(volume)
    for name in _axes(axis):
        step = steps[AXES[name]].copy()
        origin = origin - (factor - 1) / (2 * factor) * step
        steps[AXES[name]] = step / factor
    return affine_from_steps(steps, origin)


def upscaled_shape(shape: Sequence[int], factor: int, axis: str = "slice") -> tuple[int, ...]:
    """The array shape after upscaling ``shape`` (3D or 4D) by ``factor`` along ``axis``."""
    factor = _check_factor(factor)
    result = list(shape)
    for name in _axes(axis):
        result[AXES[name]] *= factor
    return tuple(int(n) for n in result)


def downscaled_affine(volume: Volume | np.ndarray, factor: int, axis: str = "slice") -> np.ndarray:
    """The inverse of :func:`upscaled_affine`: coarse sample ``m`` centred at fine index ``m*f + (f-1)/2``.

    The affine of a volume whose every ``factor`` samples along ``axis`` were merged
    into one (thick slices, coarser pixels); ``upscaled_affine(downscaled_affine(a, f), f)``
    is ``a`` again.
    """
    factor = _check_factor(factor)
    steps, origin = _geometry(volume)
    for name in _axes(axis):
        step = steps[AXES[name]].copy()
        origin = origin + (factor - 1) / 2 * step
        steps[AXES[name]] = step * factor
    return affine_from_steps(steps, origin)


def fine_positions(n: int, factor: int) -> np.ndarray:
    """Coarse-index positions ``t_j = (j - (f-1)/2) / f`` of the ``n*f`` fine samples."""
    return (np.arange(n * factor) - (factor - 1) / 2) / factor


# --------------------------------------------------------------------------- operators


def apply_along_axis(operator: np.ndarray, data: np.ndarray, axis: int, *, chunk_bytes: int = 64 << 20):
    """``operator @ data`` along ``axis`` (float64 arithmetic, float32 result), in bounded-memory chunks."""
    operator = np.asarray(operator, dtype=np.float64)
    moved = np.moveaxis(np.asarray(data), axis, 0)
    if moved.shape[0] != operator.shape[1]:
        raise ValueError(f"An operator for {operator.shape[1]} samples got an axis of {moved.shape[0]}.")
    rest = moved.shape[1:]
    flat = moved.reshape(moved.shape[0], -1)
    out = np.empty((operator.shape[0], flat.shape[1]), dtype=np.float32)
    step = max(1, chunk_bytes // (8 * max(operator.shape)))
    for start in range(0, flat.shape[1], step):
        block = flat[:, start : start + step].astype(np.float64)
        out[:, start : start + step] = operator @ block
    return np.ascontiguousarray(np.moveaxis(out.reshape(operator.shape[0], *rest), 0, axis))


def fourier_operator(
    positions: np.ndarray, n: int, *, period: int, band: int | None = None, window: np.ndarray | None = None
) -> np.ndarray:
    """The matrix that evaluates the band-limited periodic interpolant of ``n`` samples at ``positions``.

    Samples ``x[0..n-1]`` (``n <= period``; the rest of the period is taken as zero)
    have the DFT ``X_k``; the interpolant keeps the ``band`` lowest frequencies
    ``|k| <= band/2`` (all of them by default, ``band = period``), weights them by
    ``window`` (one value per kept ``k``, from ``-(band//2)`` to ``band//2``; none = 1) and, for even
    ``band``, splits the edge (Nyquist) bin into halves at ``+band/2`` and ``-band/2``
    so that the interpolant of real data is real (the trigonometric interpolant of the
    DFT; Oppenheim & Schafer, Discrete-Time Signal Processing, 3rd ed., 2010). Then::

        y(t) = 1/period * sum_j x_j sum_k a_k cos(2 pi k (t - j) / period)

    with ``a_k`` the window times ``1/2`` at the split edge bins. Positions are in
    sample units and may be fractional.
    """
    positions = np.asarray(positions, dtype=float)
    band = period if band is None else int(band)
    if not 0 < band <= period:
        raise ValueError(f"The band must lie in 1..{period}, got {band}.")
    half = band // 2
    k = np.arange(-half, half + 1)
    weights = np.ones(k.size) if window is None else np.asarray(window, dtype=float)
    if weights.shape != k.shape:
        raise ValueError(f"The window needs {k.size} values (k = -{half}..{half}).")
    weights = weights.copy()
    if band % 2 == 0:
        weights[[0, -1]] *= 0.5  # the Nyquist bin, split between +band/2 and -band/2
    offsets = np.mod(positions[:, None] - np.arange(n)[None, :], period)
    unique, inverse = np.unique(np.round(offsets, 9), return_inverse=True)
    kernel = np.cos(2 * np.pi * np.outer(unique, k) / period) @ weights / period
    return kernel[inverse].reshape(offsets.shape)


def nearest_operator(n: int, factor: int) -> np.ndarray:
    """Each coarse sample repeated ``factor`` times."""
    operator = np.zeros((n * factor, n))
    operator[np.arange(n * factor), np.arange(n * factor) // factor] = 1.0
    return operator


def linear_operator(n: int, factor: int) -> np.ndarray:
    """Linear interpolation between neighbouring coarse samples, linear extrapolation beyond the ends."""
    t = fine_positions(n, factor)
    operator = np.zeros((t.size, n))
    if n == 1:
        operator[:, 0] = 1.0
        return operator
    left = np.clip(np.floor(t).astype(int), 0, n - 2)
    weight = t - left
    rows = np.arange(t.size)
    operator[rows, left] = 1.0 - weight
    operator[rows, left + 1] = weight
    return operator


def cubic_operator(n: int, factor: int) -> np.ndarray:
    """Cubic spline interpolation with not-a-knot ends, extrapolated by the end polynomials.

    The interpolating cubic spline (de Boor, A Practical Guide to Splines, 1978, ch. IV;
    the not-a-knot condition is the default of MATLAB's ``spline``) reproduces every
    polynomial up to degree 3 exactly, including beyond the first and last sample;
    fewer than 4 samples fall back to a lower degree.
    """
    if n == 1:
        return nearest_operator(1, factor)
    degree = min(3, n - 1)
    spline = make_interp_spline(np.arange(n, dtype=float), np.eye(n), k=degree)
    return spline(fine_positions(n, factor), extrapolate=True)


def fourier_interpolation_operator(n: int, factor: int) -> np.ndarray:
    """Zero-filled Fourier interpolation with the half-voxel shift and an edge-safe extension.

    Steps (all linear, folded into one matrix):

    1. remove the straight line through the first and last samples (the residual is 0
       at both ends);
    2. extend the residual by odd (point) reflection about its end samples to a period
       of ``2(n-1)``: the periodic signal is continuous in value and slope, so its
       spectrum decays fast and there is no Gibbs ringing at the first and last slices
       (a plain periodic extension jumps from the last to the first slice);
    3. zero-filled Fourier interpolation of that periodic signal, i.e. its trigonometric
       interpolant with the Nyquist bin split (:func:`fourier_operator`), evaluated at
       the fine positions ``t_j = (j - (f-1)/2)/f`` (the half-voxel shift is the linear
       phase ``exp(2 pi i k t_j / N)`` of that evaluation);
    4. add the line back, evaluated at ``t_j``.

    A straight line (a ramp) has a zero residual and is reproduced exactly everywhere.
    Zero-filled Fourier interpolation is the "FI" baseline of through-plane SR
    (Chaudhari et al., "Super-resolution musculoskeletal MRI using deep learning",
    Magn Reson Med 80(5), 2018; Bernstein et al., "Effect of windowing and zero-filled
    reconstruction of MRI data on spatial resolution and acquisition strategy", JMRI
    14(3), 2001); the odd extension of the detrended signal is the sine-transform
    (DST-I) form of symmetric extension (Martucci, IEEE Trans Signal Process 42(5), 1994).
    """
    if n < 3:
        return linear_operator(n, factor)  # a line through the ends is all there is
    t = fine_positions(n, factor)
    samples = np.arange(n)
    # trend(t) = x0 + (x_{n-1} - x0) t / (n-1): as matrices for the input and output positions
    trend_in = np.zeros((n, n))
    trend_in[:, 0] = 1 - samples / (n - 1)
    trend_in[:, -1] = samples / (n - 1)
    trend_out = np.zeros((t.size, n))
    trend_out[:, 0] = 1 - t / (n - 1)
    trend_out[:, -1] = t / (n - 1)
    period = 2 * (n - 1)
    # Odd extension: residual sample n-1+m = -residual[n-1-m]; fold it into the operator.
    extended = fourier_operator(t, period, period=period)
    odd = extended[:, :n].copy()
    mirror = period - samples[1 : n - 1]  # where -r[i] sits in the period
    odd[:, 1 : n - 1] -= extended[:, mirror]
    return trend_out + odd @ (np.eye(n) - trend_in)


OPERATORS = {
    "nearest": nearest_operator,
    "linear": linear_operator,
    "tci": cubic_operator,
    "fi": fourier_interpolation_operator,
}


def _interpolate(volume: Volume | np.ndarray, factor: int, method: str, axis: str) -> np.ndarray:
    factor = _check_factor(factor)
    data = volume.data if isinstance(volume, Volume) else np.asarray(volume)
    if data.ndim not in (3, 4):
        raise ValueError(f"Expected a 3D or 4D array, got shape {data.shape}.")
    result = data
    for name in _axes(axis):
        data_axis = AXES[name] + result.ndim
        operator = OPERATORS[method](result.shape[data_axis], factor)
        result = apply_along_axis(operator, result, data_axis)
    return result.astype(np.float32, copy=False)


def nearest(volume: Volume | np.ndarray, factor: int, *, axis: str = "slice") -> np.ndarray:
    """Each slice repeated ``factor`` times: the thick slices as acquired, on the fine grid."""
    return _interpolate(volume, factor, "nearest", axis)


def linear(volume: Volume | np.ndarray, factor: int, *, axis: str = "slice") -> np.ndarray:
    """Linear interpolation along ``axis`` (linear extrapolation over the outer half-slices)."""
    return _interpolate(volume, factor, "linear", axis)


def tci(volume: Volume | np.ndarray, factor: int, *, axis: str = "slice") -> np.ndarray:
    """Tricubic interpolation (TCI) restricted to ``axis``.

    With the in-plane grid unchanged, tricubic interpolation reduces to cubic
    interpolation along the slice axis alone; it is the cubic spline of
    :func:`cubic_operator` (deterministic, exact for ramps and cubics). TCI is the
    classical baseline of DeepResolve (Chaudhari et al., Magn Reson Med 80(5), 2018).
    """
    return _interpolate(volume, factor, "tci", axis)


def fi(volume: Volume | np.ndarray, factor: int, *, axis: str = "slice") -> np.ndarray:
    """Zero-filled Fourier interpolation along ``axis`` (see :func:`fourier_interpolation_operator`)."""
    return _interpolate(volume, factor, "fi", axis)
