"""Generating a condition from another with the SR engine: one job, one task per case.

A coordinator asks for e.g. "SR by selfsr x2 from LR": a ``GenerationJob`` records the
request and a ``GenerationTask`` per case tracks that case's run (status, progress,
error, attempts) and the series it produced. Tasks run in the background (see
``readerstudy.jobs``); the writes are in ``readerstudy.generation.services``.
"""

import uuid

from django.conf import settings
from django.db import models

from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Case, Condition, Study


class GenerationJob(models.Model):
    """A request to fill ``target_condition`` with the SR engine's output for every case.

    One job per target condition: a second request for the same condition is refused
    (a double-submitted form finds the first job by its ``request_key``).
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Finished with failures"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="generation_jobs")
    source_condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="+")
    target_condition = models.OneToOneField(
        Condition, on_delete=models.PROTECT, related_name="generation_job"
    )
    method = models.CharField(max_length=20, help_text="sr_engine.upscale method, e.g. tci or selfsr.")
    factor = models.PositiveSmallIntegerField(
        help_text="Upscaling factor (along the slices, or in-plane for in-plane methods)."
    )
    seed = models.IntegerField(default=0)
    weights = models.CharField(
        max_length=255,
        blank=True,
        help_text="Weights file of a learned method, relative to READERSTUDY_SR_WEIGHTS_DIR.",
    )
    options = models.JSONField(default=dict, blank=True, help_text="Further options of the method.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    request_key = models.UUIDField(
        unique=True, default=uuid.uuid4, help_text="Idempotency key of the form that started the job."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.study.slug}: {self.target_condition.label} from {self.source_condition.label}"


class GenerationTask(models.Model):
    """One case of a generation job: its run, progress and output series.

    A worker claims a task by moving it from queued to running in one conditional
    UPDATE, so a task delivered twice runs once. ``idempotency_key`` also names the
    derived series (its SeriesInstanceUID before de-identification), so a run that
    finds that series already stored knows it was its own.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="tasks")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0..1.")
    error = models.TextField(blank=True, help_text="Why the last attempt failed (no traceback).")
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(
        auto_now=True, help_text="Last change or progress report; a running task silent for long is stale."
    )
    output_series = models.ForeignKey(
        ImageSeries, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provenance = models.JSONField(
        default=dict, blank=True, help_text="How the output was made (sr_engine's provenance record)."
    )
    idempotency_key = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)

    class Meta:
        ordering = ["job", "case__code"]
        constraints = [
            models.UniqueConstraint(fields=["job", "case"], name="generation_task_unique_case"),
        ]

    def __str__(self) -> str:
        return f"{self.job} / {self.case.code}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


#: Statuses of a task that has not finished (queued, or running on a worker).
ACTIVE_TASK_STATUSES = (GenerationTask.Status.QUEUED, GenerationTask.Status.RUNNING)
