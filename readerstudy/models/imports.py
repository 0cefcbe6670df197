"""Importing DICOM files as a background job: its state, progress and report.

A coordinator's upload (or the ``import_dicom`` command) becomes an ``ImportJob``; a
runner (see ``readerstudy.jobs``) runs it through ``services.dicom_import``. The
writes are in ``readerstudy.services.import_jobs``.
"""

from django.conf import settings
from django.db import models

from .study import Study


class ImportJob(models.Model):
    """One import into a study: queued, running (with progress), then done, failed or cancelled.

    An uploaded archive waits in the job's temporary folder under ``MEDIA_ROOT``
    (``import-tmp/<id>/``), which also holds the extraction and is removed when the job
    ends. ``runner`` names the process that holds the job (``host:pid:nonce``), so
    that a job whose process died is found and cleaned up at the next start.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_name = models.CharField(max_length=255, help_text="The uploaded file's name, or the path given.")
    source_path = models.CharField(
        max_length=1024,
        blank=True,
        help_text="A folder or zip on the server (the import_dicom command); empty for an upload.",
    )
    manifest_text = models.TextField(help_text="The manifest (CSV).")
    manifest_path = models.CharField(
        max_length=1024,
        blank=True,
        help_text="The manifest file on the server, not imported if in the source.",
    )
    acknowledge_design_change = models.BooleanField(
        default=False, help_text="The coordinator accepted series the active schedule does not cover."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=20, blank=True, help_text="extracting, reading or importing.")
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0..1.")
    cancel_requested = models.BooleanField(default=False)
    runner = models.CharField(
        max_length=200, blank=True, help_text="host:pid:nonce of the process holding it."
    )
    report = models.JSONField(default=dict, blank=True, help_text="ImportReport.as_dict() once it ran.")
    error = models.TextField(blank=True, help_text="Why the import failed or was refused (no traceback).")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(
        auto_now=True, help_text="Last change or progress report; a running job silent for long is lost."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.study.slug}: import {self.pk} of {self.source_name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_IMPORT_STATUSES


#: Statuses of a job that has not finished (queued, or running on a worker).
ACTIVE_IMPORT_STATUSES = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
FINISHED_IMPORT_STATUSES = (ImportJob.Status.DONE, ImportJob.Status.FAILED, ImportJob.Status.CANCELLED)
