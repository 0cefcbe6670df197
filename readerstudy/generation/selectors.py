"""Reads of generation jobs and their tasks (writes: ``generation.services``)."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from readerstudy.generation.models import ACTIVE_TASK_STATUSES, GenerationJob, GenerationTask
from readerstudy.studies.models import Study


def generation_task_stale_before() -> datetime:
    """Tasks queued or running but silent since before this moment are lost (their worker died)."""
    return timezone.now() - timedelta(seconds=settings.READERSTUDY_JOBS_STALE_SECONDS)


def generation_tasks_retryable(job: GenerationJob) -> QuerySet[GenerationTask]:
    """Failed tasks, and queued or running ones that have been silent for too long (lost)."""
    stale = Q(status__in=ACTIVE_TASK_STATUSES, updated_at__lt=generation_task_stale_before())
    return job.tasks.filter(Q(status=GenerationTask.Status.FAILED) | stale)


def generation_jobs_for_study(study: Study) -> QuerySet[GenerationJob]:
    """The study's jobs, newest first, with their conditions, creator and tasks (by case code)."""
    return (
        study.generation_jobs.select_related("source_condition", "target_condition", "created_by")
        .prefetch_related("tasks__case", "tasks__output_series")
        .order_by("-created_at", "-id")
    )


def generation_jobs_state(study: Study) -> dict[str, Any]:
    """The jobs' and tasks' state as JSON-able data (what the console polls)."""
    jobs = []
    for job in generation_jobs_for_study(study):
        jobs.append(
            {
                "id": job.pk,
                "status": job.status,
                "tasks": [
                    {
                        "id": task.pk,
                        "case": task.case.code,
                        "status": task.status,
                        "progress": round(task.progress, 3),
                        "error": task.error,
                        "attempts": task.attempts,
                    }
                    for task in job.tasks.all()
                ],
            }
        )
    return {"jobs": jobs, "running": any(job["status"] == GenerationJob.Status.RUNNING for job in jobs)}
