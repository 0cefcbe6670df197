"""T2 agreement on the real knee DESS exam in ``../shared/mri/knee-dess`` (echo1/, echo2/: GE, TR 25 ms,
TE 7.48 / 42.52 ms, 30 degrees, 80 sagittal slices of 512 x 512), through the import with its own
headers. To stay cheap, ten middle slices are cropped to 128 x 128 as DICOM files (pixels and
ImagePositionPatient changed, every other attribute as acquired) and imported as HR and
"HR echo 2"; SR is their 2x thick-slice version upscaled by tricubic interpolation
(``sr_engine``), written with the acquisition the engine read from those headers."""

from pathlib import Path

import numpy as np
import pydicom
import pytest

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.measurements.services import t2_agreement_compute
from sr_engine.dess import dess_t2_map
from sr_engine.dicom_series import SeriesInfo, read_dicom_series, write_dicom_series
from sr_engine.interpolate import tci
from sr_engine.metrics import tissue_mask
from sr_engine.simulate import simulate_slices
from sr_engine.volume import Volume
from tests import factories as f

KNEE = Path(__file__).resolve().parents[2].parent / "shared" / "mri" / "knee-dess"
SLICES = slice(35, 45)
ROWS = COLUMNS = slice(192, 320)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not (KNEE / "echo2").is_dir(), reason=f"the knee DESS exam is not in {KNEE}"),
]


def _crop_echo(echo: str, out: Path) -> Path:
    """Slices SLICES of ``echo``, cropped to ROWS x COLUMNS (the position moved to the crop's corner)."""
    out.mkdir(parents=True)
    files = sorted(
        (KNEE / echo).iterdir(),
        key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).SliceLocation),
    )
    for path in files[SLICES]:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array[ROWS, COLUMNS].copy()
        row_dir = np.array(ds.ImageOrientationPatient[:3], dtype=float)
        col_dir = np.array(ds.ImageOrientationPatient[3:], dtype=float)
        row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
        corner = np.array(ds.ImagePositionPatient, dtype=float)
        corner += COLUMNS.start * col_mm * row_dir + ROWS.start * row_mm * col_dir
        ds.ImagePositionPatient = [f"{v:.6f}" for v in corner]
        ds.Rows, ds.Columns = pixels.shape
        ds.PixelData = pixels.tobytes()
        ds.save_as(out / path.name)
    return out


def _echo_volume(volume: Volume, channel: int, data: np.ndarray, affine: np.ndarray) -> Volume:
    acquisition = {k: v for k, v in volume.acquisition.items() if k not in ("provenance", "echo_times_ms")}
    acquisition["echo_times_ms"] = (volume.acquisition["echo_times_ms"][channel],)
    return Volume(data.astype(np.float32), affine, acquisition)


def test_the_real_exam_gives_a_t2_map_through_the_import(study, coordinator, tmp_path):
    for n, label in enumerate(("SR", "HR", "SR echo 2", "HR echo 2")):
        f.ConditionFactory(study=study, label=label, order=n)
    source = tmp_path / "import"
    hr_1, hr_2 = _crop_echo("echo1", source / "hr1"), _crop_echo("echo2", source / "hr2")
    hr = read_dicom_series([hr_1, hr_2])
    assert hr.shape == (10, 128, 128) and hr.acquisition["echo_times_ms"] == (7.48, 42.52)
    study_uid = str(pydicom.dcmread(next(hr_1.iterdir()), stop_before_pixels=True).StudyInstanceUID)
    for channel in (0, 1):
        thick = simulate_slices(
            _echo_volume(hr, channel, hr.data[channel], hr.affine), factor=2, profile="box"
        )
        upscaled = _echo_volume(hr, channel, np.clip(tci(thick, 2), 0, None), hr.affine)
        info = SeriesInfo(
            patient_name="KNEE", patient_id="KNEE", series_description=f"SR echo {channel + 1}",
            study_instance_uid=study_uid,
        )  # fmt: skip
        write_dicom_series(upscaled, source / f"sr{channel + 1}", info)
    manifest = [
        {"case": "KNEE1", "condition": condition, "folder": folder}
        for condition, folder in (("HR", "hr1"), ("HR echo 2", "hr2"), ("SR", "sr1"), ("SR echo 2", "sr2"))
    ]
    report = dicom_import(study=study, source=source, manifest=manifest)
    assert report.ok, report.summary()

    (result,) = t2_agreement_compute(study=study, actor=coordinator)
    assert result.note == ""
    # The same maps computed from the files before the import: the de-identified copies keep the
    # pixels and every header the T2 model reads (TR, both echo times, flip angle).
    reference = dess_t2_map(hr, mask=np.ones(hr.shape, dtype=bool)).data
    sr = read_dicom_series([source / "sr1", source / "sr2"])
    test = dess_t2_map(sr, mask=np.ones(sr.shape, dtype=bool)).data
    counted = tissue_mask(hr) & (reference > 0) & (test > 0)  # NaN compares False
    assert result.n_voxels == int(counted.sum()) > 1000
    assert result.reference_mean_t2_ms == pytest.approx(float(np.mean(reference[counted], dtype=np.float64)))
    assert result.mean_t2_ms == pytest.approx(float(np.mean(test[counted], dtype=np.float64)))
    assert 15.0 < result.reference_mean_t2_ms < 80.0  # knee tissue at 3 T, T2 above 100 ms left out
    assert 0.5 < result.ccc < 1.0 and result.ccc_lower < result.ccc < result.ccc_upper
    assert result.cv_percent > 0
