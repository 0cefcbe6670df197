"""One XLSX workbook of a study's analysis tables (for statisticians who live in Excel).

The first sheet lists the tables with their titles and notes; each table then has a
sheet of its own (title, header row, rows, notes). Numbers are written with the shortest
text that reads back as the same double (``stats.io_excel.write_xlsx``); NaN and
infinities, which SpreadsheetML cannot hold as numbers, are written as text. Text is
never a formula (``stats.spreadsheet``).
"""

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .io_excel import write_xlsx
from .tables import Table

MAX_SHEET_NAME = 31  # Excel's limit


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Inf" if value > 0 else "-Inf")
    if isinstance(value, bool):
        return int(value)
    return value


def _sheet_names(tables: list[Table]) -> list[str]:
    names, used = [], {"contents"}
    for table in tables:
        base = table.name[:MAX_SHEET_NAME]
        name, n = base, 2
        while name.lower() in used:
            suffix = f"~{n}"
            name, n = base[: MAX_SHEET_NAME - len(suffix)] + suffix, n + 1
        used.add(name.lower())
        names.append(name)
    return names


def write_workbook(tables: Iterable[Table], path: str | Path) -> None:
    """Write ``tables`` into one XLSX file: a contents sheet, then a sheet per table."""
    tables = list(tables)
    names = _sheet_names(tables)
    contents: list[list[Any]] = [["sheet", "table", "rows", "notes"]]
    sheets: list[tuple[str, list[list[Any]]]] = []
    for name, table in zip(names, tables, strict=True):
        contents.append([name, table.title, len(table.rows), " ".join(table.notes)])
        rows: list[list[Any]] = [[table.title], [], list(table.columns)]
        rows += [[_cell(v) for v in row] for row in table.cells()]
        if table.notes:
            rows += [[]] + [[note] for note in table.notes]
        sheets.append((name, rows))
    write_xlsx(Path(path), [("Contents", contents), *sheets])
