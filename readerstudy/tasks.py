"""Celery tasks: each only calls a service (the work and its rules live there)."""

from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from readerstudy.design.notifications import sessions_open_notify as sessions_open_notify_service
from readerstudy.generation.services import generation_task_run as generation_task_run_service
from readerstudy.imaging.import_jobs import import_job_run as import_job_run_service
from readerstudy.imaging.import_jobs import import_jobs_recover


@shared_task(name="readerstudy.tasks.generation_task_run", acks_late=True, ignore_result=True)
def generation_task_run(task_id: int) -> None:
    """Run one case of a generation job (claimed atomically: a redelivered message does nothing)."""
    generation_task_run_service(task_id=task_id)


@shared_task(name="readerstudy.tasks.import_job_run", acks_late=True, ignore_result=True)
def import_job_run(job_id: int) -> None:
    """Run one import job (claimed atomically: a redelivered message does nothing)."""
    import_job_run_service(job_id=job_id)


@shared_task(name="readerstudy.tasks.sessions_open_notify", ignore_result=True)
def sessions_open_notify() -> None:
    """Email readers whose session has opened (Celery beat runs it; see CELERY_BEAT_SCHEDULE)."""
    sessions_open_notify_service()


@worker_ready.connect
def _imports_recover_on_start(**_: Any) -> None:
    """A starting worker cleans up after import jobs whose process died."""
    import_jobs_recover()
