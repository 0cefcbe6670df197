"""A case whose conditions are images with known answers, imported like uploaded data: for the
measurement tests (services, pages and the browser).

Every series shows the same patient space (LPS, mm; axial slices): a bright rod along the
slices, round in cross-section with a Gaussian profile of width ``sigma`` (so a line through
its centre has FWHM = 2 sqrt(2 ln 2) sigma), centred at x = y = 16 mm, on a background of
100; in the band y >= 24 mm the background carries seeded Gaussian noise of SD 10 (for
circle ROIs). Conditions differ in sharpness and slices: HR (8 slices of 1 mm), SR (the HR
grid, blurrier), LR (2 slices of 4 mm covering the same 8 mm, blurrier still).
"""

import math
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.studies.models import Study
from sr_engine.dicom_series import SeriesInfo, write_dicom_series
from sr_engine.volume import Volume

#: Pixel spacing in mm (square pixels) and the matrix of every series.
PIXEL_MM = 0.5
MATRIX = 64
#: The rod's centre (mm) and its Gaussian width per condition (mm).
CENTRE_MM = (16.0, 16.0)
SIGMA_MM = {"HR": 1.5, "SR": 2.0, "LR": 3.0}
#: FWHM of a Gaussian per unit sigma.
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))
#: Rows from here on (y >= 24 mm) carry noise of SD NOISE_SD around BACKGROUND.
NOISE_FROM_ROW = 48
NOISE_SD = 10.0
BACKGROUND = 100.0
#: Slice positions (z, mm) of each condition's slices: HR and SR 0..7, LR 1.5 and 5.5.
SLICES = {"HR": (0.0, 1.0, 8), "SR": (0.0, 1.0, 8), "LR": (1.5, 4.0, 2)}


def condition_volume(label: str, *, seed: int = 3) -> Volume:
    """The series of condition ``label`` ("HR", "SR" or "LR") as an sr_engine Volume."""
    z0, dz, n = SLICES[label]
    sigma = SIGMA_MM[label]
    yy, xx = np.mgrid[0:MATRIX, 0:MATRIX] * PIXEL_MM
    rod = 400.0 * np.exp(-((xx - CENTRE_MM[0]) ** 2 + (yy - CENTRE_MM[1]) ** 2) / (2 * sigma**2))
    rng = np.random.default_rng(seed)
    data = np.empty((n, MATRIX, MATRIX), dtype=np.float64)
    for k in range(n):
        noise = np.zeros((MATRIX, MATRIX))
        noise[NOISE_FROM_ROW:] = rng.normal(0.0, NOISE_SD, size=(MATRIX - NOISE_FROM_ROW, MATRIX))
        data[k] = BACKGROUND + rod + noise
    affine = np.eye(4)
    affine[:3, 0] = [PIXEL_MM, 0, 0]
    affine[:3, 1] = [0, PIXEL_MM, 0]
    affine[:3, 2] = [0, 0, dz]
    affine[:3, 3] = [0, 0, z0]
    return Volume(data.astype(np.float32), affine, {"slice_thickness_mm": dz, "modality": "MR"})


def import_case(
    study: Study, folder: Path, *, case: str = "K1", labels=("HR", "SR", "LR"), patient: str = "PAT-1"
) -> dict[str, Volume]:
    """Write each condition's series (one patient, study and frame of reference) and import them
    into ``study`` as case ``case``; the study needs conditions with these labels. ``folder``
    must be empty (the import reads all of it). Returns the volumes that were written
    (before DICOM's rounding)."""
    study_uid = generate_uid(prefix=None, entropy_srcs=[patient, "study"])
    frame_uid = generate_uid(prefix=None, entropy_srcs=[patient, "frame"])
    volumes = {}
    rows = []
    for label in labels:
        volume = condition_volume(label)
        info = SeriesInfo(
            patient_name=patient,
            patient_id=patient,
            series_description=f"{label} series",
            study_instance_uid=study_uid,
            frame_of_reference_uid=frame_uid,
        )
        write_dicom_series(volume, folder / f"{case}-{label}", info)
        volumes[label] = volume
        rows.append({"case": case, "condition": label, "folder": f"{case}-{label}"})
    report = dicom_import(study=study, source=folder, manifest=rows)
    assert report.ok, report.summary()
    return volumes
