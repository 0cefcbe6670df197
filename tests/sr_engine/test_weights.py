"""Weight files: round trip with metadata, sha256, and clear refusals."""

import hashlib

import numpy as np
import pytest
import torch

from sr_engine.networks import ResNetSR
from sr_engine.volume import Volume
from sr_engine.weights import (
    WeightsError,
    check_compatible,
    volumes_sha256,
    weights_describe,
    weights_load,
    weights_save,
)

META = {
    "factor": 3,
    "axis": "slice",
    "profile": "gaussian",
    "thickness_ratio": 1.0,
    "normalisation": {"kind": "percentile", "percentile": 99.5},
    "training_data_sha256": "ab" * 32,
    "loss": {"first": 0.5, "last": 0.1},
}


def test_round_trip_keeps_parameters_and_metadata(tmp_path):
    torch.manual_seed(0)
    net = ResNetSR(dims=3, depth=3, features=4, channels=2)
    path = weights_save(tmp_path / "w" / "model.pt", net, META)
    loaded, metadata = weights_load(path)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert not loaded.training
    assert metadata["architecture"] == {"dims": 3, "depth": 3, "features": 4, "channels": 2}
    assert metadata["factor"] == 3 and metadata["normalisation"]["percentile"] == 99.5
    assert metadata["torch_version"] == torch.__version__
    assert metadata["sr_engine_version"] and metadata["created"]
    described = weights_describe(path)
    assert described["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert described["parameters"] == sum(p.numel() for p in net.parameters())
    assert described["training_data_sha256"] == "ab" * 32


def test_refuses_missing_foreign_and_wrong_format_files(tmp_path):
    with pytest.raises(WeightsError, match="No weight file"):
        weights_load(tmp_path / "absent.pt")
    text = tmp_path / "notes.pt"
    text.write_text("not a model")
    with pytest.raises(WeightsError, match="not an sr_engine weight file"):
        weights_load(text)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}, "format": "someone-else/2"}, other)
    with pytest.raises(WeightsError, match="someone-else/2"):
        weights_describe(other)
    with pytest.raises(WeightsError, match="lacks"):
        weights_save(tmp_path / "x.pt", ResNetSR(depth=2, features=2), {"factor": 2})


def test_refuses_a_file_with_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "sr_engine-weights/1", "payload": np.dtype("float32"), "metadata": META}, path)
    with pytest.raises(WeightsError, match="not an sr_engine weight file"):
        weights_load(path)


def test_compatibility_messages():
    metadata = {**META, "architecture": {"dims": 3, "depth": 3, "features": 4, "channels": 1}}
    check_compatible(metadata, factor=3, channels=1, axis="slice")
    with pytest.raises(WeightsError, match="factor 3, not 2"):
        check_compatible(metadata, factor=2, channels=1, axis="slice")
    with pytest.raises(WeightsError, match=r"take 1 channel.*has 2.*transfer learning"):
        check_compatible(metadata, factor=3, channels=2, axis="slice")
    with pytest.raises(WeightsError, match="'inplane'"):
        check_compatible(metadata, factor=3, channels=1, axis="inplane")


def test_volume_hash_depends_on_voxels_and_geometry():
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = Volume(data, np.eye(4))
    moved = np.eye(4)
    moved[0, 3] = 1.0
    assert volumes_sha256([a]) == volumes_sha256([Volume(data.copy(), np.eye(4))])
    assert volumes_sha256([a]) != volumes_sha256([Volume(data, moved)])
    assert volumes_sha256([a]) != volumes_sha256([Volume(data + 1, np.eye(4))])
