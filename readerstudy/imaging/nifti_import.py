"""NIfTI rows of an import manifest: a volume (e.g. a super-resolution output) placed as a DICOM
series in its case's frame of reference.

A manifest row may name a NIfTI file (column ``nifti``, relative to the import root) instead
of a DICOM folder. The case must already have a DICOM series (imported earlier or earlier in
the same import): its *reference series* is the case's series of the lowest-ordered condition
(other than the row's). The NIfTI must lie on that series' field of view as imported (also
when the series is shown resampled onto the study's display grid):

* its axes agree with the reference's within ``ORIENTATION_TOLERANCE_DEG`` up to order and
  sign (NIfTI writers such as dcm2niix store the axes flipped or permuted; the data is turned
  back onto the reference's axes, which keeps every voxel where it is in space);
* each corner of its voxel box (voxel edges, not centres) lies within one voxel of the
  reference (its largest spacing) of the same corner of the reference's box.

The volume is then written as single-frame MR images (``sr_engine.dicom_series``) with the
reference's original StudyInstanceUID and FrameOfReferenceUID, so that de-identification on
import maps them to the reference's stored UIDs: marks and measurements transfer between the
two. Its SeriesInstanceUID is derived from the file's SHA-256, the case and the condition, so
importing the same file again finds the series already present.

Geometry: NIfTI affines are RAS+, converted exactly to LPS by ``sr_engine.nifti_io``;
DICOM geometry follows PS3.3 C.7.6.2.1.1.
"""

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from readerstudy.imaging.display_grid import series_native_geometry
from readerstudy.imaging.models import ImageSeries, SourceIdentity
from sr_engine.dicom_series import SeriesInfo, VolumeError, write_dicom_series
from sr_engine.volume import Volume, dicom_affine, index_to_patient, slice_normal

#: The largest angle (degrees) between an axis of the NIfTI and the reference's axis it matches.
ORIENTATION_TOLERANCE_DEG = 1.0
#: Default cap on a NIfTI's voxels (times channels): 2**28 float32 voxels are 1 GiB in memory.
DEFAULT_MAX_NIFTI_VOXELS = 2**28


class NiftiRefused(Exception):
    """The NIfTI file cannot become a series of its case; the message says why."""


@dataclass(frozen=True, kw_only=True)
class NiftiSeries:
    """A NIfTI file written as a DICOM series, ready for the import's checks."""

    folder: Path
    series_instance_uid: str
    num_files: int


def nifti_series_uid(sha256: str, case_code: str, condition_label: str) -> str:
    """The SeriesInstanceUID of a NIfTI row before de-identification (PS3.5 B.2, from a hash)."""
    key = hashlib.sha256(f"{sha256}\0{case_code}\0{condition_label.casefold()}".encode()).digest()[:16]
    return f"2.25.{int.from_bytes(key, 'big')}"


def nifti_file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def reference_series_for(case_series: list[ImageSeries], condition_id: int) -> ImageSeries | None:
    """The reference series of a NIfTI row: the case's series of the lowest-ordered other condition."""
    others = [s for s in case_series if s.condition_id != condition_id]
    others.sort(key=lambda s: (s.condition.order, s.condition_id))
    return others[0] if others else None


def _reference_affine(series: ImageSeries) -> np.ndarray:
    """The stored series' affine as imported (not its display grid): (column, row, slice) index to LPS mm."""
    geometry = series_native_geometry(series)
    step = slice_normal(geometry["orientation"]) * float(geometry["slice_spacing"] or 0.0)
    return dicom_affine(geometry["orientation"], geometry["pixel_spacing"], step, geometry["origin"])


def _box_corners(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The 8 corners (voxel edges) of a grid of ``shape`` = (slices, rows, columns), in mm (LPS)."""
    edges = [(-0.5, n - 0.5) for n in shape]
    corners = np.array([(s, r, c) for s in edges[0] for r in edges[1] for c in edges[2]], dtype=float)
    return index_to_patient(affine, corners)


def _onto_axes(volume: Volume, axes: np.ndarray) -> Volume:
    """``volume`` with its axes permuted and flipped onto ``axes`` (unit columns, affine order).

    Raises NiftiRefused when an axis has no counterpart within ``ORIENTATION_TOLERANCE_DEG``.
    """
    steps = volume.affine[:3, :3]
    units = steps / np.linalg.norm(steps, axis=0)
    cosines = axes.T @ units  # [reference axis, NIfTI axis]
    limit = math.cos(math.radians(ORIENTATION_TOLERANCE_DEG))
    order: list[int] = []
    for target in range(3):
        source = int(np.argmax(np.abs(cosines[target])))
        if abs(cosines[target, source]) < limit or source in order:
            angle = math.degrees(math.acos(min(1.0, float(np.max(np.abs(cosines[target]))))))
            raise NiftiRefused(
                f"its orientation differs from the case's reference series by {angle:.1f}° "
                f"(at most {ORIENTATION_TOLERANCE_DEG:g}° allowed)"
            )
        order.append(source)
    data = volume.affine_order_data()
    data = np.transpose(data, order + list(range(3, data.ndim)))
    affine = np.eye(4)
    affine[:3, 3] = volume.affine[:3, 3]
    for target, source in enumerate(order):
        step = volume.affine[:3, source]
        if cosines[target, source] < 0:
            affine[:3, 3] += step * (data.shape[target] - 1)
            data = np.flip(data, axis=target)
            step = -step
        affine[:3, target] = step
    return Volume.from_affine_order(data, affine, volume.acquisition)


def nifti_alignment(volume: Volume, reference: ImageSeries) -> Volume:
    """``volume`` on the reference series' axes, or NiftiRefused when it is not on its field of view."""
    reference_affine = _reference_affine(reference)
    axes = reference_affine[:3, :3] / np.linalg.norm(reference_affine[:3, :3], axis=0)
    aligned = _onto_axes(volume, axes)
    ours = _box_corners(aligned.affine, aligned.shape)
    native = series_native_geometry(reference)
    theirs = _box_corners(reference_affine, (native["num_slices"], native["rows"], native["columns"]))
    tolerance = float(np.max(np.linalg.norm(reference_affine[:3, :3], axis=0)))
    offset = float(np.max(np.linalg.norm(ours - theirs, axis=1)))
    if offset > tolerance:
        raise NiftiRefused(
            f"its field of view is {offset:.1f} mm away from the case's reference series at a corner "
            f"(at most {tolerance:.2f} mm, one voxel, allowed)"
        )
    return aligned


def nifti_series_write(
    path: Path,
    *,
    reference: ImageSeries,
    case_code: str,
    series_instance_uid: str,
    out_dir: Path,
    max_voxels: int = DEFAULT_MAX_NIFTI_VOXELS,
) -> NiftiSeries:
    """Read the NIfTI at ``path``, check it against ``reference`` and write it as a DICOM series.

    Raises NiftiRefused with the reason (unreadable, too large, misaligned).
    """
    import nibabel as nib

    from sr_engine.nifti_io import read_nifti

    try:
        image = nib.load(str(path))
    except Exception as exc:  # nibabel raises several kinds for a damaged file
        raise NiftiRefused(f"it is not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    if not isinstance(image, nib.Nifti1Image):  # NIfTI-2 images are a subclass
        raise NiftiRefused("it is not a NIfTI image")
    voxels = 1
    for size in image.header.get_data_shape():
        voxels *= int(size)
    if voxels > max_voxels:
        raise NiftiRefused(f"it has {voxels:,} voxels; at most {max_voxels:,} are imported")
    try:
        volume = read_nifti(path)
    except (VolumeError, ValueError, OSError) as exc:
        raise NiftiRefused(f"it cannot be read as a volume: {exc}") from None
    if not np.all(np.isfinite(volume.data)):
        raise NiftiRefused("it holds values that are not finite numbers (NaN or infinity)")
    aligned = nifti_alignment(volume, reference)
    identity = SourceIdentity.objects.filter(series=reference).first()
    info = SeriesInfo(
        patient_name=case_code,
        patient_id=case_code,
        series_description=reference.description or "MR",
        study_instance_uid=(identity.study_instance_uid if identity else "") or reference.study_instance_uid,
        series_instance_uid=series_instance_uid,
        frame_of_reference_uid=(identity.frame_of_reference_uid if identity else "")
        or f"{series_instance_uid}.1",
    )
    files = write_dicom_series(aligned, out_dir, info)
    return NiftiSeries(folder=out_dir, series_instance_uid=series_instance_uid, num_files=len(files))
