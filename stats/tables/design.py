"""The ``design`` table: what the study holds, and which cases the paired analyses use."""

from ..matching import natural_key
from ..study_record import StudyRecord
from .table import Cell, Part, Table


def complete_cases(
    record: StudyRecord,
    readers: tuple[str, ...] | list[str] | None = None,
    cases: list[str] | None = None,
    group: str | None = None,
) -> tuple[list[str], list[str]]:
    """Cases read by every reader under every condition, and notes on the ones left out.

    ``readers`` and ``cases`` default to the study's; a split-plot reader group passes its
    own (and its name as ``group``, which the notes then mention).
    """
    conditions = record.condition_ids
    readers = record.reader_ids if readers is None else readers
    read = {(r["condition"], r["reader"], r["case"]) for r in record.readings}
    if cases is None:
        cases = sorted((row["case"] for row in record.cases), key=natural_key)
    where = f" (group {group})" if group else ""
    complete, notes = [], []
    for case in cases:
        missing = [(c, r) for c in conditions for r in readers if (c, r, case) not in read]
        if not missing:
            complete.append(case)
        else:
            shown = ", ".join(f"{r} under {c}" for c, r in missing[:4])
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            notes.append(f"Case {case}{where} left out of paired analyses: not read by {shown}{more}.")
    return complete, notes


def design_part(
    record: StudyRecord,
    complete: list[str],
    left_out: list[str],
    extra_rows: tuple[dict[str, Cell], ...] = (),
) -> Part:
    """The counts of the study's data (the generative conditions, made by a model that can invent
    detail, by name); ``left_out`` (from :func:`complete_cases`) become its notes;
    ``extra_rows`` (e.g. a split-plot study's reader groups) follow the counts."""
    generative = [c for c in record.condition_ids if c in record.generative_condition_ids]
    rows: tuple[dict[str, Cell], ...] = (
        {"item": "conditions", "count": len(record.conditions), "detail": ", ".join(record.condition_ids)},
        {"item": "generative conditions", "count": len(generative), "detail": ", ".join(generative)},
        {"item": "readers", "count": len(record.readers), "detail": ", ".join(record.reader_ids)},
        {"item": "cases", "count": len(record.cases), "detail": ""},
        {"item": "cases read by every reader in every condition", "count": len(complete), "detail": ""},
        {"item": "readings submitted", "count": len(record.readings), "detail": ""},
        {"item": "answers", "count": len(record.answers), "detail": ""},
        {"item": "marks", "count": len(record.marks), "detail": ""},
        {"item": "reference lesions", "count": len(record.lesions), "detail": ""},
        *extra_rows,
    )
    table = Table(
        name="design",
        title="Study design and data",
        columns=("item", "count", "detail"),
        rows=rows,
        notes=tuple(left_out),
    )
    return Part(tables=(table,))
