"""Label mask files for the segmentation tests: NIfTI label maps (nibabel) and DICOM SEGs
(highdicom) on one small grid, the grid of a synthetic MR series.

The grid: 4 axial slices 2 mm apart (z = 0, 2, 4, 6), 8 rows x 10 columns of 0.5 mm; array
index (slice, row, column) -> LPS (x = 0.5 column, y = 0.5 row, z = 2 slice). A voxel is
0.5 mm^3.
"""

from __future__ import annotations

import io
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
from pydicom.uid import generate_uid

from tests.dicom_files import mr_slice

SHAPE = (4, 8, 10)
#: (slice, row, column) -> LPS mm.
LPS_AFFINE = np.array(
    [
        [0.0, 0.0, 0.5, 0.0],
        [0.0, 0.5, 0.0, 0.0],
        [2.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
VOXEL_ML = 0.5 * 0.5 * 2.0 / 1000


def box(lo, hi, shape=SHAPE) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = True
    return mask


def label_map(**boxes: tuple[tuple[int, int, int], tuple[int, int, int], int]) -> np.ndarray:
    """A uint8 label map with each named box (lo, hi, value) set to its value."""
    out = np.zeros(SHAPE, dtype=np.uint8)
    for lo, hi, value in boxes.values():
        out[box(lo, hi)] = value
    return out


def reoriented(data: np.ndarray, lps_affine: np.ndarray, order: tuple[int, ...], flip: tuple[int, ...]):
    """The same voxels in another array layout (as dcm2niix and other tools store them): axes
    permuted by ``order``, then the axes in ``flip`` reversed; the affine follows, so every
    voxel stays where it is in space."""
    out = np.transpose(data, order)
    affine = lps_affine.copy()
    affine[:3, :3] = lps_affine[:3, list(order)]
    for axis in flip:
        affine[:3, 3] += affine[:3, axis] * (out.shape[axis] - 1)
        affine[:3, axis] = -affine[:3, axis]
        out = np.flip(out, axis=axis)
    return np.ascontiguousarray(out), affine


#: The reference of the tests: left amygdala a 2 x 4 x 4 box (32 voxels), right a 2 x 2 x 2 box (8).
REFERENCE = label_map(left=((1, 2, 2), (3, 6, 6), 1), right=((1, 2, 7), (3, 4, 9), 2))
LABELS = "1=left amygdala; 2=right amygdala"


def nifti_bytes(data: np.ndarray, lps_affine: np.ndarray = LPS_AFFINE, *, gzip: bool = False) -> bytes:
    """A NIfTI-1 file of ``data`` (array index order) placed by ``lps_affine`` (turned to RAS+)."""
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps_affine
    image = nib.Nifti1Image(data, ras)
    image.header.set_sform(ras, code=1)
    image.header.set_qform(ras, code=1)
    raw = image.to_bytes()
    if gzip:
        import gzip as gz

        return gz.compress(raw)
    return raw


def source_images(rows: int = SHAPE[1], columns: int = SHAPE[2], slices: int = SHAPE[0]):
    """The synthetic MR series the SEGs segment (the grid above)."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    images = []
    for i in range(slices):
        image = mr_slice(
            study_uid=study,
            series_uid=series,
            frame_uid=frame,
            position=(0.0, 0.0, 2.0 * i),
            instance_number=i + 1,
            rows=rows,
            columns=columns,
        )
        image.PixelData = np.zeros((rows, columns), dtype=np.uint16).tobytes()
        images.append(image)
    return images


def seg_bytes(segments: dict[str, np.ndarray], *, kind: str = "BINARY") -> bytes:
    """A DICOM SEG (BINARY, FRACTIONAL or LABELMAP) of the source grid with one segment per name
    (numbered 1, 2, ... in order); empty frames are left out, as highdicom (and most tools)
    write them."""
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=name,
            segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical structure"),
            segmented_property_type=hd.sr.CodedConcept("4958002", "SCT", "Amygdala"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name="test-segmenter", version="1", family=hd.sr.CodedConcept("123109", "DCM", "Segmentation")
            ),
        )
        for n, name in enumerate(segments, start=1)
    ]
    pixels = np.stack([m.astype(np.uint8) for m in segments.values()], axis=-1)
    if kind == "FRACTIONAL":
        pixels = pixels.astype(np.float32) * 0.75
    elif kind == "LABELMAP":  # one value per voxel: the segment's number (segments must not overlap)
        pixels = (pixels * np.arange(1, pixels.shape[-1] + 1, dtype=np.uint8)).max(axis=-1)
    seg = hd.seg.Segmentation(
        source_images=source_images(),
        pixel_array=pixels,
        segmentation_type=getattr(hd.seg.SegmentationTypeValues, kind),
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=50,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Example",
        manufacturer_model_name="Segmenter",
        software_versions="1.0",
        device_serial_number="1",
        max_fractional_value=255 if kind == "FRACTIONAL" else None,
    )
    out = io.BytesIO()
    seg.save_as(out)
    return out.getvalue()


def mr_image_bytes() -> bytes:
    """A plain MR image (DICOM, but not a segmentation)."""
    image = source_images(slices=1)[0]
    out = io.BytesIO()
    image.save_as(out, enforce_file_format=True)
    return out.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
