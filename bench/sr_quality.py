"""Quality and cost of every super-resolution method on the knee DESS exam (run by hand; not a test).

    .venv/bin/python bench/sr_quality.py [--factors 2,4] [--methods nearest,tci,fi,selfsr,selfsr-v1,resnet3d]
                                         [--device cpu|cuda] [--quick] [--json results.json]

Data: echo 1 of the knee DESS exam in ``../shared/mri/knee-dess/echo1`` (512 x 512 x 80,
0.3125 x 0.3125 x 1.5 mm, sagittal), resampled in-plane to 256 x 256 by k-space
truncation (:func:`sr_engine.simulate.simulate_inplane`, factor 2: the central half of
k-space, as a 256 matrix scan would measure; no apodisation). That 256 x 256 x 80 volume
(0.625 x 0.625 x 1.5 mm) is the reference. For each factor ``f`` the low-resolution
input has slices ``f`` times as thick and as far apart, made with a Gaussian slice
profile (:func:`sr_engine.simulate.simulate_slices`); every method upscales it back
onto the reference grid, and PSNR/SSIM are computed on the whole volume and inside
the tissue mask, ``f`` edge slices at each end left out
(:func:`sr_engine.metrics.compare`).

Each method runs in a fresh subprocess, so that its time (wall clock of ``upscale``,
end to end: selfsr includes its training) and its peak memory (the child's maximum
resident set size, ``resource.getrusage``, Python and the data included) are its own.

resnet3d: the published network (20 layers x 64 features, trained for days on a GPU)
cannot be trained on 2 CPU cores in a benchmark run, so a smaller configuration
(:data:`RESNET_CPU`) is trained here; the output says so. Held-out split: the network
is trained on the first half of echo 1's sagittal slices (one side of the knee) and
scored, against tci on the same slices, on the other half only, ``2 f`` slices away
from the split (so no thick slice of the test region overlaps the training region).
Its table row (whole volume) is therefore NOT a held-out figure; the held-out line
below the table is. Its training time is reported with its time.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sr_engine.volume import Volume  # noqa: E402

KNEE = ROOT.parent / "shared" / "mri" / "knee-dess"
METHODS = ("nearest", "tci", "fi", "selfsr", "selfsr-v1", "resnet3d")

#: The resnet3d configuration trained on CPU here (the published one is depth 20, 64 features).
RESNET_CPU = dict(depth=6, features=16, patch=24, batch=4, steps=300, lr=5e-4, seed=0)
RESNET_QUICK = {**RESNET_CPU, "steps": 60}
#: resnet3d trains on the reference's slices 0..SPLIT-1 (one half of the sagittal stack).
SPLIT = 40
SELFSR_QUICK = dict(steps=80)  # both versions take steps


def _save_volume(path: Path, volume: Volume) -> None:
    """Voxels, affine and the acquisition record (provenance included: selfsr reads the simulation)."""
    np.savez(path, data=volume.data, affine=volume.affine, acquisition=json.dumps(volume.acquisition))


def _load_volume(path: Path) -> Volume:
    with np.load(path) as archive:
        return Volume(archive["data"], archive["affine"], json.loads(str(archive["acquisition"])))


def knee_reference(echo: str = "echo1") -> Volume:
    """The 256 x 256 x 80 reference volume of one echo (see the module docstring)."""
    from sr_engine.dicom_series import read_dicom_series
    from sr_engine.simulate import simulate_inplane

    native = read_dicom_series(KNEE / echo)
    reduced = simulate_inplane(native, factor=2)
    return reduced.with_data(reduced.data, slice_thickness_mm=native.spacing[2])


# --------------------------------------------------------------------------- child process


def run_child(args: argparse.Namespace) -> None:
    """Upscale the saved LR volume with one method; print time, peak memory (and training time)."""
    from sr_engine.upscale import upscale

    lr = _load_volume(Path(args.child_lr))
    options = json.loads(args.child_options)
    report: dict = {}
    weights = None
    if args.child_method == "resnet3d":
        from sr_engine.training import TrainConfig, train_and_save

        train_hr = _load_volume(Path(args.child_train))
        started = time.perf_counter()
        config = TrainConfig(factor=args.child_factor, profile="gaussian", device=args.device, **options)
        weights = train_and_save([train_hr], config, Path(args.child_out).with_suffix(".pt"))
        report["train_s"] = time.perf_counter() - started
        options = {}
    started = time.perf_counter()
    result = upscale(
        lr, args.child_factor, args.child_method, seed=0, weights=weights, device=args.device, **options
    )
    report["time_s"] = time.perf_counter() - started
    np.save(args.child_out, result.data)
    report["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(report))


# --------------------------------------------------------------------------- parent


def _run_method(method, factor, lr_path, train_path, out_path, options, device) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child-method",
        method,
        "--child-factor",
        str(factor),
        "--child-lr",
        str(lr_path),
        "--child-out",
        str(out_path),
        "--child-options",
        json.dumps(options),
        "--child-train",
        str(train_path or ""),
    ]
    if device:
        command += ["--device", device]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode or not lines:
        raise RuntimeError(f"{method} x{factor} failed:\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", default="2,4")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when torch sees one)")
    parser.add_argument("--quick", action="store_true", help="few training steps: a smoke run only")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument(
        "--selfsr-options",
        default="{}",
        help="JSON of selfsr options that override its defaults, e.g. '{\"steps\": 1200}'",
    )
    parser.add_argument("--child-method", help=argparse.SUPPRESS)
    parser.add_argument("--child-factor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-lr", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--child-options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--child-train", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_method:
        run_child(args)
        return

    from sr_engine.metrics import compare, tissue_mask
    from sr_engine.simulate import simulate_slices

    if not (KNEE / "echo1").is_dir():
        sys.exit(f"The knee DESS exam is not at {KNEE}; this benchmark needs it.")
    factors = [int(f) for f in args.factors.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        sys.exit(f"Unknown method(s): {', '.join(sorted(unknown))}.")
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f}")
    hr = knee_reference("echo1")
    print(f"reference: echo 1, shape {hr.shape}, spacing {tuple(round(s, 4) for s in hr.spacing)} mm")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sr_quality_") as tmp:
        tmp_dir = Path(tmp)
        train_path = None
        if "resnet3d" in methods:
            config = RESNET_QUICK if args.quick else RESNET_CPU
            print(
                f"resnet3d: a CPU-sized network (depth {config['depth']}, {config['features']} features, "
                f"{config['steps']} steps of {config['batch']} patches of {config['patch']}^3), NOT the "
                f"published 20 x 64 one; trained on echo 1 slices 0..{SPLIT - 1}, held out: the rest"
            )
            train_path = tmp_dir / "train_half.npz"
            _save_volume(train_path, hr.with_data(hr.data[:SPLIT]))
        for factor in factors:
            lr = simulate_slices(hr, factor=factor, profile="gaussian")
            reference = hr.with_data(hr.data[: lr.shape[0] * factor])
            mask = tissue_mask(reference)
            lr_path = tmp_dir / f"lr_x{factor}.npz"
            _save_volume(lr_path, lr)
            for method in methods:
                options: dict = {}
                if method == "selfsr":
                    options = {**(SELFSR_QUICK if args.quick else {}), **json.loads(args.selfsr_options)}
                if method == "selfsr-v1":
                    options = SELFSR_QUICK if args.quick else {}
                if method == "resnet3d":
                    options = RESNET_QUICK if args.quick else RESNET_CPU
                out_path = tmp_dir / f"{method}_x{factor}.npy"
                if method == "resnet3d" and "tci" not in methods:
                    _run_method("tci", factor, lr_path, None, tmp_dir / f"tci_x{factor}.npy", {}, args.device)
                cost = _run_method(method, factor, lr_path, train_path, out_path, options, args.device)
                result = reference.with_data(np.load(out_path))
                quality = compare(reference, result, mask=mask, edge_slices=factor)
                row = {"factor": factor, "method": method, **vars(quality), **cost}
                if method == "resnet3d":
                    tci_path = tmp_dir / f"tci_x{factor}.npy"
                    row["held_out"] = _held_out(reference, result, tci_path, mask, factor)
                rows.append(row)
                print(
                    f"  x{factor} {method:9s} PSNR {quality.psnr:6.2f}  tissue {quality.psnr_tissue:6.2f}  "
                    f"SSIM {quality.ssim:.4f}  tissue {quality.ssim_tissue:.4f}  {cost['time_s']:7.1f} s  "
                    f"{cost['peak_mb']:6.0f} MB",
                    flush=True,
                )
    _print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _held_out(reference: Volume, result: Volume, tci_path: Path, mask: np.ndarray, factor: int) -> dict:
    """PSNR/SSIM of resnet3d and of tci on the held-out slices only (see the module docstring)."""
    from sr_engine.metrics import compare

    start = SPLIT + 2 * factor
    part = np.s_[start:]

    def sub(data: np.ndarray) -> Volume:
        return reference.with_data(np.ascontiguousarray(data[part]))

    ref = sub(reference.data)
    learned = compare(ref, sub(result.data), mask=mask[part], edge_slices=factor)
    baseline = compare(ref, sub(np.load(tci_path)), mask=mask[part], edge_slices=factor)
    return {
        "slices": f"{start}..{reference.shape[0] - 1}",
        "psnr": learned.psnr,
        "psnr_tissue": learned.psnr_tissue,
        "ssim_tissue": learned.ssim_tissue,
        "tci_psnr": baseline.psnr,
        "tci_psnr_tissue": baseline.psnr_tissue,
        "tci_ssim_tissue": baseline.ssim_tissue,
    }


def _print_table(rows: list[dict]) -> None:
    tci = {row["factor"]: row for row in rows if row["method"] == "tci"}
    print()
    print("| factor | method | PSNR | PSNR tissue | SSIM | SSIM tissue | ΔPSNR vs tci | time (s) | peak MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        base = tci.get(row["factor"])
        gain = f"{row['psnr'] - base['psnr']:+.2f}" if base else "n/a"
        timing = f"{row['time_s']:.1f}"
        if "train_s" in row:
            timing += f" (+ {row['train_s']:.0f} training)"
        print(
            f"| x{row['factor']} | {row['method']} | {row['psnr']:.2f} | {row['psnr_tissue']:.2f} | "
            f"{row['ssim']:.4f} | {row['ssim_tissue']:.4f} | {gain} | {timing} | {row['peak_mb']:.0f} |"
        )
    for row in rows:
        if "held_out" in row:
            h = row["held_out"]
            whole, tissue = h["psnr"] - h["tci_psnr"], h["psnr_tissue"] - h["tci_psnr_tissue"]
            print(
                f"resnet3d x{row['factor']} held out (slices {h['slices']}): PSNR {h['psnr']:.2f} vs tci "
                f"{h['tci_psnr']:.2f} ({whole:+.2f} dB); tissue {h['psnr_tissue']:.2f} vs "
                f"{h['tci_psnr_tissue']:.2f} ({tissue:+.2f} dB); tissue SSIM "
                f"{h['ssim_tissue']:.4f} vs {h['tci_ssim_tissue']:.4f}"
            )


if __name__ == "__main__":
    main()
