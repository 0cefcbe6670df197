"""Synthetic DICOM files for the import and de-identification tests.

Everything here is made up: small MR series with a fake patient, written with pydicom.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-0042"
PATIENT_BIRTH_DATE = "19700101"
INSTITUTION = "Saint Example Hospital"
ACCESSION = "ACC-7781"
PRIVATE_VALUE = "secret private value"

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def mr_slice(
    *,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    position: Sequence[float],
    instance_number: int,
    rows: int = 32,
    columns: int = 32,
    orientation: Sequence[float] = AXIAL,
    pixel_spacing: Sequence[float] = (0.5, 0.5),
    slice_thickness: float | None = 2.0,
    description: str = "T2 TSE sag",
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    with_pixels: bool = True,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """One single-frame MR image with geometry, identifying attributes and a private tag."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.Modality = "MR"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.OtherPatientIDs = "OTHER-99"
    ds.AccessionNumber = ACCESSION
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = "1 Example Street, Exampletown"
    ds.ReferringPhysicianName = "House^Gregory"
    ds.OperatorsName = "Tech^Tina"
    ds.StationName = "MRI-NORTH-1"
    ds.DeviceSerialNumber = "SN-123456"
    ds.StudyID = "S-555"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101010"
    ds.SeriesDate = "20240102"
    ds.ContentDate = "20240102"
    ds.AcquisitionDate = "20240102"
    ds.StudyDescription = "MRI knee left"
    ds.SeriesDescription = description
    ds.ImageComments = "patient was anxious"
    ds.Manufacturer = "Example Medical"
    ds.SeriesNumber = 3
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in pixel_spacing]
    if slice_thickness is not None:
        ds.SliceThickness = slice_thickness
    ds.RepetitionTime = 3000.0
    ds.EchoTime = 90.0

    source = Dataset()
    source.ReferencedSOPClassUID = MRImageStorage
    source.ReferencedSOPInstanceUID = "1.2.3.4.5.6.7.8.9"
    ds.ReferencedImageSequence = DicomSequence([source])

    block = ds.private_block(0x0029, "EXAMPLE PRIVATE", create=True)
    block.add_new(0x10, "LO", PRIVATE_VALUE)

    ds.Rows = rows
    ds.Columns = columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    if with_pixels:
        values = np.arange(rows * columns, dtype=np.int16).reshape(rows, columns) + instance_number
        ds.PixelData = values.tobytes()
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """``ds`` as the bytes of a DICOM Part 10 file."""
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def write(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM Part 10 file (with preamble and file meta)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def write_series(
    folder: Path,
    *,
    slices: int = 6,
    spacing: float = 2.0,
    skip: Iterable[int] = (),
    series_uid: str | None = None,
    study_uid: str | None = None,
    prefix: str = "IM",
    **slice_kwargs,
) -> tuple[str, list[Path]]:
    """Write an axial series of ``slices`` images into ``folder`` (leaving out indexes in ``skip``).

    Returns the SeriesInstanceUID and the written paths in slice order.
    """
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    skipped = set(skip)
    paths = []
    for index in range(slices):
        if index in skipped:
            continue
        ds = mr_slice(
            study_uid=study_uid,
            series_uid=series_uid,
            frame_uid=frame_uid,
            position=(-8.0, -8.0, 10.0 + index * spacing),
            instance_number=index + 1,
            **slice_kwargs,
        )
        # Written in reverse order of names so that sorting by file name is not enough.
        paths.append(write(ds, folder / f"{prefix}{slices - index:04d}.dcm"))
    return series_uid, paths


def write_text_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("These are not the images you are looking for.\n")
    return path


def write_truncated(source: Path, path: Path) -> Path:
    """A copy of ``source`` cut in half (the pixel data ends early)."""
    data = source.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def write_without_pixels(path: Path) -> Path:
    """A well-formed MR header without PixelData (its own series)."""
    ds = mr_slice(
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        frame_uid=generate_uid(),
        position=(0.0, 0.0, 0.0),
        instance_number=1,
        with_pixels=False,
    )
    return write(ds, path)
