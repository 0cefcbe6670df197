"""Reads of segmentation masks and their overlap metrics."""

from dataclasses import dataclass, field

from readerstudy.segmentation.models import OverlapMeasurement, SegmentationMask
from readerstudy.studies.models import Case, Study
from stats.matching import natural_key

#: The metric columns of an overlap row (those of the study record's ``overlap`` table).
OVERLAP_COLUMNS = (
    "dice",
    "jaccard",
    "hd95_mm",
    "volume_ml",
    "reference_volume_ml",
    "volume_difference_ml",
    "relative_volume_difference_percent",
)


def overlap_rows(study: Study) -> list[dict]:
    """One row per case x condition x label (``case``, ``condition``, ``label`` and
    :data:`OVERLAP_COLUMNS`; None where a metric is undefined), for the study record."""
    measurements = OverlapMeasurement.objects.filter(mask__case__study=study).select_related(
        "mask__case", "mask__condition"
    )
    rows = [
        {
            "case": m.mask.case.code,
            "condition": m.mask.role,
            "label": m.label,
            **{column: getattr(m, column) for column in OVERLAP_COLUMNS},
            "_order": (natural_key(m.mask.case.code), *_condition_order(m.mask), m.pk),
        }
        for m in measurements
        if m.mask.condition is not None
    ]
    rows.sort(key=lambda r: r["_order"])
    for row in rows:
        del row["_order"]
    return rows


def _condition_order(mask: SegmentationMask) -> tuple[int, str]:
    condition = mask.condition
    return (-1, "") if condition is None else (condition.order, condition.label)


@dataclass
class CaseMasks:
    """A case's masks for the coordinator's page: its reference, its condition masks and their metrics."""

    case: Case
    reference: SegmentationMask | None = None
    masks: list[SegmentationMask] = field(default_factory=list)
    overlaps: list[OverlapMeasurement] = field(default_factory=list)


def segmentation_cases(study: Study) -> list[CaseMasks]:
    """Every case of the study (natural order) with its masks and overlap metrics."""
    cases = {
        case.pk: CaseMasks(case=case) for case in sorted(study.cases.all(), key=lambda c: natural_key(c.code))
    }
    masks = SegmentationMask.objects.filter(case__study=study).select_related("condition", "uploaded_by")
    for mask in masks:
        entry = cases[mask.case_id]
        if mask.condition_id is None:
            entry.reference = mask
        else:
            entry.masks.append(mask)
    overlaps = OverlapMeasurement.objects.filter(mask__case__study=study).select_related("mask__condition")
    for overlap in overlaps:
        cases[overlap.mask.case_id].overlaps.append(overlap)
    for entry in cases.values():
        entry.masks.sort(key=lambda m: _condition_order(m))
        entry.overlaps.sort(key=lambda o: (*_condition_order(o.mask), o.pk))
    return list(cases.values())


def mask_for_study(study: Study, mask_id: object) -> SegmentationMask | None:
    """The study's mask with this id, or None (also for an id that is not a number)."""
    try:
        pk = int(str(mask_id))
    except ValueError:
        return None
    return (
        SegmentationMask.objects.filter(case__study=study, pk=pk).select_related("case", "condition").first()
    )
