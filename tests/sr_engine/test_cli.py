"""The command line (``python -m sr_engine``), run as a subprocess on a small brain phantom series."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from sr_engine.brain_phantom import brain_slab
from sr_engine.cli import main
from sr_engine.dicom_series import SeriesInfo, write_dicom_series
from sr_engine.provenance import INTACT, provenance_verify, read_provenance
from sr_engine.volume import Volume
from sr_engine.volume_io import read_volume

from .test_dicom_io import world_coordinates

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sr_engine", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture(scope="module")
def hr_series(tmp_path_factory) -> tuple[Path, SeriesInfo, Volume]:
    """A 16-slice, 100 x 100 axial brain series (1 mm) written as DICOM."""
    slab, _ = brain_slab(first_slice=70, slices=16)
    affine = slab.affine.copy()
    affine[:3, 3] = slab.index_to_patient((0, 40, 30))
    volume = Volume(np.ascontiguousarray(slab.data[:, 40:140, 30:130]), affine)
    folder = tmp_path_factory.mktemp("cli") / "hr"
    info = SeriesInfo(patient_name="PHANTOM^CLI", patient_id="CLI1", series_description="HR 1 mm")
    write_dicom_series(volume, folder, info)
    return folder, info, volume


def test_simulate_then_upscale_lands_on_the_hr_grid_with_sealed_provenance(hr_series, tmp_path):
    hr_folder, hr_info, hr = hr_series
    assert (
        main(["simulate", str(hr_folder), str(tmp_path / "lr"), "--factor", "2", "--profile", "gaussian"])
        == 0
    )
    lr = read_volume(tmp_path / "lr")
    assert lr.shape == (8, 100, 100) and lr.spacing[2] == pytest.approx(2.0)
    assert lr.slice_thickness == pytest.approx(2.0) and lr.acquisition["slice_profile"] == "gaussian"

    upscaled = run("upscale", tmp_path / "lr", tmp_path / "sr", "--factor", "2", "--method", "tci")
    assert upscaled.returncode == 0, upscaled.stderr
    assert "wrote 16 files" in upscaled.stdout
    sr = read_volume(tmp_path / "sr")
    assert sr.shape == hr.shape
    np.testing.assert_allclose(world_coordinates(sr), world_coordinates(hr), atol=1e-5)

    check = provenance_verify(tmp_path / "sr")
    assert check.status == INTACT
    assert check.record["method"] == "tci" and check.record["factor"] == 2
    assert check.record["input_provenance"]["simulation"][0]["profile"] == "gaussian"
    assert read_provenance(tmp_path / "lr")["simulation"][0]["factor"] == 2
    first = pydicom.dcmread(next((tmp_path / "sr").iterdir()))
    assert first.StudyInstanceUID == hr_info.study_instance_uid  # the SR series joins the exam
    assert first.FrameOfReferenceUID == hr_info.frame_of_reference_uid
    assert first.SeriesDescription == "SR tci x2" and first.ImageType == ["DERIVED", "SECONDARY"]


def test_upscale_to_nifti_and_from_nifti(hr_series, tmp_path):
    hr_folder, _, hr = hr_series
    assert main(["simulate", str(hr_folder), str(tmp_path / "lr.nii.gz"), "--thickness", "2"]) == 0
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "lr.nii.gz"),
                str(tmp_path / "sr.nii"),
                "--factor",
                "2",
                "--method",
                "fi",
            ]
        )
        == 0
    )
    sr = read_volume(tmp_path / "sr.nii")
    np.testing.assert_allclose(world_coordinates(sr), world_coordinates(hr), atol=1e-5)


def test_evaluate_writes_the_table_the_files_and_the_figure(hr_series, tmp_path, capsys):
    hr_folder, _, _ = hr_series
    out = tmp_path / "eval"
    assert (
        main(["evaluate", str(hr_folder), "--methods", "nearest,fi", "--factor", "2", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "PSNR" in printed and "gain over tci" in printed
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["method"] for row in rows] == ["tci", "nearest", "fi"]  # tci: the baseline, always
    by_method = {row["method"]: row for row in rows}
    assert float(by_method["tci"]["psnr_gain"]) == 0.0
    assert float(by_method["nearest"]["psnr"]) < float(by_method["tci"]["psnr"])  # blocky thick slices
    assert float(by_method["fi"]["psnr_gain"]) == pytest.approx(
        float(by_method["fi"]["psnr"]) - float(by_method["tci"]["psnr"])
    )
    report = json.loads((out / "results.json").read_text())
    assert [row["method"] for row in report["rows"]] == ["tci", "nearest", "fi"]
    assert report["provenance"]["fi"]["method"] == "fi" and report["factor"] == 2
    png = (out / "figure.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_errors_give_a_one_line_message_and_exit_status_1(hr_series, tmp_path, capsys):
    hr_folder, _, _ = hr_series
    missing = run("upscale", tmp_path / "nowhere", tmp_path / "out", "--factor", "2")
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: No such file or folder")
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1

    broken = tmp_path / "broken"
    broken.mkdir()
    for path in sorted(hr_folder.iterdir())[:4]:
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "IM00002.dcm").write_bytes((broken / "IM00002.dcm").read_bytes()[:-100])
    corrupt = run("upscale", broken, tmp_path / "out", "--factor", "2")
    assert corrupt.returncode == 1 and "IM00002.dcm" in corrupt.stderr and "Traceback" not in corrupt.stderr

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.dcm").write_bytes(b"")
    assert main(["upscale", str(hr_folder), str(tmp_path / "full"), "--factor", "2"]) == 1
    assert "not an empty folder" in capsys.readouterr().err


def test_usage_errors_exit_with_status_2_and_every_command_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["upscale", "in", "out"])  # --factor is required
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "in", "out"])  # nothing to simulate
    assert exit_.value.code == 2
    assert "simulate needs --factor" in capsys.readouterr().err
    for command in ("simulate", "upscale", "train", "evaluate"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        assert f"python -m sr_engine {command} " in capsys.readouterr().out


def test_learned_methods_and_training_run_from_the_command_line(hr_series, tmp_path, capsys):
    # In-process (main()), not a subprocess: torch is imported once, which keeps this test short.
    hr_folder, _, hr = hr_series
    weights = tmp_path / "tiny.pt"
    tiny = ["--depth", "2", "--features", "4", "--patch", "8", "--batch", "2", "--steps", "3"]
    assert main(["train", str(weights), "--data", str(hr_folder), "--factor", "2", *tiny]) == 0
    assert weights.is_file()
    assert main(["simulate", str(hr_folder), str(tmp_path / "lr"), "--factor", "2"]) == 0
    lr = str(tmp_path / "lr")
    assert main(["upscale", lr, str(tmp_path / "sr.nii.gz"), "--factor", "2", "--method", "resnet3d",
                 "--weights", str(weights)]) == 0  # fmt: skip
    sr = read_volume(tmp_path / "sr.nii.gz")
    np.testing.assert_allclose(world_coordinates(sr), world_coordinates(hr), atol=1e-5)
    assert sr.acquisition["provenance"]["weights"]["name"] == "tiny.pt"

    smoke = ["--option", "steps=2", "--option", "patch=16", "--option", "batch=2", "--option", "features=4",
             "--option", "blocks=1"]  # fmt: skip
    assert main(["upscale", lr, str(tmp_path / "self"), "--factor", "2", "--method", "selfsr", *smoke]) == 0
    assert provenance_verify(tmp_path / "self").record["options"]["steps"] == 2
    capsys.readouterr()
    assert main(["upscale", lr, str(tmp_path / "typo"), "--factor", "2", "--method", "selfsr",
                 "--option", "stepz=2"]) == 1  # fmt: skip
    assert "stepz" in capsys.readouterr().err
    assert main(["upscale", lr, str(tmp_path / "none"), "--factor", "2", "--method", "resnet3d"]) == 1
    assert "needs a weight file" in capsys.readouterr().err
