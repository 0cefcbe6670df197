"""Reading schedules: the stored, versioned output of the design generator (``readerstudy.design``)."""

from django.conf import settings
from django.db import models

from readerstudy.studies.models import ReadingPhase, Study


class ScheduleImmutable(Exception):
    """An activated (or superseded) schedule was about to change; make a new version instead."""


class ReadingSchedule(models.Model):
    """One version of a study's reading schedule.

    A draft holds the generated plan and its balance report for preview; activating it
    creates the readers' sessions and readings. From then on it never changes: a change
    is a new version, with its reason, which supersedes this one when activated.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (preview)"
        ACTIVE = "active", "Active"
        SUPERSEDED = "superseded", "Superseded"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="schedules")
    phase = models.ForeignKey(
        ReadingPhase,
        on_delete=models.PROTECT,
        related_name="schedules",
        help_text="The phase this schedule plans (the study's first when not given).",
    )
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    kind = models.CharField(
        max_length=12, help_text="crossed or split_plot (readerstudy.design.generator.KINDS)."
    )
    seed = models.CharField(max_length=64, help_text="The seed the plan was generated with.")
    spec = models.JSONField(help_text="The full design input: conditions, cases, readers and rules.")
    plan = models.JSONField(
        help_text="Planned readings as [reader, session, position, case, condition] rows."
    )
    balance = models.JSONField(help_text="Balance report (readerstudy.design.generator.schedule_balance).")
    problems = models.JSONField(
        default=list,
        blank=True,
        help_text="Rule violations and missing series; a draft with any cannot be activated.",
    )
    carried_over = models.JSONField(
        default=list,
        blank=True,
        help_text="Readers whose readings were kept from the previous version (they had started).",
    )
    reason = models.TextField(blank=True, help_text="Why this version was made (required after the first).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="schedule_unique_version"),
            models.UniqueConstraint(
                fields=["phase"], condition=models.Q(status="active"), name="schedule_one_active_per_phase"
            ),
            models.UniqueConstraint(
                fields=["phase"], condition=models.Q(status="draft"), name="schedule_one_draft_per_phase"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} schedule v{self.version} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        """Refuse any change to an activated schedule other than marking it superseded."""
        if self.phase_id is None:
            self.phase = self.study.first_phase()
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored == self.Status.SUPERSEDED or (
                stored == self.Status.ACTIVE
                and not (self.status == self.Status.SUPERSEDED and kwargs.get("update_fields") == ["status"])
            ):
                raise ScheduleImmutable(
                    f"Schedule v{self.version} is {stored}; a change makes a new version."
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.status != self.Status.DRAFT:
            raise ScheduleImmutable(f"Schedule v{self.version} is {self.status} and cannot be deleted.")
        return super().delete(*args, **kwargs)
