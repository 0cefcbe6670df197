"""The job runner: where background work runs.

``job_enqueue(job_id, kind)`` hands one unit of background work to a runner once the
current transaction commits (a worker must find the rows it is given). A kind is a
generation task (``GENERATION``, the default) or an import job (``IMPORT``):

* ``CELERY_BROKER_URL`` set: the kind's Celery task (``readerstudy/tasks.py``) goes to
  the broker and a worker (``celery -A config worker``) runs it;
* otherwise (the embedded default): a worker thread of this process runs it, one at a
  time per kind (SR is CPU-heavy; an import does not wait behind it);
* ``READERSTUDY_JOBS_EAGER``: at once, in the caller's thread (tests only);
* inside ``jobs_run_in_caller()``: at once, in the caller's thread and transaction, not
  waiting for a commit (a loader that builds everything in one transaction: the demo).

Every runner calls the kind's service (``generation.services.generation_task_run``,
``imaging.import_jobs.import_job_run``), which claims the work atomically, so work
enqueued twice runs once. When no runner can be given the work (the broker is down),
the kind's service records the failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

GENERATION = "generation"
IMPORT = "import"

#: The Celery task that runs one generation task (``readerstudy/tasks.py``).
GENERATION_TASK_NAME = "readerstudy.tasks.generation_task_run"
#: The Celery task that runs one import job.
IMPORT_TASK_NAME = "readerstudy.tasks.import_job_run"


@dataclass(frozen=True)
class JobKind:
    """How to run one kind of background work: its Celery task and the two services it calls.

    The services are named by dotted path and imported when the work runs, so that this module
    (beneath every domain) imports none of them.
    """

    name: str
    celery_task: str
    run_service: str
    enqueue_failed_service: str
    #: The services' keyword for the id of the work (``task_id`` or ``job_id``).
    id_keyword: str

    def run(self, job_id: int) -> None:
        """Run the work: the kind's service claims it atomically."""
        import_string(self.run_service)(**{self.id_keyword: job_id})

    def enqueue_failed(self, job_id: int, error: str) -> None:
        """Record that no runner could be given the work."""
        import_string(self.enqueue_failed_service)(**{self.id_keyword: job_id}, error=error)


KINDS: dict[str, JobKind] = {
    GENERATION: JobKind(
        GENERATION,
        GENERATION_TASK_NAME,
        "readerstudy.generation.services.generation_task_run",
        "readerstudy.generation.services.generation_task_enqueue_failed",
        "task_id",
    ),
    IMPORT: JobKind(
        IMPORT,
        IMPORT_TASK_NAME,
        "readerstudy.imaging.import_jobs.import_job_run",
        "readerstudy.imaging.import_jobs.import_job_enqueue_failed",
        "job_id",
    ),
}

#: What a starting server process runs to clean up after work of processes that died.
RECOVER_AT_START_SERVICE = "readerstudy.imaging.import_jobs.import_jobs_recover"

_executors: dict[str, ThreadPoolExecutor] = {}
_pending: set[Future] = set()
_pending_lock = threading.Lock()
#: True inside ``jobs_run_in_caller()`` (per thread: each thread has its own context).
_run_in_caller: ContextVar[bool] = ContextVar("readerstudy_jobs_run_in_caller", default=False)


def job_enqueue(job_id: int, kind: str = GENERATION) -> None:
    """Run ``job_id`` of ``kind`` in the background after the current transaction commits
    (inside ``jobs_run_in_caller()``: at once, here)."""
    job_kind = KINDS[kind]
    if _run_in_caller.get():
        job_kind.run(job_id)
        return
    transaction.on_commit(lambda: _dispatch(job_kind, job_id))


@contextmanager
def jobs_run_in_caller() -> Iterator[None]:
    """Within this block, work this thread enqueues runs at once in this thread, inside the
    current transaction, instead of on a runner after the commit.

    For a loader that builds everything in one transaction and needs the work's results
    before it commits (the demo's SR condition); never for a web request, which must not
    wait for the SR engine. The work's service is the one every runner calls.
    """
    token = _run_in_caller.set(True)
    try:
        yield
    finally:
        _run_in_caller.reset(token)


def jobs_recover_at_start() -> None:
    """At a server process's start: clean up after import jobs of processes that died.

    Fails their jobs, removes their temporary files and takes over queued work (see
    ``imaging.import_jobs.import_jobs_recover``). Never fatal: a failure is logged (e.g. a
    database not migrated yet) and the next start or job tries again. gunicorn's workers
    call it (``gunicorn.conf.py``), and so does ``manage.py jobs_recover``.
    """
    try:
        import_string(RECOVER_AT_START_SERVICE)()
    except Exception:
        logger.exception("Recovering lost import jobs at start failed")


def jobs_embedded() -> bool:
    """True when jobs run on worker threads of this process (no broker, not eager)."""
    return not getattr(settings, "READERSTUDY_JOBS_EAGER", False) and not settings.CELERY_BROKER_URL


def jobs_wait(timeout: float | None = None) -> bool:
    """Wait until this process's in-thread jobs have finished; False on timeout.

    For tests and clean shutdowns; work sent to Celery is not waited for.
    """
    with _pending_lock:
        pending = set(_pending)
    _done, not_done = futures_wait(pending, timeout=timeout)
    return not not_done


def _dispatch(kind: JobKind, job_id: int) -> None:
    if getattr(settings, "READERSTUDY_JOBS_EAGER", False):
        kind.run(job_id)
    elif settings.CELERY_BROKER_URL:
        _send_to_broker(kind, job_id)
    else:
        future = _executor(kind).submit(_run_in_thread, kind, job_id)
        with _pending_lock:
            _pending.add(future)
        future.add_done_callback(_forget)


def _executor(kind: JobKind) -> ThreadPoolExecutor:
    with _pending_lock:
        if kind.name not in _executors:
            _executors[kind.name] = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"readerstudy-{kind.name}"
            )
        return _executors[kind.name]


def _send_to_broker(kind: JobKind, job_id: int) -> None:
    """Publish the Celery task; if the broker cannot take it, the work fails with the reason."""
    from config.celery import app  # imported here: the embedded default needs no Celery

    try:
        app.send_task(kind.celery_task, args=[job_id])
    except Exception as exc:  # kombu and redis raise many kinds when the broker is down
        logger.exception("Could not send %s job %s to the broker", kind.name, job_id)
        kind.enqueue_failed(job_id, f"The job queue is unreachable ({type(exc).__name__}); retry later.")


def _forget(future: Future) -> None:
    with _pending_lock:
        _pending.discard(future)


def _run_in_thread(kind: JobKind, job_id: int) -> None:
    """Run the work on the worker thread with a database connection of its own, closed after."""
    close_old_connections()
    try:
        kind.run(job_id)
    except Exception:  # the services record their errors; this is a last resort for the log
        logger.exception("Background %s job %s failed", kind.name, job_id)
    finally:
        connection.close()
