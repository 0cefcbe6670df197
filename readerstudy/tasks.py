"""Celery tasks: each only calls a service (the work and its rules live there)."""

from celery import shared_task

from .services.generation import generation_task_run as generation_task_run_service


@shared_task(name="readerstudy.tasks.generation_task_run", acks_late=True, ignore_result=True)
def generation_task_run(task_id: int) -> None:
    """Run one case of a generation job (claimed atomically: a redelivered message does nothing)."""
    generation_task_run_service(task_id=task_id)
