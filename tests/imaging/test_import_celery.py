"""The Celery path of import jobs, for real: a Redis broker and a Celery worker (see
``test_generation_celery``, whose fixtures this uses: skipped without Redis, except under CI)."""

import time

import pytest
from celery.signals import task_postrun
from django.core.files.uploadedfile import SimpleUploadedFile

from readerstudy import jobs
from readerstudy.imaging.import_jobs import import_job_folder, import_job_start
from readerstudy.imaging.models import ImageSeries, ImportJob
from readerstudy.studies.policy import COORDINATOR
from tests import dicom_files as dcm
from tests import factories as f
from tests.generation.test_generation_celery import TIMEOUT_S, celery_worker, redis_broker  # noqa: F401 (fixtures)
from tests.imaging.test_import_hardening import write_manifest, zip_folder


@pytest.mark.django_db(transaction=True)
def test_an_import_job_runs_on_a_celery_worker_through_redis(celery_worker, tmp_path):  # noqa: F811
    ran = []

    def record(sender=None, task_id=None, args=None, **kwargs):
        ran.append((sender.name, tuple(args or ())))

    coordinator = f.UserFactory(username="celeryimport", roles=[COORDINATOR])
    study = f.StudyFactory(coordinators=[coordinator])
    f.ConditionFactory(study=study, label="LR")
    dcm.write_series(tmp_path / "src" / "lr", slices=3, rows=16, columns=16)
    archive = zip_folder(tmp_path / "src", tmp_path / "upload.zip")
    manifest = write_manifest(tmp_path / "m.csv", [{"case": "K1", "condition": "LR", "folder": "lr"}])

    task_postrun.connect(record, weak=False)
    try:
        job = import_job_start(
            study=study,
            archive=SimpleUploadedFile("upload.zip", archive.read_bytes()),
            manifest_text=manifest.read_text(),
            actor=coordinator,
        )
        assert job.runner == ""  # held by the broker, not by a process
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.finished:
                break
            time.sleep(0.2)
    finally:
        task_postrun.disconnect(record)

    assert job.status == ImportJob.Status.DONE, job.error
    assert ran == [("readerstudy.tasks.import_job_run", (job.pk,))]
    assert jobs.jobs_wait(timeout=0)
    assert ImageSeries.objects.get(case__study=study).num_slices == 3
    assert not import_job_folder(job.pk).exists()
