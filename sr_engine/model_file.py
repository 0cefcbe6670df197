"""The ``model`` method: a super-resolution network trained elsewhere, brought as a model file.

A researcher's network (a transformer, a U-Net or GAN, a distilled diffusion model) is
exported as **ONNX** (``FILE.onnx``, run with onnxruntime) or **TorchScript**
(``FILE.pt``, ``torch.jit.save``; run with ``torch.jit.load``, never a pickle), with a
metadata file of the same stem beside it (``FILE.json``)::

    {"factor": 2, "axes": "slice", "channels": 1, "dims": 3,
     "normalisation": {"kind": "percentile", "low": 0.5, "high": 99.5},
     "input_grid": "lr", "halo": 8, "generative": false,
     "name": "HAT x2", "description": "..."}

The fields (:func:`parse_metadata` checks every one and names the field it refuses):

* ``factor`` (integer >= 2): the upscaling factor the model was trained for;
* ``axes``: ``"slice"`` (through-plane: the thick axis, found from the spacing) or
  ``"inplane"`` (the image plane), chosen as for every method (:mod:`sr_engine.axes`);
* ``channels`` (integer >= 1): channels in and out (echoes of a multi-echo volume);
* ``dims``: ``3`` (the model sees 3D tiles ``(N, C, slices, rows, columns)``, the thick
  axis first, the others in their stored order) or ``2`` (it sees planes ``(N, C, height,
  width)``: the image planes for ``"inplane"``; for ``"slice"`` the planes of the thick
  axis (``height``, the axis it upscales) and the stored rows (``width``), one per column);
* ``normalisation``: ``{"kind": "percentile", "low": p, "high": q}`` maps those
  percentiles of the input (all channels together) to 0 and 1; ``{"kind": "zscore"}``
  subtracts the mean and divides by the standard deviation; ``{"kind": "none"}``. The
  output is mapped back to the input's intensities;
* ``input_grid`` (default ``"lr"``): ``"lr"``: the model takes the low-resolution grid and
  upsamples itself, ``n`` samples along each upscaled axis becoming ``n * factor`` (the
  engine's grid, :func:`sr_engine.interpolate.upscaled_affine`); ``"interpolated"``: it
  refines the TCI-interpolated volume of the target shape and keeps its shape;
* ``halo`` (default :data:`DEFAULT_HALO`): the model's receptive-field radius in voxels of
  its input grid; tiles overlap by it (:mod:`sr_engine.tiling`), so the tiled output is the
  untiled one;
* ``generative`` (default false): the model can invent detail (GAN, diffusion); the
  provenance says so, and the reader-study platform marks the condition;
* ``name``, ``description`` (optional text).

Before any voxel is run, :func:`check_model` compares the model with the volume: the
factor asked for, the volume's channels, the axes, and the model itself (the input rank
and channels declared by the ONNX graph, and a trial run on a tiny tile for both formats,
whose output shape must follow ``input_grid``), and refuses with the reason.

The device follows the other learned methods (:func:`sr_engine.networks.pick_device`: CUDA
when torch sees a GPU): TorchScript runs there; ONNX runs on onnxruntime's CUDA provider
when the installed onnxruntime has one (the pinned ``onnxruntime`` is the CPU build), else
on the CPU.
"""

import json
import math
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .extras import require
from .interpolate import tci
from .progress import ProgressArg, progress_reporter
from .tiling import tiled_apply
from .volume import Volume

#: Model file suffixes and their formats.
FORMATS = {".onnx": "onnx", ".pt": "torchscript"}
#: Receptive-field radius (voxels) assumed when the metadata gives no ``halo``.
DEFAULT_HALO = 8
#: Tile edge (voxels of the model's input grid) for 3D and 2D models when no ``tile`` option is given.
DEFAULT_TILE = {3: 48, 2: 192}
#: Planes per batch for 2D models (1 when an ONNX graph fixes its batch at 1).
PLANE_BATCH = 4
#: Edge of the tile of the trial run in :func:`check_model` (a multiple of 16, which U-Nets need).
TRIAL_EDGE = 16

KNOWN_FIELDS = frozenset(
    {"factor", "axes", "channels", "normalisation", "input_grid", "dims", "generative", "name"}
    | {"description", "halo"}
)


class ModelError(ValueError):
    """A model file that cannot be used (its metadata, its format) or does not fit the volume."""


@dataclass(frozen=True)
class ModelMetadata:
    """A model file's validated metadata (see the module docstring); ``raw`` is the file's content."""

    factor: int
    axes: str
    channels: int
    dims: int
    normalisation: dict[str, Any]
    input_grid: str
    halo: int
    generative: bool
    name: str
    description: str
    raw: dict[str, Any]


def model_format(path: str | Path) -> str:
    """``"onnx"`` or ``"torchscript"`` from the file's suffix; :class:`ModelError` for another."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ModelError(
            f"{Path(path).name} is not a model file: use a .onnx (ONNX) or .pt (TorchScript) file."
        )
    return FORMATS[suffix]


def is_torchscript(path: str | Path) -> bool:
    """Whether a ``.pt`` file is TorchScript (``torch.jit.save``: a zip holding its ``code/``)
    rather than an sr_engine weight file (:mod:`sr_engine.weights`); read without unpickling."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(part == "code" for name in archive.namelist() for part in name.split("/")[1:2])
    except (OSError, zipfile.BadZipFile):
        return False


def is_model_file(path: str | Path) -> bool:
    """An ONNX file, or a ``.pt`` file that is TorchScript or has a metadata file beside it."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt == "torchscript":
        return metadata_path(path).is_file() or is_torchscript(path)
    return fmt == "onnx"


def metadata_path(path: str | Path) -> Path:
    """The metadata file beside a model file: the same stem with ``.json``."""
    return Path(path).with_suffix(".json")


def _integer(raw: Mapping[str, Any], field: str, source: str, minimum: int, default: Any = None) -> int:
    value = raw.get(field, default)
    if value is None:
        raise ModelError(f"{source}: the field '{field}' is missing.")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelError(f"{source}: '{field}' must be an integer of at least {minimum}, not {value!r}.")
    return int(value)


def _choice(
    raw: Mapping[str, Any], field: str, source: str, choices: tuple[Any, ...], default: Any = None
) -> Any:
    value = raw.get(field, default)
    if value is None:
        raise ModelError(f"{source}: the field '{field}' is missing.")
    if isinstance(value, bool) or value not in choices:
        listed = " or ".join(repr(c) for c in choices)
        raise ModelError(f"{source}: '{field}' must be {listed}, not {value!r}.")
    return value


def _normalisation(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    value = raw.get("normalisation")
    if value is None:
        raise ModelError(f"{source}: the field 'normalisation' is missing.")
    if not isinstance(value, Mapping):
        raise ModelError(f'{source}: \'normalisation\' must be an object such as {{"kind": "none"}}.')
    kind = _choice(value, "kind", f"{source} normalisation", ("percentile", "zscore", "none"))
    if kind != "percentile":
        return {"kind": kind}
    bounds = []
    for field in ("low", "high"):
        bound = value.get(field)
        if isinstance(bound, bool) or not isinstance(bound, int | float) or not 0 <= bound <= 100:
            raise ModelError(
                f"{source}: normalisation '{field}' must be a percentile from 0 to 100, not {bound!r}."
            )
        bounds.append(float(bound))
    if bounds[0] >= bounds[1]:
        raise ModelError(
            f"{source}: normalisation 'low' ({bounds[0]:g}) must be below 'high' ({bounds[1]:g})."
        )
    return {"kind": "percentile", "low": bounds[0], "high": bounds[1]}


def parse_metadata(raw: Any, source: str = "the model metadata") -> ModelMetadata:
    """Validate a metadata object (the parsed JSON); :class:`ModelError` names the field at fault."""
    if not isinstance(raw, Mapping):
        raise ModelError(f"{source} must hold a JSON object, not {type(raw).__name__}.")
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise ModelError(
            f"{source}: unknown field(s) {', '.join(unknown)}; "
            f"the fields are {', '.join(sorted(KNOWN_FIELDS))}."
        )
    generative = raw.get("generative", False)
    if not isinstance(generative, bool):
        raise ModelError(f"{source}: 'generative' must be true or false, not {generative!r}.")
    text = {}
    for field in ("name", "description"):
        value = raw.get(field, "")
        if not isinstance(value, str):
            raise ModelError(f"{source}: '{field}' must be text, not {value!r}.")
        text[field] = value
    return ModelMetadata(
        factor=_integer(raw, "factor", source, 2),
        axes=_choice(raw, "axes", source, ("slice", "inplane")),
        channels=_integer(raw, "channels", source, 1),
        dims=_choice(raw, "dims", source, (2, 3)),
        normalisation=_normalisation(raw, source),
        input_grid=_choice(raw, "input_grid", source, ("lr", "interpolated"), default="lr"),
        halo=_integer(raw, "halo", source, 0, default=DEFAULT_HALO),
        generative=generative,
        name=text["name"],
        description=text["description"],
        raw=json.loads(json.dumps(dict(raw))),
    )


def read_metadata(path: str | Path) -> ModelMetadata:
    """The validated metadata beside the model file ``path`` (which must exist)."""
    path = Path(path)
    model_format(path)
    if not path.is_file():
        raise ModelError(f"There is no model file {path}.")
    meta = metadata_path(path)
    if not meta.is_file():
        raise ModelError(f"{path.name} has no metadata file: {meta.name} must lie beside it.")
    try:
        raw = json.loads(meta.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{meta.name} is not valid JSON: {error}.") from error
    return parse_metadata(raw, meta.name)


def model_record(path: str | Path, metadata: ModelMetadata) -> dict[str, Any]:
    """What the provenance says about the model (the ``weights`` record of :mod:`sr_engine.upscale`)."""
    from .weights import file_sha256

    return {
        "name": Path(path).name,
        "sha256": file_sha256(path),
        "format": model_format(path),
        "metadata": metadata.raw,
        "generative": metadata.generative,
    }


# --------------------------------------------------------------------------- geometry


def model_check_axis(path: str | Path, metadata: ModelMetadata, requested: str) -> None:
    """Refuse an ``axis`` option that contradicts the model's ``axes`` (``auto`` always fits)."""
    name = Path(path).name
    if metadata.axes == "inplane" and requested not in ("auto", "inplane"):
        raise ModelError(f"{name} upscales the image plane; it takes no axis={requested}.")
    if metadata.axes == "slice" and requested == "inplane":
        raise ModelError(f"{name} upscales the thick axis, not the image plane (its axes is 'slice').")


def model_axes(metadata: ModelMetadata) -> tuple[int, ...]:
    """The spatial axes of the model's input that it upscales (an ``lr`` model multiplies them)."""
    if metadata.dims == 3:
        return (0,) if metadata.axes == "slice" else (1, 2)
    return (0,) if metadata.axes == "slice" else (0, 1)


def _scaled(shape: tuple[int, ...], metadata: ModelMetadata) -> tuple[int, ...]:
    if metadata.input_grid == "interpolated":
        return shape
    up = model_axes(metadata)
    return tuple(n * metadata.factor if a in up else n for a, n in enumerate(shape))


# --------------------------------------------------------------------------- running


Runner = Callable[[np.ndarray], np.ndarray]


@dataclass
class _Loaded:
    run: Runner
    declared: tuple[Any, ...] | None  # the ONNX input shape (ints or names), None for TorchScript


def _load(path: Path, device: Any) -> _Loaded:
    """The model as a function of a float32 array ``(N, C, *spatial)``."""
    if model_format(path) == "onnx":
        require("sr", f"The ONNX model {path.name}", module="onnxruntime")
        import onnxruntime as ort

        from .networks import pick_device

        providers = ["CPUExecutionProvider"]
        if pick_device(device).type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = ort.InferenceSession(str(path), providers=providers)
        except Exception as error:  # onnxruntime raises its own exception kinds
            raise ModelError(f"{path.name} is not a readable ONNX model: {error}") from error
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{path.name} has {len(inputs)} inputs and {len(outputs)} outputs; it must have one each."
            )
        name = inputs[0].name

        def run_onnx(array: np.ndarray) -> np.ndarray:
            return np.asarray(session.run(None, {name: np.ascontiguousarray(array, dtype=np.float32)})[0])

        return _Loaded(run_onnx, tuple(inputs[0].shape))
    require("sr", f"The TorchScript model {path.name}", module="torch")
    import torch

    from .networks import configure_threads, pick_device

    configure_threads()
    where = pick_device(device)
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript in favour of torch.export
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=where).eval()
    except Exception as error:  # torch raises runtime and pickle errors alike
        raise ModelError(f"{path.name} is not a TorchScript model (torch.jit.save): {error}") from error

    def run_torch(array: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(where)
        with torch.inference_mode():
            y = module(x)
        if not isinstance(y, torch.Tensor):
            raise ModelError(f"{path.name} returned {type(y).__name__}, not one tensor.")
        return y.to("cpu").numpy()

    return _Loaded(run_torch, None)


def check_model(
    path: str | Path, metadata: ModelMetadata, loaded: _Loaded, *, factor: int, channels: int, axes: str
) -> int:
    """Refuse (:class:`ModelError`, with the reason) a model that does not fit; return its batch size."""
    name = Path(path).name
    problems = []
    if metadata.factor != factor:
        problems.append(f"{name} upscales by {metadata.factor}, not {factor}")
    if metadata.channels != channels:
        problems.append(f"{name} takes {metadata.channels} channel(s); this volume has {channels}")
    if metadata.axes != axes:
        problems.append(
            f"{name} upscales {'the image plane' if metadata.axes == 'inplane' else 'the thick axis'}, "
            f"not axis={axes}"
        )
    if problems:
        raise ModelError("; ".join(problems) + ".")
    rank = metadata.dims + 2
    batch = PLANE_BATCH if metadata.dims == 2 else 1
    if loaded.declared is not None:
        declared = loaded.declared
        if len(declared) != rank:
            raise ModelError(
                f"{name} takes {len(declared)}-dimensional input {list(declared)}; a {metadata.dims}D model "
                "takes (batch, channels, "
                + ("slices, rows, columns)." if metadata.dims == 3 else "height, width).")
            )
        if isinstance(declared[1], int) and declared[1] != channels:
            raise ModelError(f"{name} takes {declared[1]} channels; this volume has {channels}.")
        if isinstance(declared[0], int):
            if declared[0] != 1:
                raise ModelError(
                    f"{name} fixes its batch size at {declared[0]}; export it with batch 1 or dynamic."
                )
            batch = 1
        fixed = [d for d in declared[2:] if isinstance(d, int)]
        if fixed:
            raise ModelError(
                f"{name} fixes its spatial input shape {list(declared[2:])}; export it with dynamic "
                "spatial axes so that it can be run on tiles."
            )
    trial = np.zeros((1, channels) + (TRIAL_EDGE,) * metadata.dims, dtype=np.float32)
    try:
        out = loaded.run(trial)
    except ModelError:
        raise
    except Exception as error:  # whatever the runtime raises for an input the model refuses
        text = " ".join(str(error).split())[:300]
        raise ModelError(f"{name} fails on a trial input of shape {list(trial.shape)}: {text}") from error
    expected = (1, channels, *_scaled(trial.shape[2:], metadata))
    if tuple(out.shape) != expected:
        grid = "upsample its input" if metadata.input_grid == "lr" else "keep its input's shape"
        raise ModelError(
            f"{name} turned a trial input of shape {list(trial.shape)} into {list(out.shape)}; with "
            f"input_grid {metadata.input_grid!r} and factor {metadata.factor} it should {grid}: "
            f"{list(expected)}."
        )
    return batch


def normalise(data: np.ndarray, normalisation: Mapping[str, Any]) -> tuple[float, float]:
    """``(offset, scale)`` with ``(data - offset) / scale`` the model's input (all channels together)."""
    kind = normalisation["kind"]
    if kind == "none":
        return 0.0, 1.0
    if kind == "zscore":
        offset, scale = float(data.mean()), float(data.std())
    else:
        offset, top = (float(v) for v in np.percentile(data, [normalisation["low"], normalisation["high"]]))
        scale = top - offset
    return offset, scale if scale > 0 and math.isfinite(scale) else 1.0


def model_upscale(
    volume: Volume,
    factor: int,
    *,
    model: str | Path,
    axis: str,
    device: Any = None,
    progress: ProgressArg = None,
    tile: int | None = None,
    halo: int | None = None,
    metadata: ModelMetadata | None = None,
) -> np.ndarray:
    """Run the model file on ``volume`` (its upscaled axis first, as :func:`sr_engine.upscale.upscale`
    gives it); ``axis`` is ``"slice"`` or ``"inplane"``.

    Returns float32 on the upscaled grid, ``(slices, rows, columns)`` or with a leading
    channel axis, before the background rule. ``tile`` (voxels of the model's input grid)
    and ``halo`` (not smaller than the metadata's) tune the tiling.
    """
    path = Path(model)
    metadata = metadata or read_metadata(path)
    halo = metadata.halo if halo is None else int(halo)
    if halo < metadata.halo:
        raise ModelError(
            f"A halo of {halo} voxels is smaller than {path.name}'s receptive field ({metadata.halo})."
        )
    loaded = _load(path, device)
    batch = check_model(path, metadata, loaded, factor=factor, channels=volume.n_channels, axes=axis)
    data = np.asarray(volume.data, dtype=np.float32)
    stacked = data[None] if data.ndim == 3 else data  # (channels, slices, rows, columns)
    offset, scale = normalise(stacked, metadata.normalisation)
    x = (stacked - offset) / scale
    if metadata.input_grid == "interpolated":
        x = tci(x, factor, axis=axis)
    up = model_axes(metadata)
    edge = int(tile or DEFAULT_TILE[metadata.dims])
    with progress_reporter(progress, f"model {path.name}") as report:
        if metadata.dims == 3:
            scales = tuple(factor if a in up and metadata.input_grid == "lr" else 1 for a in range(3))
            out = tiled_apply(
                lambda t: loaded.run(t[None])[0],
                x,
                tile=(edge,) * 3,
                halo=halo,
                scale=scales,
                progress=report,
            )
        else:
            # planes: (planes, channels, height, width); inplane: each slice; slice: the (slice, row) planes
            planes = x.transpose(1, 0, 2, 3) if axis == "inplane" else x.transpose(3, 0, 1, 2)
            scales = tuple(factor if a in up and metadata.input_grid == "lr" else 1 for a in range(2))
            parts = []
            for start in range(0, planes.shape[0], batch):
                parts.append(
                    tiled_apply(
                        loaded.run, planes[start : start + batch], tile=(edge, edge), halo=halo, scale=scales
                    )
                )
                report(min(start + batch, planes.shape[0]) / planes.shape[0])
            stacked_out = np.concatenate(parts)
            out = (
                stacked_out.transpose(1, 0, 2, 3) if axis == "inplane" else stacked_out.transpose(1, 2, 3, 0)
            )
    result = (out * scale + offset).astype(np.float32)
    return result[0] if data.ndim == 3 else result
