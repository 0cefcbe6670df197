"""The :class:`Table` of the analysis (named columns, rows by column name) and its display.

Rows are mappings from column name to a plain value; a row with a missing or an extra
column is refused when the table is made, so a value cannot land under the wrong column.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..study_record import format_cell, table_csv

#: A table cell: text, a number, a boolean or empty (None).
Cell = str | int | float | bool | None
Row = Mapping[str, Cell]


@dataclass(frozen=True, kw_only=True)
class Table:
    """One result table: a name (file name), a title, named columns, rows and notes."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        expected = set(self.columns)
        if len(expected) != len(self.columns):
            raise ValueError(f"Table {self.name}: duplicate column names.")
        rows = tuple(dict(row) for row in self.rows)
        for n, row in enumerate(rows):
            if set(row) != expected:
                missing = [c for c in self.columns if c not in row]
                extra = [c for c in row if c not in expected]
                raise ValueError(f"Table {self.name} row {n}: missing columns {missing}, extra {extra}.")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "notes", tuple(self.notes))

    def as_dicts(self) -> list[dict[str, Cell]]:
        """The rows as dicts in column order (copies)."""
        return [{c: row[c] for c in self.columns} for row in self.rows]

    def cells(self) -> list[list[Cell]]:
        """The rows as lists of cells in column order."""
        return [[row[c] for c in self.columns] for row in self.rows]

    def csv(self) -> str:
        """The table as CSV text (exact numbers; see :func:`stats.study_record.format_cell`)."""
        return table_csv(self.as_dicts(), self.columns)


@dataclass(frozen=True, kw_only=True)
class Part:
    """What one analysis section gives: its tables (in order) and notes on what it left out."""

    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()


def num(x: Any) -> float | None:
    """A float for a table cell (NaN stays NaN, numpy scalars become Python floats)."""
    return None if x is None else float(x)


def pair_name(a: str, b: str) -> str:
    """The name of a comparison of two conditions."""
    return f"{a} - {b}"


def display(value: Any, column: str = "") -> str:
    """A cell for people: p-values to 4 significant digits, other floats to 4 decimals."""
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if column.startswith("p") and (column == "p" or column.startswith("p_") or column.endswith("_p")):
            return "<0.0001" if value < 1e-4 else f"{value:.4g}"
        return f"{value:.4f}"
    return format_cell(value)
