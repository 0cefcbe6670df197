"""Standalone algorithms ("CAD") of a study and what they output: lesion marks or case ratings.

A coordinator imports an algorithm's output from a CSV (``standalone.services``); the results
compare it with the readers (``stats.tables.standalone``). An algorithm is never a reader: it
has no participation, no readings, and enters no human analysis. Its ``code`` names it in the
results, beside the reader codes, so the two never coincide (:func:`code_taken`, the one rule,
used both when an algorithm is made and when a reader is invited).
"""

from django.conf import settings
from django.db import models

from readerstudy.studies.models import Case, Condition, ReaderParticipation, Study


class OutputKind(models.TextChoices):
    """What an algorithm outputs (fixed by its first import)."""

    MARKS = "marks", "Lesion marks (patient mm) with ratings"
    RATINGS = "ratings", "One rating per case"


def code_taken(study: Study, code: str) -> str | None:
    """Why ``code`` cannot name a new reader or algorithm of ``study`` (None when it can).

    Reader codes and algorithm codes share one name space (case-insensitive): the results list
    them side by side.
    """
    code = code.strip()
    if ReaderParticipation.objects.filter(study=study, code__iexact=code).exists():
        return f"The code {code} is a reader's code in this study."
    algorithm = StandaloneAlgorithm.objects.filter(study=study, code__iexact=code).first()
    if algorithm is not None:
        return f"The code {algorithm.code} is taken by the standalone algorithm {algorithm.name}."
    return None


class StandaloneAlgorithm(models.Model):
    """An algorithm whose output on the study's cases is compared with the readers."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="standalone_algorithms")
    code = models.CharField(max_length=20, help_text="Short code in the results, e.g. CAD1.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(
        max_length=10, choices=OutputKind.choices, blank=True, help_text="Empty until its first import."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="standalone_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.code}"


class StandaloneImport(models.Model):
    """One imported file of an algorithm (provenance): it replaced the outputs of its conditions."""

    algorithm = models.ForeignKey(StandaloneAlgorithm, on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=10, choices=OutputKind.choices)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the uploaded file.")
    rows = models.PositiveIntegerField(help_text="Data rows of the file.")
    conditions = models.JSONField(default=list, help_text="Labels of the conditions it replaced.")
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["algorithm", "-imported_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.file_name}"


class StandaloneMark(models.Model):
    """A lesion mark of the algorithm on a case read under a condition (patient mm, like a reader's)."""

    algorithm = models.ForeignKey(StandaloneAlgorithm, on_delete=models.CASCADE, related_name="marks")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    x_mm = models.FloatField()
    y_mm = models.FloatField()
    z_mm = models.FloatField()
    rating = models.FloatField()

    class Meta:
        ordering = ["algorithm", "condition", "case", "pk"]

    def __str__(self) -> str:
        return f"{self.algorithm} mark on {self.case.code}"


class StandaloneRating(models.Model):
    """The algorithm's rating of a case read under a condition (higher: more likely abnormal)."""

    algorithm = models.ForeignKey(StandaloneAlgorithm, on_delete=models.CASCADE, related_name="ratings")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    rating = models.FloatField()

    class Meta:
        ordering = ["algorithm", "condition", "case"]
        constraints = [
            models.UniqueConstraint(
                fields=["algorithm", "case", "condition"], name="standalone_rating_unique_case"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} rating of {self.case.code}"
