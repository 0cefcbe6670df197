"""Synthetic dual-echo steady-state (DESS) knee-like exams with known T2, imported like uploaded
data: for the T2 agreement tests (services, pages, the dess-objective template).

Each case is a cylinder of "cartilage" (an ellipse in-plane, along every slice) in air. Its T2
(ms) varies across the cylinder and along the slices, around a per-case level; echo 1 is
S1 = PD (with a slice-wise modulation) and echo 2 is S2 = S1 * ratio(T2) by the forward model
of ``sr_engine.dess`` (Sveinsson et al. 2017) with the knee DESS exam's TR, TE and flip angle
(GE: TE 7.48 and 42.52 ms with TR 25 ms, 30 degrees). So the HR T2 map of the platform must
give back ``CaseT2.t2`` inside the cylinder.

Conditions, all on the HR grid (16 slices of 1 mm, 40 x 40 pixels of 0.5 mm):

* HR: the thin slices;
* LR: thick slices of 4 mm (``sr_engine.simulate.simulate_slices``, box profile) shown on the
  HR grid (each thick slice repeated: ``sr_engine.interpolate.nearest``);
* SR: the thick slices upscaled by tricubic interpolation (``sr_engine.interpolate.tci``).

Each condition's two echoes are two series (as scanners export DESS): echo 1 under the
condition, echo 2 under "<condition> echo 2".
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.studies.models import Study
from sr_engine.dess import dess_signal_ratio
from sr_engine.dicom_series import SeriesInfo, write_dicom_series
from sr_engine.interpolate import nearest, tci, upscaled_affine
from sr_engine.simulate import simulate_slices
from sr_engine.volume import Volume

TR_MS, TE_MS, FLIP_DEG = 25.0, 7.48, 30.0
ECHO_TIMES_MS = (TE_MS, 2 * TR_MS - TE_MS)
SLICES, MATRIX, PIXEL_MM, FACTOR = 16, 40, 0.5, 4
#: The cylinder's centre and half-axes (pixels).
CENTRE, HALF_AXES = (19.5, 19.5), (15.0, 11.0)


@dataclass(frozen=True)
class CaseT2:
    """One case's echoes (HR grid) and its true T2 map (NaN outside the cylinder)."""

    echo_1: np.ndarray
    echo_2: np.ndarray
    t2: np.ndarray
    inside: np.ndarray


def case_t2(level_ms: float) -> CaseT2:
    """The HR echoes of a case whose T2 is ``level_ms`` at the cylinder's centre (varying by
    about +/-12 ms across it and +/-6 ms along the slices)."""
    z, y, x = np.mgrid[0:SLICES, 0:MATRIX, 0:MATRIX].astype(float)
    u, v = (x - CENTRE[0]) / HALF_AXES[0], (y - CENTRE[1]) / HALF_AXES[1]
    inside = u**2 + v**2 <= 1.0
    t2 = level_ms + 12.0 * u + 6.0 * np.sin(2 * np.pi * z / 14.0)
    pd = 900.0 * (1.0 + 0.2 * np.cos(2 * np.pi * z / 18.0))
    ratio = dess_signal_ratio(t2, tr_ms=TR_MS, te_ms=TE_MS, flip_deg=FLIP_DEG)
    echo_1 = np.where(inside, pd, 0.0)
    echo_2 = np.where(inside, pd * ratio, 0.0)
    return CaseT2(echo_1, echo_2, np.where(inside, t2, np.nan), inside)


def _affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = np.diag([PIXEL_MM, PIXEL_MM, 1.0])
    return affine


def _volume(data: np.ndarray, echo_time: float, affine: np.ndarray) -> Volume:
    return Volume(
        data.astype(np.float32),
        affine,
        {
            "modality": "MR",
            "echo_times_ms": (echo_time,),
            "repetition_time_ms": TR_MS,
            "flip_angle_deg": FLIP_DEG,
            "slice_thickness_mm": 1.0,
        },
    )


def condition_echoes(case: CaseT2) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{condition: (echo 1, echo 2)} on the HR grid for HR, LR and SR."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {"HR": (case.echo_1, case.echo_2)}
    lr, sr = [], []
    for echo, time in ((case.echo_1, ECHO_TIMES_MS[0]), (case.echo_2, ECHO_TIMES_MS[1])):
        thick = simulate_slices(_volume(echo, time, _affine()), factor=FACTOR, profile="box")
        assert np.allclose(upscaled_affine(thick, FACTOR), _affine())
        lr.append(nearest(thick, FACTOR))
        sr.append(np.clip(tci(thick, FACTOR), 0.0, None))
    out["LR"] = (lr[0], lr[1])
    out["SR"] = (sr[0], sr[1])
    return out


def import_dess_cases(
    study: Study, folder: Path, levels: dict[str, float], *, series: tuple[str, ...] | None = None
) -> dict[str, CaseT2]:
    """Write and import every case of ``levels`` (case code -> T2 level, ms) under HR, LR and SR
    and their "echo 2" conditions (the study needs them), or only the conditions named in
    ``series`` (e.g. ("HR", "HR echo 2", "SR")); returns the cases' true values."""
    rows, cases = [], {}
    for code, level in levels.items():
        case = case_t2(level)
        cases[code] = case
        study_uid = generate_uid(prefix=None, entropy_srcs=[code, "study"])
        frame_uid = generate_uid(prefix=None, entropy_srcs=[code, "frame"])
        for label, echoes in condition_echoes(case).items():
            for number, (data, time) in enumerate(zip(echoes, ECHO_TIMES_MS, strict=True), start=1):
                condition = label if number == 1 else f"{label} echo 2"
                if series is not None and condition not in series:
                    continue
                info = SeriesInfo(
                    patient_name=f"PAT-{code}",
                    patient_id=f"PAT-{code}",
                    series_description=f"Sag DESS {label} echo {number}",
                    series_number=5,
                    study_instance_uid=study_uid,
                    frame_of_reference_uid=frame_uid,
                )
                name = f"{code}-{label}-echo{number}"
                write_dicom_series(_volume(data, time, _affine()), folder / name, info)
                rows.append({"case": code, "condition": condition, "folder": name})
    report = dicom_import(study=study, source=folder, manifest=rows)
    assert report.ok, report.summary()
    return cases
