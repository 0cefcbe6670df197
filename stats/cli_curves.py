"""The command line's curve subcommands (``stats.cli`` registers and dispatches them):

* ``python -m stats curves PATH --kind roc|afroc|wafroc``: the reader-averaged empirical
  curve of each modality with its pointwise bootstrap band (``stats.curves``);
* ``python -m stats fit PATH --model binormal|cbm``: the binormal or contaminated binormal
  ROC fit of every modality and reader (``stats.fits``);
* ``python -m stats pauc PATH --fpf-range 0,0.2``: the partial area under each reader's
  empirical curve over an FPF range, optionally McClish's standardized form.

Each prints a table, or JSON with ``--json``.
"""

import argparse
import math
from collections.abc import Callable
from typing import Any

from .curves import AVERAGING_METHODS, CURVE_KINDS, averaged_curves, partial_aucs
from .dataset import ReaderStudy
from .fits import MODELS, fit_all

KINDS = {k.lower(): k for k in CURVE_KINDS}


def _kind(text: str) -> str:
    try:
        return KINDS[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(KINDS)}") from None


def _fpf_range(text: str) -> tuple[float, float]:
    try:
        e1, e2 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("give two numbers, e.g. 0,0.2") from None
    return e1, e2


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def add_parsers(sub: Any) -> None:
    """Add the ``curves``, ``fit`` and ``pauc`` subcommands to ``sub``."""
    path_help = "dataset folder (plain layout), or .xlsx, .imrmc or tidy .csv file"
    c = sub.add_parser("curves", help="reader-averaged empirical ROC, AFROC or wAFROC curves with bands")
    c.add_argument("path", help=path_help)
    c.add_argument("--kind", type=_kind, default="ROC", help="roc (default), afroc or wafroc")
    c.add_argument(
        "--method",
        choices=AVERAGING_METHODS,
        default="vertical",
        help="vertical (the readers' polygons; default) or rjafroc (as RJafroc's PlotEmpOpChrs)",
    )
    c.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the band (default 1000)")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    c.add_argument("--confidence", type=float, default=0.95, help="of the pointwise band (default 0.95)")
    c.add_argument("--json", action="store_true", help="print JSON instead of tables")
    f = sub.add_parser("fit", help="binormal or contaminated binormal (CBM) ROC fit per modality and reader")
    f.add_argument("path", help=path_help)
    f.add_argument("--model", choices=MODELS, default="binormal")
    f.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p = sub.add_parser("pauc", help="partial area under each reader's empirical curve over an FPF range")
    p.add_argument("path", help=path_help)
    p.add_argument("--fpf-range", type=_fpf_range, required=True, help="e1,e2 with 0 <= e1 < e2 <= 1")
    p.add_argument("--kind", type=_kind, default="ROC", help="roc (default), afroc or wafroc")
    p.add_argument("--standardized", action="store_true", help="McClish's standardized partial area")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def curves_payload(data: ReaderStudy, args: argparse.Namespace) -> dict:
    curves = averaged_curves(
        data, args.kind, method=args.method, confidence=args.confidence, n_boot=args.n_boot, seed=args.seed
    )
    return {
        "kind": args.kind,
        "method": args.method,
        "confidence": args.confidence,
        "n_boot": args.n_boot,
        "seed": args.seed,
        "curves": [
            {
                "modality": c.modality,
                "area": c.area,
                "x": c.x.tolist(),
                "y": c.y.tolist(),
                "lower": c.lower.tolist(),
                "upper": c.upper.tolist(),
                "readers": {r: c.reader_y[j].tolist() for j, r in enumerate(c.reader_ids)},
            }
            for c in curves
        ],
    }


def _print_curves(payload: dict) -> None:
    y_name = {"ROC": "TPF", "AFROC": "LLF", "wAFROC": "wLLF"}[payload["kind"]]
    level = f"{payload['confidence']:.0%}"
    for c in payload["curves"]:
        print(
            f"{payload['kind']} of modality {c['modality']}, averaged over {len(c['readers'])} readers "
            f"({payload['method']}; area {c['area']:.4f}); {level} band from {payload['n_boot']} case "
            f"resamples (seed {payload['seed']})"
        )
        print("FPF".rjust(8) + y_name.rjust(9) + "lower".rjust(9) + "upper".rjust(9))
        for row in zip(c["x"], c["y"], c["lower"], c["upper"], strict=True):
            print("".join(f"{v:9.4f}" for v in row)[1:])
        print()


def fit_payload(data: ReaderStudy, args: argparse.Namespace) -> dict:
    return {
        "model": args.model,
        "fits": [
            {
                "modality": f.modality,
                "reader": f.reader,
                **{k: _finite(v) for k, v in f.parameters.items()},
                "zetas": f.zetas.tolist(),
                "auc": _finite(f.auc),
                "se_auc": _finite(f.se_auc),
                "nll": _finite(f.nll),
                "note": f.note,
            }
            for f in fit_all(data, args.model)
        ],
    }


def _print_fits(payload: dict) -> None:
    names = ["a", "b"] if payload["model"] == "binormal" else ["mu", "alpha"]
    print(f"{payload['model']} ROC fits")
    print(
        "modality".ljust(12)
        + "reader".ljust(12)
        + "".join(n.rjust(10) for n in [*names, "AUC", "SE", "-logL"])
    )

    def cell(v: float | None) -> str:
        return "NA".rjust(10) if v is None else f"{v:10.4f}"

    for f in payload["fits"]:
        values = [f[names[0]], f[names[1]], f["auc"], f["se_auc"], f["nll"]]
        note = f"  ({f['note']})" if f["note"] else ""
        print(
            f["modality"][:12].ljust(12)
            + f["reader"][:12].ljust(12)
            + "".join(cell(v) for v in values)
            + note
        )


def pauc_payload(data: ReaderStudy, args: argparse.Namespace) -> dict:
    result = partial_aucs(data, args.fpf_range, kind=args.kind, standardized=args.standardized)
    return {
        "kind": result.kind,
        "fpf_range": list(result.fpf_range),
        "standardized": result.standardized,
        "values": {
            m: {r: float(result.values[i, j]) for j, r in enumerate(result.reader_ids)}
            for i, m in enumerate(result.modality_ids)
        },
        "modality_means": {
            m: float(v) for m, v in zip(result.modality_ids, result.modality_means, strict=True)
        },
    }


def _print_pauc(payload: dict) -> None:
    e1, e2 = payload["fpf_range"]
    form = "standardized (McClish) " if payload["standardized"] else ""
    print(f"{form}partial {payload['kind']} area over FPF [{e1:g}, {e2:g}] per modality (rows) and reader")
    readers = list(next(iter(payload["values"].values())))
    print("modality".ljust(12) + "".join(r[:10].rjust(11) for r in readers) + "mean".rjust(11))
    for m, row in payload["values"].items():
        print(
            m[:12].ljust(12)
            + "".join(f"{row[r]:11.4f}" for r in readers)
            + f"{payload['modality_means'][m]:11.4f}"
        )


#: subcommand -> (payload of a dataset and the arguments, text printer).
COMMANDS: dict[str, tuple[Callable[[ReaderStudy, argparse.Namespace], dict], Callable[[dict], None]]] = {
    "curves": (curves_payload, _print_curves),
    "fit": (fit_payload, _print_fits),
    "pauc": (pauc_payload, _print_pauc),
}

__all__ = ["COMMANDS", "add_parsers"]
