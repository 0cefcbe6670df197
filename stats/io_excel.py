"""RJafroc's Excel (JAFROC) data format: reading its old and new layouts, writing the new one
(sheets TRUTH, FP, TP: the layout RJafroc 2.1.3 reads, see :func:`write_excel`).

The format is documented with RJafroc's ``DfReadDataFile`` (RJafroc reference manual,
version 2.1.3) and in Chakraborty's RJafroc online books (chapter "Data format"). A
workbook has three sheets, found by name whatever their case or order:

* ``TRUTH``: one row per normal case (``CaseID``, ``LesionID`` 0, ``Weight``) and one
  row per lesion of each abnormal case (``LesionID`` >= 1 and its ``Weight``). Weights
  that are all 0 on a case mean 1/n each; otherwise they must sum to 1 (RJafroc
  accepts 0.99..1.01 and rescales the weights to sum to 1 exactly, so do we).
  The *new* layout adds ``ReaderID`` and ``ModalityID`` columns, each cell listing the
  readers and modalities that read the case ("0,1,2"), and a ``Paradigm`` column
  whose first two cells give the paradigm (ROC, FROC, LROC) and the design (FCTRL,
  also written CROSSED). The *old* layout has only the first three columns; its
  paradigm is inferred as RJafroc does (ROC when every case has one TRUTH row, no
  case more than one FP rating and every normal case a rating, FROC otherwise).
* ``NL`` (or ``FP``): ``ReaderID``, ``ModalityID``, ``CaseID``, ``NL_Rating`` (or
  ``FP_Rating``; ``NLRating`` too): one row per non-lesion localisation, on any case.
* ``LL`` (or ``TP``): ``ReaderID``, ``ModalityID``, ``CaseID``, ``LesionID``,
  ``LL_Rating`` (or ``TP_Rating``, ``LLRating``): one row per marked lesion.

ROC data is the special case with one FP row per normal case and one TP row (lesion 1)
per abnormal case. In LROC data the FP rows on abnormal cases are the incorrect
localisations (RJafroc's ``LL_IL``); they are kept as NL marks of those cases, so that the
ROC AUC of LROC data rates each abnormal case by its highest mark (RJafroc's ``DfLroc2Roc``)
and PCL and ALROC count its TP row only (stats.fom). A case may have one TP row, one FP row
or both (as every abnormal case of RJafroc's ``datasetCadLroc``): RJafroc reads that with
``lrocForcedMark = FALSE``, its engine's setting (stats.rjafroc_engine).

Case ids are integers; normal cases come first, each group in increasing id order,
and ``case_ids`` keeps the ids. Modality and reader ids are strings: in the order of
the TRUTH lists (new layout), or in numeric order when all are integers and otherwise
in order of first appearance (old layout). Lesions of a case are ordered by id.

Split-plot and crossed-modality designs are rejected (the ReaderStudy object holds
factorial designs only). Every other problem is reported as a DatasetError
"<file>: <sheet> row <n>: <problem>", several problems at once where found together.
"""

import itertools
import math
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from .dataset import NO_MARK, DatasetError, ReaderStudy
from .io_tidy import fail, format_number, natural_order
from .spreadsheet import runs_as_formula

_NL_NAMES = ("NL", "FP")
_LL_NAMES = ("LL", "TP")
_WEIGHT_TOLERANCE = 0.01  # RJafroc's: weights summing to 0.99..1.01 are rescaled
_EXACT = 1e-12  # sums this close to 1 are kept as they are (round trips stay identical)
# The columns that make a row non-blank, per sheet (normalised headers).
_TRUTH_FIELDS = ("caseid", "lesionid", "weight", "readerid", "modalityid")
_NL_FIELDS = ("readerid", "modalityid", "caseid", "fprating", "nlrating")
_LL_FIELDS = ("readerid", "modalityid", "caseid", "lesionid", "tprating", "llrating")


@dataclass(kw_only=True)
class _Sheet:
    title: str
    columns: dict[str, int]  # normalised header -> column index
    rows: list[tuple[int, tuple]]  # (Excel row number, cells) of the non-blank data rows
    column_names: dict[str, str]  # normalised header -> header as written


def _norm(header: Any) -> str:
    return "" if header is None else str(header).strip().lower().replace("_", "").replace(" ", "")


def _empty(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _integer(cell: Any) -> int | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float):
        return int(cell) if math.isfinite(cell) and cell.is_integer() else None
    if isinstance(cell, str):
        text = cell.strip()
        try:
            return int(text)
        except ValueError:
            value = _number(text)
            return int(value) if value is not None and value.is_integer() else None
    return None


def _number(cell: Any) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int | float):
        value = float(cell)
    elif isinstance(cell, str):
        try:
            value = float(cell.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def _ident(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _show(cell: Any) -> str:
    return repr(cell.strip()) if isinstance(cell, str) else str(cell)


def _load(path: Path, name: str) -> dict[str, list[tuple]]:
    """Every sheet of the workbook as lists of row tuples (cached values, not formulas)."""
    import openpyxl  # imported here so that the other formats work without it
    from openpyxl.utils.exceptions import InvalidFileException

    if not path.exists():
        raise DatasetError(f"{name}: no such file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about extensions it drops
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                for sheet in book.worksheets:
                    # Read every cell, not only the range the file declares: R's openxlsx (so
                    # RJafroc's DfWriteExcelDataFile) declares the dimension "A1", which
                    # read-only openpyxl would trust and so return one column.
                    sheet.reset_dimensions()
                return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}
            finally:
                book.close()
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DatasetError(f"{name}: not a readable .xlsx workbook ({exc}).") from None


def _find_sheets(name: str, book: dict[str, list[tuple]]) -> tuple[str, str, str]:
    by_upper: dict[str, list[str]] = {}
    for title in book:
        by_upper.setdefault(title.strip().upper(), []).append(title)
    problems, found = [], []
    for role, names in (("TRUTH", ("TRUTH",)), ("NL", _NL_NAMES), ("LL", _LL_NAMES)):
        titles = [t for n in names for t in by_upper.get(n, [])]
        if not titles:
            problems.append(
                f"no {' (or '.join(names)}{')' * (len(names) - 1)} sheet "
                f"(the workbook has {', '.join(book) or 'no sheets'})"
            )
        elif len(titles) > 1:
            problems.append(f"both sheets {' and '.join(titles)} hold the {role} table; keep one")
        else:
            found.append(titles[0])
    fail(name, problems)
    return found[0], found[1], found[2]


def _sheet(title: str, rows: list[tuple], wanted: tuple[str, ...], problems: list[str]) -> _Sheet | None:
    """The header and data rows of one sheet; data rows blank in every wanted column end the table."""
    if not rows or all(_empty(c) for c in rows[0]):
        problems.append(f"{title} sheet is empty (no header row)")
        return None
    columns: dict[str, int] = {}
    names: dict[str, str] = {}
    for n, header in enumerate(rows[0]):
        key = _norm(header)
        if key and key in columns:
            problems.append(f"{title} sheet: two {header} columns")
        elif key:
            columns[key], names[key] = n, str(header).strip()
    present = [w for w in wanted if w in columns]
    data = []
    for number, row in enumerate(rows[1:], start=2):
        cells = tuple(row[columns[w]] if columns[w] < len(row) else None for w in present)
        data.append((number, cells, all(_empty(c) for c in cells)))
    while data and data[-1][2]:
        data.pop()
    kept = []
    for number, _cells, blank in data:
        if blank:
            problems.append(f"{title} row {number} is blank (blank rows may only follow the table)")
        else:
            kept.append((number, rows[number - 1]))
    return _Sheet(title=title, columns=columns, rows=kept, column_names=names)


def _require(sheet: _Sheet, needed: list[tuple[str, tuple[str, ...]]], problems: list[str]) -> dict[str, int]:
    """Column index of each needed field, the field found under any of its accepted headers."""
    found = {}
    header = ", ".join(sheet.column_names.values())
    for field_name, accepted in needed:
        hit = [a for a in accepted if a in sheet.columns]
        if not hit:
            problems.append(f"{sheet.title} sheet: no {field_name} column (its header row has {header})")
        elif len(hit) > 1:
            shown = " and ".join(sheet.column_names[h] for h in hit)
            problems.append(f"{sheet.title} sheet: both {shown} columns; keep one")
        else:
            found[field_name] = sheet.columns[hit[0]]
    return found


def _cell(row: tuple, index: int) -> Any:
    return row[index] if index < len(row) else None


def _id_list(cell: Any) -> list[str] | None:
    """The readers or modalities listed in a TRUTH cell ("0,1,2"), or None if one is empty."""
    items = [_ident(x) for x in str(cell).split(",")] if isinstance(cell, str) else [_ident(cell)]
    return None if any(not x for x in items) else items


@dataclass(kw_only=True)
class _Truth:
    normal: list[int]
    abnormal: list[int]
    lesions: dict[int, list[int]]  # abnormal case -> lesion ids in increasing order
    weights: dict[int, list[float]]  # abnormal case -> weights in lesion order
    rows_per_case: Counter
    kind: str | None  # declared paradigm (new layout) or None (old layout)
    modalities: list[str] | None
    readers: list[str] | None


def _read_truth(sheet: _Sheet, problems: list[str]) -> _Truth | None:
    new = any(c in sheet.columns for c in ("readerid", "modalityid", "paradigm"))
    needed: list[tuple[str, tuple[str, ...]]] = [
        ("CaseID", ("caseid",)),
        ("LesionID", ("lesionid",)),
        ("Weight", ("weight",)),
    ]
    if new:
        needed += [("ReaderID", ("readerid",)), ("ModalityID", ("modalityid",)), ("Paradigm", ("paradigm",))]
    at = _require(sheet, needed, problems)
    if len(at) < len(needed):
        return None
    if not sheet.rows:
        problems.append(f"{sheet.title} sheet has no cases")
        return None
    entries: list[tuple[int, int, float, int, list[list[str]]]] = []
    for number, row in sheet.rows:
        values = {f: _cell(row, at[f]) for f in ("CaseID", "LesionID", "Weight")}
        case, lesion, weight = (
            _integer(values["CaseID"]),
            _integer(values["LesionID"]),
            _number(values["Weight"]),
        )
        parsed = {"CaseID": case, "LesionID": lesion, "Weight": weight}
        bad = False
        for field_name, value in values.items():
            noun = "a number" if field_name == "Weight" else "an integer"
            if _empty(value):
                problems.append(f"{sheet.title} row {number}: {field_name} is empty")
                bad = True
            elif parsed[field_name] is None:
                problems.append(f"{sheet.title} row {number}: {field_name} {_show(value)} is not {noun}")
                bad = True
        if not bad and lesion is not None and lesion < 0:
            problems.append(
                f"{sheet.title} row {number}: LesionID {values['LesionID']} is negative "
                "(0 marks a normal case)"
            )
            bad = True
        if not bad and weight is not None and weight < 0:
            problems.append(f"{sheet.title} row {number}: Weight {values['Weight']} is negative")
            bad = True
        lists = []
        for field_name in ("ReaderID", "ModalityID") if new else ():
            value = _cell(row, at[field_name])
            if _empty(value):
                problems.append(f"{sheet.title} row {number}: {field_name} is empty")
                bad = True
            elif (ids := _id_list(value)) is None:
                problems.append(f"{sheet.title} row {number}: {field_name} {_show(value)} lists an empty id")
                bad = True
            else:
                lists.append(ids)
        # not bad: every value parsed (the checks above)
        if not bad and case is not None and lesion is not None and weight is not None:
            entries.append((case, lesion, weight, number, lists))
    if problems:
        return None

    kind = modalities = readers = None
    if new:
        kind, modalities, readers = _design(sheet, at["Paradigm"], entries, problems)
        if problems:
            return None
    where: dict[tuple[int, int], int] = {}
    for case, lesion, _, number, _ in entries:
        if (case, lesion) in where:
            what = f"normal case {case}" if lesion == 0 else f"case {case} lesion {lesion}"
            problems.append(f"{sheet.title} rows {where[case, lesion]} and {number} both list {what}")
        where.setdefault((case, lesion), number)
    normal_rows = {case: number for case, lesion, _, number, _ in entries if lesion == 0}
    lesions: dict[int, dict[int, float]] = {}
    for case, lesion, weight, number, _ in entries:
        if lesion == 0:
            continue
        if case in normal_rows:
            problems.append(
                f"{sheet.title} rows {normal_rows[case]} and {number}: case {case} is listed as normal "
                f"(LesionID 0) and with lesion {lesion}"
            )
        lesions.setdefault(case, {}).setdefault(lesion, weight)
    weights: dict[int, list[float]] = {}
    for case, by_lesion in lesions.items():
        w = [by_lesion[lesion] for lesion in sorted(by_lesion)]
        total = math.fsum(w)
        if total == 0:
            w = [1.0 / len(w)] * len(w)
        elif not 1 - _WEIGHT_TOLERANCE <= total <= 1 + _WEIGHT_TOLERANCE:
            problems.append(
                f"{sheet.title} sheet: the weights of case {case} sum to {total:g}, not 1 "
                "(all 0 means equal weights)"
            )
        elif abs(total - 1) > _EXACT:
            w = [x / total for x in w]
        weights[case] = w
    if not lesions:
        problems.append(f"{sheet.title} sheet has no abnormal cases (rows with LesionID >= 1)")
    if problems:
        return None
    return _Truth(
        normal=sorted(normal_rows),
        abnormal=sorted(lesions),
        lesions={case: sorted(by_lesion) for case, by_lesion in lesions.items()},
        weights=weights,
        rows_per_case=Counter(case for case, *_ in entries),
        kind=kind,
        modalities=modalities,
        readers=readers,
    )


def _design(
    sheet: _Sheet, column: int, entries: list[tuple], problems: list[str]
) -> tuple[str | None, list[str] | None, list[str] | None]:
    """Paradigm, modalities and readers declared by the new TRUTH layout (factorial designs only)."""
    words = [str(row[column]).strip() for _, row in sheet.rows if not _empty(_cell(row, column))]
    kind = words[0].upper() if words else None
    design = words[1].upper() if len(words) > 1 else None
    if kind not in ("ROC", "FROC", "LROC"):
        shown = f"'{words[0]}'" if words else "nothing"
        problems.append(f"{sheet.title} sheet: the Paradigm column gives {shown}; expected ROC, FROC or LROC")
    if design is None:
        problems.append(
            f"{sheet.title} sheet: the Paradigm column gives no design (FCTRL) below the paradigm"
        )
    elif design.startswith("SPLIT-PLOT"):
        problems.append(
            f"{sheet.title} sheet: {words[1]} designs are not supported, only factorial ones (FCTRL)"
        )
    elif design in ("FCTRL-X-MOD", "CROSSED-X-MOD"):
        problems.append(
            f"{sheet.title} sheet: crossed-modality files (two modality factors) are not supported"
        )
    elif design not in ("FCTRL", "CROSSED"):
        problems.append(
            f"{sheet.title} sheet: unknown design '{words[1]}' in the Paradigm column (expected FCTRL)"
        )
    if problems:
        return None, None, None
    first_row, (readers, modalities) = entries[0][3], entries[0][4]
    for what, ids in (("ReaderID", readers), ("ModalityID", modalities)):
        twice = [x for x, n in Counter(ids).items() if n > 1]
        if twice:
            noun = "reader" if what == "ReaderID" else "modality"
            problems.append(f"{sheet.title} row {first_row}: {what} lists {noun} {twice[0]} twice")
    for *_, number, (row_readers, row_modalities) in entries[1:]:
        for what, ids, first in (
            ("ReaderID", row_readers, readers),
            ("ModalityID", row_modalities, modalities),
        ):
            if ids != first:
                problems.append(
                    f"{sheet.title} row {number}: {what} lists {','.join(ids)} but row {first_row} lists "
                    f"{','.join(first)}; in a factorial design every case is read by every reader "
                    "in every modality"
                )
    return kind, modalities, readers


@dataclass(kw_only=True)
class _Mark:
    row: int
    modality: str
    reader: str
    case: int
    lesion: int
    rating: float


def _read_marks(sheet: _Sheet, lesions: bool, problems: list[str]) -> list[_Mark]:
    ratings = ("fprating", "nlrating") if not lesions else ("tprating", "llrating")
    needed: list[tuple[str, tuple[str, ...]]] = [
        ("ReaderID", ("readerid",)),
        ("ModalityID", ("modalityid",)),
        ("CaseID", ("caseid",)),
    ]
    if lesions:
        needed.append(("LesionID", ("lesionid",)))
    rating_name = "TP_Rating (or LL_Rating)" if lesions else "FP_Rating (or NL_Rating)"
    needed.append((rating_name, ratings))
    at = _require(sheet, needed, problems)
    if len(at) < len(needed):
        return []
    marks = []
    for number, row in sheet.rows:
        values = {f: _cell(row, i) for f, i in at.items()}
        bad = False
        for field_name, value in values.items():
            if _empty(value):
                problems.append(f"{sheet.title} row {number}: {field_name.split(' ')[0]} is empty")
                bad = True
            elif field_name in ("CaseID", "LesionID") and _integer(value) is None:
                problems.append(f"{sheet.title} row {number}: {field_name} {_show(value)} is not an integer")
                bad = True
            elif field_name == rating_name and _number(value) is None:
                problems.append(f"{sheet.title} row {number}: rating {_show(value)} is not a finite number")
                bad = True
        case = _integer(values["CaseID"])
        lesion = _integer(values["LesionID"]) if lesions else 0
        rating = _number(values[rating_name])
        # not bad: every value parsed (the checks above)
        if not bad and case is not None and lesion is not None and rating is not None:
            marks.append(
                _Mark(
                    row=number,
                    modality=_ident(values["ModalityID"]),
                    reader=_ident(values["ReaderID"]),
                    case=case,
                    lesion=lesion,
                    rating=rating,
                )
            )
    return marks


def _check_marks(
    truth: _Truth, nl_title: str, ll_title: str, nl: list[_Mark], ll: list[_Mark], problems: list[str]
) -> None:
    known = set(truth.normal) | set(truth.abnormal)
    for m in nl:
        if m.case not in known:
            problems.append(f"{nl_title} row {m.row}: case {m.case} is not in the TRUTH sheet")
    seen: dict[tuple, int] = {}
    for m in ll:
        if m.case not in known:
            problems.append(f"{ll_title} row {m.row}: case {m.case} is not in the TRUTH sheet")
        elif m.case not in truth.lesions:
            problems.append(
                f"{ll_title} row {m.row}: case {m.case} is normal in the TRUTH sheet (LesionID 0) "
                "and has no lesion to rate"
            )
        elif m.lesion not in truth.lesions[m.case]:
            problems.append(
                f"{ll_title} row {m.row}: case {m.case} has no lesion {m.lesion} in the TRUTH sheet"
            )
        else:
            key = (m.modality, m.reader, m.case, m.lesion)
            if key in seen:
                problems.append(
                    f"{ll_title} rows {seen[key]} and {m.row} both rate lesion {m.lesion} of case {m.case} "
                    f"for reader {m.reader} in modality {m.modality}"
                )
            seen.setdefault(key, m.row)
    if truth.readers is not None and truth.modalities is not None:  # the new layout declares both
        for title, marks in ((nl_title, nl), (ll_title, ll)):
            for m in marks:
                if m.reader not in truth.readers:
                    problems.append(
                        f"{title} row {m.row}: reader {m.reader} is not among the TRUTH sheet's readers "
                        f"({','.join(truth.readers)})"
                    )
                if m.modality not in truth.modalities:
                    problems.append(
                        f"{title} row {m.row}: modality {m.modality} is not among the TRUTH sheet's "
                        f"modalities ({','.join(truth.modalities)})"
                    )


def _paradigm_checks(
    truth: _Truth,
    kind: str,
    titles: tuple[str, str],
    nl: list[_Mark],
    ll: list[_Mark],
    problems: list[str],
) -> None:
    """ROC: one TRUTH row per case and one rating per case; LROC: one lesion per abnormal case and
    at most one FP row per case (and at most one TP row, as for every lesion)."""
    if kind not in ("ROC", "LROC"):
        return
    for case in truth.abnormal:
        if len(truth.lesions[case]) > 1:
            problems.append(
                f"TRUTH sheet: case {case} has {len(truth.lesions[case])} lesions; {kind} data has one"
            )
    nl_title = titles[0]
    first: dict[tuple, int] = {}
    for m in nl:
        key = (m.modality, m.reader, m.case)
        if key in first:
            problems.append(
                f"{nl_title} rows {first[key]} and {m.row} both rate case {m.case} for reader {m.reader} "
                f"in modality {m.modality}; {kind} data has one rating per case"
            )
        first.setdefault(key, m.row)
        if kind == "ROC" and m.case in truth.lesions:
            problems.append(
                f"{nl_title} row {m.row}: case {m.case} is abnormal; ROC data rates abnormal cases "
                "in the TP (LL) sheet"
            )


def _infer_kind(truth: _Truth, nl: list[_Mark], modalities: list[str], readers: list[str]) -> str:
    """RJafroc's rule for the old layout: ROC if it looks like one rating per case, else FROC."""
    per_cell = Counter((m.modality, m.reader, m.case) for m in nl)
    normal = set(truth.normal)
    if (
        max(truth.rows_per_case.values()) == 1
        and max(per_cell.values(), default=0) <= 1
        and all(m.case in normal for m in nl)
        and all((i, j, k) in per_cell for i in modalities for j in readers for k in normal)
    ):
        return "ROC"
    return "FROC"


def read_excel(path: str | Path) -> ReaderStudy:
    """Read an RJafroc (JAFROC) Excel file, old or new TRUTH layout, into a ReaderStudy."""
    name = str(path)
    book = _load(Path(path), name)
    truth_title, nl_title, ll_title = _find_sheets(name, book)
    for title in (truth_title, nl_title, ll_title):
        if book[title] and {"modalityid1", "modalityid2"} & {_norm(h) for h in book[title][0]}:
            raise DatasetError(
                f"{name}: crossed-modality files (two modality factors, {title} sheet) are not supported."
            )
    problems: list[str] = []
    truth_sheet = _sheet(truth_title, book[truth_title], _TRUTH_FIELDS, problems)
    truth = _read_truth(truth_sheet, problems) if truth_sheet else None
    nl_sheet = _sheet(nl_title, book[nl_title], _NL_FIELDS, problems)
    nl = _read_marks(nl_sheet, False, problems) if nl_sheet else []
    ll_sheet = _sheet(ll_title, book[ll_title], _LL_FIELDS, problems)
    ll = _read_marks(ll_sheet, True, problems) if ll_sheet else []
    fail(name, problems)
    if truth is None:  # not reached: every way to no TRUTH table is a problem above
        raise DatasetError(f"{name}: no TRUTH table.")

    _check_marks(truth, nl_title, ll_title, nl, ll, problems)
    fail(name, problems)
    if truth.kind is not None and truth.modalities is not None and truth.readers is not None:
        kind, modalities, readers = truth.kind, truth.modalities, truth.readers
    else:
        modalities = natural_order(m.modality for m in nl + ll)
        readers = natural_order(m.reader for m in nl + ll)
        kind = _infer_kind(truth, nl, modalities, readers)
    if not ll and not nl:
        problems.append(f"no ratings: the {nl_title} and {ll_title} sheets have no rows")
    if kind == "ROC" and not truth.normal:
        problems.append("TRUTH sheet has no normal cases (LesionID 0); ROC data needs them")
    _paradigm_checks(truth, kind, (nl_title, ll_title), nl, ll, problems)
    fail(name, problems)
    return _build(name, Path(path).stem, kind, truth, nl, ll, modalities, readers)


def _build(
    name: str,
    study: str,
    kind: str,
    truth: _Truth,
    nl_marks: list[_Mark],
    ll_marks: list[_Mark],
    modalities: list[str],
    readers: list[str],
) -> ReaderStudy:
    cases = truth.normal + truth.abnormal
    k1, k2 = len(truth.normal), len(truth.abnormal)
    case_index = {c: k for k, c in enumerate(cases)}
    mod_index = {m: i for i, m in enumerate(modalities)}
    rdr_index = {r: j for j, r in enumerate(readers)}
    per_cell = Counter((m.modality, m.reader, m.case) for m in nl_marks)
    max_nl = max(per_cell.values(), default=1)
    lesions_per_case = np.array([len(truth.lesions[c]) for c in truth.abnormal], dtype=int)
    max_ll = int(lesions_per_case.max())
    weights = np.zeros((k2, max_ll))
    lesion_ids = np.zeros((k2, max_ll), dtype=int)
    for k, case in enumerate(truth.abnormal):
        n = lesions_per_case[k]
        weights[k, :n] = truth.weights[case]
        lesion_ids[k, :n] = truth.lesions[case]
    shape = (len(modalities), len(readers))
    nl = np.full((*shape, k1 + k2, max_nl), NO_MARK)
    ll = np.full((*shape, k2, max_ll), NO_MARK)
    filled: Counter = Counter()
    for m in nl_marks:
        i, j, k = mod_index[m.modality], rdr_index[m.reader], case_index[m.case]
        nl[i, j, k, filled[i, j, k]] = m.rating
        filled[i, j, k] += 1
    for m in ll_marks:
        k = case_index[m.case] - k1
        slot = truth.lesions[m.case].index(m.lesion)
        ll[mod_index[m.modality], rdr_index[m.reader], k, slot] = m.rating
    try:
        return ReaderStudy(
            kind=kind,
            modality_ids=tuple(modalities),
            reader_ids=tuple(readers),
            k1=k1,
            nl=nl,
            ll=ll,
            lesions_per_case=lesions_per_case,
            weights=weights,
            lesion_ids=lesion_ids,
            case_ids=tuple(str(c) for c in cases),
            name=study,
        )
    except DatasetError as exc:
        raise DatasetError(f"{name}: {exc}") from None


def _excel_ids(data: ReaderStudy) -> list[int]:
    """Integer case ids: the study's own where they keep its case order, else 1..K."""
    k1, k = data.k1, data.shape[2]
    try:
        cases = [int(c) for c in data.case_ids]
    except ValueError:
        cases = []
    ordered = (
        len(cases) == k
        and all(a < b for a, b in itertools.pairwise(cases[:k1]))
        and all(a < b for a, b in itertools.pairwise(cases[k1:]))
        and len(set(cases)) == k
    )
    return cases if ordered else list(range(1, k + 1))


def rjafroc_ids_problem(data: ReaderStudy) -> str | None:
    """Why RJafroc 2.1.3 would misread the study's reader or modality ids, or None.

    Its reader splits the TRUTH sheet's id lists at commas and at spaces
    (``R/DfReadDataFile.R``), so an id with either becomes two ids.
    """
    for x in (*data.modality_ids, *data.reader_ids):
        if "," in x or any(c.isspace() for c in x):
            return (
                f"RJafroc reads {x!r} as more than one id (it splits reader and modality ids at commas "
                "and spaces): rename the condition or reader code to export for RJafroc."
            )
    return None


def write_excel(data: ReaderStudy, path: str | Path) -> None:
    """Write a ReaderStudy as an RJafroc Excel file in the layout RJafroc 2.1.3 reads.

    That is the new layout read by ``DfReadDataFile(file, newExcelFileFormat = TRUE)``
    (RJafroc 2.1.3, ``R/DfReadDataFile.R``, ``ReadJAFROCNewFormat``): sheets ``TRUTH``,
    ``FP`` and ``TP`` (it sorts the sheet names and expects TRUTH, FP or NL, TP or LL), the
    ratings in columns named exactly ``FP_Rating`` and ``TP_Rating``, integer ``CaseID``
    and ``LesionID``, reader and modality ids as text (RJafroc keeps them as strings; its
    old-format reader would turn ids such as ``R1`` into NA). RJafroc requires each case's
    lesion ids to run 1, 2, ..., n ("Non-sequential lesionID"), and places a TP rating by
    that number, so lesions are written with their slot number, not the study's own ids.
    Numbers are written in full (shortest round-trip) precision, so reading the file back
    gives the same ratings and weights.
    """
    name = str(path)
    if problem := rjafroc_ids_problem(data):
        raise DatasetError(f"{name}: {problem}")
    cases = _excel_ids(data)
    k1 = data.k1
    readers, modalities = ",".join(data.reader_ids), ",".join(data.modality_ids)
    design = [data.kind, "FCTRL"]
    truth: list[list[Any]] = [[case, 0, 0] for case in cases[:k1]]
    for k2, case in enumerate(cases[k1:]):
        n = data.lesions_per_case[k2]
        w = [float(x) for x in data.weights[k2, :n]]
        if w == [1.0 / n] * n:
            w = [0] * n  # RJafroc's way of saying "equal weights"
        truth += [[case, slot + 1, w[slot]] for slot in range(n)]
    truth = [
        [*row, readers, modalities, design[n] if n < len(design) else None] for n, row in enumerate(truth)
    ]
    fp_rows: list[list[Any]] = []
    tp_rows: list[list[Any]] = []
    for i, modality in enumerate(data.modality_ids):
        for j, reader in enumerate(data.reader_ids):
            for k, case in enumerate(cases):
                fp_rows += [[reader, modality, case, float(r)] for r in data.nl[i, j, k] if r != NO_MARK]
            for k2, case in enumerate(cases[k1:]):
                for slot in range(data.lesions_per_case[k2]):
                    rating = data.ll[i, j, k2, slot]
                    if rating != NO_MARK:
                        tp_rows.append([reader, modality, case, slot + 1, float(rating)])
    sheets = [
        ("TRUTH", [["CaseID", "LesionID", "Weight", "ReaderID", "ModalityID", "Paradigm"], *truth]),
        ("FP", [["ReaderID", "ModalityID", "CaseID", "FP_Rating"], *fp_rows]),
        ("TP", [["ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating"], *tp_rows]),
    ]
    try:
        write_xlsx(Path(path), sheets)
    except OSError as exc:
        raise DatasetError(f"{name}: cannot write ({exc}).") from None


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

#: Cell style 1 is Excel's quote prefix (ECMA-376 Part 1, 18.8.45): text typed with a
#: leading quote, which Excel keeps as text even when the cell is edited.
QUOTE_PREFIX_STYLE = 1
_STYLES = (
    f'{_XML_HEAD}<styleSheet xmlns="{_MAIN_NS}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _column_letter(n: int) -> str:
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _sheet_xml(rows: list[list[Any]]) -> str:
    out = [f'{_XML_HEAD}<worksheet xmlns="{_MAIN_NS}"><sheetData>']
    for r, row in enumerate(rows, start=1):
        out.append(f'<row r="{r}">')
        for c, value in enumerate(row):
            ref = f"{_column_letter(c)}{r}"
            if value is None:
                continue
            if isinstance(value, str):
                style = f' s="{QUOTE_PREFIX_STYLE}"' if runs_as_formula(value) else ""
                text = escape(value, {"\r": "&#13;"})  # a raw CR would be read back as LF
                out.append(
                    f'<c r="{ref}" t="inlineStr"{style}><is><t xml:space="preserve">{text}</t></is></c>'
                )
            else:
                out.append(
                    f'<c r="{ref}"><v>{format_number(value) if isinstance(value, float) else value}</v></c>'
                )
        out.append("</row>")
    out.append("</sheetData></worksheet>")
    return "".join(out)


def write_xlsx(path: Path, sheets: list[tuple[str, list[list[Any]]]]) -> None:
    """A minimal SpreadsheetML package (ECMA-376): workbook, worksheets, relationships, styles.

    openpyxl writes numbers with 16 significant digits, which does not round-trip every
    double; this writes the shortest text that does. A str is always a text cell, never a
    formula; text that a spreadsheet would run as one (``stats.spreadsheet``) keeps its
    exact value and gets the quote-prefix style.
    """
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet_type}"/>'
        for n in range(1, len(sheets) + 1)
    )
    content_types = (
        f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>"
    )
    root_rels = (
        f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}">'
        f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'{_XML_HEAD}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><sheets>'
        + "".join(
            f'<sheet name="{escape(title)}" sheetId="{n}" r:id="rId{n}"/>'
            for n, (title, _) in enumerate(sheets, start=1)
        )
        + "</sheets></workbook>"
    )
    workbook_rels = (
        f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}">'
        + "".join(
            f'<Relationship Id="rId{n}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(sheets) + 1)
        )
        + f'<Relationship Id="rId{len(sheets) + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
        + "</Relationships>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", content_types)
        package.writestr("_rels/.rels", root_rels)
        package.writestr("xl/workbook.xml", workbook)
        package.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        package.writestr("xl/styles.xml", _STYLES)
        for n, (_, rows) in enumerate(sheets, start=1):
            package.writestr(f"xl/worksheets/sheet{n}.xml", _sheet_xml(rows))
