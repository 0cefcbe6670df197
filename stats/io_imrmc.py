"""The iMRMC input format (ROC data), as described in the iMRMC user manual (FDA/DIDSR iMRMC).

A header of free text (optionally with ``N0:``, ``N1:``, ``NR:`` and ``NM:`` lines giving
the numbers of normal and abnormal cases, readers and modalities), a line
``BEGIN DATA:``, then one line per observation, ``readerID,caseID,modalityID,score``.
Truth lines have readerID ``-1`` (the R package's data frames write ``truth``), any
modalityID (``0``, or ``truth`` as in RJafroc's ``RocData.imrmc``) and score 0
(signal absent, normal case) or 1 (signal present, abnormal case); every case needs
one. The other lines are the readers' ratings, one per reader x modality x case.

Ids stay strings, in numeric order when every id is an integer and in order of first
appearance otherwise; a reader x modality x case without a line is a missing rating (-inf;
``stats.io_tidy.rated`` gives the mask of the reads the file holds, which ``python -m stats
ustat`` analyses).
"""

from pathlib import Path

from .dataset import NO_MARK, DatasetError, ReaderStudy
from .io_tidy import build_roc, fail, format_number, natural_order, parse_rating, roc_table
from .spreadsheet import spreadsheet_safe

TRUTH_READERS = ("-1", "truth")
_COUNTS = {"N0": "normal cases", "N1": "abnormal cases", "NR": "readers", "NM": "modalities"}


def read_imrmc(path: str | Path) -> ReaderStudy:
    """Read an iMRMC ``.imrmc`` file (ROC data) into a ReaderStudy."""
    name = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{name}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{name}: not a readable text file ({exc}).") from None
    begin = next((n for n, text in enumerate(lines) if text.strip().upper() == "BEGIN DATA:"), None)
    if begin is None:
        raise DatasetError(f"{name}: no 'BEGIN DATA:' line (an iMRMC file has a header, then that line).")
    declared: dict[str, tuple[int, str]] = {}
    problems = []
    for line, text in enumerate(lines[:begin], start=1):
        key, colon, value = text.partition(":")
        if colon and key.strip().upper() in _COUNTS:
            try:
                declared[key.strip().upper()] = (int(value.strip()), f"line {line}")
            except ValueError:
                problems.append(f"line {line}: {key.strip()} '{value.strip()}' is not a whole number")

    truth: dict[str, int] = {}
    truth_line: dict[str, int] = {}
    ratings: dict[tuple[str, str, str], float] = {}
    rating_line: dict[tuple[str, str, str], int] = {}
    readers, modalities = [], []
    for line, text in enumerate(lines[begin + 1 :], start=begin + 2):
        if not text.strip():
            continue
        fields = [f.strip() for f in text.split(",")]
        if len(fields) != 4 or not all(fields):
            problems.append(f"line {line}: expected readerID,caseID,modalityID,score, got '{text.strip()}'")
            continue
        reader, case, modality, score_text = fields
        score = parse_rating(score_text)
        if reader.lower() in TRUTH_READERS:
            if score not in (0.0, 1.0):
                problems.append(f"line {line}: truth of case {case} is '{score_text}', not 0 or 1")
            elif case in truth:
                problems.append(f"lines {truth_line[case]} and {line} both give the truth of case {case}")
            else:
                truth[case], truth_line[case] = int(score), line
            continue
        if score is None:
            problems.append(f"line {line}: score '{score_text}' is not a finite number")
            continue
        rated = (modality, reader, case)
        if rated in ratings:
            problems.append(
                f"lines {rating_line[rated]} and {line} both rate case {case} for reader {reader} "
                f"in modality {modality}"
            )
            continue
        ratings[rated], rating_line[rated] = score, line
        readers.append(reader)
        modalities.append(modality)
    fail(name, problems)
    first_line: dict[str, int] = {}
    for (_, _, case), line in rating_line.items():
        first_line.setdefault(case, line)
    fail(
        name,
        [
            f"line {line}: case {c} has no truth line (readerID -1)"
            for c, line in first_line.items()
            if c not in truth
        ],
    )
    if not ratings:
        raise DatasetError(f"{name}: no ratings after 'BEGIN DATA:'.")
    modality_ids, reader_ids = natural_order(modalities), natural_order(readers)
    found = {
        "N0": sum(1 for t in truth.values() if t == 0),
        "N1": sum(1 for t in truth.values() if t == 1),
        "NR": len(reader_ids),
        "NM": len(modality_ids),
    }
    fail(
        name,
        [
            f"{where}: {key} says {number} {_COUNTS[key]}, the data has {found[key]}"
            for key, (number, where) in declared.items()
            if number != found[key]
        ],
    )
    return build_roc(name, Path(path).stem, truth, ratings, modality_ids, reader_ids)


def write_imrmc(data: ReaderStudy, path: str | Path, description: str = "") -> None:
    """Write ROC data in the iMRMC format (truth lines first; missing ratings left out).

    The description and ids that a spreadsheet would run as a formula get a leading
    quote (``stats.spreadsheet``), as in every CSV this package writes.
    """
    name = str(path)
    case_ids, truth, ratings = roc_table(data, name, "iMRMC")
    safe = spreadsheet_safe
    lines = [
        safe((description or data.name or "reader study").replace("\n", " ")),
        f"N0:{truth.count(0)}",
        f"N1:{truth.count(1)}",
        f"NR:{len(data.reader_ids)}",
        f"NM:{len(data.modality_ids)}",
        "BEGIN DATA:",
    ]
    lines += [f"-1,{safe(case)},truth,{status}" for case, status in zip(case_ids, truth, strict=True)]
    for i, modality in enumerate(data.modality_ids):
        for j, reader in enumerate(data.reader_ids):
            for k, case in enumerate(case_ids):
                if ratings[i, j, k] != NO_MARK:
                    lines.append(
                        f"{safe(reader)},{safe(case)},{safe(modality)},{format_number(ratings[i, j, k])}"
                    )
    bad = [
        x for x in (*data.modality_ids, *data.reader_ids, *case_ids) if "," in x or x.lower() in TRUTH_READERS
    ]
    if bad:
        raise DatasetError(f"{name}: the id '{bad[0]}' cannot be written in the iMRMC format.")
    try:
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{name}: cannot write ({exc}).") from None
