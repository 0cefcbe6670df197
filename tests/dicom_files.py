"""Synthetic DICOM files for the import and de-identification tests.

Everything here is made up: small MR series and a knee radiograph (DX) with a fake patient,
written with pydicom.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

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


# ---------------------------------------------------------------------------
# Projection images: a digital radiograph (DX) of a knee


#: Bright lesions of ``knee_radiograph``: (row, column, radius), as fractions of the image's
#: height, width and width (so they scale with the matrix).
KNEE_LESIONS = ((0.30, 0.42, 0.025), (0.62, 0.58, 0.03), (0.78, 0.45, 0.02))


def knee_radiograph(
    rows: int = 320, columns: int = 256, *, seed: int = 7, lesions: Sequence[tuple] = KNEE_LESIONS
) -> tuple[np.ndarray, list[tuple]]:
    """A synthetic AP knee radiograph (12-bit, MONOCHROME2: bone bright) and its lesions.

    Soft tissue (a rounded band), the femur above and the tibia and fibula below a joint
    space, a patella over the femur's end, trabecular noise, and dense round lesions
    (``lesions``, as in ``KNEE_LESIONS``; none for a normal knee). Returns the pixels (uint16,
    ``rows`` x ``columns``) and the lesions as (row, column, radius) in pixels, centres measured
    from the image's corner (so a pixel's centre is at +0.5).
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(float) + 0.5
    u, v = x / columns, y / rows  # 0..1 across and down
    image = np.full((rows, columns), 180.0)  # air: dark
    soft = np.abs(u - 0.5) < 0.36 + 0.04 * np.cos(np.pi * (v - 0.5))
    image[soft] = 900.0
    joint = 0.5
    femur = (np.abs(u - 0.5) < 0.13 + 0.12 * np.clip((v - 0.25) / 0.25, 0, 1) ** 2) & (v < joint - 0.015)
    tibia = (np.abs(u - 0.5) < 0.24 - 0.11 * np.clip((v - joint) / 0.2, 0, 1)) & (v > joint + 0.015)
    fibula = (np.abs(u - 0.78) < 0.035) & (v > joint + 0.06)
    patella = ((u - 0.5) / 0.1) ** 2 + ((v - 0.4) / 0.06) ** 2 < 1
    for bone, level in ((femur, 2300.0), (tibia, 2200.0), (fibula, 2000.0), (patella, 2600.0)):
        image[bone] = level
    bone = femur | tibia | fibula
    image[bone] += rng.normal(0, 60, size=int(bone.sum()))  # trabecular texture
    placed = []
    for row_f, col_f, radius_f in lesions:
        centre_row, centre_col, radius = row_f * rows, col_f * columns, radius_f * columns
        image[(y - centre_row) ** 2 + (x - centre_col) ** 2 < radius**2] = 3600.0
        placed.append((centre_row, centre_col, radius))
    image += rng.normal(0, 15, size=image.shape)
    return np.clip(image, 0, 4095).astype(np.uint16), placed


def dx_image(
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    rows: int = 320,
    columns: int = 256,
    imager_pixel_spacing: Sequence[float] | None = (0.4, 0.4),
    pixel_spacing: Sequence[float] | None = None,
    magnification: float | None = None,
    modality: str = "DX",
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    description: str = "Knee AP",
    seed: int = 7,
    lesions: Sequence[tuple] = KNEE_LESIONS,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """One single-frame digital radiograph (DX, for presentation) of a synthetic knee.

    As radiographs are: no ImageOrientationPatient, ImagePositionPatient or
    FrameOfReferenceUID, a PatientOrientation instead; ImagerPixelSpacing (the detector's),
    optionally EstimatedRadiographicMagnificationFactor and PixelSpacing; MONOCHROME2,
    12 bits stored; and the identifying attributes of ``mr_slice`` plus the detector's.
    The pixels are ``knee_radiograph``'s (with ``lesions``).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = sop_instance_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.AccessionNumber = ACCESSION
    ds.InstitutionName = INSTITUTION
    ds.ReferringPhysicianName = "House^Gregory"
    ds.OperatorsName = "Tech^Tina"
    ds.StationName = "DR-ROOM-2"
    ds.DeviceSerialNumber = "SN-DX-9911"
    ds.DetectorID = "DET-4471"
    ds.PlateID = "PLATE-12"
    ds.StudyID = "S-556"
    ds.StudyDate = "20240103"
    ds.StudyTime = "090000"
    ds.ContentDate = "20240103"
    ds.AcquisitionDateTime = "20240103090005"
    ds.StudyDescription = "XR knee left 1 view"
    ds.SeriesDescription = description
    ds.AcquisitionDeviceProcessingDescription = "KNEE AP (processing revealing the condition)"
    ds.AcquisitionDeviceProcessingCode = "PROC-SR-7"
    ds.DetectorDescription = "Flat panel v2 (revealing the condition)"
    ds.DetectorType = "SCINTILLATOR"
    ds.Manufacturer = "Example Radiography"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined = "KNEE"
    ds.ViewPosition = "AP"
    ds.ImageLaterality = "L"
    ds.PatientOrientation = ["R", "F"]
    ds.KVP = 65.0
    ds.DistanceSourceToDetector = 1150.0
    ds.DistanceSourceToPatient = 1000.0
    if imager_pixel_spacing is not None:
        ds.ImagerPixelSpacing = [float(v) for v in imager_pixel_spacing]
    if pixel_spacing is not None:
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
    if magnification is not None:
        ds.EstimatedRadiographicMagnificationFactor = magnification
    ds.BurnedInAnnotation = "NO"

    block = ds.private_block(0x0019, "EXAMPLE DX PRIVATE", create=True)
    block.add_new(0x10, "LO", PRIVATE_VALUE)

    pixels, _ = knee_radiograph(rows, columns, seed=seed, lesions=lesions)
    ds.Rows = rows
    ds.Columns = columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.WindowCenter = 2000
    ds.WindowWidth = 3600
    ds.PixelData = pixels.tobytes()
    return ds


def write_dx(folder: Path, name: str = "DX0001.dcm", **kwargs) -> tuple[str, Path]:
    """Write one ``dx_image`` into ``folder``; returns its SeriesInstanceUID and path."""
    ds = dx_image(**kwargs)
    return str(ds.SeriesInstanceUID), write(ds, folder / name)
