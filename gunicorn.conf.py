"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py config.wsgi``.

Environment (all optional):

``GUNICORN_BIND``      address to listen on (default ``127.0.0.1:8000``, behind a reverse proxy)
``GUNICORN_WORKERS``   worker processes (default 2 x CPUs + 1, at most 8)
``GUNICORN_THREADS``   threads per worker (default 4: the workstation fetches many images at once)
``GUNICORN_TIMEOUT``   seconds a silent worker lives before it is restarted (default 120)

The application, and every view with what it imports (numpy, scipy, pydicom, matplotlib),
is loaded once in the master before the workers fork, so no worker pays for those imports
during its first request (which took longer than gunicorn's default 30 s timeout on a busy
machine).
"""

import os


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "0")) or min(2 * _cpus() + 1, 8)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# On a restart, requests under way (an autosave, a DICOM download) get this long to finish.
graceful_timeout = 30
keepalive = 5
accesslog = "-"  # stdout
errorlog = "-"  # stderr


def when_ready(server) -> None:
    """Import every view in the master (the URLconf is otherwise loaded on the first request)."""
    if not server.cfg.preload_app:
        return
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (loading it is the point)
    connections.close_all()  # no database connection may be shared by the forked workers
    server.log.info("URLs and views loaded before forking %s workers", server.cfg.workers)


def post_worker_init(worker) -> None:
    """Each worker, once started, cleans up after import jobs of processes that died (a crash or
    SIGKILL of an earlier server); a job still held by a live process is left alone."""
    from readerstudy.jobs import jobs_recover_at_start

    jobs_recover_at_start()
