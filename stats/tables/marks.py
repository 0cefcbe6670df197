"""Marks matched to the reference lesions: the FROC data of the study and the ``lesion_matches`` table.

The matching is :func:`stats.matching.froc_study` (proximity criterion, Chakraborty,
*Observer Performance Methods for Diagnostic Imaging*, CRC Press 2017, §12.3-12.4).
"""

from dataclasses import dataclass

from ..dataset import ReaderStudy
from ..matching import Mark, MarkMatch, TrueLesion, froc_study, natural_key
from ..study_record import StudyRecord
from .table import Part, Table, num


@dataclass(frozen=True, kw_only=True)
class Matching(Part):
    """The FROC data of the cases used and every mark's decision."""

    froc: ReaderStudy
    matches: tuple[MarkMatch, ...] = ()


def true_lesions(record: StudyRecord, cases: set[str]) -> list[TrueLesion]:
    """The reference lesions of ``cases``."""
    return [
        TrueLesion(
            case=row["case"],
            lesion=row["lesion"],
            position=(row["x_mm"], row["y_mm"], row["z_mm"]),
            size_mm=row["size_mm"],
            weight=row["weight"],
        )
        for row in record.lesions
        if row["case"] in cases
    ]


def _marks(rows: list[dict], cases: set[str]) -> list[Mark]:
    return [
        Mark(
            modality=row["condition"],
            reader=row["reader"],
            case=row["case"],
            position=(row["x_mm"], row["y_mm"], row["z_mm"]),
            rating=row["rating"],
            mark=row["mark"],
        )
        for row in rows
        if row["case"] in cases
    ]


def froc_of_marks(
    record: StudyRecord, rows: list[dict], *, cases: list[str], conditions: list[str], readers: list[str]
) -> tuple[ReaderStudy, list[MarkMatch]]:
    """The FROC data of mark ``rows`` (the record's ``marks`` columns) on ``cases``, matched to the
    record's reference lesions by the settings' acceptance rule: the one matching of every analysis
    (the readers' and, in :mod:`.standalone`, an algorithm's)."""
    settings = record.settings
    return froc_study(
        true_lesions(record, set(cases)),
        _marks(rows, set(cases)),
        modalities=conditions,
        readers=readers,
        cases=cases,
        rule=settings.acceptance_rule(),
        duplicates=settings.duplicates,
        name=str(record.study.get("name", "")),
    )


def matching_part(record: StudyRecord, cases: list[str]) -> Matching:
    """Match the marks on ``cases``; abnormal cases without located lesions are left out with a note."""
    settings = record.settings
    flagged_abnormal = {row["case"] for row in record.cases if row["abnormal"]}
    with_lesions = {row["case"] for row in record.lesions}
    unlocalised = sorted((flagged_abnormal - with_lesions) & set(cases), key=natural_key)
    notes = []
    if unlocalised:
        notes.append(
            "Left out of the detection analysis (abnormal in the reference but without located lesions): "
            + ", ".join(unlocalised)
            + "."
        )
    used = [c for c in cases if c not in set(unlocalised)]
    froc, matches = froc_of_marks(
        record, record.marks, cases=used, conditions=record.condition_ids, readers=record.reader_ids
    )
    table = _matches_table(matches, settings.acceptance_rule().describe())
    return Matching(tables=(table,), notes=tuple(notes), froc=froc, matches=tuple(matches))


def _matches_table(matches: list[MarkMatch], rule: str) -> Table:
    ordered = sorted(
        matches,
        key=lambda m: (m.mark.modality, natural_key(m.mark.reader), natural_key(m.mark.case), m.mark.mark),
    )
    return Table(
        name="lesion_matches",
        title="Marks matched to reference lesions",
        columns=("condition", "reader", "case", "mark", "rating", "outcome", "lesion", "distance_mm"),
        rows=tuple(
            {
                "condition": m.mark.modality,
                "reader": m.mark.reader,
                "case": m.mark.case,
                "mark": m.mark.mark,
                "rating": num(m.mark.rating),
                "outcome": m.outcome,
                "lesion": m.lesion or "",
                "distance_mm": num(m.distance_mm),
            }
            for m in ordered
        ),
        notes=(
            f"A mark is a lesion localisation (LL) when it lies {rule}; one mark per lesion counts "
            "(the highest rated); other marks on a found lesion are duplicates.",
        ),
    )
