"""Realistic brain volumes with metastasis-like lesions, for demos and tests.

The anatomy is the ICBM 2009a nonlinear symmetric MNI152 T1 template (Fonov et al.,
NeuroImage 54(1), 2011), read offline from the copy that the nilearn package ships
in its own data folder; nothing is downloaded. Each case adds, deterministically
from a seed:

* lesions shaped like brain metastases on contrast-enhanced T1 images: bright
  spheres, ring-enhancing with a dark necrotic centre when larger than 8 mm
  (the appearance described by Fink & Fink, "Imaging of brain metastases",
  Surg Neurol Int 4(Suppl 4), 2013), with a smooth edge, inserted by
  :func:`sr_engine.lesions.insert_lesions`;
* a smooth multiplicative bias field of up to about ±10 %, as receive coils give;
* Rician noise (Gudbjartsson & Patz, Magn Reson Med 34(6), 1995): the magnitude of
  the signal plus complex Gaussian noise.
"""

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from .extras import require
from .lesions import Lesion, insert_lesions
from .volume import Volume, affine_from_steps

__all__ = ["Lesion", "PhantomCase", "brain_case", "brain_slab"]

TEMPLATE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
WHITE_MATTER = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"
GREY_MATTER = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"

#: Template intensities (0..255) are scaled by this to give a typical 12-bit MR range.
INTENSITY_SCALE = 10.0


@dataclass(frozen=True)
class PhantomCase:
    volume: Volume
    lesions: tuple[Lesion, ...]


def _template_path(name: str):
    require("phantom", "The brain phantom (its MNI152 template)")
    return resources.files("nilearn") / "datasets" / "data" / name


@cache
def _axial_template() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T1, white- and grey-matter maps as axial stacks ``[slice, row, column]`` and their affine.

    The template is RAS with an identity rotation; the axial DICOM layout has columns
    running to the patient's left and rows to posterior, so both in-plane axes flip.
    """
    import nibabel  # imported here: only phantom users need it

    def load(name: str) -> tuple[np.ndarray, np.ndarray]:
        image = nibabel.load(str(_template_path(name)))
        if not isinstance(image, nibabel.Nifti1Image) or image.affine is None:
            raise ValueError(f"Expected the NIfTI template {name}, got {type(image).__name__}.")
        return np.asarray(image.dataobj, dtype=np.float32), image.affine

    t1, ras_affine = load(TEMPLATE)
    wm, _ = load(WHITE_MATTER)
    gm, _ = load(GREY_MATTER)
    if not np.allclose(ras_affine[:3, :3], np.eye(3)):
        raise ValueError("Expected the MNI152 template on an axis-aligned 1 mm grid.")

    n_i, n_j, _ = t1.shape
    ras_first = ras_affine @ np.array([n_i - 1, n_j - 1, 0, 1.0])  # NIfTI's own (i, j, k) index
    lps_first = np.array([-ras_first[0], -ras_first[1], ras_first[2]])
    # 1 mm steps: slices +z (superior), rows +y (posterior), columns +x (left)
    affine = affine_from_steps([(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)], lps_first)

    def axial(array: np.ndarray) -> np.ndarray:  # [i, j, k] RAS -> [k, row, column] LPS
        return Volume.from_affine_order(array[::-1, ::-1, :], affine).data

    return axial(t1), axial(wm) / 255.0, axial(gm) / 255.0, affine


def brain_slab(first_slice: int = 60, slices: int = 64) -> tuple[Volume, np.ndarray]:
    """An axial slab of the template cropped to the head, and its brain-tissue probability."""
    t1, wm, gm, affine = _axial_template()
    if not 0 <= first_slice < first_slice + slices <= t1.shape[0]:
        raise ValueError(f"Slices {first_slice}..{first_slice + slices - 1} lie outside the template.")
    rows = np.flatnonzero(t1.max(axis=(0, 2)) > 0)
    cols = np.flatnonzero(t1.max(axis=(0, 1)) > 0)
    r0, r1 = max(rows[0] - 6, 0), min(rows[-1] + 7, t1.shape[1])
    c0, c1 = max(cols[0] - 6, 0), min(cols[-1] + 7, t1.shape[2])
    box = np.s_[first_slice : first_slice + slices, r0:r1, c0:c1]
    tissue = np.clip(wm[box] + gm[box], 0.0, 1.0)
    slab = Volume(t1, affine).crop(box)
    return slab.with_data(slab.data * INTENSITY_SCALE), tissue


def brain_case(
    seed: int,
    n_lesions: int,
    *,
    first_slice: int = 60,
    slices: int = 64,
    noise_fraction: float = 0.02,
) -> PhantomCase:
    """A brain slab with ``n_lesions`` metastasis-like lesions (3 to 15 mm), bias field and noise.

    The same seed gives the same case. Lesions lie in brain tissue, away from the slab's
    top and bottom, and do not overlap. ``noise_fraction`` is the noise standard
    deviation relative to white-matter signal.
    """
    rng = np.random.default_rng(seed)
    slab, tissue = brain_slab(first_slice, slices)
    white = float(np.median(slab.data[tissue > 0.9])) if np.any(tissue > 0.9) else float(slab.data.max())
    with_lesions, lesions = insert_lesions(
        slab,
        n=n_lesions,
        diameters_mm=(3.0, 15.0),
        seed=rng,
        mask=tissue > 0.8,
        contrast=(0.3, 0.7),
        reference_signal=white,
        ring_threshold_mm=8.0,
        margin_mm=2.0,
        min_gap_mm=4.0,
    )
    data = with_lesions.data.astype(np.float64)
    n_s, n_r, n_c = data.shape

    # Smooth bias field: a random low-order polynomial in normalised coordinates.
    zs, ys, xs = (np.linspace(-1, 1, n) for n in (n_s, n_r, n_c))
    coeffs = rng.uniform(-0.06, 0.06, size=4)
    bias = (
        1.0
        + coeffs[0] * xs[None, None, :]
        + coeffs[1] * ys[None, :, None]
        + coeffs[2] * zs[:, None, None]
        + coeffs[3] * (xs[None, None, :] * ys[None, :, None])
    )
    data *= bias * rng.uniform(0.9, 1.1)

    sigma = noise_fraction * white
    noisy = np.hypot(data + rng.normal(0, sigma, data.shape), rng.normal(0, sigma, data.shape))
    return PhantomCase(Volume(noisy.astype(np.float32), slab.affine), tuple(lesions))
