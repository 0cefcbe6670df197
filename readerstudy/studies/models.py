"""Studies and what a coordinator configures in them: conditions, cases, readers, questions."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def new_condition_code() -> str:
    """An opaque, unguessable code shown to readers instead of the condition's label."""
    return "C-" + secrets.token_hex(3).upper()


def new_uid_salt() -> str:
    return secrets.token_hex(16)


def validate_scale(value: object) -> None:
    """A scale is a list of ``{"value": int, "label": str}`` with distinct increasing values."""
    if not isinstance(value, list):
        raise ValidationError("A scale must be a list of points.")
    previous = None
    for point in value:
        if not isinstance(point, dict) or set(point) != {"value", "label"}:
            raise ValidationError('Each scale point must be {"value": int, "label": str}.')
        if not isinstance(point["value"], int) or isinstance(point["value"], bool):
            raise ValidationError("Scale values must be integers.")
        if not isinstance(point["label"], str) or not point["label"].strip():
            raise ValidationError("Scale labels must be non-empty text.")
        if previous is not None and point["value"] <= previous:
            raise ValidationError("Scale values must increase strictly.")
        previous = point["value"]


class Study(models.Model):
    """A reader study: its conditions, cases, readers, questions and schedule."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Reading open"
        LOCKED = "locked", "Locked"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    washout_days = models.PositiveIntegerField(
        default=7, help_text="Minimum days between a reader's sessions."
    )
    mark_scale = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_scale],
        help_text="Confidence scale of lesion marks; empty when the study has no lesion marking.",
    )

    class Navigation(models.TextChoices):
        FREE = "free", "Readers may go back and forth between the readings of a session"
        SEQUENTIAL = "sequential", "Readers read in their order and cannot go back"

    navigation = models.CharField(max_length=12, choices=Navigation.choices, default=Navigation.FREE)
    submitted_editable = models.BooleanField(
        default=False,
        help_text="Submitted readings stay editable until the session closes (otherwise they lock).",
    )
    analysis_settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="How results are analysed (acceptance radius, size strata, case ratings); "
        "see stats.study_record.AnalysisSettings. Empty: the defaults.",
    )
    display_grid_condition = models.ForeignKey(
        "Condition",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The condition whose series defines each case's display grid (matrix, field of view, "
        "slices): the case's other series are resampled onto it for readers. Empty: off.",
    )
    uid_salt = models.CharField(
        max_length=32,
        default=new_uid_salt,
        editable=False,
        help_text="Secret salt that makes the de-identified DICOM UIDs of this study.",
    )
    coordinators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="coordinated_studies", blank=True
    )
    statisticians = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="analysed_studies", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        """Save; a new study gets its first reading phase (a study always has at least one)."""
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding and not ReadingPhase.objects.filter(study=self).exists():
            ReadingPhase.objects.create(study=self, order=1, key=DEFAULT_PHASE_KEY, name="Reading")

    def first_phase(self) -> "ReadingPhase":
        """The study's first phase (every study has one; a one-phase study has only it)."""
        phase = self.phases.order_by("order").first()
        if phase is None:  # a study saved before phases existed, outside the migration
            phase = ReadingPhase.objects.create(study=self, order=1, key=DEFAULT_PHASE_KEY, name="Reading")
        return phase


#: The key of the phase every study starts with.
DEFAULT_PHASE_KEY = "reading"


class Condition(models.Model):
    """An arm of a study (e.g. LR, SR, HR). Readers only ever see ``code``."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    label = models.CharField(max_length=50, help_text="True label, known to coordinators only.")
    code = models.CharField(
        max_length=20, default=new_condition_code, help_text="Opaque code shown to readers."
    )
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)
    generative = models.BooleanField(
        default=False,
        help_text="Made by a generative model (GAN, diffusion) that can invent detail; set when a "
        "generation job's model file says so, and shown to the statistician in the design table.",
    )

    class Meta:
        ordering = ["study", "order", "label"]
        constraints = [
            models.UniqueConstraint(fields=["study", "label"], name="condition_unique_label"),
            models.UniqueConstraint(fields=["study", "code"], name="condition_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.label}"


class ReadingPhase(models.Model):
    """An ordered phase of a study's reading (e.g. detection, then image quality).

    Each phase has its own questions, its own schedule of sessions (``design``), whether
    readers mark lesions in it, and the conditions it reads (all when none are chosen).
    Its first session opens no sooner than ``washout_days`` after the reader completed
    every session of the phase before (``design.washout.session_window``); sessions within
    a phase keep the study's ``washout_days``. A practice phase is read first, shows the
    reference after each case as feedback, and is never analysed.
    """

    class Kind(models.TextChoices):
        READING = "reading", "Reading (analysed)"
        PRACTICE = "practice", "Practice (not analysed; the reference is shown after each case)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="phases")
    order = models.PositiveIntegerField(help_text="1 for the first phase, 2 for the next, ...")
    key = models.SlugField(max_length=40, help_text="Stable identifier used in exports.")
    name = models.CharField(max_length=100, help_text="Shown to readers, e.g. Detection.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.READING)
    takes_marks = models.BooleanField(
        default=True, help_text="Readers mark lesions in this phase (when the study has a mark scale)."
    )
    conditions = models.ManyToManyField(
        Condition, blank=True, related_name="phases", help_text="The conditions read; none chosen: all."
    )
    washout_days = models.PositiveIntegerField(
        default=0,
        help_text="Minimum days from the reader's completion of the previous phase to this phase.",
    )

    class Layout(models.TextChoices):
        SINGLE = "single", "Single: one series per reading"
        COMPARATIVE = "comparative", "Comparative: the phase's conditions of a case side by side"

    layout = models.CharField(
        max_length=12,
        choices=Layout.choices,
        default=Layout.SINGLE,
        help_text="The hanging protocol: one series per reading, or one reading per case showing "
        "the phase's conditions side by side in linked viewports (blinded as A, B, ...).",
    )
    reference_condition = models.ForeignKey(
        Condition,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text='Comparative phases: the condition shown labelled "Reference" (the others are blinded).',
    )

    class Meta:
        ordering = ["study", "order"]
        constraints = [
            models.UniqueConstraint(fields=["study", "order"], name="phase_unique_order"),
            models.UniqueConstraint(fields=["study", "key"], name="phase_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.key}"

    @property
    def is_practice(self) -> bool:
        return self.kind == self.Kind.PRACTICE

    @property
    def marks_enabled(self) -> bool:
        """Whether readers mark lesions in this phase: it takes marks and the study has a scale."""
        return self.takes_marks and bool(self.study.mark_scale)

    def included_conditions(self) -> "models.QuerySet[Condition]":
        """The conditions this phase reads, by order: those chosen, or all of the study's."""
        chosen = self.conditions.all()
        if self.pk is not None and chosen.exists():
            return chosen.order_by("order", "label")
        return self.study.conditions.order_by("order", "label")

    @property
    def is_comparative(self) -> bool:
        return self.layout == self.Layout.COMPARATIVE

    @property
    def reference_label(self) -> str:
        """The label of the condition shown as the reference ("" when there is none)."""
        reference = self.reference_condition if self.reference_condition_id is not None else None
        return reference.label if reference is not None else ""

    def blinded_conditions(self) -> "list[Condition]":
        """A comparative phase's conditions shown blinded (as A, B, ...): all but the reference."""
        return [c for c in self.included_conditions() if c.pk != self.reference_condition_id]

    def previous(self) -> "ReadingPhase | None":
        """The phase before this one, if any."""
        return self.study.phases.filter(order__lt=self.order).order_by("-order").first()


class Case(models.Model):
    """A de-identified patient exam, named by a study-local code."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cases")
    code = models.CharField(max_length=50)
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Case attributes for stratification (e.g. site, size)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="case_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.code}"


class ReaderParticipation(models.Model):
    """A user taking part in a study as a reader."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="participations"
    )
    code = models.CharField(max_length=20, help_text="Reader code used in exports, e.g. R1.")
    group = models.CharField(max_length=20, blank=True, help_text="Reader group for split-plot designs.")
    active = models.BooleanField(default=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="participation_unique_user"),
            models.UniqueConstraint(fields=["study", "code"], name="participation_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.code}"


class Question(models.Model):
    """An item a reader answers for every reading.

    ``likert``: an ordinal scale with labelled points (e.g. 5-point overall quality).
    ``finding``: a per-case finding ("meniscal tear present") answered present/absent,
    with the confidence scale in ``scale`` (may be empty).
    ``text``: a free-text comment.
    Comparative phases only (``ReadingPhase.layout``): ``preference`` (A / no preference / B,
    stored -1/0/+1, negative favours A), ``ab_scale`` (5 points from "A much better", -2, to
    "B much better", +2) and ``reference_scale`` (an ordered scale about the blinded test
    image beside the labelled reference, e.g. "comparable to the reference").
    """

    class Kind(models.TextChoices):
        LIKERT = "likert", "Likert / ordinal scale"
        FINDING = "finding", "Finding present/absent with confidence"
        TEXT = "text", "Free text"
        PREFERENCE = "preference", "Comparative: preference A / no preference / B"
        AB_SCALE = "ab_scale", "Comparative: 5 points from A much better to B much better"
        REFERENCE_SCALE = "reference_scale", "Comparative: test image against the labelled reference"

    class LesionRule(models.TextChoices):
        CASE = "", "Once per reading (not about a lesion)"
        ALL = "all", "Each reference lesion of the case"
        LARGEST = "largest", "The largest reference lesion"
        MEDIAN = "median", "The median-sized reference lesion (the smaller of the two medians)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questions")
    phase = models.ForeignKey(
        ReadingPhase,
        on_delete=models.PROTECT,
        related_name="questions",
        help_text="The phase whose readings ask this question (the study's first when not given).",
    )
    lesion_rule = models.CharField(
        max_length=10,
        choices=LesionRule.choices,
        default=LesionRule.CASE,
        blank=True,
        help_text="Asked about chosen reference lesions of the case, answered per lesion "
        "(needs a locked reference; references.selectors.lesions_for_question).",
    )
    key = models.SlugField(max_length=60, help_text="Stable identifier used in exports.")
    text = models.CharField(max_length=300)
    help_text = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    scale = models.JSONField(default=list, blank=True, validators=[validate_scale])
    required = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="question_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.key}"

    def save(self, *args, **kwargs) -> None:
        if self.phase_id is None:
            self.phase = self.study.first_phase()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.kind in FIXED_SCALES and not self.scale:
            self.scale = [dict(point) for point in FIXED_SCALES[self.kind]]
        if self.kind in (self.Kind.LIKERT, self.Kind.REFERENCE_SCALE) and len(self.scale) < 2:
            raise ValidationError(
                {"scale": f"A {self.get_kind_display()} question needs at least two scale points."}
            )
        if self.kind == self.Kind.TEXT and self.scale:
            raise ValidationError({"scale": "A free-text question has no scale."})
        if self.kind in FIXED_SCALES and self.scale_values() != [p["value"] for p in FIXED_SCALES[self.kind]]:
            values = ", ".join(str(p["value"]) for p in FIXED_SCALES[self.kind])
            raise ValidationError(
                {"scale": f"A {self.get_kind_display()} question stores the values {values} (negative: A)."}
            )
        if self.kind in COMPARATIVE_KINDS and self.phase_id is not None:  # (services always give one)
            phase = self.phase
            if not phase.is_comparative:
                raise ValidationError(
                    {"kind": "Comparative questions are asked only in a phase with the comparative layout."}
                )
            if self.lesion_rule:
                raise ValidationError({"lesion_rule": "A comparative question is asked once per reading."})
            if self.kind == self.Kind.REFERENCE_SCALE:
                if phase.reference_condition_id is None:
                    raise ValidationError(
                        {"kind": "A reference-scale question needs a phase with a reference condition."}
                    )
                if len(phase.blinded_conditions()) != 1:
                    raise ValidationError(
                        {
                            "kind": "A reference-scale question needs exactly one blinded test condition "
                            "beside the reference (it is analysed as a rating of that condition)."
                        }
                    )
            elif len(phase.blinded_conditions()) < 2:
                raise ValidationError(
                    {"kind": "An A-versus-B question needs at least two blinded conditions in its phase."}
                )

    @property
    def is_comparative(self) -> bool:
        return self.kind in COMPARATIVE_KINDS

    @property
    def takes_value(self) -> bool:
        """Whether the answer is a point of the scale (Likert and the comparative kinds)."""
        return self.kind in SCALE_KINDS

    @property
    def is_about_lesions(self) -> bool:
        return bool(self.lesion_rule)

    def scale_values(self) -> list[int]:
        return [point["value"] for point in self.scale]


#: The comparative question kinds (asked only in comparative phases).
COMPARATIVE_KINDS = frozenset(
    {Question.Kind.PREFERENCE, Question.Kind.AB_SCALE, Question.Kind.REFERENCE_SCALE}
)
#: The kinds answered with one point of the scale.
SCALE_KINDS = frozenset({Question.Kind.LIKERT, *COMPARATIVE_KINDS})
#: The A-versus-B kinds (their answers go to the analysis' ``comparisons`` table).
AB_KINDS = frozenset({Question.Kind.PREFERENCE, Question.Kind.AB_SCALE})
#: The stored values of the A-versus-B kinds; negative favours A.
FIXED_SCALES: dict[str, tuple[dict[str, object], ...]] = {
    Question.Kind.PREFERENCE: (
        {"value": -1, "label": "A"},
        {"value": 0, "label": "No preference"},
        {"value": 1, "label": "B"},
    ),
    Question.Kind.AB_SCALE: (
        {"value": -2, "label": "A much better"},
        {"value": -1, "label": "A slightly better"},
        {"value": 0, "label": "Equal"},
        {"value": 1, "label": "B slightly better"},
        {"value": 2, "label": "B much better"},
    ),
}
