"""The reference standard of each case: its lesions and findings, versioned and lockable."""

from django.conf import settings
from django.db import models

from .study import Case


class ReferenceStandard(models.Model):
    """What is true of a case according to one source (consensus, arthroscopy, ...).

    A new version is made for every change after locking; a locked version never changes.
    """

    class Source(models.TextChoices):
        CONSENSUS = "consensus", "Expert consensus"
        ARTHROSCOPY = "arthroscopy", "Arthroscopy"
        HISTOPATHOLOGY = "histopathology", "Histopathology"
        FOLLOW_UP = "follow_up", "Imaging follow-up"
        OTHER = "other", "Other"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="references")
    source = models.CharField(max_length=20, choices=Source.choices)
    version = models.PositiveIntegerField(default=1)
    is_abnormal = models.BooleanField(
        null=True, blank=True, help_text="Case-level truth (diseased / normal), if known."
    )
    notes = models.TextField(blank=True)
    locked = models.BooleanField(default=False)
    locked_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "source", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["case", "source", "version"], name="reference_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.case} {self.source} v{self.version}"


class ReferenceLesion(models.Model):
    """A true lesion: where it is (patient coordinates, mm), how large and of what type."""

    reference = models.ForeignKey(ReferenceStandard, on_delete=models.CASCADE, related_name="lesions")
    label = models.CharField(max_length=50, help_text="Lesion id within the case, e.g. L1.")
    lesion_type = models.CharField(max_length=100, blank=True)
    size_mm = models.FloatField(help_text="Largest diameter in mm.")
    x_mm = models.FloatField()
    y_mm = models.FloatField()
    z_mm = models.FloatField()
    weight = models.FloatField(
        null=True, blank=True, help_text="Clinical weight for wAFROC; equal weights if unset."
    )

    class Meta:
        ordering = ["reference", "label"]
        constraints = [
            models.UniqueConstraint(fields=["reference", "label"], name="lesion_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.label}"


class ReferenceFinding(models.Model):
    """A per-case finding (e.g. ``meniscal_tear_medial``) and whether it is present."""

    reference = models.ForeignKey(ReferenceStandard, on_delete=models.CASCADE, related_name="findings")
    key = models.SlugField(max_length=60, help_text="Matches the key of a finding question.")
    present = models.BooleanField()
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["reference", "key"]
        constraints = [
            models.UniqueConstraint(fields=["reference", "key"], name="finding_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.key}={'yes' if self.present else 'no'}"
