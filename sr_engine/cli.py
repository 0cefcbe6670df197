"""The command line: ``python -m sr_engine simulate | upscale | train | evaluate``.

Installed (``pip install /path/to/repo``), the same command line is ``sr-engine``; the
learned methods and ``train`` need torch, the ``[sr]`` extra (:mod:`sr_engine.extras`).

Volumes are DICOM folders (or single multi-frame files) or NIfTI files; an output
ending in ``.nii``/``.nii.gz`` is written as NIfTI, anything else as a DICOM series in
a new folder (in the source's study when the input is DICOM), with the sealed
provenance record of :mod:`sr_engine.provenance`. Progress bars go to stderr.

Exit status: 0 on success, 2 for a usage error (argparse), 1 for an input that cannot
be used (not a volume, a missing file, a bad value), with a one-line ``error: ...``.
"""

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .dicom_series import SeriesInfo, VolumeError, series_info_from_source
from .extras import MissingDependency, require_torch
from .nifti_io import is_nifti_path
from .provenance import jsonable
from .volume import Volume
from .volume_io import read_volume, write_volume

METHODS = ("nearest", "tci", "fi", "selfsr", "selfsr-v1", "resnet3d", "resnet2d", "model")
LEARNED = ("selfsr", "selfsr-v1", "resnet3d", "resnet2d", "model")

SIMULATE_EPILOG = """examples:
  python -m sr_engine simulate knee/echo1 lr/ --factor 2
  python -m sr_engine simulate hr.nii.gz lr.nii.gz --thickness 3 --gap 0.5 --profile box
  python -m sr_engine simulate hr/ lr/ --factor 4 --inplane-factor 2 --apodization hann --snr 30 --seed 1
"""
UPSCALE_EPILOG = """examples:
  python -m sr_engine upscale lr/ sr_tci/ --factor 2 --method tci
  python -m sr_engine upscale lr/ sr.nii.gz --factor 2 --method selfsr --seed 0 --option steps=300
  python -m sr_engine upscale echo1/ echo2/ sr/ --factor 2 --method resnet3d --weights dess.pt --device cuda
  python -m sr_engine upscale lr.nii.gz sr.nii.gz --factor 4 --method tci     # thick axis from the spacing
  python -m sr_engine upscale iso/ sr/ --factor 2 --method tci --axis slice     # no single thick axis
  python -m sr_engine upscale lr.nii.gz sr.nii.gz --factor 2 --method model --model hat_x2.onnx

--method model runs a model trained elsewhere: an ONNX file (.onnx) or a TorchScript file
(.pt), with its metadata beside it (hat_x2.json: factor, axes, channels, dims,
normalisation, input_grid, halo, generative, name, description; see sr_engine.model_file).

The thick axis is the one with the coarsest spacing, wherever the file stores it; the
output keeps the input's storage order. A volume with two or three equally coarse axes
needs --axis, and an --axis finer than another axis is refused (sr_engine.axes).
"""
TRAIN_EPILOG = """examples:
  python -m sr_engine train knee_x2.pt --data knee1/ knee2.nii.gz --factor 2 --steps 2000
  python -m sr_engine train dess_x2.pt --data knee/echo1,knee/echo2 --channels 2 --init knee_x2.pt --factor 2
  python -m sr_engine train inplane_x2.pt --data hr/ --model resnet2d --factor 2 --depth 10 --features 32
"""
EVALUATE_EPILOG = """examples:
  python -m sr_engine evaluate knee/echo1 --methods nearest,tci,fi,selfsr --factor 2 --out results/
  python -m sr_engine evaluate hr.nii.gz --lr lr.nii.gz --factor 4 --methods tci,resnet3d \
      --weights m.pt --out r/

The table (also results.csv and results.json in --out) gives PSNR, SSIM, RMSE and NRMSE
on the whole volume and inside the tissue mask (edge slices left out) and the gain of
each method over tci; figure.png shows the middle slice, a through-plane reformat and
a zoomed crop of the reformat for HR and every method, in one display window.
"""


# --------------------------------------------------------------------------- helpers


def _read(paths: Sequence[str], series: str | None = None) -> Volume:
    """One volume from one path, or from several paths holding its echoes."""
    return read_volume([Path(p) for p in paths], series_instance_uid=series)


def _is_dicom_source(paths: Sequence[str]) -> bool:
    return not any(is_nifti_path(p) for p in paths)


def _check_output(output: str) -> Path:
    """A DICOM output folder must be new or empty (a series is never mixed into another)."""
    path = Path(output)
    if not is_nifti_path(path) and path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ValueError(f"{path} exists and is not an empty folder; name a new folder for the DICOM series.")
    return path


def _write(volume: Volume, output: Path, sources: Sequence[str], description: str) -> list[Path]:
    """Write ``volume``; a DICOM series from a DICOM source joins the source's study."""
    info = None
    if not is_nifti_path(output):
        if _is_dicom_source(sources):
            info = series_info_from_source([Path(p) for p in sources], description)
        else:
            info = SeriesInfo(
                patient_name="ANONYMOUS", patient_id="ANONYMOUS", series_description=description
            )
    paths = write_volume(volume, output, info=info)
    spacing = " x ".join(f"{v:.4g}" for v in volume.spacing)
    channels = f"{volume.n_channels} channels of " if volume.n_channels > 1 else ""
    where = output if is_nifti_path(output) else f"{len(paths)} files in {output}"
    print(f"wrote {where}: {channels}{' x '.join(map(str, volume.shape))} voxels, {spacing} mm")
    return paths


def _value(text: str) -> Any:
    """An option value: int, float, true/false, or the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _options(pairs: Sequence[str] | None) -> dict[str, Any]:
    options = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option takes KEY=VALUE, not {pair!r}.")
        options[key.strip().replace("-", "_")] = _value(text.strip())
    return options


def _upscale(volume: Volume, factor: int, method: str, args: argparse.Namespace, options: dict) -> Volume:
    from .upscale import upscale  # torch is imported only by the learned methods

    if method in ("resnet3d", "resnet2d") and not args.weights:
        raise ValueError(f"The method {method} needs a weight file: --weights FILE.")
    if method == "model" and not args.model_file:
        raise ValueError("The method model needs a model file: --model FILE.onnx or FILE.pt.")
    try:
        return upscale(
            volume,
            factor,
            method,
            seed=args.seed,
            weights=args.weights if method in ("resnet3d", "resnet2d") else None,
            model=args.model_file if method == "model" else None,
            device=args.device,
            progress=True,
            **options,
        )
    except TypeError as error:  # an unknown --option for this method
        if options:
            raise ValueError(str(error)) from error
        raise


# --------------------------------------------------------------------------- commands


def cmd_simulate(args: argparse.Namespace) -> None:
    from .simulate import simulate_acquisition

    output = _check_output(args.output)
    volume = _read(args.input, args.series)
    apodization = None if args.apodization in (None, "none") else args.apodization
    lr = simulate_acquisition(
        volume,
        factor=args.factor,
        thickness_mm=args.thickness,
        gap_mm=args.gap,
        profile=args.profile,
        inplane_factor=args.inplane_factor,
        apodization=apodization,
        snr=args.snr,
        seed=args.seed,
    )
    steps = []
    if args.factor or args.thickness:
        size = f"x{args.factor}" if args.factor else f"{args.thickness:g} mm"
        steps.append(f"{args.profile} {size}")
    if args.inplane_factor > 1 or apodization:
        steps.append(f"in-plane x{args.inplane_factor} {apodization or ''}".strip())
    if args.snr:
        steps.append(f"SNR {args.snr:g}")
    _write(lr, output, args.input, f"LR simulated {', '.join(steps)}")


def cmd_upscale(args: argparse.Namespace) -> None:
    if args.method in LEARNED:
        require_torch(f"The method {args.method}")  # before reading anything
    output = _check_output(args.output)
    volume = _read(args.input, args.series)
    options = _options(args.option)
    if args.axis != "auto":
        if "axis" in options and options["axis"] != args.axis:
            raise ValueError(f"--axis {args.axis} and --option axis={options['axis']} disagree.")
        options["axis"] = args.axis
    sr = _upscale(volume, args.factor, args.method, args, options)
    _write(sr, output, args.input, f"SR {args.method} x{args.factor}")


def cmd_train(args: argparse.Namespace) -> None:
    from .training import TrainConfig, train_and_save

    require_torch("Training")
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise ValueError(f"{output} exists; choose another name or pass --overwrite.")
    volumes = [_read(item.split(",")) for item in args.data]
    for item, volume in zip(args.data, volumes, strict=True):
        if volume.n_channels != args.channels:
            raise ValueError(
                f"{item} has {volume.n_channels} channel(s) but --channels is {args.channels} "
                f"(give the echoes of one volume as FOLDER1,FOLDER2)."
            )
    config = TrainConfig(
        factor=args.factor,
        profile=args.profile,
        dims=3 if args.model == "resnet3d" else 2,
        depth=args.depth,
        features=args.features,
        channels=args.channels,
        patch=args.patch,
        batch=args.batch,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        init_weights=args.init,
    )
    path = train_and_save(volumes, config, output, progress=True)
    print(f"wrote {path}")


def _common_grid(hr: Volume, sr: Volume, method: str) -> tuple[Volume, Volume]:
    """HR and SR cut to the slices they share; an error if the SR grid is not part of the HR grid."""
    if sr.shape[1:] != hr.shape[1:] or not np.allclose(sr.axis_steps, hr.axis_steps, atol=1e-4):
        raise ValueError(
            f"The {method} result ({' x '.join(map(str, sr.shape))}, spacing {sr.spacing}) is not on the "
            f"HR grid ({' x '.join(map(str, hr.shape))}, spacing {hr.spacing}): give an LR volume whose "
            f"slices are {hr.spacing[2]:g} mm x the factor."
        )
    offset = hr.patient_to_index(sr.slice_position(0))  # (slice, row, column) in HR voxels
    first = round(float(offset[0]))
    if not np.allclose(offset, [first, 0, 0], atol=1e-3):
        raise ValueError(
            f"The {method} result's slices do not coincide with HR slices "
            f"(offset {offset} slices, rows, columns)."
        )
    start, stop = max(first, 0), min(first + sr.shape[0], hr.shape[0])
    if stop - start < 1:
        raise ValueError(f"The {method} result and the HR volume share no slice.")
    return hr.crop(np.s_[start:stop]), sr.crop(np.s_[start - first : stop - first])


METRICS = ("psnr", "ssim", "rmse", "nrmse", "psnr_tissue", "ssim_tissue", "rmse_tissue", "nrmse_tissue")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .metrics import compare, tissue_mask
    from .simulate import simulate_acquisition

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(
            f"Unknown method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}."
        )
    for method in methods:
        if method in LEARNED:
            require_torch(f"The method {method}")
    if "tci" not in methods:
        methods.insert(0, "tci")  # the baseline every gain is measured against
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    hr = _read(args.hr, args.series)
    if args.lr:
        lr = _read(args.lr)
    else:
        lr = simulate_acquisition(hr, factor=args.factor, profile=args.profile, seed=args.seed)
    options = _options(args.option)
    rows, results, provenance = [], {}, {}
    mask = None
    for method in methods:
        start = time.perf_counter()
        sr = _upscale(lr, args.factor, method, args, options if method in LEARNED else {})
        seconds = time.perf_counter() - start
        reference, test = _common_grid(hr, sr, method)
        if mask is None:
            mask = tissue_mask(reference)
        quality = compare(reference, test, mask=mask, edge_slices=args.edge_slices)
        results[method] = (reference, test)
        provenance[method] = sr.acquisition.get("provenance")
        rows.append({"method": method, **{k: getattr(quality, k) for k in METRICS}, "seconds": seconds})
    base = next(row for row in rows if row["method"] == "tci")
    for row in rows:
        for key in ("psnr", "ssim", "psnr_tissue", "ssim_tissue"):
            row[f"{key}_gain"] = row[key] - base[key]
    _print_table(rows)
    columns = [
        "method",
        *METRICS,
        "psnr_gain",
        "ssim_gain",
        "psnr_tissue_gain",
        "ssim_tissue_gain",
        "seconds",
    ]
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    report = {
        "hr": list(args.hr),
        "lr": list(args.lr) if args.lr else None,
        "factor": args.factor,
        "profile": None if args.lr else args.profile,
        "seed": args.seed,
        "edge_slices": args.edge_slices,
        "sr_engine_version": __version__,
        "rows": rows,
        "provenance": provenance,
    }
    (out / "results.json").write_text(json.dumps(jsonable(report), indent=2), encoding="utf-8")
    _figure(results, out / "figure.png")
    print(f"wrote {out / 'results.csv'}, {out / 'results.json'} and {out / 'figure.png'}")


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'method':<10}{'PSNR':>8}{'SSIM':>8}{'RMSE':>10}{'NRMSE':>8}"
        f"{'PSNR_t':>8}{'SSIM_t':>8}{'RMSE_t':>10}{'NRMSE_t':>8}{'dPSNR':>8}{'dSSIM':>8}{'dPSNR_t':>8}{'dSSIM_t':>8}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['method']:<10}{r['psnr']:8.2f}{r['ssim']:8.4f}{r['rmse']:10.3f}{r['nrmse']:8.4f}"
            f"{r['psnr_tissue']:8.2f}{r['ssim_tissue']:8.4f}{r['rmse_tissue']:10.3f}{r['nrmse_tissue']:8.4f}"
            f"{r['psnr_gain']:+8.2f}{r['ssim_gain']:+8.4f}{r['psnr_tissue_gain']:+8.2f}{r['ssim_tissue_gain']:+8.4f}"
        )
    print("PSNR in dB; _t: inside the tissue mask; d: gain over tci")


def _zoom_box(reformat: np.ndarray, col_mm: float, slice_mm: float) -> tuple[slice, slice]:
    """A square (in mm) third of the reformat's width, centred on its tissue's centre of mass."""
    n_slices, n_cols = reformat.shape
    half_cols = max(n_cols // 6, 2)
    half_slices = min(max(round(half_cols * col_mm / slice_mm), 1), n_slices // 2 or 1)
    bright = reformat > reformat.mean()
    centre_s, centre_c = np.argwhere(bright).mean(axis=0) if bright.any() else (n_slices / 2, n_cols / 2)
    s0 = int(np.clip(round(centre_s) - half_slices, 0, max(n_slices - 2 * half_slices, 0)))
    c0 = int(np.clip(round(centre_c) - half_cols, 0, max(n_cols - 2 * half_cols, 0)))
    return slice(s0, s0 + 2 * half_slices), slice(c0, c0 + 2 * half_cols)


def _figure(results: dict[str, tuple[Volume, Volume]], path: Path) -> None:
    """Rows HR and each method; columns middle slice, through-plane reformat, zoomed reformat."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported here: only evaluate draws
    from matplotlib.figure import Figure

    first = next(iter(results.values()))[0]
    hr = first.data if first.data.ndim == 3 else first.data[0]
    n_slices, n_rows, _ = hr.shape
    col_mm, row_mm, slice_mm = first.spacing
    values = hr[hr > 0]
    low, high = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 1.0)
    middle_row = n_rows // 2
    crop = _zoom_box(hr[:, middle_row, :], col_mm, slice_mm)
    images = [("HR", first)] + [(method, test) for method, (_, test) in results.items()]
    figure = Figure(figsize=(11, 2.6 * len(images)), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(images), 3, squeeze=False)
    for row, (label, volume) in enumerate(images):
        data = volume.data if volume.data.ndim == 3 else volume.data[0]
        reformat = data[:, middle_row, :]
        panels = (
            (data[n_slices // 2], row_mm / col_mm, f"{label}: slice {n_slices // 2}"),
            (reformat, slice_mm / col_mm, f"{label}: reformat through the slices, row {middle_row}"),
            (reformat[crop], slice_mm / col_mm, f"{label}: reformat, zoomed"),
        )
        for column, (image, aspect, title) in enumerate(panels):
            ax = axes[row][column]
            origin = "upper" if column == 0 else "lower"  # reformats: the first slice at the bottom
            ax.imshow(
                image, cmap="gray", vmin=low, vmax=high, aspect=aspect, interpolation="nearest", origin=origin
            )
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
    figure.tight_layout()
    figure.savefig(path)


# --------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _add_learning_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", metavar="FILE", help="weight file of a trained resnet3d/resnet2d model")
    parser.add_argument(
        "--model",
        dest="model_file",
        metavar="FILE",
        help="for --method model: an ONNX (.onnx) or TorchScript (.pt) model, its FILE.json beside it",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed, same result")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), help="where networks run (default: cuda if seen)"
    )
    parser.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="an option of the method (repeatable), e.g. --option steps=300 for selfsr, "
        "--option axis=inplane for an in-plane nearest/tci/fi (as --axis inplane)",
    )


def _program_name() -> str:
    """``sr-engine`` when run as the installed console script, ``python -m sr_engine`` otherwise."""
    return "sr-engine" if Path(sys.argv[0]).name == "sr-engine" else "python -m sr_engine"


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m sr_engine`` (the ``sr-engine`` command once installed)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=_program_name(),
        description="Make the LR, SR and HR images of super-resolution reader studies, and measure them.",
        epilog="Run 'python -m sr_engine COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"sr_engine {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser(
        "simulate",
        help="simulate a low-resolution (LR) acquisition from a high-resolution (HR) volume",
        description="Thick slices (slice profile, gap), optional in-plane resolution loss and noise.",
        epilog=SIMULATE_EPILOG,
        formatter_class=formatter,
    )
    simulate.add_argument("input", nargs="+", metavar="INPUT", help="HR volume (DICOM folder(s) or NIfTI)")
    simulate.add_argument("output", metavar="OUTPUT", help="new DICOM folder, or a .nii/.nii.gz file")
    thick = simulate.add_mutually_exclusive_group()
    thick.add_argument("--factor", type=_positive_int, help="slices FACTOR times as thick as the HR spacing")
    thick.add_argument("--thickness", type=float, metavar="MM", help="slice thickness in mm")
    simulate.add_argument("--gap", type=float, default=0.0, metavar="MM", help="gap between slices (mm)")
    simulate.add_argument("--profile", choices=("gaussian", "box"), default="gaussian", help="slice profile")
    simulate.add_argument("--inplane-factor", type=_positive_int, default=1, help="in-plane resolution loss")
    simulate.add_argument(
        "--apodization", choices=("hann", "none"), help="k-space window for --inplane-factor"
    )
    simulate.add_argument("--snr", type=float, help="add Rician noise at this SNR")
    simulate.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    simulate.add_argument("--series", metavar="UID", help="the series to read from a folder holding several")
    simulate.set_defaults(func=cmd_simulate)

    upscale = commands.add_parser(
        "upscale",
        help="super-resolve (or interpolate) a volume's slice axis",
        description="Upscale INPUT's slice axis by an integer factor with one method. The output lies\n"
        "on the grid of sr_engine.interpolate.upscaled_affine and carries a sealed provenance record.",
        epilog=UPSCALE_EPILOG,
        formatter_class=formatter,
    )
    upscale.add_argument("input", nargs="+", metavar="INPUT", help="LR volume (DICOM folder(s) or NIfTI)")
    upscale.add_argument("output", metavar="OUTPUT", help="new DICOM folder, or a .nii/.nii.gz file")
    upscale.add_argument("--factor", type=_positive_int, required=True, help="integer upscaling factor")
    upscale.add_argument("--method", choices=METHODS, default="tci", help="method (default tci)")
    upscale.add_argument("--series", metavar="UID", help="the series to read from a folder holding several")
    upscale.add_argument(
        "--axis",
        choices=("auto", "slice", "row", "column", "inplane"),
        default="auto",
        help="the axis to upscale (default auto: the thick axis, from the spacing; NIfTI i, j, k are "
        "column, row, slice); inplane: the image plane",
    )
    _add_learning_options(upscale)
    upscale.set_defaults(func=cmd_upscale)

    train = commands.add_parser(
        "train",
        help="train a resnet3d (through-plane) or resnet2d (in-plane) model on HR volumes",
        description="Supervised training on LR/HR pairs simulated from the HR volumes (sr_engine.training).",
        epilog=TRAIN_EPILOG,
        formatter_class=formatter,
    )
    train.add_argument("output", metavar="OUTPUT_WEIGHTS", help="the weight file to write")
    train.add_argument(
        "--data",
        nargs="+",
        required=True,
        metavar="PATH",
        help="HR volumes; the echoes of one volume as PATH1,PATH2",
    )
    train.add_argument("--factor", type=_positive_int, required=True, help="integer upscaling factor")
    train.add_argument("--profile", choices=("gaussian", "box"), default="gaussian", help="slice profile")
    train.add_argument("--model", choices=("resnet3d", "resnet2d"), default="resnet3d", help="network kind")
    train.add_argument("--steps", type=_positive_int, default=2000, help="optimiser steps (default 2000)")
    train.add_argument("--patch", type=_positive_int, default=32, help="patch edge in voxels (default 32)")
    train.add_argument("--batch", type=_positive_int, default=4, help="patches per step (default 4)")
    train.add_argument("--depth", type=_positive_int, default=20, help="convolution layers (default 20)")
    train.add_argument("--features", type=_positive_int, default=64, help="features per layer (default 64)")
    train.add_argument("--channels", type=_positive_int, default=1, help="input channels, e.g. 2 for DESS")
    train.add_argument("--lr", type=float, default=3e-4, help="Adam learning rate (default 3e-4)")
    train.add_argument("--init", metavar="WEIGHTS", help="start from these weights (transfer learning)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--device", choices=("cpu", "cuda"), help="where to train (default: cuda if seen)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing weight file")
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="compare methods against an HR volume: metrics table, CSV, JSON and a figure",
        description="Simulate LR from HR (or take --lr), upscale it with every method and measure\n"
        "each against HR.",
        epilog=EVALUATE_EPILOG,
        formatter_class=formatter,
    )
    evaluate.add_argument(
        "hr", nargs="+", metavar="HR", help="the reference volume (DICOM folder(s) or NIfTI)"
    )
    evaluate.add_argument(
        "--methods", default="nearest,tci,fi", help="comma-separated (default nearest,tci,fi)"
    )
    evaluate.add_argument("--factor", type=_positive_int, default=2, help="integer factor (default 2)")
    evaluate.add_argument("--profile", choices=("gaussian", "box"), default="gaussian", help="slice profile")
    evaluate.add_argument(
        "--lr", nargs="+", metavar="LR", help="use this LR volume instead of simulating one"
    )
    evaluate.add_argument("--edge-slices", type=int, help="slices left out at each end (default: metrics' 2)")
    evaluate.add_argument("--series", metavar="UID", help="the series to read from a folder holding several")
    evaluate.add_argument(
        "--out", required=True, metavar="DIR", help="folder for results.csv/json, figure.png"
    )
    _add_learning_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 unusable input; argparse exits 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "simulate" and not (
        args.factor or args.thickness or args.inplane_factor > 1 or args.apodization or args.snr
    ):
        parser.error("simulate needs --factor or --thickness, --inplane-factor, --apodization or --snr")
    if args.command == "simulate" and args.gap and not args.thickness:
        parser.error("--gap goes with --thickness")
    try:
        args.func(args)
    except (VolumeError, ValueError, FileNotFoundError, MissingDependency) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
