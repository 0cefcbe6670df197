"""The reference standard: versioned sets of per-case truth, drafted, adjudicated and locked.

A :class:`ReferenceSet` is one version of a study's reference from one source (expert
consensus, arthroscopy, ...). Under a consensus set, each reviewer writes an independent
draft per case (a :class:`ReferenceStandard` of kind ``draft``); an adjudicator settles
where the drafts disagree into the case's ``final`` standard. Imported sets (e.g.
arthroscopy findings from a CSV) hold finals only. A locked set never changes; a change
is a new version. Analyses name the set (and so the version) they used.
"""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import models

from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Case, Study


class ReferenceSource(models.TextChoices):
    CONSENSUS = "consensus", "Expert consensus"
    ARTHROSCOPY = "arthroscopy", "Arthroscopy"
    HISTOPATHOLOGY = "histopathology", "Histopathology"
    FOLLOW_UP = "follow_up", "Imaging follow-up"
    SIMULATION = "simulation", "Known by construction (simulated lesions)"
    OTHER = "other", "Other"


#: The order in which a reference source is preferred as the truth of lesion detection.
DETECTION_SOURCES = ("consensus", "simulation", "histopathology", "follow_up", "arthroscopy", "other")


class ReferenceSet(models.Model):
    """One version of the reference standard of a study from one source."""

    Source = ReferenceSource

    class Status(models.TextChoices):
        OPEN = "open", "Open (drafting and adjudication)"
        LOCKED = "locked", "Locked"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reference_sets")
    source = models.CharField(max_length=20, choices=ReferenceSource.choices)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    notes = models.TextField(blank=True)
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="reference_reviews",
        blank=True,
        help_text="Who drafts independently (consensus sets).",
    )
    adjudicator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    provenance = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the locked version came from: drafts, adjudications, files.",
    )

    class Meta:
        ordering = ["study", "source", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "source", "version"], name="reference_set_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} {self.source} v{self.version}"

    @property
    def locked(self) -> bool:
        return self.status == self.Status.LOCKED

    @property
    def name(self) -> str:
        """How analyses name this version, e.g. ``consensus v2``."""
        return f"{self.source} v{self.version}"

    @staticmethod
    def detection_set(reference_sets: "Iterable[ReferenceSet]") -> "ReferenceSet | None":
        """Of ``reference_sets``, the one whose lesions are the truth for marks and lesion
        questions: the first source in :data:`DETECTION_SOURCES` with final lesions, its newest
        version first."""
        with_lesions = [
            s
            for s in reference_sets
            if ReferenceLesion.objects.filter(reference__reference_set=s, reference__kind="final").exists()
        ]
        with_lesions.sort(
            key=lambda s: (
                DETECTION_SOURCES.index(s.source) if s.source in DETECTION_SOURCES else 99,
                -s.version,
            )
        )
        return with_lesions[0] if with_lesions else None


class ReferenceStandard(models.Model):
    """What is true of one case in one reference set: a reviewer's draft or the final version."""

    Source = ReferenceSource

    class Kind(models.TextChoices):
        DRAFT = "draft", "Reviewer's draft"
        FINAL = "final", "Final"

    reference_set = models.ForeignKey(ReferenceSet, on_delete=models.CASCADE, related_name="standards")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="references")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FINAL)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The reviewer (drafts); empty for finals.",
    )
    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Names the draft's own image access."
    )
    series = models.ForeignKey(
        ImageSeries,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The series the reviewer drafted on.",
    )
    is_abnormal = models.BooleanField(
        null=True, blank=True, help_text="Case-level truth (diseased / normal), if known."
    )
    notes = models.TextField(blank=True)
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reviewer submitted the draft (then it no longer changes)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["reference_set", "case", "kind", "author"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference_set", "case"], condition=models.Q(kind="final"), name="reference_one_final"
            ),
            models.UniqueConstraint(
                fields=["reference_set", "case", "author"],
                condition=models.Q(kind="draft"),
                name="reference_one_draft_per_reviewer",
            ),
        ]

    def __str__(self) -> str:
        who = f" by {self.author}" if self.kind == self.Kind.DRAFT else ""
        return f"{self.case} {self.reference_set.name} {self.kind}{who}"


class ReferenceLesion(models.Model):
    """A true lesion: where it is (patient coordinates, mm), how large and of what type."""

    reference = models.ForeignKey(ReferenceStandard, on_delete=models.CASCADE, related_name="lesions")
    label = models.CharField(max_length=50, help_text="Lesion id within the case, e.g. L1.")
    client_id = models.UUIDField(default=uuid.uuid4, help_text="Idempotency key of the drafting page.")
    lesion_type = models.CharField(max_length=100, blank=True)
    size_mm = models.FloatField(help_text="Largest diameter in mm.")
    x_mm = models.FloatField()
    y_mm = models.FloatField()
    z_mm = models.FloatField()
    slice_index = models.PositiveIntegerField(
        null=True, blank=True, help_text="Where it was marked, if drafted."
    )
    x = models.FloatField(null=True, blank=True, help_text="Column in pixels, if drafted.")
    y = models.FloatField(null=True, blank=True, help_text="Row in pixels, if drafted.")
    weight = models.FloatField(
        null=True, blank=True, help_text="Clinical weight for wAFROC; equal weights if unset."
    )

    class Meta:
        ordering = ["reference", "label"]
        constraints = [
            models.UniqueConstraint(fields=["reference", "label"], name="lesion_unique_label"),
            models.UniqueConstraint(fields=["reference", "client_id"], name="lesion_unique_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.label}"


class ReferenceFinding(models.Model):
    """A per-case or per-structure finding (e.g. ``meniscal_tear_medial``): present or not, and a grade."""

    reference = models.ForeignKey(ReferenceStandard, on_delete=models.CASCADE, related_name="findings")
    key = models.SlugField(max_length=60, help_text="Matches the key of a finding question.")
    present = models.BooleanField()
    grade = models.IntegerField(
        null=True, blank=True, help_text="Severity grade, where the source gives one."
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["reference", "key"]
        constraints = [
            models.UniqueConstraint(fields=["reference", "key"], name="finding_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.key}={'yes' if self.present else 'no'}"
