"""Writing a Volume as a DICOM series (one MR image per slice) and reading it back.

Geometry follows DICOM PS3.3 C.7.6.2 (Image Plane Module): ImagePositionPatient
is the centre of the first voxel of each slice, ImageOrientationPatient the row and
column directions, PixelSpacing is (row spacing, column spacing) and
SpacingBetweenSlices the distance between slice centres.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from .volume import Volume, dicom_affine, slice_normal


@dataclass(frozen=True)
class SeriesInfo:
    """What identifies a written series: patient, study, series and frame of reference."""

    patient_name: str
    patient_id: str
    series_description: str
    series_number: int = 1
    study_description: str = ""
    study_instance_uid: str = field(default_factory=generate_uid)
    series_instance_uid: str = field(default_factory=generate_uid)
    frame_of_reference_uid: str = field(default_factory=generate_uid)
    slice_thickness: float | None = None
    derivation: str = ""


def _window(data: np.ndarray) -> tuple[float, float]:
    """A display window spanning the 1st to 99.8th percentile of the non-zero voxels."""
    values = data[data > 0]
    if values.size == 0:
        return 0.5, 1.0
    low, high = np.percentile(values, [1.0, 99.8])
    return float((low + high) / 2), float(max(high - low, 1.0))


def write_dicom_series(volume: Volume, out_dir: Path, info: SeriesInfo) -> list[Path]:
    """Write one single-frame MR Image Storage file per slice; return the paths in slice order.

    Voxel values are rounded to unsigned 16-bit integers (negative values clip to 0),
    so volumes should be scaled to a useful integer range first.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.rint(volume.data), 0, 65535).astype(np.uint16)
    center, width = _window(pixels)
    col_spacing, row_spacing, slice_spacing = volume.spacing
    normal = slice_normal(volume.orientation)
    now = datetime.now()
    paths = []
    for index in range(volume.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian

        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = info.study_instance_uid
        ds.SeriesInstanceUID = info.series_instance_uid
        ds.FrameOfReferenceUID = info.frame_of_reference_uid
        ds.Modality = "MR"
        ds.PatientName = info.patient_name
        ds.PatientID = info.patient_id
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
        ds.StudyDescription = info.study_description
        ds.SeriesDescription = info.series_description
        ds.SeriesNumber = info.series_number
        ds.InstanceNumber = index + 1
        ds.ImageType = ["DERIVED", "SECONDARY"] if info.derivation else ["ORIGINAL", "PRIMARY"]
        if info.derivation:
            ds.DerivationDescription = info.derivation[:1024]
        ds.ImagePositionPatient = [float(v) for v in volume.slice_position(index)]
        ds.ImageOrientationPatient = [round(v, 8) for v in volume.orientation]
        ds.PixelSpacing = [row_spacing, col_spacing]
        ds.SliceThickness = info.slice_thickness if info.slice_thickness is not None else slice_spacing
        ds.SpacingBetweenSlices = slice_spacing
        ds.SliceLocation = float(np.dot(volume.slice_position(index), normal))
        ds.Rows, ds.Columns = pixels.shape[1], pixels.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.WindowCenter = round(center, 2)
        ds.WindowWidth = round(width, 2)
        ds.PixelData = pixels[index].tobytes()
        path = out_dir / f"IM{index + 1:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def read_dicom_series(folder: Path) -> Volume:
    """Read the single-frame slices of one series in ``folder`` into a Volume.

    Slices are sorted by their position along the slice normal; their spacing must be
    uniform (a missing slice is an error).
    """
    datasets = [pydicom.dcmread(path) for path in sorted(Path(folder).glob("*.dcm"))]
    if not datasets:
        raise ValueError(f"No DICOM files (*.dcm) in {folder}.")
    orientation = [float(v) for v in datasets[0].ImageOrientationPatient]
    normal = slice_normal(orientation)
    datasets.sort(key=lambda ds: float(np.dot(normal, [float(v) for v in ds.ImagePositionPatient])))
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    if len(datasets) > 1:
        steps = np.diff(positions @ normal)
        if not np.allclose(steps, steps[0], rtol=1e-3, atol=1e-3) or steps[0] <= 0:
            raise ValueError(f"Slices of {folder} are not evenly spaced (missing or duplicate slices).")
        slice_vector = (positions[-1] - positions[0]) / (len(datasets) - 1)
    else:
        slice_vector = normal * float(getattr(datasets[0], "SliceThickness", 1.0) or 1.0)
    affine = dicom_affine(orientation, datasets[0].PixelSpacing, slice_vector, positions[0])
    data = np.stack(
        [
            ds.pixel_array.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1) or 1)
            + float(getattr(ds, "RescaleIntercept", 0) or 0)
            for ds in datasets
        ]
    )
    return Volume(data, affine)
