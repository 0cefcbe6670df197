"""Analysis runs: the record that unblinded results were computed, from what, and why."""

from django.conf import settings
from django.db import models

from readerstudy.references.models import ReferenceSet
from readerstudy.studies.models import Study


class AnalysisRun(models.Model):
    """One computation or export of unblinded results.

    Allowed only when the study and the reference sets it uses are locked, or as an
    interim analysis by a statistician with a written reason (``results.services``).
    Every result names its run, so it names the reference versions it used.
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="analysis_runs")
    kind = models.CharField(max_length=60, help_text="What was computed or exported, e.g. answers.csv.")
    reference_sets = models.ManyToManyField(ReferenceSet, related_name="analysis_runs", blank=True)
    interim = models.BooleanField(default=False)
    reason = models.TextField(blank=True, help_text="Why an interim analysis was needed.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.study.slug} {self.kind} #{self.pk}{' (interim)' if self.interim else ''}"
