"""Command line: ``python -m stats fom|mrmc|power|single-modality|cad-vs-readers|ustat PATH``,
``python -m stats tables BUNDLE`` and ``python -m stats comparative FILE.csv``.

Installed (``pip install /path/to/repo``), the same command line is ``readerstudy-stats``.

PATH is a dataset folder in the plain layout (NL.csv, LL.csv, truth.csv, meta.json), an
RJafroc Excel file (.xlsx), an iMRMC file (.imrmc) or a tidy ROC table (.csv).
Tables go to the screen; ``--json`` prints machine-readable results. Bad input ends
with a one-line error naming the file and the problem, and exit status 2.

``--fom`` takes the figures of merit of stats.fom; for LROC data ``Wilcoxon``, ``PCL`` and
``ALROC``, the last two at the false-positive fraction ``--fpf`` (in (0, 1], default 0.2,
RJafroc's ``FPFValue``); ``--fpf`` outside (0, 1] or PCL/ALROC on other data are bad input.

``fom`` and ``mrmc`` take ``--engine rjafroc`` to run the analysis in R with RJafroc 2.1.3
instead (``stats.rjafroc_engine``): the same tables and the same JSON, every option passed
on to RJafroc's ``St`` or refused with a one-line error (exit status 2), as R's errors are.

``single-modality`` gives the confidence interval of one modality's reader-averaged FOM
(``--modality`` where there are several; stats.mrmc.or_single_modality), under RRRC, FRRC and
RRFC. ``cad-vs-readers --cad READER --method 1T-RRFC|1T-RRRC|2T-RRRC`` compares one reader, a
standalone algorithm, with the other readers' average (stats.cad, as RJafroc's StCadVsRad),
and adds the readers' own single-modality interval.

``--fom HrSe`` / ``--fom HrSp`` with ``--threshold T`` are the per-reader sensitivity and
specificity of the calls "rating >= T" (stats.binary): required for ROC and LROC data; for
FROC data a mark then counts only when rated >= T (without it, every mark counts, as in
RJafroc). The JSON echoes ``threshold``.

``mrmc --alternative greater|less --margin D`` adds the one-sided (non-inferiority, D > 0;
superiority, D = 0) test of every difference (``stats.mrmc.one_sided``): its p and its
one-sided 95% bound, on the text output and under ``one_sided`` in the JSON, which also
echoes ``alternative`` and ``margin``. A negative margin, or a margin with the (default)
two-sided alternative, is refused (exit status 2).

``tables`` re-creates every analysis table of a study from its reproducibility bundle
(``stats.study_record``, ``stats.study_tables``); ``--out DIR`` writes them as CSV,
``--xlsx FILE`` as one workbook, and ``--check`` compares them with the tables the
bundle carries (exit status 1 when any differs).

``comparative`` analyses the answers of comparative ("A vs B") readings from a CSV with the
columns of the record's ``comparisons`` table (reader, case, phase, question, kind,
condition_a, condition_b, reference, value; phase and reference may be left out), the
conditions' order given by ``--conditions LR,SR`` or ``--conditions-csv conditions.csv``
(columns condition, order): preference shares with Wilson intervals, sign tests and the
Wilcoxon signed-rank test of the A/B scale, per reader and pooled (``stats.comparative``).

``ustat`` analyses ROC data on all its reads, missing reads included (an incomplete study, as
iMRMC does): the reader-averaged Wilcoxon AUC per modality with the unbiased U-statistic variance
of Gallas (``stats.ustat``), and each difference with its SE, z, two-sided p and CI (normal
approximation). A case without a rating (no line in an iMRMC file, NA or no row in a tidy CSV,
-inf in the other layouts) is a read not made; ``--confidence`` (default 0.95) and
``--reader-weights equal|pairs`` (pairs: iMRMC's weighting of the readers) are its options.
FROC and LROC data, and designs too thin for the variance, are refused (exit status 2).

``curves``, ``fit`` and ``pauc`` (reader-averaged curves with bands, binormal and CBM ROC
fits, partial areas) are described in ``stats.cli_curves``.
"""

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .binary import BINARY_FOMS, binary_calls
from .cad import METHODS as CAD_METHODS
from .cad import CadVsReadersResult, cad_vs_readers, readers_alone
from .cli_curves import COMMANDS as CURVE_COMMANDS
from .cli_curves import add_parsers as add_curve_parsers
from .covariance import COVARIANCE_METHODS
from .dataset import DatasetError, ReaderStudy
from .fom import DEFAULT_FPF, FROC_FOMS, LROC_FOMS, ROC_FOMS, ROI_FOMS, check_fpf, jackknife
from .io_excel import read_excel
from .io_imrmc import read_imrmc
from .io_plain import read_plain
from .io_tidy import rated, read_tidy
from .mrmc import (
    ALPHA,
    ALTERNATIVES,
    OPTIONS,
    Difference,
    ModalityEstimate,
    MRMCResult,
    SingleModalityResult,
    check_alternative,
    dbm_analysis,
    hypothesis_text,
    one_sided,
    or_analysis,
    or_single_modality,
)
from .power import cases_for_power, pilot_components, power_or
from .rjafroc_engine import rjafroc_foms, rjafroc_mrmc
from .ustat import READER_WEIGHTS, UStatResult, roc_ratings, ustat_analysis


def load(path: str) -> ReaderStudy:
    """Read a dataset from PATH: a plain-layout folder, or an .xlsx (RJafroc), .imrmc or tidy .csv file."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{path}: no such file or folder.")
    if p.is_dir():
        return read_plain(p)
    readers = {".xlsx": read_excel, ".imrmc": read_imrmc, ".csv": read_tidy}
    if p.suffix.lower() in readers:
        return readers[p.suffix.lower()](path)
    raise DatasetError(
        f"{path}: not a dataset folder (NL.csv, LL.csv, truth.csv, meta.json) "
        "nor an .xlsx (RJafroc), .imrmc (iMRMC) or .csv (tidy) file."
    )


def default_fom(data: ReaderStudy) -> str:
    return {"FROC": "wAFROC", "ROI": "ROI"}.get(data.kind, "Wilcoxon")


def _number(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def fom_payload(data: ReaderStudy, fom: str, foms: np.ndarray) -> dict:
    return {
        "fom": fom,
        "foms": {
            m: {r: float(foms[i, j]) for j, r in enumerate(data.reader_ids)}
            for i, m in enumerate(data.modality_ids)
        },
        "modality_means": {m: float(foms[i].mean()) for i, m in enumerate(data.modality_ids)},
    }


def mrmc_payload(data: ReaderStudy, result: MRMCResult) -> dict:
    payload = fom_payload(data, result.fom_name, result.foms)
    payload["method"] = result.method
    for option in OPTIONS:
        test = result.tests[option]
        payload[option] = {
            "statistic_name": test.statistic_name,
            "statistic": _number(test.statistic),
            "ndf": _number(test.ndf),
            "ddf": _number(test.ddf) if test.ddf is not None else None,
            "p": _number(test.p),
            "differences": [
                {
                    "modalities": list(d.modalities),
                    "estimate": d.estimate,
                    "stderr": d.stderr,
                    "df": _number(d.df),
                    "p": _number(d.p),
                    "ci": list(d.ci),
                }
                for d in test.differences
            ],
            "modality_estimates": [
                {
                    "modality": e.modality,
                    "estimate": e.estimate,
                    "stderr": e.stderr,
                    "df": _number(e.df),
                    "ci": list(e.ci),
                }
                for e in test.modality_estimates
            ],
        }
    payload["variance_components"] = result.variance_components
    return payload


def _estimate_payload(e: ModalityEstimate) -> dict:
    return {
        "modality": e.modality,
        "estimate": e.estimate,
        "stderr": e.stderr,
        "df": _number(e.df),
        "ci": list(e.ci),
    }


def single_payload(result: SingleModalityResult) -> dict:
    """A single-modality analysis: the reader-averaged FOM's SE, df and CI per option."""
    return {
        "fom": result.fom_name,
        "modality": result.modality,
        "foms": {r: float(f) for r, f in zip(result.reader_ids, result.foms, strict=True)},
        "alpha": result.alpha,
        "variance_components": result.variance_components,
        **{option: _estimate_payload(result.estimates[option]) for option in OPTIONS},
    }


def cad_payload(result: CadVsReadersResult, single: SingleModalityResult) -> dict:
    """``cad-vs-readers``: the comparison, and the radiologists' own single-modality analysis."""
    payload: dict[str, Any] = {
        "method": result.method,
        "fom": result.fom_name,
        "modality": result.modality,
        "cad": result.cad,
        "fom_cad": result.fom_cad,
        "readers": {r: float(f) for r, f in zip(result.reader_ids, result.fom_readers, strict=True)},
        "reader_mean": result.reader_mean,
        "reader_mean_ci": list(result.reader_mean_ci),
        "reader_variance": result.reader_variance,
        "estimate": result.estimate,
        "stderr": result.stderr,
        "df": _number(result.df),
        "statistic_name": result.statistic_name,
        "statistic": _number(result.statistic),
        "p": _number(result.p),
        "ci": list(result.ci),
        "alpha": result.alpha,
        "variance_components": result.variance_components,
    }
    if result.f_statistic is not None:
        payload["F"] = _number(result.f_statistic)
        payload["ndf"] = _number(result.ndf) if result.ndf is not None else None
        payload["modality_estimates"] = [_estimate_payload(e) for e in result.modality_estimates]
    payload["single_modality"] = single_payload(single)
    return payload


def _print_cad(payload: dict) -> None:
    level = round(100 * (1 - payload["alpha"]), 6)
    print(f"{payload['fom']} of modality {payload['modality']}: standalone {payload['cad']} vs readers")
    print(f"  {payload['cad']} (standalone)".ljust(24) + f"{payload['fom_cad']:.4f}")
    for r, f in payload["readers"].items():
        print(f"  {r[:20]}".ljust(24) + f"{f:.4f}")
    print("  reader mean".ljust(24) + f"{payload['reader_mean']:.4f}")
    df = "inf" if payload["df"] is None else f"{payload['df']:.2f}"
    print(
        f"\n{payload['method']}: {payload['cad']} - reader mean = {payload['estimate']:+.4f} "
        f"(SE {payload['stderr']:.4f}), t = {payload['statistic']:.4f}, df = {df}, p = {payload['p']:.4g}, "
        f"{level:g}% CI [{payload['ci'][0]:+.4f}, {payload['ci'][1]:+.4f}]"
    )
    if "F" in payload:
        print(f"  F = {payload['F']:.4f}, ndf = {payload['ndf']:g}, ddf = {df}")
    if payload["variance_components"]:
        print(
            "  variance components: "
            + ", ".join(f"{k} = {v:.6g}" for k, v in payload["variance_components"].items())
        )
    _print_single(payload["single_modality"], title="readers alone (single-modality OR)", lead="\n")


def _print_single(payload: dict, title: str = "single-modality OR analysis", lead: str = "") -> None:
    level = round(100 * (1 - payload["alpha"]), 6)
    print(f"{lead}{title}, modality {payload['modality']}, {payload['fom']}:")
    for option in OPTIONS:
        e = payload[option]
        df = "inf" if e["df"] is None else f"{e['df']:.2f}"
        print(
            f"  {option}: {e['estimate']:.4f} (SE {e['stderr']:.4f}, df {df}), "
            f"{level:g}% CI [{e['ci'][0]:.4f}, {e['ci'][1]:.4f}]"
        )


def add_one_sided(payload: dict, margin: float, alternative: str) -> dict:
    """Echo the hypothesis in an mrmc payload and, when one-sided, add each difference's
    one-sided test (``one_sided``: statistic, p, bound, rejected, hypothesis)."""
    check_alternative(margin, alternative)
    payload["alternative"] = alternative
    payload["margin"] = float(margin)
    if alternative == "two-sided":
        return payload
    payload["alpha_one_sided"] = ALPHA
    for option in OPTIONS:
        for d in payload[option]["differences"]:
            difference = Difference(
                modalities=(d["modalities"][0], d["modalities"][1]),
                estimate=d["estimate"],
                stderr=d["stderr"],
                df=math.inf if d["df"] is None else d["df"],
                statistic=math.nan,
                p=math.nan if d["p"] is None else d["p"],
                ci=(d["ci"][0], d["ci"][1]),
            )
            test = one_sided(difference, margin=margin, alternative=alternative)
            d["one_sided"] = {
                "hypothesis": hypothesis_text(*difference.modalities, margin, alternative),
                "statistic": _number(test.statistic),
                "p": _number(test.p),
                "bound": _number(test.bound),
                "bound_kind": "lower" if alternative == "greater" else "upper",
                "rejected": test.rejected,
            }
    return payload


def _print_foms(payload: dict) -> None:
    readers = list(next(iter(payload["foms"].values())))
    at = f" at FPF {payload['fpf']:g}" if "fpf" in payload else ""
    print(f"{payload['fom']}{at} per modality (rows) and reader (columns)")
    print("modality".ljust(12) + "".join(r[:10].rjust(11) for r in readers) + "mean".rjust(11))
    for m, row in payload["foms"].items():
        print(
            m[:12].ljust(12)
            + "".join(f"{row[r]:11.4f}" for r in readers)
            + f"{payload['modality_means'][m]:11.4f}"
        )


def _print_mrmc(payload: dict) -> None:
    _print_foms(payload)
    for option in OPTIONS:
        t = payload[option]
        ddf = "" if t["ddf"] is None else f", ddf = {t['ddf']:.2f}"
        print(
            f"\n{payload['method']} {option}: {t['statistic_name']} = {t['statistic']:.4f}, "
            f"ndf = {t['ndf']:g}{ddf}, p = {t['p']:.4g}"
        )
        for d in t["differences"]:
            a, b = d["modalities"]
            print(
                f"  {a} - {b}: {d['estimate']:+.4f} (SE {d['stderr']:.4f}), p = {d['p']:.4g}, "
                f"95% CI [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"
            )
            if "one_sided" in d:
                o = d["one_sided"]
                level = f"{1 - payload['alpha_one_sided']:.0%}"
                print(
                    f"    one-sided, {o['hypothesis']}: p = {_p_text(o['p'])}, "
                    f"{level} {o['bound_kind']} bound of {a} - {b} {_signed(o['bound'])}, "
                    f"H0 {'rejected' if o['rejected'] else 'not rejected'}"
                )
    print(
        "\nvariance components: "
        + ", ".join(f"{k} = {v:.6g}" for k, v in payload["variance_components"].items())
    )


def ustat_payload(result: UStatResult) -> dict:
    """``ustat``: the readers' AUCs and reads, each modality's AUC and CI, each difference's test."""
    readers = result.reader_ids
    return {
        "method": result.method,
        "fom": "Wilcoxon",
        "confidence": result.confidence,
        "reader_weights": result.reader_weights,
        "readers_random": result.readers_random,
        "reads": result.reads,
        "foms": {
            m: {r: _number(result.reader_aucs[i, j]) for j, r in enumerate(readers)}
            for i, m in enumerate(result.modality_ids)
        },
        "reads_per_reader": {
            m: {
                r: {"normal": int(result.normal_reads[i, j]), "abnormal": int(result.abnormal_reads[i, j])}
                for j, r in enumerate(readers)
            }
            for i, m in enumerate(result.modality_ids)
        },
        "modalities": [
            {
                "modality": e.modality,
                "auc": e.auc,
                "variance": e.variance,
                "stderr": _number(e.stderr),
                "ci": [_number(e.ci[0]), _number(e.ci[1])],
                "readers": e.readers,
                "reads": e.reads,
            }
            for e in result.modalities
        ],
        "differences": [
            {
                "modalities": list(d.modalities),
                "estimate": d.estimate,
                "variance": d.variance,
                "stderr": _number(d.stderr),
                "z": _number(d.statistic),
                "p": _number(d.p),
                "ci": [_number(d.ci[0]), _number(d.ci[1])],
            }
            for d in result.differences
        ],
    }


def _print_ustat(payload: dict) -> None:
    level = f"{round(100 * payload['confidence'], 6):g}%"
    readers = "random readers" if payload["readers_random"] else "readers fixed (a single reader)"
    print(f"{payload['method']}: {payload['reads']} reads, {readers}")
    names = list(next(iter(payload["foms"].values())))
    print("Wilcoxon AUC per modality (rows) and reader (columns), reads normal/abnormal below")
    print("modality".ljust(12) + "".join(r[:10].rjust(11) for r in names))
    for m, row in payload["foms"].items():
        print(m[:12].ljust(12) + "".join("—".rjust(11) if v is None else f"{v:11.4f}" for v in row.values()))
        reads = payload["reads_per_reader"][m]
        print(" " * 12 + "".join(f"{reads[r]['normal']}/{reads[r]['abnormal']}".rjust(11) for r in names))
    print(f"\nreader-averaged AUC ({level} CI, normal approximation)")
    for e in payload["modalities"]:
        print(
            f"  {e['modality']}: {e['auc']:.4f} (SE {_plain(e['stderr'])}), CI [{_plain(e['ci'][0])}, "
            f"{_plain(e['ci'][1])}], {e['readers']} readers, {e['reads']} reads"
        )
    for d in payload["differences"]:
        a, b = d["modalities"]
        print(
            f"  {a} - {b}: {d['estimate']:+.4f} (SE {_plain(d['stderr'])}), z = {_plain(d['z'])}, "
            f"p = {_p_text(d['p'])}, {level} CI [{_signed(d['ci'][0])}, {_signed(d['ci'][1])}]"
        )


def _plain(x: float | None) -> str:
    return "nan" if x is None else f"{x:.4f}"


def _p_text(p: float | None) -> str:
    return "nan" if p is None else f"{p:.4g}"


def _signed(x: float | None) -> str:
    return "nan" if x is None else f"{x:+.4f}"


def power_payload(data: ReaderStudy, fom: str, args: argparse.Namespace) -> dict:
    components, pilot_cases = pilot_components(data, fom, fpf=args.fpf)
    common = dict(readers=args.readers, effect_size=args.effect_size, option=args.option, alpha=args.alpha)
    if args.cases:
        result = power_or(components, pilot_cases, cases=args.cases, **common)
    else:
        result = cases_for_power(components, pilot_cases, desired_power=args.power, **common)
    return {
        "fom": fom,
        "option": result.option,
        "readers": result.readers,
        "cases": result.cases,
        "effect_size": result.effect_size,
        "alpha": result.alpha,
        "power": result.power,
        "ddf": _number(result.ddf),
        "pilot_cases": pilot_cases,
        "pilot_modalities": list(data.modality_ids[:2]),
    }


def _print_power(payload: dict) -> None:
    print(
        f"{payload['option']} ({payload['fom']}, effect size {payload['effect_size']}): "
        f"{payload['readers']} readers and {payload['cases']} cases give power {payload['power']:.4f} "
        f"at alpha {payload['alpha']} (pilot: {payload['pilot_cases']} cases, "
        f"modalities {', '.join(payload['pilot_modalities'])})"
    )


def tables_command(args: argparse.Namespace) -> int:
    """``python -m stats tables BUNDLE``: re-create (and optionally check) a study's tables."""
    from .study_record import bundle_reader, read_bundle
    from .study_tables import analyse_study, tables_csv
    from .workbook import write_workbook

    record = read_bundle(args.path)
    analysis = analyse_study(record)
    files = tables_csv(analysis)
    print(f"{record.study.get('name', args.path)}: {len(files)} tables re-created from {args.path}")
    for note in analysis.notes:
        print(f"  note: {note}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / Path(name).name).write_text(text, encoding="utf-8", newline="")  # the bytes as is
        print(f"  written to {out}/")
    if args.xlsx:
        write_workbook(analysis.tables.values(), args.xlsx)
        print(f"  workbook: {args.xlsx}")
    if not args.check:
        for table in analysis.tables.values():
            print(f"  {table.name}: {table.title} ({len(table.rows)} rows)")
        return 0
    read = bundle_reader(Path(args.path))
    differ = []
    for name, text in files.items():
        stored = read(name)
        if stored != text:
            differ.append(f"{Path(name).stem} ({'missing from the bundle' if stored is None else 'differs'})")
    if differ:
        print("  NOT identical to the bundle's tables: " + ", ".join(differ))
        return 1
    print(f"  identical to the {len(files)} tables in the bundle")
    return 0


def _json_cell(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def comparative_payload(args: argparse.Namespace) -> dict:
    """The comparative tables of a comparisons CSV (``python -m stats comparative``)."""
    from .comparative import read_comparisons_csv, read_conditions_csv
    from .tables.comparative import analyse_rows

    if args.conditions_csv:
        conditions = read_conditions_csv(args.conditions_csv)
    else:
        conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    rows = read_comparisons_csv(args.path)
    if not rows:
        raise DatasetError(f"{args.path}: no comparisons (the file has only its header).")
    tables = analyse_rows(rows, conditions, confidence=args.confidence)
    return {
        "conditions": conditions,
        "confidence": args.confidence,
        "tables": [
            {
                "name": t.name,
                "title": t.title,
                "columns": list(t.columns),
                "rows": [{c: _json_cell(v) for c, v in row.items()} for row in t.as_dicts()],
                "notes": list(t.notes),
            }
            for t in tables
        ],
    }


def _print_tables(payload: dict) -> None:
    from .tables.table import display

    print(f"conditions in order: {', '.join(payload['conditions'])}")
    for table in payload["tables"]:
        columns = table["columns"]
        cells = [
            [display(math.nan if row[c] is None else row[c], c) for c in columns] for row in table["rows"]
        ]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        print(f"\n{table['title']}")
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        for r in cells:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        for note in table["notes"]:
            print(f"  note: {note}")


def _program_name() -> str:
    """``readerstudy-stats`` when run as the installed console script, ``python -m stats`` otherwise."""
    return "readerstudy-stats" if Path(sys.argv[0]).name == "readerstudy-stats" else "python -m stats"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=_program_name(), description="Reader-study statistics.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tables", help="re-create a study's analysis tables from its reproducibility bundle")
    t.add_argument("path", help="reproducibility bundle (.zip) or the folder it was unpacked into")
    t.add_argument("--out", help="write every table as CSV into this folder")
    t.add_argument("--xlsx", help="write every table into this XLSX workbook")
    t.add_argument(
        "--check", action="store_true", help="compare with the tables in the bundle (exit 1 if any differs)"
    )
    c = sub.add_parser(
        "comparative", help="comparative (A vs B) readings: preference, sign and Wilcoxon tests"
    )
    c.add_argument("path", help="CSV with the columns of the comparisons table")
    order = c.add_mutually_exclusive_group(required=True)
    order.add_argument("--conditions", help="the conditions in study order, comma-separated (e.g. LR,SR)")
    order.add_argument("--conditions-csv", help="CSV with the columns condition and order")
    c.add_argument("--confidence", type=float, default=0.95, help="of the Wilson intervals (default 0.95)")
    c.add_argument("--json", action="store_true", help="print JSON instead of tables")
    v = sub.add_parser(
        "cad-vs-readers", help="a standalone algorithm (one reader) against the other readers' average"
    )
    v.add_argument("path", help="dataset folder (plain layout), or .xlsx, .imrmc or tidy .csv file")
    v.add_argument("--cad", required=True, help="the id of the reader that is the standalone algorithm")
    v.add_argument("--method", choices=CAD_METHODS, default="1T-RRRC", help="as RJafroc's StCadVsRad")
    v.add_argument(
        "--fom", choices=ROC_FOMS + FROC_FOMS, help="figure of merit (default: wAFROC or Wilcoxon)"
    )
    v.add_argument("--modality", help="the modality to use when the dataset has several")
    v.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    v.add_argument("--json", action="store_true", help="print JSON instead of tables")
    s1 = sub.add_parser(
        "single-modality", help="CI of one modality's reader-averaged FOM (OR single-treatment analysis)"
    )
    s1.add_argument("path", help="dataset folder (plain layout), or .xlsx, .imrmc or tidy .csv file")
    s1.add_argument("--modality", help="the modality to analyse when the dataset has several")
    s1.add_argument(
        "--fom", choices=ROC_FOMS + FROC_FOMS, help="figure of merit (default: wAFROC or Wilcoxon)"
    )
    s1.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level (default 0.05)")
    s1.add_argument("--json", action="store_true", help="print JSON instead of tables")
    u = sub.add_parser(
        "ustat", help="ROC AUC on all reads (missing reads allowed): U-statistic variance (Gallas, iMRMC)"
    )
    u.add_argument("path", help="dataset folder (plain layout), or .xlsx, .imrmc or tidy .csv file")
    u.add_argument("--confidence", type=float, default=0.95, help="of the intervals (default 0.95)")
    u.add_argument(
        "--reader-weights",
        choices=READER_WEIGHTS,
        default="equal",
        help="equal: the mean of the readers' AUCs (default); pairs: weighted by their pairs (iMRMC)",
    )
    u.add_argument("--json", action="store_true", help="print JSON instead of tables")
    for name, helptext in (
        ("fom", "figures of merit per modality and reader"),
        ("mrmc", "DBM or OR significance test"),
        ("power", "cases needed (or power) for a planned study, from this pilot dataset"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("path", help="dataset folder (plain layout), or .xlsx, .imrmc or tidy .csv file")
        p.add_argument(
            "--fom",
            choices=ROC_FOMS + FROC_FOMS + ROI_FOMS + LROC_FOMS,
            help="figure of merit (default: wAFROC or Wilcoxon; PCL and ALROC for LROC data)",
        )
        p.add_argument(
            "--fpf",
            type=float,
            default=DEFAULT_FPF,
            help=f"false-positive fraction of PCL and ALROC, in (0, 1] (default {DEFAULT_FPF})",
        )
        p.add_argument(
            "--threshold",
            type=float,
            help="HrSe/HrSp as the sensitivity/specificity of the calls 'rating >= THRESHOLD' "
            "(stats.binary; required for ROC and LROC data, optional for FROC marks)",
        )
        p.add_argument("--json", action="store_true", help="print JSON instead of tables")
        if name in ("fom", "mrmc"):
            p.add_argument(
                "--engine",
                choices=("python", "rjafroc"),
                default="python",
                help="rjafroc: the same analysis in R with RJafroc 2.1.3 (needs R, rpy2 and RJafroc)",
            )
        if name == "mrmc":
            p.add_argument("--method", choices=("OR", "DBM"), default="OR")
            p.add_argument(
                "--covariance",
                choices=COVARIANCE_METHODS,
                default="jackknife",
                help="OR covariance estimator (default jackknife; DeLong for ROC AUC only)",
            )
            p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200)")
            p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
            p.add_argument(
                "--alternative",
                choices=ALTERNATIVES,
                default="two-sided",
                help="greater: H0 first - second <= -margin (non-inferiority of the first; margin 0: "
                "superiority); less: H0 first - second >= margin; default two-sided (no margin)",
            )
            p.add_argument(
                "--margin",
                type=float,
                default=0.0,
                help="non-inferiority margin on the FOM difference, >= 0 (default 0)",
            )
        if name == "power":
            p.add_argument("--readers", type=int, required=True, help="readers in the planned study")
            p.add_argument("--effect-size", type=float, required=True, help="difference of FOMs to detect")
            p.add_argument("--cases", type=int, help="cases in the planned study (omit to find how many)")
            p.add_argument("--power", type=float, default=0.8, help="desired power (default 0.8)")
            p.add_argument("--option", choices=OPTIONS, default="RRRC")
            p.add_argument("--alpha", type=float, default=0.05)
    add_curve_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in CURVE_COMMANDS:
        payload_of, show_curves = CURVE_COMMANDS[args.command]
        try:
            curve_payload = payload_of(load(args.path), args)
        except (DatasetError, OSError, KeyError, ValueError) as exc:
            return _input_error(args.path, exc)
        return _emit(curve_payload, args.json, show_curves)
    if args.command == "tables":
        try:
            return tables_command(args)
        except (DatasetError, OSError, KeyError, ValueError) as exc:
            message = str(exc) if str(exc).startswith(args.path) else f"{args.path}: {exc}"
            print(f"error: {message}", file=sys.stderr)
            return 2
    if args.command == "comparative":
        try:
            payload = comparative_payload(args)
        except (DatasetError, OSError, ValueError) as exc:
            return _input_error(args.path, exc)
        return _emit(payload, args.json, _print_tables)
    if args.command == "ustat":
        try:
            data = load(args.path)
            roc_ratings(data)  # ROC data only, before its read mask is taken
            analysis = ustat_analysis(
                data, rated(data), confidence=args.confidence, reader_weights=args.reader_weights
            )
        except (DatasetError, OSError, KeyError, ValueError) as exc:
            return _input_error(args.path, exc)
        return _emit(ustat_payload(analysis), args.json, _print_ustat)
    if args.command == "single-modality":
        try:
            data = load(args.path)
            fom = args.fom or default_fom(data)
            one = or_single_modality(data, fom, modality=args.modality, alpha=args.alpha)
        except (DatasetError, OSError, KeyError, ValueError) as exc:
            return _input_error(args.path, exc)
        return _emit(single_payload(one), args.json, _print_single)
    if args.command == "cad-vs-readers":
        try:
            data = load(args.path)
            fom = args.fom or default_fom(data)
            cad = cad_vs_readers(data, args.cad, fom, args.method, modality=args.modality, alpha=args.alpha)
            single = or_single_modality(readers_alone(data, args.cad, args.modality), fom, alpha=args.alpha)
        except (DatasetError, OSError, KeyError, ValueError) as exc:
            return _input_error(args.path, exc)
        return _emit(cad_payload(cad, single), args.json, _print_cad)
    try:
        if args.command == "mrmc":
            check_alternative(args.margin, args.alternative)  # refused before the data are read
        data = load(args.path)
        fom = args.fom or default_fom(data)
        engine = getattr(args, "engine", "python")
        fpf = args.fpf
        check_fpf(fpf)
        if fom in LROC_FOMS and data.kind != "LROC":
            raise DatasetError(f"{fom} is a figure of merit of LROC data; this dataset is {data.kind}.")
        data = _binary_data(data, fom, args.threshold)
        if args.command == "fom":
            foms = (
                rjafroc_foms(data, fom, fpf=fpf) if engine == "rjafroc" else jackknife(data, fom, fpf=fpf).fom
            )
            payload = fom_payload(data, fom, foms)
            show = _print_foms
        elif args.command == "power":
            payload = power_payload(data, fom, args)
            show = _print_power
        elif engine == "rjafroc":
            payload = rjafroc_mrmc(
                data,
                fom,
                method=args.method,
                covariance=args.covariance,
                n_boot=args.n_boot,
                seed=args.seed,
                fpf=fpf,
            )
            show = _print_mrmc
        else:
            if args.method == "OR":
                result = or_analysis(
                    data, fom, covariance=args.covariance, n_boot=args.n_boot, seed=args.seed, fpf=fpf
                )
            elif args.covariance != "jackknife":
                raise DatasetError("DBM uses jackknife pseudovalues; --covariance applies to --method OR.")
            else:
                result = dbm_analysis(data, fom, fpf=fpf)
            payload = mrmc_payload(data, result)
            show = _print_mrmc
        if args.command == "mrmc":
            payload = add_one_sided(payload, args.margin, args.alternative)
    except (DatasetError, OSError, KeyError, ValueError) as exc:
        return _input_error(args.path, exc)
    if fom in LROC_FOMS:
        payload["fpf"] = fpf
    if fom in BINARY_FOMS:
        payload["threshold"] = args.threshold
    return _emit(payload, args.json, show)


def _binary_data(data: ReaderStudy, fom: str, threshold: float | None) -> ReaderStudy:
    """The data the FOM is computed on: for HrSe/HrSp with a threshold (or on ROC/LROC data,
    which need one) the binary calls of stats.binary; else the data as read."""
    if threshold is not None and fom not in BINARY_FOMS:
        raise DatasetError(f"--threshold applies to the binary FOMs {' and '.join(BINARY_FOMS)}, not {fom}.")
    if fom in BINARY_FOMS and (threshold is not None or data.kind in ("ROC", "LROC")):
        return binary_calls(data, threshold)
    return data


def _input_error(path: str, exc: Exception) -> int:
    """Print one line naming the input file and the problem; the exit status of bad input (2)."""
    message = str(exc) if str(exc).startswith(path) else f"{path}: {exc}"
    print(f"error: {message}", file=sys.stderr)
    return 2


def _emit(payload: Any, as_json: bool, show: Callable[[Any], None]) -> int:
    """Print the result as JSON or as text; exit status 0."""
    if as_json:
        json.dump(payload, sys.stdout, indent=2)
        print()
    else:
        show(payload)
    return 0
