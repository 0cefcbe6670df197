"""The job runner: where a background task runs.

``job_enqueue(task_id)`` hands a generation task to a runner once the current
transaction commits (a worker must find the rows it is given):

* ``CELERY_BROKER_URL`` set: the Celery task ``readerstudy.tasks.generation_task_run``
  goes to the broker and a worker (``celery -A config worker``) runs it;
* otherwise (the embedded default): a worker thread of this process runs it, one task at
  a time (SR is CPU-heavy);
* ``READERSTUDY_JOBS_EAGER``: at once, in the caller's thread (tests only).

Every runner calls the same service, ``services.generation.generation_task_run``, which
claims the task atomically, so a task enqueued twice runs once.
"""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from django.conf import settings
from django.db import close_old_connections, connection, transaction

logger = logging.getLogger(__name__)

#: The Celery task that runs one generation task (``readerstudy/tasks.py``).
GENERATION_TASK_NAME = "readerstudy.tasks.generation_task_run"

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readerstudy-job")
_pending: set[Future] = set()
_pending_lock = threading.Lock()


def job_enqueue(task_id: int) -> None:
    """Run generation task ``task_id`` in the background after the current transaction commits."""
    transaction.on_commit(lambda: _dispatch(task_id))


def jobs_wait(timeout: float | None = None) -> bool:
    """Wait until this process's in-thread tasks have finished; False on timeout.

    For tests and clean shutdowns; tasks sent to Celery are not waited for.
    """
    with _pending_lock:
        pending = set(_pending)
    _done, not_done = futures_wait(pending, timeout=timeout)
    return not not_done


def _dispatch(task_id: int) -> None:
    if getattr(settings, "READERSTUDY_JOBS_EAGER", False):
        _run(task_id)
    elif settings.CELERY_BROKER_URL:
        _send_to_broker(task_id)
    else:
        future = _executor.submit(_run_in_thread, task_id)
        with _pending_lock:
            _pending.add(future)
        future.add_done_callback(_forget)


def _send_to_broker(task_id: int) -> None:
    """Publish the Celery task; if the broker cannot take it, the task fails with the reason."""
    from config.celery import app  # imported here: the embedded default needs no Celery

    try:
        app.send_task(GENERATION_TASK_NAME, args=[task_id])
    except Exception as exc:  # kombu and redis raise many kinds when the broker is down
        logger.exception("Could not send generation task %s to the broker", task_id)
        from .services.generation import generation_task_enqueue_failed

        generation_task_enqueue_failed(
            task_id=task_id, error=f"The job queue is unreachable ({type(exc).__name__}); retry later."
        )


def _forget(future: Future) -> None:
    with _pending_lock:
        _pending.discard(future)


def _run(task_id: int) -> None:
    from .services.generation import generation_task_run  # the service imports this module

    generation_task_run(task_id=task_id)


def _run_in_thread(task_id: int) -> None:
    """Run the task on the worker thread with a database connection of its own, closed after."""
    close_old_connections()
    try:
        _run(task_id)
    except Exception:  # the service records per-task errors; this is a last resort for the log
        logger.exception("Background generation task %s failed", task_id)
    finally:
        connection.close()
