"""The Celery path of generation jobs, for real: a Redis broker and a Celery worker.

The worker runs in a thread of this process (``celery.contrib.testing.worker``), so it
uses the same test database; the test is transactional so that both see committed rows.
Redis is expected at ``READERSTUDY_TEST_REDIS_URL`` (default: database 15 of the local
server, flushed before and after). Without Redis the test is skipped, except under
``CI`` (set by CI), where an unreachable Redis is a failure.
"""

import os
import time

import pytest
from celery.signals import task_postrun

from readerstudy import jobs
from readerstudy.generation import services as gen
from readerstudy.generation.models import GenerationJob, GenerationTask
from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.policy import COORDINATOR
from tests import factories as f
from tests.generation.cases import CASES, SLICE_STEP, SLICES, import_cases
from tests.generation.test_generation import request_for

REDIS_URL = os.environ.get("READERSTUDY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TIMEOUT_S = 60


@pytest.fixture
def redis_broker():
    """The Redis test database, empty; skipped without Redis unless under CI."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is unreachable at {REDIS_URL} (required under CI): {exc}", pytrace=False)
        pytest.skip(f"Redis is unreachable at {REDIS_URL}: {exc}")
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def celery_worker(redis_broker, settings):
    """A real Celery worker consuming from the Redis broker, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    import readerstudy.tasks  # noqa: F401  (registers the task with the app)
    from config.celery import app

    settings.CELERY_BROKER_URL = redis_broker
    settings.READERSTUDY_JOBS_EAGER = False
    previous = app.conf.broker_url
    app.conf.broker_url = redis_broker
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        app.conf.broker_url = previous


@pytest.mark.django_db(transaction=True)
def test_a_generation_job_runs_on_a_celery_worker_through_redis(celery_worker, tmp_path):
    ran = []

    def record(sender=None, task_id=None, args=None, **kwargs):
        ran.append((sender.name, tuple(args or ())))

    task_postrun.connect(record, weak=False)
    try:
        coordinator = f.UserFactory(username="celerycoord", roles=[COORDINATOR])
        study = f.StudyFactory(coordinators=[coordinator])
        f.ConditionFactory(study=study, label="LR")
        import_cases(study, tmp_path / "upload", coordinator, codes=CASES[:2])

        job, _ = gen.generation_job_start(study=study, request=request_for(study), actor=coordinator)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status != GenerationJob.Status.RUNNING:
                break
            time.sleep(0.2)
    finally:
        task_postrun.disconnect(record)

    assert job.status == GenerationJob.Status.DONE, list(job.tasks.values("status", "error"))
    tasks = list(job.tasks.all())
    assert [t.status for t in tasks] == [GenerationTask.Status.DONE] * 2
    # Each task went through the broker to the worker (not the in-process thread), once.
    assert sorted(ran) == sorted(("readerstudy.tasks.generation_task_run", (t.pk,)) for t in tasks)
    assert jobs.jobs_wait(timeout=0)
    for task in tasks:
        series = ImageSeries.objects.get(case=task.case, condition=job.target_condition)
        assert series == task.output_series
        assert series.num_slices == 2 * SLICES
        assert series.slice_spacing == pytest.approx(SLICE_STEP / 2)
        assert series.instances.count() == 2 * SLICES
