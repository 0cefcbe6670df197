"""Real RJafroc 2.1.3 in R, for the tests that check stats/ against it (never mocked).

Where R, rpy2 or RJafroc are missing (a user's machine) these tests skip, saying why;
in CI (the environment variable CI set, as CI services do) they fail instead: there
bin/test installs R and builds RJafroc from ../shared/r-pkgs, so a missing RJafroc is a
broken set-up, not a reason to test less.
"""

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stats.mrmc import MRMCResult
from stats.rjafroc_engine import call_r, r_frame, r_matrix, rjafroc_unavailable


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_rjafroc() -> None:
    """Skip (or, in CI, fail) the calling test unless R with RJafroc can run here."""
    reason = rjafroc_unavailable()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI is set, so the RJafroc tests must run, but {reason}.")
    pytest.skip(f"{reason} (bin/test installs it where ../shared/r-pkgs is present)")


def r_read(path: Path) -> Any:
    """RJafroc's own reading of an Excel file: ``DfReadDataFile(path, newExcelFileFormat = TRUE)``."""
    import rpy2.robjects as ro

    def read() -> Any:
        ro.r('invisible(loadNamespace("RJafroc"))')
        return ro.r["::"]("RJafroc", "DfReadDataFile")(str(path), newExcelFileFormat=True)

    return call_r(read)


def r_call(name: str, *args: Any, **kwargs: Any) -> Any:
    """``RJafroc::<name>(...)``, R errors as DatasetError."""
    import rpy2.robjects as ro

    return call_r(lambda: ro.r["::"]("RJafroc", name)(*args, **kwargs))


def r_internal(name: str, *args: Any, **kwargs: Any) -> Any:
    """``RJafroc:::<name>(...)``: an unexported RJafroc function (e.g. ``LrocFoms``); R errors
    as DatasetError."""
    import rpy2.robjects as ro

    return call_r(lambda: ro.r[":::"]("RJafroc", name)(*args, **kwargs))


def r_eval(code: str) -> Any:
    """The value of the R expression ``code`` (RJafroc's namespace loaded), R errors as DatasetError."""
    import rpy2.robjects as ro

    def run() -> Any:
        ro.r('invisible(loadNamespace("RJafroc"))')
        return ro.r(code)

    return call_r(run)


def r_array(x: Any) -> np.ndarray:
    """An R numeric array (any rank) as a numpy array of the same shape."""
    import rpy2.robjects as ro

    dim = tuple(int(d) for d in ro.r["dim"](x)) if ro.r["dim"](x) is not ro.NULL else (len(x),)
    return np.array(list(x), dtype=float).reshape(dim, order="F")


def r_names(x: Any) -> list[str]:
    import rpy2.robjects as ro

    return [str(n) for n in ro.r["names"](x)]


RTOL = 1e-9
P_ATOL = 1e-12  # R computes p = 1 - cdf, which underflows to 0 for tiny p (../shared/README.md)


def assert_rjafroc_reproduces(path: Path, result: MRMCResult) -> float:
    """RJafroc reading the Excel file at ``path`` gives ``result``'s FOMs and OR tests.

    ``UtilFigureOfMerit`` and ``St(method = "OR")`` for RRRC, FRRC and RRFC, each compared
    to 1e-9 relative (p to 1e-12 absolute as well); returns the largest relative difference.
    """
    return assert_st_reproduces(r_read(path), result)


def assert_st_reproduces(ds: Any, result: MRMCResult, **fom_args: Any) -> float:
    """RJafroc's dataset object ``ds`` gives ``result``'s FOMs and OR tests (see
    :func:`assert_rjafroc_reproduces`); ``fom_args`` go to ``UtilFigureOfMerit`` and ``St``
    (``FPFValue`` for PCL and ALROC)."""
    assert result.method == "OR"
    foms = r_matrix(r_call("UtilFigureOfMerit", ds, FOM=result.fom_name, **fom_args))
    np.testing.assert_allclose(foms, result.foms, rtol=RTOL, atol=0)
    got: list[float] = [*foms.ravel()]
    want: list[float] = [*result.foms.ravel()]
    for option in ("RRRC", "FRRC", "RRFC"):
        st = r_call("St", ds, FOM=result.fom_name, method="OR", analysisOption=option, **fom_args).rx2(option)
        test = result.tests[option]
        treatment = next(iter(r_frame(st.rx2("FTests")).values()))
        statistic = next(treatment[c] for c in ("Chisq", "FStat", "F") if c in treatment)
        assert test.statistic == pytest.approx(statistic, rel=RTOL), option
        assert test.p == pytest.approx(treatment["p"], rel=RTOL, abs=P_ATOL), option
        got.append(statistic)
        want.append(test.statistic)
        for d, row in zip(test.differences, r_frame(st.rx2("ciDiffTrt")).values(), strict=True):
            r_values = (row["Estimate"], row["StdErr"], row["CILower"], row["CIUpper"])
            ours = (d.estimate, d.stderr, *d.ci)
            assert ours == pytest.approx(r_values, rel=RTOL), option
            got += r_values
            want += ours
    return (
        max(abs(g - w) / max(abs(g), abs(w)) for g, w in zip(got, want, strict=True) if g != w)
        if got != want
        else 0.0
    )


__all__ = [
    "assert_rjafroc_reproduces",
    "assert_st_reproduces",
    "r_array",
    "r_call",
    "r_eval",
    "r_frame",
    "r_internal",
    "r_matrix",
    "r_names",
    "r_read",
    "require_rjafroc",
]
