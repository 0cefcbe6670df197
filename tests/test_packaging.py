"""`pip install <repo>` gives stats and sr_engine, with their command lines, and not Django.

The repository is installed (without the ``[sr]`` extra) into a fresh virtual environment
in a temporary folder, once for the module; every command then runs there, from a
working directory outside the repository, so that only the installed packages can be
imported. It takes a minute or so (pip reuses its cache of wheels), hence ``slow``; it
runs in the normal suite.

pip builds from a copy of the repository's tree (without .git, .venv, node_modules and
other build outputs): setuptools writes ``build/`` and ``*.egg-info`` into the tree it
builds, and the checkout under test should stay as it is.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from sr_engine.cli import main as sr_engine_main
from sr_engine.extras import EXTRAS
from stats.cli import main as stats_main

ROOT = Path(__file__).resolve().parents[1]

#: Folders and files that are not the source tree (outputs, caches, environments).
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "var",
    "media",
    "staticfiles",
    "build",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "test-results",
)


def _requirement_pins(text: str) -> dict[str, str]:
    """``name: version`` of every ``name==version`` line (names normalised, extras dropped)."""
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def test_the_package_pins_are_the_requirements_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    package = _requirement_pins("\n".join(declared))
    platform = _requirement_pins((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert len(package) == len(declared), "every dependency of the package is pinned with =="
    assert {name: platform.get(name) for name in package} == package
    assert "django" not in package and "torch" not in _requirement_pins("\n".join(project["dependencies"]))
    assert project["optional-dependencies"]["sr"] == ["torch==2.13.0", "onnxruntime==1.32.0"]
    for extra, packages in EXTRAS.items():  # what sr_engine.extras tells users to install
        assert project["optional-dependencies"][extra] == [f"{m}=={v}" for m, v in packages.items()]


class Env:
    """The fresh virtual environment: runs its commands outside the repository."""

    def __init__(self, venv: Path, cwd: Path):
        self.bin = venv / "bin"
        self.cwd = cwd
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")
        }
        self.env["PATH"] = f"{self.bin}{os.pathsep}{self.env.get('PATH', '')}"
        self.env["VIRTUAL_ENV"] = str(venv)
        self.env["MPLBACKEND"] = "Agg"

    def run(self, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
        command = [str(self.bin / str(args[0])), *map(str, args[1:])]
        return subprocess.run(
            command, capture_output=True, text=True, cwd=self.cwd, env=self.env, timeout=timeout
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    work = base / "work"
    work.mkdir()
    env = Env(venv, work)
    result = env.run(
        "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", source, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    yield env
    shutil.rmtree(base, ignore_errors=True)  # a few hundred MB of wheels unpacked


@pytest.mark.slow
def test_only_the_libraries_are_installed_not_django_nor_torch(installed):
    for module in ("django", "torch", "readerstudy", "config", "tests"):
        result = installed.run("python", "-c", f"import {module}")
        assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr, module
    result = installed.run(
        "python", "-c", "import stats, sr_engine; print(stats.__file__, sr_engine.__file__)"
    )
    assert result.returncode == 0, result.stderr
    assert all("site-packages" in path for path in result.stdout.split()), result.stdout
    assert installed.run("python", "-m", "sr_engine", "--version").stdout.startswith("sr_engine ")


def _tidy_roc(path: Path) -> Path:
    """A small two-modality, three-reader ROC study as a tidy CSV (seeded)."""
    rng = np.random.default_rng(17)
    lines = ["reader,modality,case,truth,rating"]
    for reader in (1, 2, 3):
        for modality in (1, 2):
            for case in range(1, 21):
                truth = int(case > 10)
                rating = int(np.clip(round(2.5 + truth * (0.8 + 0.4 * modality) + rng.normal()), 1, 5))
                lines.append(f"{reader},{modality},{case},{truth},{rating}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_readerstudy_stats_runs_an_analysis(installed, tmp_path, capsys):
    result = installed.run("readerstudy-stats", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: readerstudy-stats") and "mrmc" in result.stdout

    data = _tidy_roc(tmp_path / "roc.csv")
    result = installed.run("readerstudy-stats", "mrmc", data, "--method", "OR", "--json")
    assert result.returncode == 0, result.stderr
    assert stats_main(["mrmc", str(data), "--method", "OR", "--json"]) == 0  # the repository's stats
    assert json.loads(result.stdout) == json.loads(capsys.readouterr().out)
    assert json.loads(result.stdout)["fom"] == "Wilcoxon"

    result = installed.run("readerstudy-stats", "fom", tmp_path / "missing.csv")
    assert result.returncode == 2 and result.stderr.startswith("error: ")


def _hr_nifti(path: Path) -> Path:
    """A 12-slice 32 x 32 volume (1 mm): a bright ball in a dimmer box, on an air background."""
    z, y, x = np.mgrid[:12, :32, :32]
    data = np.where((abs(y - 16) < 12) & (abs(x - 16) < 12), 100.0, 0.0)
    data += 200.0 * (((z - 6) / 5) ** 2 + ((y - 16) / 8) ** 2 + ((x - 16) / 8) ** 2 < 1)
    image = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0), dtype=np.float32), np.eye(4))
    nib.save(image, path)
    return path


@pytest.mark.slow
def test_sr_engine_simulates_upscales_and_evaluates_without_torch(installed, tmp_path):
    result = installed.run("sr-engine", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: sr-engine") and "upscale" in result.stdout

    hr = _hr_nifti(tmp_path / "hr.nii.gz")
    lr = tmp_path / "lr.nii.gz"
    result = installed.run("sr-engine", "simulate", hr, lr, "--factor", "2", "--profile", "box")
    assert result.returncode == 0, result.stderr
    result = installed.run(
        "sr-engine", "upscale", lr, tmp_path / "sr.nii.gz", "--factor", "2", "--method", "fi"
    )
    assert result.returncode == 0, result.stderr
    sr = nib.load(tmp_path / "sr.nii.gz")
    assert sr.shape == (32, 32, 12)
    # The same command with the repository's sr_engine gives the same voxels.
    assert (
        sr_engine_main(["upscale", str(lr), str(tmp_path / "repo.nii.gz"), "--factor", "2", "--method", "fi"])
        == 0
    )
    np.testing.assert_array_equal(
        np.asarray(sr.dataobj), np.asarray(nib.load(tmp_path / "repo.nii.gz").dataobj)
    )

    out = tmp_path / "evaluation"
    result = installed.run(
        "sr-engine", "evaluate", hr, "--methods", "nearest,tci", "--factor", "2", "--out", out
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"results.csv", "results.json", "figure.png"}

    # A learned method says, in one line, what to install; it fails before reading anything.
    result = installed.run(
        "sr-engine", "upscale", lr, tmp_path / "self.nii.gz", "--factor", "2", "--method", "selfsr"
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: The method selfsr needs torch")
    assert "[sr]" in result.stderr
    assert not (tmp_path / "self.nii.gz").exists()
