"""One entry point for every super-resolution method: :func:`upscale`.

Every method gives the same kind of output, so that readers can tell the arms of a
study apart by image quality alone:

* float32 voxels on the upscaled grid of :func:`sr_engine.interpolate.upscaled_affine`
  (the same affine and shape for every method);
* the input's acquisition record, with ``slice_thickness_mm`` set to the new slice
  spacing (through-plane methods) and ``provenance`` describing how the volume was
  made: ``method``, ``factor``, ``axis`` (the upscaled axis in the input's storage
  order, see :mod:`sr_engine.axes`) and ``axis_rule`` (``spacing`` or ``named``),
  ``seed``, ``options``, ``weights`` (name, sha256 and metadata of the weight file,
  for ``resnet3d``/``resnet2d``; for ``model`` also its ``format`` and ``generative``),
  ``generative`` (``model`` only: true when the model file's metadata says it can invent
  detail, see :mod:`sr_engine.model_file`),
  ``sr_engine_version``, ``input_sha256`` (of the input voxels, see
  :func:`sr_engine.simulate.voxel_sha256`) and ``input_provenance`` (the input's own
  record, e.g. its simulation, or None);
* magnitude images stay magnitude: when the input has no negative voxel, negative
  output values (undershoot of cubic, Fourier or learned methods next to sharp edges)
  are clipped at 0;
* the background rule for learned methods: outside a smoothed tissue mask computed
  from the TCI result the output is the TCI result, ``result = tci + w (learned - tci)``
  with ``w`` from :func:`sr_engine.metrics.smooth_tissue_weight`, so air carries no
  network noise that would give the arm away.

The factor is an integer of at least 2: a factor of 1 would make a copy labelled as
super-resolution, which is always a mistake in a study. Learned methods are imported
only when used, so ``import sr_engine.upscale`` does not import torch.
"""

from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .axes import choose_axes, restore, to_front
from .extras import require_torch
from .interpolate import fi, linear, nearest, tci, upscaled_affine, upscaled_shape
from .metrics import smooth_tissue_weight, tissue_mask
from .progress import ProgressArg, progress_reporter
from .simulate import voxel_sha256
from .volume import Volume, index_spacing

CLASSICAL = {"nearest": nearest, "linear": linear, "tci": tci, "fi": fi}
LEARNED = ("selfsr", "selfsr-v1", "resnet3d", "resnet2d", "model")
METHODS = (*CLASSICAL, *LEARNED)

#: The code version recorded in provenance (and by sr_engine.weights): the package's version.
SR_ENGINE_VERSION = __version__

#: Width (mm) of the Gaussian that softens the tissue mask of the background rule.
BACKGROUND_SIGMA_MM = 1.0


def _check_factor(factor: Any) -> int:
    if isinstance(factor, bool) or int(factor) != factor or factor < 2:
        raise ValueError(f"The factor must be an integer of at least 2, got {factor!r}.")
    return int(factor)


def background_weight(tci_result: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """The weight ``w`` (0 in air, 1 in tissue) of the background rule, from the TCI result.

    ``spacing_mm`` is the upscaled grid's spacing along the data axes (slice, row,
    column), as :attr:`sr_engine.volume.Volume.axis_spacing` gives it; the mask is
    softened by a Gaussian of :data:`BACKGROUND_SIGMA_MM` on every axis.
    """
    sigma = tuple(BACKGROUND_SIGMA_MM / s for s in spacing_mm)
    return smooth_tissue_weight(tissue_mask(tci_result), sigma)


def blend_background(tci_result: np.ndarray, learned: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``tci + weight * (learned - tci)``, the same spatial weight for every channel."""
    if tci_result.shape != learned.shape:
        raise ValueError(f"Learned output {learned.shape} is not on the TCI grid {tci_result.shape}.")
    return (tci_result + weight * (learned - tci_result)).astype(np.float32)


def _weights_record(weights: Any) -> dict[str, Any] | None:
    """What the provenance says about the weights: name, sha256 and metadata."""
    if weights is None:
        return None
    if isinstance(weights, tuple):  # (module, metadata) already in memory
        return {"name": None, "sha256": None, "metadata": dict(weights[1])}
    from .weights import weights_describe  # imports torch

    described = weights_describe(weights)
    return {"name": described["name"], "sha256": described["sha256"], "metadata": described}


def _model_record(model: tuple[Path, Any]) -> dict[str, Any]:
    from .model_file import model_record

    return model_record(*model)


def _learned(
    volume: Volume,
    factor: int,
    method: str,
    *,
    seed: int,
    weights: Any,
    device: Any,
    report,
    options: dict,
    model: Any = None,
    runs: list[dict[str, Any]] | None = None,
) -> np.ndarray:
    """The learned method's output for all channels, shaped like the volume's data.

    ``selfsr`` appends to ``runs`` what each channel's training did (steps run, seconds).
    """
    if method == "model":
        from .model_file import model_upscale

        path, metadata = model
        axis = "inplane" if metadata.axes == "inplane" else "slice"
        return model_upscale(
            volume,
            factor,
            model=path,
            metadata=metadata,
            axis=axis,
            device=device,
            progress=report,
            **options,
        )
    if method in ("selfsr", "selfsr-v1"):
        from .selfsr import selfsr_upscale
        from .selfsr_v2 import selfsr_v2_upscale

        outputs = []
        n = volume.n_channels
        for index in range(n):
            common = dict(seed=seed, device=device, progress=report.part(index / n, (index + 1) / n))
            if method == "selfsr-v1":
                outputs.append(selfsr_upscale(volume.channel(index), factor, **common, **options))
                continue
            output, run = selfsr_v2_upscale(volume.channel(index), factor, **common, **options)
            outputs.append(output)
            if runs is not None:
                runs.append(run)
        return outputs[0] if volume.data.ndim == 3 else np.stack(outputs)
    if weights is None:
        raise ValueError(f"{method} needs weights: the path of a weight file trained for this factor.")
    from .resnet import resnet_upscale

    axis = "inplane" if method == "resnet2d" else "slice"
    return resnet_upscale(
        volume, factor, weights=weights, axis=axis, device=device, progress=report, **options
    )


def upscale(
    volume: Volume,
    factor: int,
    method: str = "tci",
    *,
    seed: int = 0,
    weights: Any = None,
    model: str | Path | None = None,
    device: Any = None,
    progress: ProgressArg = None,
    **options: Any,
) -> Volume:
    """Upscale ``volume`` by the integer ``factor`` with ``method`` (one of :data:`METHODS`).

    Through-plane methods (all but ``resnet2d``) upscale the volume's thick axis, found
    from its spacing whatever the storage order (:mod:`sr_engine.axes`): a volume with no
    single coarsest axis needs ``axis="slice"|"row"|"column"``, and a named axis finer than
    another is refused. ``axis="inplane"`` (classical methods) and ``resnet2d`` upscale the
    image plane. The output keeps the input's storage order. ``weights`` (a file path) is for ``resnet3d`` and
    ``resnet2d``; ``model`` (a ``.onnx`` or TorchScript ``.pt`` file with its ``.json``
    metadata, :mod:`sr_engine.model_file`) for ``model``, whose metadata also chooses
    through-plane or in-plane; ``device`` (e.g. ``"cuda"``) and other ``options`` go to the learned
    method (see :func:`sr_engine.selfsr.selfsr_upscale`,
    :func:`sr_engine.resnet.resnet_upscale`). Every method is deterministic for a given
    ``seed``. See the module docstring for what every output shares.
    """
    factor = _check_factor(factor)
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; the methods are: {', '.join(METHODS)}.")
    options = dict(options)
    requested = str(options.pop("axis", "auto"))
    if method in CLASSICAL:
        if options:
            raise ValueError(f"{method} takes no option(s) {', '.join(sorted(options))}; only axis.")
    else:
        require_torch(f"The method {method}")
        if method == "resnet2d" and requested not in ("auto", "inplane"):
            raise ValueError(f"resnet2d upscales the image plane; it takes no axis={requested}.")
        if method not in ("resnet2d", "model") and requested == "inplane":
            raise ValueError(f"{method} upscales the thick axis, not the image plane (use resnet2d).")
    if (model is not None) != (method == "model"):
        raise ValueError(
            "The method model needs model=PATH." if model is None else f"{method} takes no model file."
        )
    loaded_model = None
    inplane = method == "resnet2d"
    if model is not None:
        from .model_file import model_check_axis, read_metadata

        metadata = read_metadata(model)  # refused before any voxel is touched
        model_check_axis(model, metadata, requested)
        loaded_model = (Path(model), metadata)
        inplane = metadata.axes == "inplane"
    choice = choose_axes(volume, requested, inplane=inplane)
    front = to_front(volume, choice)  # the axis to upscale first: what every method works along
    runs: list[dict[str, Any]] = []
    result = _upscale_front(
        front, factor, method, choice.kind, seed, weights, device, progress, options, loaded_model, runs
    )
    provenance = {
        "method": method,
        "factor": factor,
        "axis": choice.label,
        "axis_rule": "named" if requested != "auto" else "spacing",
        "seed": int(seed),
        "options": options,
        "weights": _model_record(loaded_model)
        if loaded_model
        else (_weights_record(weights) if method in LEARNED else None),
        "sr_engine_version": SR_ENGINE_VERSION,
        "input_sha256": voxel_sha256(volume.data),
        "input_provenance": volume.acquisition.get("provenance"),
    }
    if loaded_model is not None:
        provenance["generative"] = loaded_model[1].generative
    if method in ("selfsr", "selfsr-v1"):
        provenance["method_version"] = 1 if method == "selfsr-v1" else 2
    if runs:  # selfsr v2: the steps each channel's time budget gave (steps=N reruns it exactly)
        provenance["training"] = runs
    acquisition: dict[str, Any] = {"provenance": provenance}
    if choice.kind == "slice":
        acquisition["slice_thickness_mm"] = result.axis_spacing[0]
    output = restore(result, choice)  # the input's storage order again
    return output.with_data(output.data, **acquisition)


def _upscale_front(
    volume: Volume,
    factor: int,
    method: str,
    axis: str,
    seed: int,
    weights: Any,
    device: Any,
    progress: ProgressArg,
    options: dict[str, Any],
    model: Any = None,
    runs: list[dict[str, Any]] | None = None,
) -> Volume:
    """The method run along data axis 0 (``axis="slice"``) or the stored plane (``"inplane"``)."""
    affine = upscaled_affine(volume, factor, axis)
    expected_shape = upscaled_shape(volume.data.shape, factor, axis)
    with progress_reporter(progress, f"upscale {method}") as report:
        if method in CLASSICAL:
            data = CLASSICAL[method](volume, factor, axis=axis)
        else:
            learned = _learned(
                volume,
                factor,
                method,
                seed=seed,
                weights=weights,
                device=device,
                report=report.part(0.0, 0.95),
                options=options,
                model=model,
                runs=runs,
            )
            if learned.shape != expected_shape:
                raise RuntimeError(f"{method} returned shape {learned.shape}, expected {expected_shape}.")
            smooth = tci(volume, factor, axis=axis)
            weight = background_weight(smooth, index_spacing(affine))
            data = blend_background(smooth, np.asarray(learned, dtype=np.float32), weight)
        report(1.0)
    if float(volume.data.min()) >= 0:
        data = np.maximum(data, 0, out=data)
    return volume.with_data(data.astype(np.float32, copy=False), affine)
