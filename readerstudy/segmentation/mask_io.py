"""Reading label masks from untrusted files (NIfTI or DICOM SEG) and putting two on one grid.

No database here: ``segmentation.services`` calls these and stores what they return.

**Formats** (recognised by their bytes, not their names):

* *NIfTI-1/-2* (``.nii`` or ``.nii.gz``, read with nibabel): an integer label map, 0 the
  background; the labels (name = value) are given by the coordinator, or taken from the
  case's reference mask. The affine (``sform``/``qform``, RAS+) is turned to LPS+
  (x and y negated), as DICOM's patient coordinates.
* *DICOM SEG* (Segmentation Storage, PS3.3 A.51, read with highdicom): BINARY or LABELMAP
  segmentations; each segment is a label named by its SegmentLabel (0062,0005), its value
  the SegmentNumber. Segments may overlap: each label is its own binary mask. FRACTIONAL
  segmentations (probabilities, occupancy) are refused. A SEG usually holds only the frames
  that contain a segment, so its grid may cover fewer slices than the image.

**Caps**, those of the DICOM and NIfTI import (``imaging.import_safety``, ``imaging.nifti_import``):
at most ``READERSTUDY_MAX_IMPORT_MEMBER`` bytes a file and ``READERSTUDY_MAX_NIFTI_VOXELS``
voxels, checked from the header before any voxel is read; a DICOM file's header is read first
with every declared length checked against the file (``dicom_header_read``), so a damaged or
hostile file is refused after a few bytes with the reason (``MaskRefused``).

**Grid**: every mask is turned onto its closest canonical axes (nibabel's
``io_orientation``/``apply_orientation``: array axes along +x, +y, +z of LPS, which moves no
voxel in space), so that a NIfTI and a SEG of the same image compare. A mask is comparable
with the reference when both lie on **one voxel lattice**: every voxel centre of the mask
lies within ``GRID_TOLERANCE_MM`` of a voxel centre of the reference's grid, i.e. the same
axes, the same spacing, and an origin a whole number of voxels away (:func:`lattice_offset`).
Their fields of view must overlap; where they differ (a SEG without its empty frames) both
are placed on the union of the two (:func:`common_grid`): outside its own field of view a
mask is background. Anything else (another spacing, a rotated or shifted grid, a
different matrix not on the lattice) is refused with the difference in words.
"""

from __future__ import annotations

import gzip
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from readerstudy.imaging.import_safety import DicomFileRejected, dicom_header_read, dicom_read
from stats.overlap import OverlapError, spacing_from_affine

#: Every voxel centre of a mask within this distance (mm) of the reference lattice's voxel.
GRID_TOLERANCE_MM = 0.01
#: Segmentation Storage (PS3.4 B.5); Label Map Segmentation Storage (PS3.4, 2024).
SEGMENTATION_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation Storage",
}
#: The longest label name, and the largest label value, of a mask.
MAX_LABEL_NAME = 100
MAX_LABEL_VALUE = 65535
MAX_LABELS = 255
NIFTI, DICOM_SEG = "nifti", "dicom-seg"
_LABEL_ITEM = re.compile(r"^\s*(\d+)\s*[=:]\s*(.+?)\s*$")


class MaskRefused(ValueError):
    """A mask file that cannot be used; the message says why, for the coordinator."""


@dataclass(frozen=True, kw_only=True)
class LabelMasks:
    """One file's masks on its canonical grid: a boolean array per label, in label order.

    ``labels`` maps each label's name to its value in the file (NIfTI value or SEG segment
    number); ``affine`` maps (i, j, k) array indices to LPS mm.
    """

    file_format: str
    labels: dict[str, int]
    masks: dict[str, np.ndarray]
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return next(iter(self.masks.values())).shape if self.masks else (0, 0, 0)

    @property
    def spacing(self) -> tuple[float, ...]:
        return spacing_from_affine(self.affine)


def labels_parse(text: str) -> dict[str, int]:
    """The coordinator's labels, "1=left amygdala; 2=right amygdala" (``;``, ``,`` or new lines
    between items; ``:`` also separates value and name). Empty text gives no labels."""
    labels: dict[str, int] = {}
    for item in re.split(r"[;,\n]", text or ""):
        if not item.strip():
            continue
        match = _LABEL_ITEM.match(item)
        if not match:
            raise MaskRefused(f'"{item.strip()}" is not a label: write value=name, e.g. "1=left amygdala".')
        value, name = int(match.group(1)), match.group(2)
        _label_check(name, value)
        if name in labels:
            raise MaskRefused(f'The label "{name}" is given twice.')
        if value in labels.values():
            raise MaskRefused(f"The value {value} is given to two labels.")
        labels[name] = value
    return labels


def _labels_cap(n_labels: int, voxels: int, max_voxels: int) -> None:
    """One boolean mask a label (a byte a voxel): at most ``MAX_LABELS`` and 4 x the voxel cap in all."""
    if n_labels > MAX_LABELS or n_labels * voxels > 4 * max_voxels:
        raise MaskRefused(
            f"it has {n_labels} labels on {voxels:,} voxels: at most {MAX_LABELS} labels and "
            f"{4 * max_voxels:,} label voxels in all are accepted"
        )


def _label_check(name: str, value: int) -> None:
    if not 1 <= value <= MAX_LABEL_VALUE:
        raise MaskRefused(f"Label values lie between 1 and {MAX_LABEL_VALUE}; {value} does not.")
    if len(name) > MAX_LABEL_NAME or any(ord(c) < 32 for c in name):
        raise MaskRefused(f"A label name is at most {MAX_LABEL_NAME} printable characters.")


def sniff_format(path: Path) -> str:
    """``nifti`` or ``dicom-seg`` from the file's first bytes; MaskRefused for anything else."""
    with path.open("rb") as handle:
        head = handle.read(352)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(352)
        except (OSError, EOFError) as exc:
            raise MaskRefused(f"it is a damaged gzip file ({exc})") from None
        if _is_nifti(head):
            return NIFTI
        raise MaskRefused("it is a gzip file that holds no NIfTI image")
    if head[128:132] == b"DICM":
        return DICOM_SEG
    if _is_nifti(head):
        return NIFTI
    raise MaskRefused("it is neither a NIfTI image (.nii, .nii.gz) nor a DICOM file")


def _is_nifti(head: bytes) -> bool:
    return head[344:348] in (b"n+1\0", b"ni1\0") or head[4:8] in (b"n+2\0", b"ni2\0")


def mask_read(
    path: Path,
    *,
    labels: dict[str, int],
    max_bytes: int,
    max_voxels: int,
    default_labels: dict[str, int] | None = None,
) -> LabelMasks:
    """The masks of the NIfTI or DICOM SEG file at ``path`` (see the module docstring).

    ``labels`` (name -> value) name a NIfTI's values; without them a NIfTI takes
    ``default_labels`` (the reference's), or else one label per value it holds, named by the
    value. Every non-zero value of a NIfTI must be named. A DICOM SEG names its own
    segments, so ``labels`` must be empty for one.
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise MaskRefused(f"the file has {size:,} bytes; at most {max_bytes:,} are accepted")
    if size == 0:
        raise MaskRefused("the file is empty")
    file_format = sniff_format(path)
    if file_format == NIFTI:
        return _nifti_read(path, labels=labels or dict(default_labels or {}), max_voxels=max_voxels)
    if labels:
        raise MaskRefused("a DICOM SEG names its own segments: leave the labels empty")
    return _seg_read(path, max_bytes=max_bytes, max_voxels=max_voxels)


# ----------------------------------------------------------------------------- NIfTI


def _nifti_read(path: Path, *, labels: dict[str, int], max_voxels: int) -> LabelMasks:
    import nibabel as nib

    with path.open("rb") as handle:
        suffix = ".nii.gz" if handle.read(2) == b"\x1f\x8b" else ".nii"
    # nibabel tells the compression by the name: give it one that says what the bytes are
    link = path if path.name.endswith(suffix) else path.with_name(path.name + suffix)
    if link != path:
        link.symlink_to(path.resolve())
    try:
        image = nib.load(str(link))
        if not isinstance(image, nib.Nifti1Image):  # NIfTI-2 images are a subclass
            raise MaskRefused("it is not a NIfTI image")
        shape = tuple(int(n) for n in image.header.get_data_shape())
        voxels = math.prod(shape)
        if voxels > max_voxels:
            raise MaskRefused(f"it has {voxels:,} voxels; at most {max_voxels:,} are accepted")
        if len(shape) < 3 or any(n != 1 for n in shape[3:]):
            raise MaskRefused(f"a mask is one 3D volume; this one has the shape {shape}")
        sform, qform = int(image.header["sform_code"]), int(image.header["qform_code"])
        if sform == 0 and qform == 0:
            raise MaskRefused("its header places it nowhere in space (sform and qform codes are 0)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = np.asanyarray(image.dataobj).reshape(shape[:3])
            affine = np.asarray(image.affine, dtype=float)
    except MaskRefused:
        raise
    except Exception as exc:  # nibabel raises several kinds for a damaged file
        raise MaskRefused(f"it is not a readable NIfTI file ({type(exc).__name__}: {exc})") from None
    finally:
        if link != path:
            link.unlink(missing_ok=True)
    if min(shape[:3]) == 0:
        raise MaskRefused("its volume has no voxels")
    if not np.issubdtype(data.dtype, np.integer) and not np.issubdtype(data.dtype, np.bool_):
        if not np.all(np.isfinite(data)):
            raise MaskRefused("it holds values that are not finite numbers (NaN or infinity)")
        if not np.array_equal(data, np.round(data)):
            raise MaskRefused("it holds fractional values: a label mask holds whole numbers (0 = background)")
    if data.size and (data.min() < 0 or data.max() > MAX_LABEL_VALUE):
        raise MaskRefused(f"its values must lie between 0 (background) and {MAX_LABEL_VALUE}")
    values = data.astype(np.int32, copy=False)
    present = sorted(set(np.unique(values).tolist()) - {0})
    if not labels:
        labels = {str(v): v for v in present}
    unnamed = [v for v in present if v not in labels.values()]
    if unnamed:
        raise MaskRefused(
            f"it holds the value(s) {', '.join(map(str, unnamed))}, which no label names "
            f"(labels given: {labels_text(labels)})"
        )
    if not labels:
        raise MaskRefused("it holds no label (every voxel is 0) and no labels were given")
    _labels_cap(len(labels), values.size, max_voxels)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine  # RAS+ -> LPS+
    masks = {name: values == value for name, value in labels.items()}
    return _canonical(NIFTI, labels, masks, lps)


# ----------------------------------------------------------------------------- DICOM SEG


def _seg_read(path: Path, *, max_bytes: int, max_voxels: int) -> LabelMasks:
    import highdicom as hd

    try:
        header, _ = dicom_header_read(path, max_size=max_bytes)
    except DicomFileRejected as exc:
        raise MaskRefused(f"it is not a readable DICOM file: {exc}") from None
    except Exception as exc:  # pydicom's own errors on a damaged header
        raise MaskRefused(f"it is not a readable DICOM file ({type(exc).__name__}: {exc})") from None
    sop_class = str(header.get("SOPClassUID", "") or "")
    if sop_class not in SEGMENTATION_SOP_CLASSES:
        raise MaskRefused(f"it is a DICOM file but not a segmentation (SOP class {sop_class or 'missing'})")
    try:
        voxels = int(header.Rows) * int(header.Columns) * int(header.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise MaskRefused("its Rows, Columns or NumberOfFrames are missing or not numbers") from None
    segments = len(header.get("SegmentSequence", []) or [])
    if voxels * max(segments, 1) > max_voxels:
        raise MaskRefused(f"it has {voxels:,} voxels; at most {max_voxels:,} are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.Segmentation.from_dataset(dicom_read(path, max_size=max_bytes), copy=False)
            kind = seg.segmentation_type
            if kind == hd.seg.SegmentationTypeValues.FRACTIONAL:
                raise MaskRefused(
                    "it is a FRACTIONAL segmentation (probabilities or occupancy): export a BINARY "
                    "or LABELMAP one"
                )
            numbers = list(seg.segment_numbers)
            names = {n: str(seg.get_segment_description(n).segment_label or "").strip() for n in numbers}
            volume = seg.get_volume(combine_segments=False, dtype=np.uint8)
    except MaskRefused:
        raise
    except DicomFileRejected as exc:
        raise MaskRefused(f"it is not a readable DICOM file: {exc}") from None
    except Exception as exc:  # highdicom and pydicom raise many kinds for a malformed SEG
        raise MaskRefused(f"it is not a usable DICOM SEG ({type(exc).__name__}: {exc})") from None
    if not numbers:
        raise MaskRefused("it has no segments")
    labels: dict[str, int] = {}
    for number in numbers:
        name = names[number] or f"segment {number}"
        if name in labels:
            raise MaskRefused(f'two of its segments are labelled "{name}": each label must be named once')
        _label_check(name, number)
        labels[name] = number
    array = np.asarray(volume.array)
    _labels_cap(len(labels), math.prod(array.shape[:3]), max_voxels)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[3] != len(numbers) or min(array.shape[:3]) == 0:
        raise MaskRefused(f"its frames do not form one volume (shape {array.shape})")
    masks = {name: array[..., i] > 0 for i, name in enumerate(labels)}
    return _canonical(DICOM_SEG, labels, masks, np.asarray(volume.affine, dtype=float))


# ----------------------------------------------------------------------------- grid


def _canonical(
    file_format: str, labels: dict[str, int], masks: dict[str, np.ndarray], affine: np.ndarray
) -> LabelMasks:
    """The masks on their closest canonical axes (+x, +y, +z of LPS), with the matching affine."""
    from nibabel import orientations

    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise MaskRefused("its affine (voxel-to-patient transform) is not a finite 4x4 matrix")
    try:
        spacing_from_affine(affine)
        ornt = orientations.io_orientation(affine)
        shape = next(iter(masks.values())).shape
        new_affine = affine @ orientations.inv_ornt_aff(ornt, shape)
    except (OverlapError, ValueError) as exc:
        raise MaskRefused(f"its grid cannot be used: {exc}") from None
    turned = {
        name: np.ascontiguousarray(orientations.apply_orientation(m, ornt)) for name, m in masks.items()
    }
    return LabelMasks(file_format=file_format, labels=labels, masks=turned, affine=new_affine)


def _describe(affine: np.ndarray) -> str:
    spacing = " x ".join(f"{s:g}" for s in np.linalg.norm(affine[:3, :3], axis=0))
    origin = ", ".join(f"{v:.2f}" for v in affine[:3, 3])
    return f"spacing {spacing} mm, origin ({origin}) mm"


def lattice_offset(
    affine: np.ndarray, shape: tuple[int, ...], reference_affine: np.ndarray
) -> tuple[int, int, int]:
    """The whole-voxel offset of a grid on the reference's lattice: the reference index of the
    grid's voxel (0, 0, 0). MaskRefused when a voxel centre of the grid (checked at the 8
    corners of its box: the map is affine) is more than ``GRID_TOLERANCE_MM`` from the
    reference lattice's voxel it should fall on."""
    into_reference = np.linalg.inv(reference_affine) @ affine
    offset = np.rint(into_reference[:3, 3]).astype(int)
    corners = np.array(
        [(i, j, k, 1.0) for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)]
    )
    found = (into_reference @ corners.T)[:3]
    expected = corners.T[:3] + offset[:, np.newaxis]
    miss_mm = float(np.max(np.linalg.norm(reference_affine[:3, :3] @ (found - expected), axis=0)))
    if miss_mm > GRID_TOLERANCE_MM:
        raise MaskRefused(
            f"it is not on the reference mask's voxel grid: a voxel lies {miss_mm:.3g} mm off the "
            f"reference's grid (at most {GRID_TOLERANCE_MM} mm allowed; the mask has "
            f"{_describe(affine)}, the reference {_describe(reference_affine)})"
        )
    return (int(offset[0]), int(offset[1]), int(offset[2]))


@dataclass(frozen=True, kw_only=True)
class CommonGrid:
    """A mask and the reference on the union of their fields of view (reference lattice)."""

    masks: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    spacing: tuple[float, ...]


def common_grid(mask: LabelMasks, reference: LabelMasks) -> CommonGrid:
    """Both sets of masks on one array grid (see the module docstring); MaskRefused when they
    are not on one lattice or their fields of view do not overlap."""
    offset = np.array(lattice_offset(mask.affine, mask.shape, reference.affine))
    m_shape, r_shape = np.array(mask.shape), np.array(reference.shape)
    if np.any(offset >= r_shape) or np.any(offset + m_shape <= 0):
        raise MaskRefused("its field of view does not overlap the reference mask's")
    low = np.minimum(0, offset)
    high = np.maximum(r_shape, offset + m_shape)
    shape = tuple(int(n) for n in high - low)

    def place(arrays: dict[str, np.ndarray], at: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for name, a in arrays.items():
            if a.shape == shape:
                out[name] = a
                continue
            full = np.zeros(shape, dtype=bool)
            start = at - low
            full[tuple(slice(int(s), int(s) + n) for s, n in zip(start, a.shape, strict=True))] = a
            out[name] = full
        return out

    return CommonGrid(
        masks=place(mask.masks, offset),
        reference=place(reference.masks, np.zeros(3, dtype=int)),
        spacing=reference.spacing,
    )


def labels_text(labels: dict[str, int]) -> str:
    """Labels as the coordinator writes them: "1=left amygdala; 2=right amygdala"."""
    return "; ".join(f"{value}={name}" for name, value in labels.items()) or "none"
