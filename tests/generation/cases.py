"""The small phantom studies the generation tests import: one LR series per case, real DICOM."""

from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Study
from sr_engine.dicom_series import SeriesInfo, write_dicom_series
from sr_engine.volume import Volume

SLICES, ROWS, COLUMNS = 5, 20, 18
SLICE_STEP = 3.0
CASES = ("K001", "K002", "K003")


def phantom(seed: int) -> Volume:
    """A smooth blob with a gradient on an oblique grid (1.0 x 0.8 mm pixels, 3 mm slices)."""
    rng = np.random.default_rng(seed)
    s, r, c = np.meshgrid(np.arange(SLICES), np.arange(ROWS), np.arange(COLUMNS), indexing="ij")
    centre = rng.uniform([1.5, 7, 7], [3.5, 13, 11])
    blob = np.exp(-(((s - centre[0]) / 1.5) ** 2 + ((r - centre[1]) / 4) ** 2 + ((c - centre[2]) / 4) ** 2))
    data = np.rint(200 + 1500 * blob + 10 * c).astype(np.float32)
    angle = np.deg2rad(15)
    row_dir = np.array([0.0, np.cos(angle), -np.sin(angle)])
    col_dir = np.array([0.0, np.sin(angle), np.cos(angle)])
    normal = np.cross(row_dir, col_dir)  # sagittal-ish: slices along x
    affine = np.eye(4)
    affine[:3, 0] = row_dir * 0.8
    affine[:3, 1] = col_dir * 1.0
    affine[:3, 2] = normal * SLICE_STEP
    affine[:3, 3] = [-20.0, -10.0 + seed, 30.0]
    return Volume(data, affine)


def import_cases(study: Study, root: Path, actor, codes=CASES) -> dict[str, Volume]:
    """Write one phantom series per case and import them as the study's LR condition."""
    volumes = {}
    for number, code in enumerate(codes):
        volumes[code] = phantom(number)
        info = SeriesInfo(
            patient_name="Doe^Jane", patient_id=f"PID-{number}", series_description="T1 sag thick"
        )
        write_dicom_series(volumes[code], root / code, info)
    report = dicom_import(
        study=study,
        source=root,
        manifest=[{"case": code, "condition": "LR", "folder": code} for code in codes],
        actor=actor,
    )
    assert report.ok, report.summary()
    return volumes


def damage_a_slice(case_code: str) -> tuple[Path, bytes]:
    """Overwrite the third stored LR slice of ``case_code`` with zeros after its first 200 bytes;
    returns the file and its good bytes (to repair it)."""
    broken = ImageSeries.objects.get(case__code=case_code, condition__label="LR").instances.all()[2]
    path = Path(default_storage.path(broken.file.name))
    good = path.read_bytes()
    path.write_bytes(good[:200] + b"\0" * (len(good) - 200))
    return path, good
