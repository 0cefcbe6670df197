"""The audit event each generation service writes (one test per service)."""

import pytest

from readerstudy.audit.models import AuditAction
from readerstudy.generation import services as gen
from readerstudy.generation.models import GenerationTask
from tests.audit_events import event_written
from tests.generation.cases import CASES, damage_a_slice
from tests.generation.test_generation import request_for, start

pytestmark = pytest.mark.django_db


def test_generation_job_start_and_the_finish_of_its_tasks(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    job = start(study, coordinator, django_capture_on_commit_callbacks)
    event_written(
        AuditAction.GENERATION_START,
        actor=coordinator,
        target=job,
        study=study,
        data={
            "source": "LR",
            "target": "SR",
            "target_created": True,
            "method": "tci",
            "factor": 2,
            "seed": 1,
            "weights": "",
            "options": {},
            "generative": False,
            "cases": list(CASES),
            "design_change": None,
        },
    )
    event_written(
        AuditAction.GENERATION_FINISH,
        actor=None,
        target=job,
        study=study,
        data={"status": "done", "done": len(CASES), "failed": 0},
    )


def test_generation_task_run_of_a_failing_case_and_generation_job_retry(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    path, good = damage_a_slice("K002")
    job = start(study, coordinator, django_capture_on_commit_callbacks)
    error = job.tasks.get(case__code="K002").error
    event_written(
        AuditAction.GENERATION_CASE_FAIL,
        actor=None,
        target=job,
        study=study,
        data={"case": "K002", "attempt": 1, "error": error},
    )
    path.write_bytes(good)
    with django_capture_on_commit_callbacks(execute=True):
        gen.generation_job_retry(job=job, actor=coordinator)
    event_written(
        AuditAction.GENERATION_RETRY, actor=coordinator, target=job, study=study, data={"cases": ["K002"]}
    )


def test_generation_task_enqueue_failed(lr_study, coordinator, django_capture_on_commit_callbacks):
    study, _ = lr_study
    with django_capture_on_commit_callbacks(execute=False):
        job, _ = gen.generation_job_start(study=study, request=request_for(study), actor=coordinator)
    for task in job.tasks.order_by("case__code"):
        gen.generation_task_enqueue_failed(task_id=task.pk, error="No runner could take the job.")
    events = study.audit_events.filter(action=AuditAction.GENERATION_CASE_FAIL).order_by("id")
    assert [e.data for e in events] == [
        {"case": code, "attempt": 0, "error": "No runner could take the job."} for code in CASES
    ]
    assert {(e.actor, e.target_id) for e in events} == {(None, str(job.pk))}
    assert set(job.tasks.values_list("status", flat=True)) == {GenerationTask.Status.FAILED}
    event_written(
        AuditAction.GENERATION_FINISH,
        actor=None,
        target=job,
        study=study,
        data={"status": "failed", "done": 0, "failed": len(CASES)},
    )
