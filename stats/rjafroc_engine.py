"""Optional cross-check: run the same analysis in R with RJafroc, through rpy2.

Nothing in stats/ needs R. Where R, the Python package rpy2 and the R package RJafroc
are installed, ``python -m stats fom|mrmc PATH --engine rjafroc`` writes the dataset
as an RJafroc Excel file (``stats.io_excel.write_excel``), reads it with RJafroc's
``DfReadDataFile`` and prints what RJafroc's ``UtilFigureOfMerit`` or ``St`` print,
so the two engines' numbers can be compared side by side.
"""

import tempfile
from pathlib import Path

from .dataset import DatasetError, ReaderStudy
from .io_excel import write_excel


def rjafroc_unavailable() -> str | None:
    """Why the RJafroc engine cannot run here, or None when it can."""
    try:
        from rpy2.robjects.packages import isinstalled
    except ImportError:
        return "the RJafroc engine needs R and the Python package rpy2, which is not installed"
    except Exception as exc:  # rpy2 installed but R cannot be loaded
        return f"the RJafroc engine could not start R ({exc})"
    if not isinstalled("RJafroc"):
        return "the RJafroc engine needs the R package RJafroc (in R: install.packages('RJafroc'))"
    return None


def rjafroc_report(data: ReaderStudy, fom: str, *, method: str | None = None) -> str:
    """RJafroc's printed FOM table (``method=None``) or its St() output for ``method`` (OR/DBM)."""
    reason = rjafroc_unavailable()
    if reason:
        raise DatasetError(reason)
    import rpy2.robjects as ro

    with tempfile.TemporaryDirectory(prefix="stats-rjafroc-") as folder:
        path = Path(folder) / "dataset.xlsx"
        write_excel(data, path)
        ro.globalenv["path"] = str(path)
        ro.globalenv["fom"] = fom
        ro.r("library(RJafroc); ds <- DfReadDataFile(path, newExcelFileFormat = TRUE)")
        if method is None:
            lines = ro.r("capture.output(print(UtilFigureOfMerit(ds, FOM = fom)))")
        else:
            ro.globalenv["method"] = method
            lines = ro.r('capture.output(print(St(ds, FOM = fom, method = method, analysisOption = "ALL")))')
    return "\n".join(str(line) for line in lines)
