"""The tidy ("long") CSV layout of ROC studies: one row per reader x modality x case.

Columns ``reader``, ``modality`` (or ``treatment``), ``case``, ``truth`` (0 = normal,
1 = abnormal) and ``rating``, as in the data frames of the R package MRMCaov
(Smith & Hillis; its ``VanDyke`` and ``Franken`` data sets, documented in its
reference manual) and in the ``.csv`` variant of the Iowa OR-DBM MRMC input that
RJafroc's ``DfReadDataFile(format = "MRMC")`` reads (RJafroc's ``RocData.csv`` holds
dataset02 this way). Other columns (``treatment_name``, ``case2``, ...) are ignored.

A missing rating (-inf) is written ``NA`` (R's missing value); on reading, ``NA``, an
empty rating cell and a reader x modality x case without a row all mean a missing
rating (:func:`rated` gives the mask of the ratings present, e.g. for ``stats.ustat``).
Readers, modalities and cases keep their ids as strings, in numeric order when every id is an
integer and in order of first appearance otherwise; normal cases come first.

This module also holds the helpers the one-rating-per-case formats share (iMRMC).
"""

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .dataset import NO_MARK, DatasetError, ReaderStudy, roc_study
from .spreadsheet import SafeCsvWriter

_MAX_PROBLEMS = 8


def natural_order(ids: Iterable[str]) -> list[str]:
    """Unique ids, in numeric order if every id is an integer, else as they first appear."""
    unique = list(dict.fromkeys(ids))
    try:
        return sorted(unique, key=int)
    except ValueError:
        return unique


def fail(name: str, problems: list[str]) -> None:
    """Raise one DatasetError naming the file and (the first few of) its problems."""
    if not problems:
        return
    shown = "; ".join(problems[:_MAX_PROBLEMS])
    more = len(problems) - _MAX_PROBLEMS
    raise DatasetError(f"{name}: {shown}" + (f"; and {more} more problem(s)." if more > 0 else ""))


def parse_rating(text: str) -> float | None:
    """A finite number, or None."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def format_number(value: float) -> str:
    """The shortest text that reads back as the same float ("5" rather than "5.0")."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def build_roc(
    name: str,
    study: str,
    truth: dict[str, int],
    ratings: dict[tuple[str, str, str], float],
    modalities: list[str],
    readers: list[str],
) -> ReaderStudy:
    """A ROC ReaderStudy from ``truth[case]`` (0/1) and ``ratings[(modality, reader, case)]``."""
    cases = natural_order(truth)
    normal = [c for c in cases if truth[c] == 0]
    abnormal = [c for c in cases if truth[c] == 1]
    if not normal or not abnormal:
        fail(name, [f"ROC data needs normal and abnormal cases; found {len(normal)} and {len(abnormal)}"])
    index = {c: k for k, c in enumerate(normal + abnormal)}
    mod_index = {m: i for i, m in enumerate(modalities)}
    rdr_index = {r: j for j, r in enumerate(readers)}
    case_ratings = np.full((len(modalities), len(readers), len(index)), NO_MARK)
    for (modality, reader, case), rating in ratings.items():
        case_ratings[mod_index[modality], rdr_index[reader], index[case]] = rating
    try:
        return roc_study(case_ratings, len(normal), modalities, readers, normal + abnormal, study)
    except DatasetError as exc:
        raise DatasetError(f"{name}: {exc}") from None


def rated(data: ReaderStudy) -> np.ndarray:
    """``[I, J, K]``: True where ROC data holds a case's rating, False where it is missing (-inf:
    no line in an iMRMC file, ``NA`` or no row in a tidy CSV) -- the read mask of
    :func:`stats.ustat.ustat_analysis`, for which a missing rating is a read not made."""
    ratings = np.concatenate([data.nl[:, :, : data.k1, 0], data.ll[:, :, :, 0]], axis=2)
    return np.asarray(ratings != NO_MARK)


def roc_table(data: ReaderStudy, name: str, fmt: str) -> tuple[list[str], list[int], np.ndarray]:
    """Case ids, truth (0/1) and ratings ``[I, J, K]`` of ROC data, for one-rating-per-case formats."""
    if data.kind != "ROC":
        raise DatasetError(f"{name}: the {fmt} format holds ROC data only; this dataset is {data.kind}.")
    k1, k = data.k1, data.shape[2]
    if np.any(data.nl[:, :, :k1, 1:] != NO_MARK) or np.any(data.nl[:, :, k1:] != NO_MARK):
        raise DatasetError(
            f"{name}: the {fmt} format has one rating per case; this ROC dataset has extra NL marks."
        )
    if data.ll.shape[3] != 1 or np.any(data.lesions_per_case != 1):
        raise DatasetError(f"{name}: the {fmt} format has one rating per case; this dataset has lesions.")
    case_ids = [str(c) for c in data.case_ids]
    if len(case_ids) != k or len(set(case_ids)) != k:
        case_ids = [str(n) for n in range(1, k + 1)]
    ratings = np.concatenate([data.nl[:, :, :k1, 0], data.ll[:, :, :, 0]], axis=2)
    return case_ids, [0] * k1 + [1] * (k - k1), ratings


def read_tidy(path: str | Path) -> ReaderStudy:
    """Read a tidy ROC CSV (reader, modality/treatment, case, truth, rating) into a ReaderStudy."""
    name = str(path)
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise DatasetError(f"{name}: no such file.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{name}: not a readable CSV file ({exc}).") from None
    if not rows:
        raise DatasetError(f"{name}: the file is empty.")
    header = [h.strip().lower() for h in rows[0]]
    columns = {h: n for n, h in reversed(list(enumerate(header)))}
    problems = []
    if "modality" in columns and "treatment" in columns:
        problems.append("both a 'modality' and a 'treatment' column; keep one")
    modality_column = "modality" if "modality" in columns else "treatment"
    wanted = ("reader", modality_column, "case", "truth", "rating")
    missing = [c for c in wanted if c not in columns]
    if missing:
        problems.append(
            f"no {', '.join(repr(c) for c in missing)} column (the header has {', '.join(rows[0])}; "
            "expected reader, modality or treatment, case, truth, rating)"
        )
    fail(name, problems)
    at = [columns[c] for c in wanted]

    truth: dict[str, int] = {}
    truth_line: dict[str, int] = {}
    ratings: dict[tuple[str, str, str], float] = {}
    rating_line: dict[tuple[str, str, str], int] = {}
    readers, modalities = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            problems.append(f"line {line}: {len(row)} fields, the header has {len(header)}")
            continue
        reader, modality, case, status, rating_text = (row[n].strip() for n in at)
        empty = [
            c for c, v in zip(wanted, (reader, modality, case, status, rating_text), strict=True) if not v
        ]
        if empty:
            problems.append(f"line {line}: {', '.join(empty)} is empty")
            continue
        value = parse_rating(status)
        if value not in (0.0, 1.0):
            problems.append(f"line {line}: truth '{status}' is not 0 (normal) or 1 (abnormal)")
            continue
        rating = NO_MARK if rating_text.upper() in ("", "NA") else parse_rating(rating_text)
        if rating is None:
            problems.append(f"line {line}: rating '{rating_text}' is not a finite number (or NA)")
            continue
        if case in truth and truth[case] != int(value):
            problems.append(
                f"line {line}: case {case} has truth {int(value)}, but line {truth_line[case]} gives "
                f"{truth[case]}"
            )
            continue
        truth.setdefault(case, int(value))
        truth_line.setdefault(case, line)
        key = (modality, reader, case)
        if key in ratings:
            problems.append(
                f"lines {rating_line[key]} and {line} both rate case {case} for reader {reader} "
                f"in modality {modality}"
            )
            continue
        ratings[key], rating_line[key] = rating, line
        readers.append(reader)
        modalities.append(modality)
    fail(name, problems)
    if not ratings:
        raise DatasetError(f"{name}: no rows after the header.")
    return build_roc(name, Path(path).stem, truth, ratings, natural_order(modalities), natural_order(readers))


def write_tidy(data: ReaderStudy, path: str | Path) -> None:
    """Write ROC data as a tidy CSV: reader, treatment, case, truth, rating (NA where missing).

    Ids that a spreadsheet would run as a formula get a leading quote (``stats.spreadsheet``).
    """
    name = str(path)
    case_ids, truth, ratings = roc_table(data, name, "tidy CSV")
    try:
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            out = SafeCsvWriter(handle, lineterminator="\n")
            out.writerow(["reader", "treatment", "case", "truth", "rating"])
            for i, modality in enumerate(data.modality_ids):
                for j, reader in enumerate(data.reader_ids):
                    for k, case in enumerate(case_ids):
                        rating = ratings[i, j, k]
                        text = "NA" if rating == NO_MARK else format_number(rating)
                        out.writerow([reader, modality, case, truth[k], text])
    except OSError as exc:
        raise DatasetError(f"{name}: cannot write ({exc}).") from None
