"""Without torch (the ``[sr]`` extra), the learned methods say what to install, before any work."""

import numpy as np
import pytest

from sr_engine import extras
from sr_engine.cli import main
from sr_engine.extras import MissingDependency
from sr_engine.upscale import upscale
from sr_engine.volume import Volume


@pytest.fixture
def no_torch(monkeypatch):
    real = extras.importlib.util.find_spec
    monkeypatch.setattr(
        extras.importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )


def test_learned_methods_and_training_name_the_sr_extra(no_torch, tmp_path, capsys):
    for argv in (
        ["upscale", "lr/", "sr/", "--factor", "2", "--method", "selfsr"],
        ["evaluate", "hr/", "--methods", "tci,resnet3d", "--out", str(tmp_path / "r")],
        ["train", str(tmp_path / "w.pt"), "--data", "hr/", "--factor", "2"],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "needs torch, which is not installed" in err and "[sr]" in err
    assert not (tmp_path / "r").exists()  # nothing was read or written


def test_upscale_refuses_a_learned_method_and_still_interpolates(no_torch):
    volume = Volume(np.ones((4, 8, 8), dtype=np.float32), np.diag([1.0, 1.0, 3.0, 1.0]))  # 3 mm slices
    with pytest.raises(MissingDependency, match=r"selfsr needs torch.*\[sr\]"):
        upscale(volume, 2, "selfsr")
    assert upscale(volume, 2, "tci").shape == (8, 8, 8)


def test_the_phantom_extra_names_nilearn(monkeypatch):
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependency, match=r"needs nilearn.*\[phantom\]"):
        extras.require("phantom", "The brain phantom")
