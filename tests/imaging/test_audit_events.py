"""The audit event each import service writes (one test per service)."""

from unittest.mock import ANY

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from readerstudy.audit.models import AuditAction
from readerstudy.imaging.dicom_import import DicomImportError, ImportReport, dicom_import
from readerstudy.imaging.import_jobs import import_job_cancel, import_job_start, import_jobs_recover
from readerstudy.imaging.models import ImageSeries, ImportJob
from readerstudy.studies.models import Study
from tests import dicom_files as dcm
from tests import factories as f
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db

MANIFEST = "case,condition,folder\nK1,LR,LR\n"


@pytest.fixture
def lr(study):
    return f.ConditionFactory(study=study, label="LR")


def test_dicom_import_of_a_folder(study, lr, coordinator, tmp_path):
    dcm.write_series(tmp_path / "LR", slices=4, rows=16, columns=16)
    rows = [{"case": "K1", "condition": "LR", "folder": "LR"}]
    report = dicom_import(study=study, source=tmp_path, manifest=rows, actor=coordinator)
    assert report.counts()["imported_series"] == 1
    event_written(
        AuditAction.DICOM_IMPORT,
        actor=coordinator,
        target=None,
        study=study,
        data={**report.counts(), "cancelled": False, "design_change": None},
    )
    event_written(
        AuditAction.SERIES_IMPORT,
        actor=coordinator,
        target=ImageSeries.objects.get(case__study=study),
        study=study,
        data={"case": "K1", "condition": "LR", "instances": 4},
    )


def test_dicom_import_that_cannot_start(study, lr, coordinator, tmp_path):
    with pytest.raises(DicomImportError) as refused:
        dicom_import(study=study, source=tmp_path / "missing", manifest=[], actor=coordinator)
    event = event_written(
        AuditAction.DICOM_IMPORT_FAILED,
        actor=coordinator,
        target=None,
        study=study,
        data={**ImportReport().counts(), "errors": ANY},
    )
    assert event.data["errors"] == refused.value.errors


def test_import_job_start_queues_and_import_job_cancel(
    study, lr, coordinator, django_capture_on_commit_callbacks
):
    archive = SimpleUploadedFile("upload.zip", b"PK\x05\x06" + b"\0" * 18, "application/zip")
    with django_capture_on_commit_callbacks(execute=False):  # the runner never starts
        job = import_job_start(study=study, archive=archive, manifest_text=MANIFEST, actor=coordinator)
    event_written(
        AuditAction.DICOM_IMPORT_QUEUED,
        actor=coordinator,
        target=job,
        study=study,
        data={"source": "upload.zip", "acknowledge_design_change": False},
    )
    import_job_cancel(job=job, actor=coordinator)
    import_job_cancel(job=job, actor=coordinator)  # cancelled already: nothing more
    event_written(
        AuditAction.DICOM_IMPORT_CANCEL, actor=coordinator, target=job, study=study, data={"status": "queued"}
    )


def test_import_job_start_refused_for_a_locked_study(study, lr, coordinator):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)
    study.refresh_from_db()
    archive = SimpleUploadedFile("upload.zip", b"", "application/zip")
    with pytest.raises(DicomImportError):
        import_job_start(study=study, archive=archive, manifest_text=MANIFEST, actor=coordinator)
    event_written(
        AuditAction.DICOM_IMPORT_FAILED,
        actor=coordinator,
        target=None,
        study=study,
        data={"source": "upload.zip", "errors": ["The study is locked: nothing can be imported into it."]},
    )
    assert not ImportJob.objects.exists()


def test_import_jobs_recover_records_an_interrupted_job(study):
    runner = "another-host:4242:0123456789ab"
    job = ImportJob.objects.create(
        study=study,
        source_name="x.zip",
        manifest_text=MANIFEST,
        status=ImportJob.Status.RUNNING,
        runner=runner,
        stage="importing",
        progress=0.4321,
    )
    ImportJob.objects.filter(pk=job.pk).update(updated_at=job.updated_at.replace(year=2000))
    import_jobs_recover()
    event_written(
        AuditAction.DICOM_IMPORT_INTERRUPTED,
        actor=None,
        target=job,
        study=study,
        data={"runner": runner, "stage": "importing", "progress": 0.432},
    )


def test_display_grid_set_and_a_series_resampled_onto_it(study, coordinator, tmp_path):
    from readerstudy.imaging.display_grid import study_display_grid_set

    hr, lr = (f.ConditionFactory(study=study, label=label, order=n) for n, label in enumerate(("HR", "LR")))
    dcm.write_series(tmp_path / "HR", slices=4, spacing=1.0, rows=16, columns=16)
    dcm.write_series(tmp_path / "LR", slices=2, spacing=2.0, rows=8, columns=8, pixel_spacing=(1.0, 1.0))
    rows = [{"case": "K1", "condition": label, "folder": label} for label in ("HR", "LR")]
    dicom_import(study=study, source=tmp_path, manifest=rows, actor=coordinator)
    study_display_grid_set(study=study, condition=hr, actor=coordinator)
    event_written(
        AuditAction.STUDY_DISPLAY_GRID,
        actor=coordinator,
        target=study,
        study=study,
        data={"before": {"display_grid_condition": None}, "after": {"display_grid_condition": "HR"}},
    )
    event_written(
        AuditAction.SERIES_DISPLAY_GRID,
        actor=coordinator,
        target=ImageSeries.objects.get(condition=lr),
        study=study,
        data={
            "case": "K1",
            "condition": "LR",
            "grid_condition": "HR",
            "resampled": True,
            "interpolation": "trilinear",
            "source": {"rows": 8, "columns": 8, "num_slices": 2},
            "target": {"rows": 16, "columns": 16, "num_slices": 4},
        },
    )
