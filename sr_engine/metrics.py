"""Image-quality metrics of an SR volume against its reference: PSNR, SSIM, RMSE, NRMSE.

Conventions (one for every metric, so that the figures of different methods compare):

* The **data range** ``L`` is the reference's maximum minus its minimum over the
  slices used. PSNR is ``10 log10(L^2 / MSE)``, NRMSE is ``RMSE / L``, so that
  ``PSNR = -20 log10(NRMSE)`` (Wang & Bovik, "Mean squared error: love it or leave it?",
  IEEE Signal Process Mag 26(1), 2009).
* **SSIM** (Wang et al., "Image quality assessment: from error visibility to structural
  similarity", IEEE TIP 13(4), 2004) is computed slice by slice in the image plane
  with scikit-image's ``structural_similarity`` (7x7 uniform window, ``data_range=L``
  given explicitly, the same for every slice): slices are what readers look at, and a
  3D window would mix the fine in-plane and the coarser through-plane spacing. The
  whole-volume SSIM is the mean of the SSIM map over the slices used, without the
  3-pixel border the window does not cover (as scikit-image's mean SSIM of one
  slice); the tissue SSIM averages the same map inside the tissue mask.
* **Edge slices** (``edge_slices`` at each end, default 2) are left out of every
  metric: there interpolation extrapolates and no method has data on both sides.
* The **tissue mask** is :func:`tissue_mask` of the reference unless one is given.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.metrics import structural_similarity

from .volume import Volume

#: Width of scikit-image's default SSIM window.
SSIM_WINDOW = 7


def _first_channel(volume_or_array: Volume | np.ndarray) -> np.ndarray:
    data = volume_or_array.data if isinstance(volume_or_array, Volume) else np.asarray(volume_or_array)
    if data.ndim == 4:
        return data[0]
    if data.ndim != 3:
        raise ValueError(f"Expected a 3D or 4D volume, got shape {data.shape}.")
    return data


def tissue_mask(
    volume_or_array: Volume | np.ndarray, *, threshold: float | None = None, min_fraction: float = 0.1
) -> np.ndarray:
    """Voxels of tissue (True) as opposed to background air (False).

    Steps: a threshold (Otsu's, "A threshold selection method from gray-level
    histograms", IEEE Trans SMC 9(1), 1979, on the whole volume, unless ``threshold``
    is given); a 3D binary closing (one voxel) to join tissue split by dark edges; the
    holes of every slice filled (dark structures inside the body such as tendons and
    cortical bone are tissue); and only the connected components (26-connected) of at
    least ``min_fraction`` of the largest one's size are kept, which drops isolated
    noise and artefacts in the air. Multi-channel volumes use their first channel
    (the first echo: the highest signal).
    """
    data = _first_channel(volume_or_array).astype(np.float32, copy=False)
    if threshold is None:
        if float(data.max()) == float(data.min()):
            return np.zeros(data.shape, dtype=bool)
        threshold = float(threshold_otsu(data))
    mask = data > threshold
    structure = ndimage.generate_binary_structure(3, 1)
    mask = ndimage.binary_closing(mask, structure=structure, border_value=0) | mask
    for index in range(mask.shape[0]):
        mask[index] = ndimage.binary_fill_holes(mask[index])
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if count > 1:
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.flatnonzero(sizes >= min_fraction * sizes.max()) + 1
        mask = np.isin(labels, keep)
    return mask


def smooth_tissue_weight(mask: np.ndarray, sigma_voxels: float | tuple[float, ...] = 2.0) -> np.ndarray:
    """A weight in 0..1 that is 1 in the tissue and falls smoothly to 0 in the air around it.

    The mask is dilated by about two ``sigma`` and blurred with a Gaussian of
    ``sigma_voxels`` (one per axis or one for all); the tissue itself keeps weight 1
    (the blurred weight there is 0.98 or more anyway). Used by
    :func:`sr_engine.upscale.upscale` to keep learned output out of the background.
    """
    mask = np.asarray(mask, dtype=bool)
    sigma = np.broadcast_to(np.asarray(sigma_voxels, dtype=float), (mask.ndim,))
    radius = np.ceil(2 * sigma).astype(int)
    footprint = np.ones(tuple(2 * r + 1 for r in radius), dtype=bool)
    grown = ndimage.binary_dilation(mask, structure=footprint)
    weight = ndimage.gaussian_filter(grown.astype(np.float32), sigma=tuple(sigma))
    weight[mask] = 1.0
    return np.clip(weight, 0.0, 1.0)


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64)
    tst = np.asarray(test, dtype=np.float64)
    if ref.shape != tst.shape:
        raise ValueError(f"Reference and test differ in shape: {ref.shape} vs {tst.shape}.")
    return ref, tst


def _data_range(reference: np.ndarray, data_range: float | None) -> float:
    value = float(reference.max() - reference.min()) if data_range is None else float(data_range)
    if value <= 0:
        raise ValueError("The data range is zero: the reference is constant.")
    return value


def _select(array: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return array if mask is None else array[np.asarray(mask, dtype=bool)]


def rmse(reference: np.ndarray, test: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Root-mean-square error ``sqrt(mean((test - reference)^2))``, inside ``mask`` if given."""
    ref, tst = _pair(reference, test)
    difference = _select(tst - ref, mask)
    if difference.size == 0:
        raise ValueError("The mask selects no voxel.")
    return float(np.sqrt(np.mean(difference**2)))


def nrmse(
    reference: np.ndarray,
    test: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    data_range: float | None = None,
) -> float:
    """RMSE divided by the reference's range (max - min of the whole reference unless ``data_range``).

    The same normalisation as scikit-image's ``normalized_root_mse(..., normalization="min-max")``.
    """
    ref, _ = _pair(reference, test)
    return rmse(reference, test, mask=mask) / _data_range(ref, data_range)


def psnr(
    reference: np.ndarray,
    test: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    data_range: float | None = None,
) -> float:
    """Peak signal-to-noise ratio ``10 log10(L^2 / MSE)`` in dB, ``L`` the reference's range.

    Inside ``mask`` only the MSE is restricted; ``L`` stays the whole reference's range
    (or ``data_range``), so masked and whole figures share a scale. Identical volumes
    give ``inf``.
    """
    ref, _ = _pair(reference, test)
    error = rmse(reference, test, mask=mask)
    scale = _data_range(ref, data_range)
    return float("inf") if error == 0 else float(20 * np.log10(scale / error))


def ssim_map(reference: np.ndarray, test: np.ndarray, *, data_range: float | None = None) -> np.ndarray:
    """The SSIM map of every slice (axis 0), each computed in its plane (see the module docstring)."""
    ref, tst = _pair(reference, test)
    if ref.ndim == 2:
        ref, tst = ref[None], tst[None]
    scale = _data_range(ref, data_range)
    maps = np.empty(ref.shape, dtype=np.float64)
    for index in range(ref.shape[0]):
        _, maps[index] = structural_similarity(
            ref[index], tst[index], data_range=scale, win_size=SSIM_WINDOW, full=True
        )
    return maps


def _inner(shape: tuple[int, ...]) -> np.ndarray:
    """True away from the in-plane border that the SSIM window does not cover."""
    pad = (SSIM_WINDOW - 1) // 2
    inner = np.zeros(shape, dtype=bool)
    inner[..., pad : shape[-2] - pad, pad : shape[-1] - pad] = True
    return inner


def ssim(
    reference: np.ndarray,
    test: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    data_range: float | None = None,
) -> float:
    """Mean slice-wise SSIM (in-plane 7x7 window), over the whole volume or inside ``mask``."""
    maps = ssim_map(reference, test, data_range=data_range)
    keep = _inner(maps.shape)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool).reshape(maps.shape)
    if not keep.any():
        raise ValueError("No voxel to average the SSIM over (mask empty or image smaller than the window).")
    return float(maps[keep].mean())


@dataclass(frozen=True)
class QualityResult:
    """Metrics of a test volume against its reference, whole and inside the tissue mask."""

    psnr: float
    ssim: float
    rmse: float
    nrmse: float
    psnr_tissue: float
    ssim_tissue: float
    rmse_tissue: float
    nrmse_tissue: float
    n_slices_used: int


def compare(
    reference: Volume, test: Volume, *, mask: np.ndarray | None = None, edge_slices: int | None = None
) -> QualityResult:
    """PSNR, SSIM, RMSE and NRMSE of ``test`` against ``reference``, whole and in tissue.

    Both volumes must lie on one grid (shape and affine); ``edge_slices`` slices
    (default 2) at each end are left out; ``mask`` (spatial shape) defaults to
    :func:`tissue_mask` of the reference. Multi-channel volumes are compared over all
    channels together (each channel's slices are slices). See the module docstring
    for the conventions.
    """
    if reference.data.shape != test.data.shape:
        raise ValueError(
            f"The volumes are on different grids: shapes {reference.data.shape} and {test.data.shape}."
        )
    if not np.allclose(reference.affine, test.affine, atol=1e-3):
        raise ValueError(
            "The volumes are on different grids (their affines differ): resample the test volume "
            f"onto the reference grid first.\nreference:\n{reference.affine}\ntest:\n{test.affine}"
        )
    edge = 2 if edge_slices is None else int(edge_slices)
    n_slices = reference.shape[0]
    if edge < 0 or n_slices - 2 * edge < 1:
        raise ValueError(f"Cannot leave out {edge} edge slices at each end of {n_slices} slices.")
    if mask is None:
        mask = tissue_mask(reference)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != reference.shape:
        raise ValueError(f"The mask's shape {mask.shape} is not the volume's {reference.shape}.")
    used = slice(edge, n_slices - edge)

    def stack(volume: Volume) -> np.ndarray:  # (channels * slices, rows, columns)
        return np.concatenate([channel[used] for channel in volume.channels()]).astype(np.float64)

    ref, tst = stack(reference), stack(test)
    tissue = np.concatenate([mask[used]] * reference.n_channels)
    scale = _data_range(ref, None)
    maps = ssim_map(ref, tst, data_range=scale)
    inner = _inner(maps.shape)
    if not tissue.any():
        raise ValueError("The tissue mask is empty on the slices used.")
    return QualityResult(
        psnr=psnr(ref, tst, data_range=scale),
        ssim=float(maps[inner].mean()),
        rmse=rmse(ref, tst),
        nrmse=nrmse(ref, tst, data_range=scale),
        psnr_tissue=psnr(ref, tst, mask=tissue, data_range=scale),
        ssim_tissue=float(maps[inner & tissue].mean()),
        rmse_tissue=rmse(ref, tst, mask=tissue),
        nrmse_tissue=nrmse(ref, tst, mask=tissue, data_range=scale),
        n_slices_used=n_slices - 2 * edge,
    )
