"""Reads of standalone algorithms: the coordinator's overview and the study record's rows."""

from dataclasses import dataclass

from django.db.models import Count

from readerstudy.standalone.models import (
    StandaloneAlgorithm,
    StandaloneImport,
    StandaloneMark,
    StandaloneRating,
)
from readerstudy.studies.models import Study
from stats.matching import natural_key


@dataclass(frozen=True)
class AlgorithmOverview:
    """An algorithm with its imports (newest first) and its outputs per condition label."""

    algorithm: StandaloneAlgorithm
    imports: list[StandaloneImport]
    outputs: dict[str, int]


def standalone_overview(study: Study) -> list[AlgorithmOverview]:
    """Every algorithm of the study, in code order, with what was imported."""
    algorithms = list(
        StandaloneAlgorithm.objects.filter(study=study)
        .select_related("created_by")
        .prefetch_related("imports__imported_by")
    )
    counts: dict[int, dict[str, int]] = {a.pk: {} for a in algorithms}
    for model in (StandaloneMark, StandaloneRating):
        for algorithm_id, label, n in (
            model.objects.filter(algorithm__study=study)
            .values_list("algorithm_id", "condition__label")
            .annotate(n=Count("pk"))
            .order_by("condition__order")
        ):
            counts[algorithm_id][label] = counts[algorithm_id].get(label, 0) + n
    return [
        AlgorithmOverview(algorithm=a, imports=list(a.imports.all()), outputs=counts[a.pk])
        for a in algorithms
    ]


def standalone_exists(study: Study) -> bool:
    """Whether the study has any standalone algorithm."""
    return StandaloneAlgorithm.objects.filter(study=study).exists()


def standalone_record_rows(study: Study) -> tuple[list[dict], list[dict], list[dict]]:
    """The study record's ``standalone_readers``, ``standalone_marks`` and ``standalone_ratings``."""
    readers = [
        {"reader": code, "name": name, "kind": kind}
        for code, name, kind in StandaloneAlgorithm.objects.filter(study=study).values_list(
            "code", "name", "kind"
        )
    ]
    readers.sort(key=lambda r: natural_key(r["reader"]))
    marks = [
        {
            "reader": code,
            "condition": condition,
            "case": case,
            "mark": str(pk),
            "x_mm": x,
            "y_mm": y,
            "z_mm": z,
            "rating": rating,
        }
        for pk, code, condition, case, x, y, z, rating in StandaloneMark.objects.filter(
            algorithm__study=study
        ).values_list(
            "pk", "algorithm__code", "condition__label", "case__code", "x_mm", "y_mm", "z_mm", "rating"
        )
    ]
    marks.sort(
        key=lambda r: (
            natural_key(r["reader"]),
            r["condition"],
            natural_key(r["case"]),
            natural_key(str(r["mark"])),
        )
    )
    ratings = [
        {"reader": code, "condition": condition, "case": case, "rating": rating}
        for code, condition, case, rating in StandaloneRating.objects.filter(
            algorithm__study=study
        ).values_list("algorithm__code", "condition__label", "case__code", "rating")
    ]
    ratings.sort(key=lambda r: (natural_key(r["reader"]), r["condition"], natural_key(r["case"])))
    return readers, marks, ratings
