"""Reading: sessions of a reader, the readings in them, and what readers record."""

import uuid

from django.conf import settings
from django.db import models

from readerstudy.design.models import ReadingSchedule
from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Question, ReaderParticipation, ReadingPhase


class ReadingSession(models.Model):
    """The k-th session of one reader in one phase: a time window and an ordered list of readings.

    When a session opens is a rule (``design.washout.session_window``): not before ``opens_at``,
    and for k > 1 not before the study's washout has passed since session k-1 was
    completed (for k = 1 of a later phase: the phase's washout since the reader completed
    the phase before), unless a coordinator waived the washout for this session (with a reason).
    """

    participation = models.ForeignKey(ReaderParticipation, on_delete=models.CASCADE, related_name="sessions")
    phase = models.ForeignKey(
        ReadingPhase,
        on_delete=models.PROTECT,
        related_name="sessions",
        help_text="The phase of this session (the study's first when not given).",
    )
    number = models.PositiveIntegerField(help_text="1-based, within the phase.")
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    washout_waived_at = models.DateTimeField(null=True, blank=True)
    washout_waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    washout_waiver_reason = models.TextField(blank=True)
    opened_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader was emailed that this session is open."
    )

    class Meta:
        ordering = ["participation", "phase__order", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["participation", "phase", "number"], name="session_unique_number"
            ),
        ]

    def __str__(self) -> str:
        if self.phase.order > 1:
            return f"{self.participation} {self.phase.name} session {self.number}"
        return f"{self.participation} session {self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.phase_id is None:
            self.phase = self.participation.study.first_phase()
        super().save(*args, **kwargs)


class Reading(models.Model):
    """One reader reading one image series in one session, at a position in their order."""

    class Status(models.TextChoices):
        PENDING = "pending", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"

    session = models.ForeignKey(ReadingSession, on_delete=models.CASCADE, related_name="readings")
    series = models.ForeignKey(ImageSeries, on_delete=models.PROTECT, related_name="readings")
    schedule = models.ForeignKey(
        ReadingSchedule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="readings",
        help_text="The schedule version that planned this reading.",
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    position = models.PositiveIntegerField(help_text="1-based position in the reader's order.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_slice = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="reading_unique_position"),
            models.UniqueConstraint(fields=["session", "series"], name="reading_unique_series"),
        ]

    def __str__(self) -> str:
        return f"{self.session} #{self.position}"


class ReadingViewport(models.Model):
    """Where a comparative reading shows each condition of its case: slot 1 is the leftmost.

    Made with the reading when its schedule is activated (``design.services``): the blinded
    conditions are placed in random order drawn from the schedule's seed
    (``design.generator.comparative_placement``) and labelled A, B, ... by slot; a phase's
    reference condition takes the last slot, labelled "Reference". Each viewport is its own
    DICOMweb root, blinded with its own ``public_id`` (``imaging.blinding.BlindedViewing``).
    The analysis reads the condition of each label from here, never from ``Reading.series``.
    """

    REFERENCE_LABEL = "Reference"

    reading = models.ForeignKey(Reading, on_delete=models.CASCADE, related_name="viewports")
    slot = models.PositiveSmallIntegerField(help_text="1 for the leftmost viewport, 2 for the next, ...")
    series = models.ForeignKey(ImageSeries, on_delete=models.PROTECT, related_name="viewports")
    label = models.CharField(max_length=20, help_text='Shown to the reader: "A", "B", ... or "Reference".')
    is_reference = models.BooleanField(default=False)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        ordering = ["reading", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["reading", "slot"], name="viewport_unique_slot"),
            models.UniqueConstraint(fields=["reading", "label"], name="viewport_unique_label"),
            models.UniqueConstraint(fields=["reading", "series"], name="viewport_unique_series"),
        ]

    def __str__(self) -> str:
        return f"{self.reading} viewport {self.label}"


class Answer(models.Model):
    """A reader's answer to one question in one reading."""

    reading = models.ForeignKey(Reading, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    lesion = models.ForeignKey(
        "readerstudy.ReferenceLesion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="answers",
        help_text="The reference lesion a lesion question's answer is about (empty otherwise).",
    )
    value = models.IntegerField(
        null=True, blank=True, help_text="Scale value (Likert point or finding confidence)."
    )
    present = models.BooleanField(null=True, blank=True, help_text="Finding present (finding questions).")
    text = models.TextField(blank=True)
    client_id = models.UUIDField(null=True, blank=True, help_text="Idempotency key of the client.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["reading", "question"]
        constraints = [
            models.UniqueConstraint(
                fields=["reading", "question"],
                condition=models.Q(lesion__isnull=True),
                name="answer_unique_question",
            ),
            models.UniqueConstraint(
                fields=["reading", "question", "lesion"],
                condition=models.Q(lesion__isnull=False),
                name="answer_unique_question_lesion",
            ),
        ]

    def __str__(self) -> str:
        if self.lesion_id is not None:
            return f"{self.reading}: {self.question.key} (lesion {self.lesion_id})"
        return f"{self.reading}: {self.question.key}"


class LesionMark(models.Model):
    """A suspected lesion marked by a reader, in image and patient coordinates."""

    reading = models.ForeignKey(Reading, on_delete=models.CASCADE, related_name="marks")
    client_id = models.UUIDField(default=uuid.uuid4, help_text="Idempotency key of the client.")
    slice_index = models.PositiveIntegerField()
    x = models.FloatField(help_text="Column, in pixels from the left of the image.")
    y = models.FloatField(help_text="Row, in pixels from the top of the image.")
    patient_x = models.FloatField(null=True, blank=True)
    patient_y = models.FloatField(null=True, blank=True)
    patient_z = models.FloatField(null=True, blank=True)
    rating = models.IntegerField(help_text="Confidence on the study's mark scale.")
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["reading", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["reading", "client_id"], name="mark_unique_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.reading}: mark on slice {self.slice_index} ({self.rating})"


class ReadingVisit(models.Model):
    """Telemetry of one page visit to a reading, reported by the workstation.

    A visit's figures are cumulative and only grow, so the client reports them again and
    again under the same ``client_id`` (idempotent; retries and late reports are harmless).
    ``reading.selectors.reading_telemetry`` sums the visits of a reading.
    """

    reading = models.ForeignKey(Reading, on_delete=models.CASCADE, related_name="visits")
    client_id = models.UUIDField(help_text="Id the workstation generated for this page visit.")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    active_ms = models.PositiveBigIntegerField(default=0, help_text="Active reading time (idle excluded).")
    first_mark_ms = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Active time in this visit when the first mark was placed."
    )
    slices = models.JSONField(default=list, blank=True, help_text="Slice indices shown in this visit.")
    window_changes = models.PositiveIntegerField(default=0, help_text="Window/level adjustments.")

    class Meta:
        ordering = ["reading", "started_at"]
        constraints = [
            models.UniqueConstraint(fields=["reading", "client_id"], name="visit_unique_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.reading} visit {self.client_id}"
