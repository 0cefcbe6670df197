"""The RJafroc engine: the same analyses run in R by RJafroc 2.1.3, through rpy2.

Nothing else in stats/ needs R. Where R, the Python package rpy2 (3.5.x, the line that
supports R 4.2) and the R package RJafroc are installed, ``python -m stats fom|mrmc PATH
--engine rjafroc`` writes the dataset as an RJafroc Excel file
(:func:`stats.io_excel.write_excel`), reads it with RJafroc's ``DfReadDataFile(file,
newExcelFileFormat = TRUE)`` and computes the FOMs with ``UtilFigureOfMerit`` or the
significance tests with ``St`` (RJafroc reference manual 2.1.3). ROI data (which that
format cannot hold) and studies of more than 1000 cases (which its reader takes minutes
over) go to R instead as a dataset object built there (:func:`r_dataset_in_memory`). The
results come back in the python engine's shapes (:func:`rjafroc_foms`,
:func:`rjafroc_mrmc`), so ``--json`` prints the same JSON either way and the two engines
can be compared number by number.

Facts about RJafroc 2.1.3 this module works around (found by running it; see
../shared/README.md, "r-pkgs"):

* ``St`` takes one ``analysisOption`` per call ("RRRC", "FRRC", "RRFC"; "ALL" is refused
  despite its message), so an analysis is three calls.
* ``covEstMethod = "DeLong"`` never runs: its check compares the FOM with a misspelled
  "Wilcoxong"; nor does ``"bootstrap"``: ``UtilORVarComp`` stops with "code needs
  fixing" for both (``R/UtilORVarComp.R``). The engine refuses them before calling R.
* ``VarTR`` (and so ``VarR``) of RJafroc's OR variance components uses
  ``max(Cov2 - Cov3, 0)`` (``R/UtilORVarComp.R``, its own choice: OR-DBM MRMC and the
  python engine use ``Cov2 - Cov3``); the two engines' ``variance_components`` differ
  there when Cov2 < Cov3. Every test statistic, df, p and interval is unaffected.
* For OR FRRC, the per-modality intervals are labelled with df K-1 but computed from the
  normal distribution; the engine reports their df as infinite (``None`` in JSON), as the
  python engine does.
* ROC data in its Excel format must rate every case (``DfReadDataFile`` stops with "This
  does not appear to be an ROC dataset" otherwise). An unrated ROC case is written with a
  rating below every rating given (:func:`stats.study_export.roc_for_export`), which keeps
  every comparison, tie or not, and so every AUC, unchanged.

* Its reader splits the TRUTH sheet's reader and modality lists at commas *and* spaces,
  so ids with spaces are refused before calling R.

R errors become :class:`DatasetError` with R's message on one line; what R writes to its
console while it runs is captured, not printed.
"""

import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import NO_MARK, DatasetError, ReaderStudy
from .fom import DEFAULT_FPF
from .io_excel import write_excel

#: The analysis options, one St() call each (RJafroc 2.1.3 refuses "ALL").
OPTIONS = ("RRRC", "FRRC", "RRFC")
#: The covariance estimator of St(method = "OR") that runs in RJafroc 2.1.3.
R_COVARIANCE_METHODS = ("jackknife",)
#: Why the others do not: RJafroc 2.1.3, R/UtilORVarComp.R, and R/isValidDataset.R.
R_COVARIANCE_REFUSED = {
    "DeLong": (
        "RJafroc 2.1.3 cannot run the DeLong covariance (its check compares the FOM with a "
        "misspelled 'Wilcoxong', and UtilORVarComp stops with 'code needs fixing'); "
        "use --covariance jackknife, or --engine python for DeLong."
    ),
    "bootstrap": (
        "RJafroc 2.1.3 cannot run the bootstrap covariance (UtilORVarComp stops with "
        "'code needs fixing: SmpldFom2ORCov bootstrap'); use --covariance jackknife, "
        "or --engine python for the bootstrap."
    ),
}


def rjafroc_unavailable() -> str | None:
    """Why the RJafroc engine cannot run here, or None when it can."""
    # rpy2 logs its start-up (R home, library path) and "Embedded R ended." at exit at INFO
    # level; those are not this program's messages, and the exit one can outlive the stream.
    logging.getLogger("rpy2").setLevel(logging.WARNING)
    try:
        with _quiet_console():
            ro = _robjects()

            # Not rpy2's isinstalled(): it calls library() to list every package, which warns
            # "library '/usr/local/lib/R/site-library' contains no packages" on a clean install.
            installed = bool(ro.r('nzchar(system.file(package = "RJafroc"))')[0])
    except ImportError:
        return "the RJafroc engine needs R and the Python package rpy2 (3.5.x), which is not installed"
    except Exception as exc:  # rpy2 installed but R cannot be loaded
        return f"the RJafroc engine could not start R ({_one_line(str(exc))})"
    if not installed:
        return (
            "the RJafroc engine needs the R package RJafroc 2.1.3 in a library on R_LIBS "
            "(bin/test builds one from ../shared/r-pkgs)"
        )
    return None


def _robjects() -> Any:
    """``rpy2.robjects``, starting R on first use without changing what child processes load.

    R's start-up (``R_HOME/etc/ldpaths``) prepends its library folders to this process's
    ``LD_LIBRARY_PATH``; every program started afterwards (``subprocess``) would inherit it and
    could load the system's libpython or libssl instead of its own. R has loaded its libraries
    by then, so the variable is put back as it was.
    """
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as ro
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved
    return ro


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextmanager
def _quiet_console() -> Iterator[list[str]]:
    """Capture what R writes to its console (rpy2 prints it by default) into a list."""
    try:
        from rpy2.rinterface_lib import callbacks
    except ImportError:
        yield []
        return
    captured: list[str] = []
    saved = callbacks.consolewrite_print, callbacks.consolewrite_warnerror
    callbacks.consolewrite_print = callbacks.consolewrite_warnerror = captured.append
    try:
        yield captured
    finally:
        callbacks.consolewrite_print, callbacks.consolewrite_warnerror = saved


def call_r(what: Callable[[], Any]) -> Any:
    """Run ``what`` (rpy2 calls) with R's console captured and R errors as DatasetError.

    R's warnings (issued at once: ``options(warn = 1)``) go to stderr, one line each,
    prefixed "RJafroc warning:"; anything else R prints is dropped.
    """
    ro = _robjects()
    from rpy2.rinterface_lib.embedded import RRuntimeError

    with _quiet_console() as console:
        try:
            ro.r("options(warn = 1)")
            return what()
        except RRuntimeError as exc:
            message = _one_line(str(exc)).removeprefix("Error in ").removeprefix("Error: ")
            raise DatasetError(f"RJafroc: {message}") from None
        finally:
            text = "".join(console)
            for warning in text.split("Warning")[1:]:  # "Warning message:", "Warning in f():"
                message = _one_line(warning).removeprefix("message:").removeprefix("s:").strip()
                print(f"RJafroc warning: {message}", file=sys.stderr)


def _r_dataset(data: ReaderStudy, folder: str) -> Any:
    """``data`` as RJafroc reads it: written as an Excel file, read by ``DfReadDataFile``."""
    reason = rjafroc_unavailable()
    if reason:
        raise DatasetError(reason)
    ro = _robjects()

    spaced = [x for x in (*data.modality_ids, *data.reader_ids) if any(c.isspace() for c in x)]
    if spaced:
        raise DatasetError(
            f"RJafroc's Excel reader splits reader and modality ids at spaces ({spaced[0]!r}); "
            "rename them to run the RJafroc engine."
        )
    if data.kind == "ROC":
        from .study_export import roc_for_export

        data = roc_for_export(data)
    path = Path(folder) / "dataset.xlsx"
    write_excel(data, path)
    forced = ro.NA_Logical if data.kind != "LROC" else False

    def read() -> Any:
        ro.r('invisible(loadNamespace("RJafroc"))')
        return ro.r["::"]("RJafroc", "DfReadDataFile")(
            str(path), newExcelFileFormat=True, lrocForcedMark=forced
        )

    return call_r(read)


#: The paradigms :func:`r_dataset_in_memory` builds (LROC needs RJafroc's LL_IL split).
IN_MEMORY_KINDS = ("ROC", "FROC", "ROI")


def r_dataset_in_memory(data: ReaderStudy) -> Any:
    """``data`` as an RJafroc dataset object built in R directly, without its Excel reader.

    The list ``DfReadDataFile`` returns (its ``convert2dataset``, RJafroc 2.1.3
    ``R/Df2RJafrocDataset.R``): ``ratings`` (NL [I, J, K, maxNL], LL [I, J, K2, maxLL], -Inf
    for no mark, ``LL_IL = NA``), ``lesions`` (perCase, IDs, weights, -Inf beyond a case's
    lesions), ``descriptions`` (type, design "FCTRL", ``truthTableStr`` as its reader sets it,
    modality and reader ids named by themselves). Used where the Excel route cannot go:
    the ROI paradigm (absent from RJafroc's Excel format) and large studies (its reader
    compares every row with every case: minutes for 10000 cases). ``RJafroc::
    Df2RJafrocDataset`` is not used: it gives equal weights, ids 1.. and no ROI type.
    """
    reason = rjafroc_unavailable()
    if reason:
        raise DatasetError(reason)
    if data.kind not in IN_MEMORY_KINDS:
        raise DatasetError(
            f"the in-memory RJafroc dataset supports {', '.join(IN_MEMORY_KINDS)}, not {data.kind}."
        )
    ro = _robjects()

    n_i, n_j, n_k = data.shape
    max_ll = data.ll.shape[3]
    mask = data.lesion_mask
    slots = np.broadcast_to(np.arange(1, max_ll + 1), mask.shape)
    ids = slots if data.lesion_ids is None else data.lesion_ids
    # truthTableStr[i, j, k, 1] = 1 for a normal case, [i, j, k, l + 1] = 1 for lesion slot l of
    # an abnormal one (NA elsewhere), as AddTruthTableStr sets it and DfReadDataFile does for
    # the export (which writes slot numbers as lesion ids); St's jackknife reads [, , , 1:2].
    truth = np.full((n_i, n_j, n_k, max_ll + 1), np.nan)
    truth[:, :, : data.k1, 0] = 1.0
    truth[:, :, data.k1 :, 1:][:, :, mask] = 1.0

    def array(x: np.ndarray) -> Any:
        values = np.asarray(x, dtype=float)
        return ro.r["array"](ro.FloatVector(values.ravel(order="F")), dim=ro.IntVector(values.shape))

    def named(ids: tuple[str, ...]) -> Any:
        vector = ro.StrVector(list(ids))
        vector.names = ro.StrVector(list(ids))
        return vector

    def build() -> Any:
        ro.r('invisible(loadNamespace("RJafroc"))')
        truth_r = ro.r["array"](
            ro.FloatVector([ro.NA_Real if np.isnan(v) else 1.0 for v in truth.ravel(order="F")]),
            dim=ro.IntVector(truth.shape),
        )
        return ro.r["list"](
            ratings=ro.r["list"](NL=array(data.nl), LL=array(data.ll), LL_IL=ro.NA_Logical),
            lesions=ro.r["list"](
                perCase=ro.IntVector([int(n) for n in data.lesions_per_case]),
                IDs=array(np.where(mask, ids, NO_MARK)),
                weights=array(np.where(mask, data.weights, NO_MARK)),
            ),
            descriptions=ro.r["list"](
                fileName="NA",
                type=data.kind,
                name=ro.NA_Logical,
                truthTableStr=truth_r,
                design="FCTRL",
                modalityID=named(data.modality_ids),
                readerID=named(data.reader_ids),
            ),
        )

    return call_r(build)


def _rjafroc(name: str) -> Any:
    ro = _robjects()

    return ro.r["::"]("RJafroc", name)


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def r_frame(df: Any) -> dict[str, dict[str, float]]:
    """An R data frame of numbers as ``{row name: {column name: value}}`` (NA as nan)."""
    columns = {str(c): [_float(v) for v in df.rx2(c)] for c in df.colnames}
    return {str(r): {c: values[n] for c, values in columns.items()} for n, r in enumerate(df.rownames)}


def r_matrix(m: Any) -> np.ndarray:
    ro = _robjects()

    return np.array(ro.r["as.matrix"](m), dtype=float)


def _number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


#: Above this many cases the automatic route builds the dataset in R: RJafroc's Excel reader
#: compares every row with every case (2000 cases of datasetBinned123 take about a minute).
IN_MEMORY_ABOVE_CASES = 1000


def _dataset(data: ReaderStudy, folder: str, in_memory: bool | None) -> Any:
    if in_memory is None:  # automatic: the Excel route where it can go in reasonable time
        big = data.shape[2] > IN_MEMORY_ABOVE_CASES
        in_memory = data.kind in IN_MEMORY_KINDS and (data.kind == "ROI" or big)
    return r_dataset_in_memory(data) if in_memory else _r_dataset(data, folder)


def rjafroc_foms(
    data: ReaderStudy, fom: str, *, in_memory: bool | None = None, fpf: float = DEFAULT_FPF
) -> np.ndarray:
    """RJafroc's ``UtilFigureOfMerit(dataset, FOM = fom, FPFValue = fpf)`` as an [I, J] array.

    The dataset goes to R through the Excel file and RJafroc's reader (``in_memory`` False)
    or as an object built in R (True, :func:`r_dataset_in_memory`); None (the default, the
    command line's) chooses: in memory for ROI data, which RJafroc's Excel format cannot
    hold, and for ROC or FROC studies of more than :data:`IN_MEMORY_ABOVE_CASES` cases.
    """
    with tempfile.TemporaryDirectory(prefix="stats-rjafroc-") as folder:
        ds = _dataset(data, folder, in_memory)
        foms = call_r(lambda: r_matrix(_rjafroc("UtilFigureOfMerit")(ds, FOM=fom, FPFValue=fpf)))
    if foms.shape != data.shape[:2]:
        raise DatasetError(f"RJafroc returned FOMs of shape {foms.shape}, expected {data.shape[:2]}.")
    return foms


def rjafroc_mrmc(
    data: ReaderStudy,
    fom: str,
    *,
    method: str = "OR",
    covariance: str = "jackknife",
    n_boot: int = 200,
    seed: int | None = 0,
    in_memory: bool | None = None,
    fpf: float = DEFAULT_FPF,
) -> dict:
    """RJafroc's ``St`` (one call per analysis option) in the JSON shape of the python engine.

    The shape is :func:`stats.cli.mrmc_payload`'s: ``fom``, ``foms``, ``modality_means``,
    ``method``, one entry per option with the overall test, the pairwise differences and
    the per-modality estimates, and ``variance_components`` (the rows of RJafroc's
    ``ANOVA$VarCom``). ``covariance``, ``n_boot`` and ``seed`` are St's ``covEstMethod``,
    ``nBoots`` and ``seed``; only the jackknife runs in RJafroc 2.1.3 (DeLong and the
    bootstrap are refused, :data:`R_COVARIANCE_REFUSED`), so ``n_boot`` and ``seed``, which
    only the bootstrap uses, are passed on but change nothing, as in the python engine.
    ``in_memory`` is :func:`rjafroc_foms`'s; ``fpf`` is St's ``FPFValue`` (of PCL and ALROC).
    """
    if method not in ("OR", "DBM"):
        raise DatasetError(f"unknown method {method!r} (OR or DBM).")
    if method == "DBM" and covariance != "jackknife":
        raise DatasetError("DBM uses jackknife pseudovalues; --covariance applies to --method OR.")
    if covariance in R_COVARIANCE_REFUSED:
        raise DatasetError(R_COVARIANCE_REFUSED[covariance])
    if covariance not in R_COVARIANCE_METHODS:
        raise DatasetError(f"unknown covariance {covariance!r} ({', '.join(R_COVARIANCE_METHODS)}).")
    if data.shape[0] < 2:
        raise DatasetError(
            f"an MRMC analysis compares modalities; this dataset has one ({data.modality_ids[0]})."
        )
    ro = _robjects()

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="stats-rjafroc-") as folder:
        ds = _dataset(data, folder, in_memory)
        st = _rjafroc("St")
        r_seed = ro.NULL if seed is None else seed

        def run(option: str) -> Any:
            return st(
                ds,
                FOM=fom,
                method=method,
                covEstMethod=covariance,
                analysisOption=option,
                nBoots=n_boot,
                seed=r_seed,
                FPFValue=fpf,
            )

        for option in OPTIONS:
            results[option] = call_r(partial(run, option))
    first = results[OPTIONS[0]]
    foms_entry = first.rx2("FOMs")
    foms = call_r(lambda: r_matrix(foms_entry.rx2("foms")))
    means = r_frame(foms_entry.rx2("trtMeans"))
    payload: dict[str, Any] = {
        "fom": fom,
        "foms": {
            m: {r: float(foms[i, j]) for j, r in enumerate(data.reader_ids)}
            for i, m in enumerate(data.modality_ids)
        },
        "modality_means": {
            m: float(means[f"trt{m}"]["Estimate"]) if f"trt{m}" in means else float(foms[i].mean())
            for i, m in enumerate(data.modality_ids)
        },
        "method": method,
    }
    for option in OPTIONS:
        payload[option] = _option_payload(data, method, option, results[option].rx2(option))
    var_com = r_frame(first.rx2("ANOVA").rx2("VarCom"))
    payload["variance_components"] = {name: row["Estimates"] for name, row in var_com.items()}
    return payload


def _option_payload(data: ReaderStudy, method: str, option: str, result: Any) -> dict:
    """One option's overall test, pairwise differences and per-modality estimates."""
    # Rows Treatment and Error (RRFC: T and TR); the statistic in FStat, F or Chisq.
    treatment, error = r_frame(result.rx2("FTests")).values()
    chisq = "Chisq" in treatment
    statistic = next(c for c in ("Chisq", "FStat", "F") if c in treatment)
    differences = r_frame(result.rx2("ciDiffTrt"))
    pairs = list(combinations(data.modality_ids, 2))
    if len(differences) != len(pairs):
        raise DatasetError(f"RJafroc returned {len(differences)} differences for {len(pairs)} pairs.")
    estimates = r_frame(result.rx2("ciAvgRdrEachTrt"))
    # OR FRRC: RJafroc labels the df K-1 but its interval is normal-based (see the module's docstring).
    normal_modality_ci = method == "OR" and option == "FRRC"
    return {
        "statistic_name": "Chisq" if chisq else "F",
        "statistic": _number(treatment[statistic]),
        "ndf": _number(treatment["DF"]),
        "ddf": None if chisq else _number(error["DF"]),
        "p": _number(treatment["p"]),
        "differences": [
            {
                "modalities": list(pair),
                "estimate": row["Estimate"],
                "stderr": row["StdErr"],
                "df": _number(row.get("DF", math.inf)),
                "p": _number(row["PrGTz"] if "PrGTz" in row else row["PrGTt"]),
                "ci": [row["CILower"], row["CIUpper"]],
            }
            for pair, row in zip(pairs, differences.values(), strict=True)
        ],
        "modality_estimates": [
            {
                "modality": m,
                "estimate": row["Estimate"],
                "stderr": row["StdErr"],
                "df": None if normal_modality_ci else _number(row.get("DF", math.inf)),
                "ci": [row["CILower"], row["CIUpper"]],
            }
            for m, row in zip(data.modality_ids, estimates.values(), strict=True)
        ],
    }
