"""Weight files: a trained network's parameters with the metadata that says how to use it.

A weight file is a ``torch.save``d dict::

    {"format": "sr_engine-weights/1", "state_dict": {...tensors...}, "metadata": {...}}

read back with ``torch.load(..., weights_only=True)``, which refuses pickled code, from
a local path (nothing is ever fetched). The metadata holds:

* ``architecture``: ``dims``, ``depth``, ``features``, ``channels`` (rebuilds :class:`ResNetSR`);
* ``factor`` and ``axis`` (``"slice"`` for through-plane, ``"inplane"`` for in-plane);
* ``profile`` (``"gaussian"`` or ``"box"``) and ``thickness_ratio`` (slice thickness
  over slice spacing of the simulated low-resolution input);
* ``normalisation``: how intensities were scaled before the network, e.g.
  ``{"kind": "percentile", "percentile": 99.5}`` (divide by that percentile of the input);
* ``training_data_sha256`` (see :func:`volumes_sha256`), ``training`` (the config),
  ``loss`` (a summary of the loss history);
* ``sr_engine_version``, ``torch_version``, ``created`` (UTC, ISO 8601).
"""

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .networks import ResNetSR
from .volume import Volume

FORMAT = "sr_engine-weights/1"
REQUIRED_METADATA = ("architecture", "factor", "axis", "profile", "normalisation")


class WeightsError(ValueError):
    """A weight file that cannot be used: unreadable, of another format, or not for this volume."""


def code_version() -> str:
    """The sr_engine version recorded in weight files and provenance."""
    try:
        from .upscale import SR_ENGINE_VERSION

        return str(SR_ENGINE_VERSION)
    except ImportError:
        from . import __version__

        return __version__


def volumes_sha256(volumes: Iterable[Volume]) -> str:
    """sha256 over each volume's voxels (float32, C order), shape and affine: identifies training data."""
    digest = hashlib.sha256()
    for volume in volumes:
        data = np.ascontiguousarray(volume.data, dtype=np.float32)
        digest.update(repr(data.shape).encode())
        digest.update(np.ascontiguousarray(volume.affine, dtype=np.float64).tobytes())
        digest.update(data.tobytes())
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_save(path: str | Path, module: ResNetSR, metadata: Mapping[str, Any]) -> Path:
    """Write ``module``'s parameters and ``metadata`` to ``path``; returns the path.

    The architecture, code and torch versions and the date are filled in from the
    module and this installation; the rest of :data:`REQUIRED_METADATA` must be given.
    """
    meta = dict(metadata)
    meta["architecture"] = module.architecture
    meta.setdefault("sr_engine_version", code_version())
    meta.setdefault("torch_version", str(torch.__version__))
    meta.setdefault("created", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    missing = [key for key in REQUIRED_METADATA if key not in meta]
    if missing:
        raise WeightsError(f"Weight metadata lacks {', '.join(missing)}.")
    state = {key: value.detach().to("cpu").contiguous() for key, value in module.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "state_dict": state, "metadata": meta}, path)
    return path


def _read(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"No weight file at {path}.")
    try:
        content = torch.load(path, weights_only=True, map_location=device)
    except Exception as error:  # torch raises pickle, zip and runtime errors alike
        raise WeightsError(f"{path} is not an sr_engine weight file ({error.__class__.__name__}).") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        found = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise WeightsError(f"{path} is not an sr_engine weight file of format {FORMAT!r} (found {found!r}).")
    missing = [key for key in REQUIRED_METADATA if key not in content.get("metadata", {})]
    if missing:
        raise WeightsError(f"{path} lacks the metadata {', '.join(missing)}.")
    return content


def weights_load(
    path: str | Path, device: torch.device | str | None = None
) -> tuple[ResNetSR, dict[str, Any]]:
    """The network stored in ``path`` (in eval mode, on ``device``, default CPU) and its metadata."""
    device = torch.device(device or "cpu")
    content = _read(path, device)
    metadata = dict(content["metadata"])
    module = ResNetSR(**metadata["architecture"])
    try:
        module.load_state_dict(content["state_dict"])
    except RuntimeError as error:
        raise WeightsError(
            f"The weights in {path} do not fit their recorded architecture: {error}"
        ) from error
    return module.to(device).eval(), metadata


def weights_describe(path: str | Path) -> dict[str, Any]:
    """The metadata of a weight file with its path, size, sha256 and parameter count."""
    content = _read(path)
    return {
        **content["metadata"],
        "path": str(Path(path)),
        "name": Path(path).name,
        "size_bytes": Path(path).stat().st_size,
        "sha256": file_sha256(path),
        "parameters": int(sum(t.numel() for t in content["state_dict"].values())),
    }


def check_compatible(metadata: Mapping[str, Any], *, factor: int, channels: int, axis: str) -> None:
    """Raise :class:`WeightsError` unless weights with ``metadata`` can upscale such a volume."""
    problems = []
    if int(metadata["factor"]) != int(factor):
        problems.append(f"they were trained for factor {metadata['factor']}, not {factor}")
    model_channels = int(metadata["architecture"]["channels"])
    if model_channels != channels:
        problems.append(
            f"they take {model_channels} channel(s) but the volume has {channels}"
            + (
                " (make a multi-channel model with transfer learning: train --init-weights)"
                if channels > 1
                else ""
            )
        )
    if metadata["axis"] != axis:
        problems.append(f"they upscale along {metadata['axis']!r}, not {axis!r}")
    if problems:
        raise WeightsError("These weights do not fit: " + "; ".join(problems) + ".")
