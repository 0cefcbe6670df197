"""The ``model`` method: a brought ONNX or TorchScript model, made here by the tests themselves."""

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sr_engine.cli import main
from sr_engine.interpolate import upscaled_affine
from sr_engine.metrics import psnr
from sr_engine.model_file import ModelError, model_upscale, parse_metadata, read_metadata
from sr_engine.nifti_io import read_nifti, write_nifti
from sr_engine.provenance import read_provenance
from sr_engine.simulate import simulate_slices
from sr_engine.training import TrainConfig, train_resnet
from sr_engine.upscale import upscale
from sr_engine.volume import Volume
from tests.sr_engine.test_resnet import _phantom

# torch deprecates TorchScript (jit.script/trace/save) in favour of torch.export; the files are still valid
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning")
FACTOR = 2
META = {"factor": FACTOR, "axes": "slice", "channels": 1, "dims": 3, "normalisation": {"kind": "none"}}


class SliceShuffle(nn.Module):
    """LR grid in, ``factor`` times the slices out: nearest upsampling plus a pixel-shuffled conv."""

    def __init__(self, factor: int = FACTOR, channels: int = 1) -> None:
        super().__init__()
        self.factor, self.channels = factor, channels
        self.conv = nn.Conv3d(channels, channels * factor, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, _, d, h, w = y.shape
        y = y.reshape(b, self.channels, self.factor, d, h, w).permute(0, 1, 3, 2, 4, 5)
        return y.reshape(b, self.channels, d * self.factor, h, w) + x.repeat_interleave(self.factor, dim=2)


class PlaneShuffle(nn.Module):
    """A 2D in-plane model: both image axes ``factor`` times finer."""

    def __init__(self, factor: int = FACTOR) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, factor * factor, 3, padding=1)
        self.shuffle = nn.PixelShuffle(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class Residual(nn.Module):
    """Refines an interpolated volume: x + conv(relu(conv(x)))."""

    def __init__(self, dims: int = 3) -> None:
        super().__init__()
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        self.a, self.b = conv(1, 4, 3, padding=1), conv(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(torch.relu(self.a(x)))


def save(module: nn.Module, folder: Path, stem: str, metadata: dict, *, onnx: bool = False) -> Path:
    """``stem.pt`` (TorchScript) or ``stem.onnx`` with ``stem.json`` beside it."""
    torch.manual_seed(0)
    module = module.eval()
    folder.mkdir(parents=True, exist_ok=True)
    if onnx:
        path = folder / f"{stem}.onnx"
        rank = 5 if metadata.get("dims", 3) == 3 else 4
        example = torch.rand((1, metadata.get("channels", 1)) + (5,) * (rank - 2))
        spatial = {axis: f"s{axis}" for axis in range(2, rank)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "n", **spatial}, "y": {0: "n"}},
            )
    else:
        path = folder / f"{stem}.pt"
        torch.jit.save(torch.jit.script(module), str(path))
    path.with_suffix(".json").write_text(json.dumps(metadata))
    return path


def seeded(module_class, *args) -> nn.Module:
    torch.manual_seed(0)
    return module_class(*args).eval()


def lr_volume(shape=(6, 14, 12), thick_mm=3.0) -> Volume:
    """A smooth positive blob on 0.8 mm pixels and thick slices (slice axis first)."""
    s, r, c = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    data = (100 + 800 * np.exp(-(s**2 + r**2 + c**2) * 2) + 20 * c).astype(np.float32)
    affine = np.diag([0.8, 0.8, thick_mm, 1.0])
    affine[:3, 3] = [5.0, -3.0, 12.0]
    return Volume(data, affine)


# --------------------------------------------------------------------------- formats and tiling


def assert_agree(actual: np.ndarray, expected: np.ndarray, tolerance: float = 1e-5) -> None:
    """Equal up to ``tolerance`` of the largest value (float32 convolutions summed in another order)."""
    assert actual.shape == expected.shape
    assert float(np.abs(actual - expected).max()) <= tolerance * float(np.abs(expected).max())


@pytest.mark.parametrize(
    "module, metadata",
    [
        (lambda: seeded(SliceShuffle), META),
        (lambda: seeded(Residual), {**META, "input_grid": "interpolated"}),
        (lambda: seeded(PlaneShuffle), {**META, "axes": "inplane", "dims": 2}),
        (lambda: seeded(Residual, 2), {**META, "axes": "slice", "dims": 2, "input_grid": "interpolated"}),
    ],
    ids=["lr-3d-slice", "interpolated-3d", "lr-2d-inplane", "interpolated-2d-slice"],
)
def test_onnx_and_torchscript_agree_and_tiling_changes_nothing(module, metadata, tmp_path):
    volume = lr_volume()
    net = module()
    onnx = save(net, tmp_path, "m", {**metadata, "halo": 2}, onnx=True)
    script = save(net, tmp_path, "m", {**metadata, "halo": 2})
    axis = metadata["axes"]
    whole = model_upscale(volume, FACTOR, model=onnx, axis=axis, tile=64)
    assert_agree(model_upscale(volume, FACTOR, model=script, axis=axis), whole)
    assert_agree(model_upscale(volume, FACTOR, model=onnx, axis=axis, tile=3), whole)
    grid = (6 * FACTOR, 14, 12) if axis == "slice" else (6, 14 * FACTOR, 12 * FACTOR)
    assert whole.shape == grid and whole.dtype == np.float32
    with pytest.raises(ModelError, match=r"smaller than m\.onnx's receptive field"):
        model_upscale(volume, FACTOR, model=onnx, axis=axis, halo=1)


def test_the_output_lies_on_the_engine_grid_in_the_input_storage_order(tmp_path):
    path = save(seeded(SliceShuffle), tmp_path, "x2", {**META, "halo": 2}, onnx=True)
    first = lr_volume()
    last = first.permute_axes((1, 2, 0))  # the thick axis stored last, as NIfTI files often do
    out_first = upscale(first, FACTOR, "model", model=path)
    out_last = upscale(last, FACTOR, "model", model=path)
    np.testing.assert_array_equal(out_first.affine, upscaled_affine(first, FACTOR, "slice"))
    np.testing.assert_array_equal(out_last.affine, upscale(last, FACTOR, "tci").affine)
    assert out_first.shape == (12, 14, 12) and out_last.shape == (14, 12, 12)
    assert out_last.acquisition["provenance"]["axis"] == "column"
    # the model sees the same (thick, row, column) array either way: the same voxels come out
    assert_agree(out_last.data, out_first.data.transpose(1, 2, 0))
    assert not np.allclose(out_first.data, upscale(first, FACTOR, "tci").data)  # the model did something


def test_the_provenance_records_the_model_file_and_generative(tmp_path):
    metadata = {**META, "halo": 2, "generative": True, "name": "toy GAN", "description": "for tests"}
    path = save(seeded(SliceShuffle), tmp_path, "gan", metadata)
    result = upscale(lr_volume(), FACTOR, "model", model=path)
    provenance = result.acquisition["provenance"]
    assert provenance["method"] == "model" and provenance["generative"] is True
    assert provenance["weights"] == {
        "name": "gan.pt",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "format": "torchscript",
        "metadata": metadata,
        "generative": True,
    }
    # ...and it reaches the DICOM's sealed record through the command line and the writer.
    source = tmp_path / "lr.nii.gz"
    write_nifti(lr_volume(), source)
    assert main(["upscale", str(source), str(tmp_path / "sr"), "--factor", "2", "--method", "model",
                 "--model", str(path)]) == 0  # fmt: skip
    sealed = read_provenance(tmp_path / "sr")
    assert sealed is not None and sealed["generative"] is True
    assert sealed["weights"]["sha256"] == provenance["weights"]["sha256"]


def test_the_command_line_runs_onnx_on_a_nifti_with_its_thick_axis_first_or_last(tmp_path):
    path = save(seeded(Residual), tmp_path, "refine", {**META, "input_grid": "interpolated"}, onnx=True)
    volume = lr_volume()
    outputs = []
    for name, stored in (("first", volume), ("last", volume.permute_axes((1, 2, 0)))):
        write_nifti(stored, tmp_path / f"{name}.nii.gz")
        source, output = tmp_path / f"{name}.nii.gz", tmp_path / f"sr_{name}.nii.gz"
        argv = [
            "upscale",
            str(source),
            str(output),
            "--factor",
            "2",
            "--method",
            "model",
            "--model",
            str(path),
        ]
        assert main(argv) == 0
        outputs.append(read_nifti(tmp_path / f"sr_{name}.nii.gz"))
    assert outputs[0].shape == (12, 14, 12) and outputs[1].shape == (14, 12, 12)
    assert_agree(outputs[1].data, outputs[0].data.transpose(1, 2, 0))


# --------------------------------------------------------------------------- refusals


def test_metadata_is_validated_field_by_field():
    parsed = parse_metadata({**META, "normalisation": {"kind": "percentile", "low": 0.5, "high": 99.5}})
    assert parsed.input_grid == "lr" and parsed.halo == 8 and parsed.generative is False
    for change, message in (
        ({"factor": 1}, "'factor' must be an integer of at least 2"),
        ({"axes": "diagonal"}, "'axes' must be 'slice' or 'inplane'"),
        ({"dims": 4}, "'dims' must be 2 or 3"),
        ({"input_grid": "hr"}, "'input_grid' must be"),
        ({"normalisation": {"kind": "percentile", "low": 99, "high": 1}}, "'low' .* must be below 'high'"),
        ({"normalisation": {"kind": "minmax"}}, "'kind' must be"),
        ({"generative": "yes"}, "'generative' must be true or false"),
        ({"factr": 2}, "unknown field"),
    ):
        with pytest.raises(ModelError, match=message):
            parse_metadata({**META, **change})
    with pytest.raises(ModelError, match="field 'channels' is missing"):
        parse_metadata({k: v for k, v in META.items() if k != "channels"})


def _refused(
    argv_model: Path | str, tmp_path: Path, capsys, factor: int = FACTOR, volume: Volume | None = None
) -> str:
    source = tmp_path / "in.nii.gz"
    write_nifti(volume or lr_volume(), source)
    out = tmp_path / "out.nii.gz"
    argv = [
        "upscale",
        str(source),
        str(out),
        "--factor",
        str(factor),
        "--method",
        "model",
        "--model",
        str(argv_model),
    ]
    assert main(argv) == 1
    assert not out.exists()  # nothing written
    return capsys.readouterr().err


def test_a_model_without_fitting_metadata_is_refused_with_the_reason(tmp_path, capsys):
    path = save(seeded(SliceShuffle), tmp_path, "x2", META, onnx=True)
    assert "upscales by 2, not 3" in _refused(path, tmp_path, capsys, factor=3)
    two = lr_volume()
    two = two.with_data(np.stack([two.data, two.data]))
    assert "x2.onnx takes 1 channel(s); this volume has 2" in _refused(path, tmp_path, capsys, volume=two)
    # metadata claiming 2 channels for a graph that takes 1: the ONNX graph says otherwise
    path.with_suffix(".json").write_text(json.dumps({**META, "channels": 2}))
    assert "x2.onnx takes 1 channels; this volume has 2" in _refused(path, tmp_path, capsys, volume=two)
    # metadata saying lr for a model that keeps the shape: the trial run finds out
    path.with_suffix(".json").write_text(json.dumps({**META, "input_grid": "interpolated"}))
    assert "should keep its input's shape" in _refused(path, tmp_path, capsys)
    path.with_suffix(".json").write_text("{not json")
    assert "x2.json is not valid JSON" in _refused(path, tmp_path, capsys)
    path.with_suffix(".json").unlink()
    assert "x2.onnx has no metadata file: x2.json must lie beside it" in _refused(path, tmp_path, capsys)
    assert "needs a model file: --model" in _refused("", tmp_path, capsys)
    pickle = tmp_path / "pickled.pt"
    torch.save(SliceShuffle(), pickle)  # a pickled module, not TorchScript: never unpickled
    pickle.with_suffix(".json").write_text(json.dumps(META))
    assert "not a TorchScript model" in _refused(pickle, tmp_path, capsys)
    with pytest.raises(ModelError, match="not a model file"):
        read_metadata(tmp_path / "x2.h5")


def test_a_2d_model_for_a_3d_metadata_and_a_wrong_axis_are_refused(tmp_path):
    path = save(seeded(PlaneShuffle), tmp_path, "plane", {**META, "axes": "inplane", "dims": 2}, onnx=True)
    path.with_suffix(".json").write_text(json.dumps({**META, "axes": "inplane"}))  # dims 3: wrong
    with pytest.raises(ModelError, match="takes 4-dimensional input"):
        upscale(lr_volume(), FACTOR, "model", model=path)
    path.with_suffix(".json").write_text(json.dumps({**META, "axes": "inplane", "dims": 2}))
    with pytest.raises(ModelError, match="takes no axis=slice"):
        upscale(lr_volume(), FACTOR, "model", model=path, axis="slice")
    assert upscale(lr_volume(), FACTOR, "model", model=path).shape == (6, 28, 24)


# --------------------------------------------------------------------------- a trained model


def test_a_trained_model_beats_tci_on_a_held_out_volume(tmp_path):
    """Trained here on one phantom (the residual CNN of resnet3d, a few hundred steps), brought as
    TorchScript with metadata, it beats tci on another phantom."""
    config = TrainConfig(factor=FACTOR, depth=3, features=8, patch=16, batch=4, steps=120, lr=1e-3, seed=0)
    net, trained = train_resnet([_phantom(0)], config)
    scripted = torch.jit.trace(net.cpu().eval(), torch.rand(1, 1, 8, 8, 8))
    path = tmp_path / "trained.pt"
    torch.jit.save(scripted, str(path))
    metadata = {
        **META,
        "input_grid": "interpolated",
        "halo": net.halo_needed,
        "normalisation": {"kind": "percentile", "low": 0, "high": trained["normalisation"]["percentile"]},
    }
    path.with_suffix(".json").write_text(json.dumps(metadata))
    hr = _phantom(1)
    lr = simulate_slices(hr, factor=FACTOR, profile="gaussian")
    scores = {}
    for method in ("tci", "model"):
        sr = upscale(lr, FACTOR, method, model=path if method == "model" else None).data
        used = slice(FACTOR, sr.shape[0] - FACTOR)
        scores[method] = psnr(hr.data[: sr.shape[0]][used], sr[used], data_range=float(hr.data.max()))
    assert scores["model"] - scores["tci"] > 0.5, scores  # about 1.5 dB
