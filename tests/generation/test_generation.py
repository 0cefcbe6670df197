"""Generating a condition with the SR engine as background jobs: service, runner and console page.

The studies here hold real DICOM: small generated volumes written with sr_engine's writer
and imported through the import service, as a coordinator's uploads are.
"""

import json
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from readerstudy import jobs
from readerstudy.audit.models import AuditEvent
from readerstudy.generation import services as gen
from readerstudy.generation.models import GenerationJob, GenerationTask
from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Study
from readerstudy.studies.policy import COORDINATOR
from sr_engine.dicom_series import read_dicom_series
from sr_engine.interpolate import upscaled_affine
from sr_engine.upscale import upscale
from sr_engine.volume import Volume
from tests import factories as f
from tests.generation.cases import CASES, SLICE_STEP, SLICES, damage_a_slice, import_cases


def request_for(study: Study, **changes) -> gen.GenerationRequest:
    values = dict(
        source_condition=study.conditions.get(label="LR"), target_label="SR", method="tci", factor=2, seed=1
    )
    values.update(changes)
    return gen.GenerationRequest(**values)


def start(study, coordinator, capture, **changes) -> GenerationJob:
    with capture(execute=True):
        job, created = gen.generation_job_start(
            study=study, request=request_for(study, **changes), actor=coordinator
        )
    assert created
    job.refresh_from_db()
    return job


def stored_volume(series: ImageSeries, folder: Path) -> Volume:
    """Read a stored series back from the image store, as the workstation would get it."""
    folder.mkdir(parents=True)
    for instance in series.instances.all():
        (folder / f"{instance.slice_index:04d}.dcm").write_bytes(
            default_storage.open(instance.file.name).read()
        )
    return read_dicom_series(folder)


def actions(study: Study) -> list[str]:
    return list(AuditEvent.objects.filter(study=study).order_by("id").values_list("action", flat=True))


# --------------------------------------------------------------------------- the job


def test_a_job_makes_one_series_per_case_on_the_upscaled_grid(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks, tmp_path
):
    study, volumes = lr_study
    job = start(study, coordinator, django_capture_on_commit_callbacks)

    assert job.status == GenerationJob.Status.DONE and job.finished_at is not None
    target = job.target_condition
    assert target.label == "SR" and target.study_id == study.pk
    tasks = list(job.tasks.select_related("case", "output_series"))
    assert [t.case.code for t in tasks] == list(CASES)
    for task in tasks:
        assert task.status == GenerationTask.Status.DONE
        assert task.progress == 1.0 and task.attempts == 1 and task.error == ""
        assert task.provenance["method"] == "tci" and task.provenance["factor"] == 2
        source = ImageSeries.objects.get(case=task.case, condition__label="LR")
        series = ImageSeries.objects.get(case=task.case, condition=target)
        assert task.output_series == series
        # The upscaled grid: f x the slices at 1/f the spacing, in the source's exam.
        assert series.num_slices == SLICES * 2
        assert series.slice_spacing == pytest.approx(SLICE_STEP / 2)
        assert series.pixel_spacing == pytest.approx(source.pixel_spacing)
        assert series.orientation == pytest.approx(source.orientation, abs=1e-6)
        assert series.study_instance_uid == source.study_instance_uid
        assert series.series_instance_uid != source.series_instance_uid
        # Voxels sit where sr_engine's rule puts them, and hold the method's output.
        original = volumes[task.case.code]
        back = stored_volume(series, tmp_path / f"back-{task.case.code}")
        np.testing.assert_allclose(back.affine, upscaled_affine(original, 2), atol=1e-3)
        expected = upscale(original, 2, "tci", seed=1).data
        np.testing.assert_allclose(back.data, expected, atol=0.6)
        # Stored like uploaded data: de-identified, nothing naming the method.
        ds = pydicom.dcmread(default_storage.open(series.instances.first().file.name))
        source_ds = pydicom.dcmread(default_storage.open(source.instances.first().file.name))
        assert ds.FrameOfReferenceUID == source_ds.FrameOfReferenceUID  # one frame: marks transfer
        assert str(ds.PatientName) == task.case.code and ds.get("PatientBirthDate") in (None, "")
        assert "DerivationDescription" not in ds and "tci" not in str(ds.get("SeriesDescription", ""))
    assert actions(study).count("series.import") == 2 * len(CASES)  # LR upload, then SR
    assert actions(study)[-1] == "generation.finish"
    start_event = AuditEvent.objects.get(study=study, action="generation.start")
    assert start_event.actor == coordinator and start_event.data["cases"] == list(CASES)
    assert AuditEvent.objects.get(study=study, action="generation.finish").data == {
        "status": "done",
        "done": 3,
        "failed": 0,
    }


def test_fourier_and_nearest_jobs_run_too(lr_study, coordinator, eager, django_capture_on_commit_callbacks):
    study, _ = lr_study
    for method, label in (("fi", "SR-FI"), ("nearest", "SR-NN")):
        job = start(study, coordinator, django_capture_on_commit_callbacks, method=method, target_label=label)
        assert job.status == GenerationJob.Status.DONE
        assert set(
            ImageSeries.objects.filter(condition=job.target_condition).values_list("num_slices", flat=True)
        ) == {SLICES * 2}


def test_an_existing_empty_condition_is_filled(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    empty = f.ConditionFactory(study=study, label="SR")
    job = start(study, coordinator, django_capture_on_commit_callbacks, target_label="sr")
    assert job.target_condition == empty
    assert empty.series.count() == len(CASES)


def test_a_learned_method_runs_through_the_same_path(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks, settings
):
    """selfsr in its smoke setting (a few steps of a tiny network): torch in the job runner."""
    study, _ = lr_study
    tiny = {"steps": 2, "patch": 12, "batch": 2, "features": 4, "blocks": 1, "phases": 1}
    job = start(study, coordinator, django_capture_on_commit_callbacks, method="selfsr", options=tiny)
    assert job.status == GenerationJob.Status.DONE, list(job.tasks.values_list("error", flat=True))
    for task in job.tasks.all():
        assert task.provenance["method"] == "selfsr" and task.provenance["options"] == tiny
        assert task.provenance["seed"] == 1 and task.output_series.num_slices == SLICES * 2


def test_progress_is_written_throttled_and_only_by_the_owning_attempt(lr_study, coordinator):
    study, _ = lr_study
    job, _ = gen.generation_job_start(study=study, request=request_for(study), actor=coordinator)  # not run
    GenerationTask.objects.filter(job=job).update(status=GenerationTask.Status.RUNNING, attempts=1)
    task = job.tasks.first()
    task.refresh_from_db()
    writer = gen._ProgressWriter(task)
    stored = []
    for fraction in (0.01, 0.02, 0.2, 0.21, 0.1, 1.0):
        writer(fraction)
        task.refresh_from_db()
        stored.append(task.progress)
    assert stored == [0.0, 0.0, 0.2, 0.2, 0.2, 1.0]  # small steps wait, nothing goes back
    GenerationTask.objects.filter(pk=task.pk).update(attempts=2, progress=0.0)  # another attempt took over
    gen._ProgressWriter(task)(0.5)
    task.refresh_from_db()
    assert task.progress == 0.0


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target_label": "  "}, "name"),
        ({"target_label": "lr"}, "differ"),
        ({"method": "magic"}, "Unknown method"),
        ({"factor": 7}, "factor"),
        ({"method": "resnet3d"}, "needs a weights file"),
        ({"weights": "model.pt"}, "takes no weights"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_written(lr_study, coordinator, changes, message):
    study, _ = lr_study
    with pytest.raises(gen.GenerationError, match=message):
        gen.generation_job_start(study=study, request=request_for(study, **changes), actor=coordinator)
    assert not GenerationJob.objects.exists()
    assert not study.conditions.filter(label__iexact="SR").exists()


def test_a_condition_with_series_or_a_locked_study_is_refused(lr_study, coordinator):
    study, _ = lr_study
    hr = f.ConditionFactory(study=study, label="HR")
    f.ImageSeriesFactory(case=study.cases.first(), condition=hr)
    with pytest.raises(gen.GenerationError, match="already has series"):
        gen.generation_job_start(
            study=study, request=request_for(study, target_label="HR"), actor=coordinator
        )
    study.status = Study.Status.LOCKED
    study.save()
    with pytest.raises(gen.GenerationError, match="locked"):
        gen.generation_job_start(study=study, request=request_for(study), actor=coordinator)


def test_a_source_without_series_is_refused(lr_study, coordinator):
    study, _ = lr_study
    empty = f.ConditionFactory(study=study, label="HR")
    with pytest.raises(gen.GenerationError, match="No case has a series"):
        gen.generation_job_start(
            study=study, request=request_for(study, source_condition=empty), actor=coordinator
        )


def test_weights_come_only_from_the_configured_folder(settings, tmp_path, lr_study, coordinator):
    study, _ = lr_study
    folder = tmp_path / "weights"
    (folder / "knee").mkdir(parents=True)
    (folder / "knee" / "resnet3d-x2.pt").write_bytes(b"not read here")
    (folder / ".hidden.pt").write_bytes(b"")
    (tmp_path / "outside.pt").write_bytes(b"")
    settings.READERSTUDY_SR_WEIGHTS_DIR = folder
    assert gen.generation_weights_choices() == ["knee/resnet3d-x2.pt"]
    for name in ("../outside.pt", str(tmp_path / "outside.pt"), ".hidden.pt"):
        with pytest.raises(gen.GenerationError, match="no weights file"):
            gen.generation_job_start(
                study=study, request=request_for(study, method="resnet3d", weights=name), actor=coordinator
            )


# --------------------------------------------------------------------------- failures and retries


def test_a_corrupt_source_fails_its_case_alone_and_a_retry_after_the_fix_completes_the_job(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    path, good_bytes = damage_a_slice("K002")

    job = start(study, coordinator, django_capture_on_commit_callbacks)
    assert job.status == GenerationJob.Status.FAILED
    tasks = {t.case.code: t for t in job.tasks.select_related("case")}
    assert {code: t.status for code, t in tasks.items()} == {"K001": "done", "K002": "failed", "K003": "done"}
    error = tasks["K002"].error
    assert "K002" in error and "damaged" in error and "slice 3" in error
    assert "Traceback" not in error and "\n" not in error
    assert not ImageSeries.objects.filter(case__code="K002", condition=job.target_condition).exists()
    fail = AuditEvent.objects.get(study=study, action="generation.case_fail")
    assert fail.data["case"] == "K002" and fail.data["error"] == error
    assert AuditEvent.objects.get(study=study, action="generation.finish").data["failed"] == 1

    # The console's retry queues only the failed case; nothing is retried while the cause stays.
    path.write_bytes(good_bytes)
    with django_capture_on_commit_callbacks(execute=True):
        assert gen.generation_job_retry(job=job, actor=coordinator) == 1
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE
    assert [t.status for t in job.tasks.all()] == ["done"] * 3
    assert job.tasks.get(case__code="K002").attempts == 2
    assert job.tasks.get(case__code="K001").attempts == 1
    assert ImageSeries.objects.filter(condition=job.target_condition).count() == len(CASES)
    assert AuditEvent.objects.get(study=study, action="generation.retry").data == {"cases": ["K002"]}
    assert gen.generation_job_retry(job=job, actor=coordinator) == 0  # a second click does nothing


def test_an_engine_error_is_a_readable_message(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    job = start(study, coordinator, django_capture_on_commit_callbacks, options={"no_such_option": 1})
    assert job.status == GenerationJob.Status.FAILED
    for task in job.tasks.all():
        assert task.status == GenerationTask.Status.FAILED
        assert task.error.startswith("The SR engine failed on this case") and "no_such_option" in task.error


def test_running_a_task_twice_or_after_a_crash_makes_one_series(
    lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    job = start(study, coordinator, django_capture_on_commit_callbacks)
    task = job.tasks.get(case__code="K001")
    series = task.output_series

    gen.generation_task_run(task_id=task.pk)  # a redelivered message: the task is done
    task.refresh_from_db()
    assert task.attempts == 1 and task.status == GenerationTask.Status.DONE

    # A worker that died after the import, before marking the task done: the next run finds
    # its own series instead of importing a second one.
    GenerationTask.objects.filter(pk=task.pk).update(status=GenerationTask.Status.QUEUED, output_series=None)
    gen.generation_task_run(task_id=task.pk)
    task.refresh_from_db()
    assert task.status == GenerationTask.Status.DONE and task.output_series == series and task.attempts == 2
    assert ImageSeries.objects.filter(case=task.case, condition=job.target_condition).count() == 1


def test_a_running_task_is_claimed_again_only_when_stale(lr_study, coordinator, settings):
    study, _ = lr_study
    job, _ = gen.generation_job_start(study=study, request=request_for(study), actor=coordinator)  # not run
    task = job.tasks.first()
    GenerationTask.objects.filter(pk=task.pk).update(status=GenerationTask.Status.RUNNING, attempts=1)
    gen.generation_task_run(task_id=task.pk)  # another worker has it: nothing happens
    task.refresh_from_db()
    assert task.status == GenerationTask.Status.RUNNING and task.attempts == 1
    assert gen.generation_job_retry(job=job, actor=coordinator) == 0

    settings.READERSTUDY_JOBS_STALE_SECONDS = -1  # every running task is now silent for too long
    gen.generation_task_run(task_id=task.pk)
    task.refresh_from_db()
    assert task.status == GenerationTask.Status.DONE and task.attempts == 2


# --------------------------------------------------------------------------- the worker thread


@pytest.mark.django_db(transaction=True)
def test_the_embedded_runner_runs_jobs_on_its_worker_thread(settings, tmp_path):
    settings.READERSTUDY_JOBS_EAGER = False
    settings.CELERY_BROKER_URL = ""
    coordinator = f.UserFactory(username="threadcoord", roles=[COORDINATOR])
    study = f.StudyFactory(coordinators=[coordinator])
    f.ConditionFactory(study=study, label="LR")
    import_cases(study, tmp_path / "upload", coordinator, codes=CASES[:2])

    job, _ = gen.generation_job_start(study=study, request=request_for(study), actor=coordinator)
    assert jobs.jobs_wait(timeout=60), "the worker thread did not finish in time"
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE
    assert sorted(job.tasks.values_list("status", flat=True)) == ["done", "done"]
    assert ImageSeries.objects.filter(condition=job.target_condition).count() == 2


def test_inside_jobs_run_in_caller_the_work_runs_at_once_in_the_callers_transaction(
    lr_study, coordinator, settings, django_capture_on_commit_callbacks
):
    settings.READERSTUDY_JOBS_EAGER = False  # the embedded default: a worker thread after commit
    settings.CELERY_BROKER_URL = ""
    study, _ = lr_study
    with django_capture_on_commit_callbacks() as callbacks:
        with jobs.jobs_run_in_caller():  # what the demo loader does
            job, _ = gen.generation_job_start(study=study, request=request_for(study), actor=coordinator)
        job.refresh_from_db()
        assert job.status == GenerationJob.Status.DONE  # before any commit
        assert set(job.tasks.values_list("status", flat=True)) == {"done"}
        assert ImageSeries.objects.filter(condition=job.target_condition).count() == len(CASES)
        # After the block, work waits for the commit and a runner again.
        later, _ = gen.generation_job_start(
            study=study, request=request_for(study, target_label="SR 2"), actor=coordinator
        )
    assert len(callbacks) == len(CASES)  # the later job's tasks only
    assert set(later.tasks.values_list("status", flat=True)) == {"queued"}


# --------------------------------------------------------------------------- the console page


def page_url(study, name="study_generation", *args):
    return reverse(f"readerstudy:{name}", args=[study.slug, *args])


def form_data(study, key=None, **changes):
    data = {
        "source": study.conditions.get(label="LR").pk,
        "target": "SR",
        "method": "tci",
        "factor": 2,
        "seed": 0,
        "weights": "",
        "options": "",
        "request_key": str(key or uuid.uuid4()),
    }
    data.update(changes)
    return data


def test_the_console_starts_a_job_once_and_shows_its_progress(
    client, lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    client.force_login(coordinator)
    page = client.get(page_url(study))
    assert page.status_code == 200
    assert b'name="request_key"' in page.content and b'<option value="selfsr"' in page.content

    data = form_data(study)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(page_url(study), data)
        second = client.post(page_url(study), data)  # the same form submitted twice
    assert first.status_code == second.status_code == 302
    assert GenerationJob.objects.count() == 1
    job = GenerationJob.objects.get()
    assert job.created_by == coordinator and job.method == "tci"
    assert AuditEvent.objects.filter(action="generation.start").count() == 1

    page = client.get(page_url(study))
    assert b"already submitted" in page.content
    assert page.content.count(b'<progress max="1" value="1.000">') == len(CASES)

    state = client.get(page_url(study, "study_generation_state")).json()
    assert state["running"] is False
    assert [(t["case"], t["status"], t["progress"]) for t in state["jobs"][0]["tasks"]] == [
        (code, "done", 1.0) for code in CASES
    ]

    # Another request for the same condition is refused with the reason on the form.
    again = client.post(page_url(study), form_data(study))
    assert again.status_code == 200 and b"already being generated" in again.content
    assert GenerationJob.objects.count() == 1


def test_the_console_refuses_bad_options_and_retries_failed_cases(
    client, lr_study, coordinator, eager, django_capture_on_commit_callbacks
):
    study, _ = lr_study
    client.force_login(coordinator)
    bad = client.post(page_url(study), form_data(study, options="[1, 2]"))
    assert bad.status_code == 200 and b"JSON object" in bad.content
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page_url(study), form_data(study, options=json.dumps({"no_such_option": 1})))
    job = GenerationJob.objects.get()
    assert job.status == GenerationJob.Status.FAILED
    page = client.get(page_url(study))
    assert b"Retry failed cases" in page.content and b"no_such_option" in page.content
    assert b"Traceback" not in page.content

    GenerationJob.objects.filter(pk=job.pk).update(options={})  # the cause fixed
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page_url(study, "study_generation_retry", job.pk))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE
    assert AuditEvent.objects.filter(action="generation.retry", actor=coordinator).count() == 1


def test_the_study_page_links_to_the_console(client, lr_study, coordinator):
    study, _ = lr_study
    client.force_login(coordinator)
    assert (
        page_url(study).encode() in client.get(reverse("readerstudy:study_detail", args=[study.slug])).content
    )


@pytest.mark.parametrize("who", ["reader", "statistician", "other_coordinator", "anonymous"])
def test_only_the_study_coordinators_may_use_the_console(client, lr_study, statistician, who):
    study, _ = lr_study
    study.statisticians.add(statistician)
    job, _ = gen.generation_job_start(study=study, request=request_for(study), actor=None)
    users = {
        "reader": f.ReaderParticipationFactory(study=study).user,
        "statistician": statistician,
        "other_coordinator": f.UserFactory(username="othercoord", roles=[COORDINATOR]),
    }
    if who in users:
        client.force_login(users[who])
    requests = [
        ("get", page_url(study), None),
        ("post", page_url(study), form_data(study, target="SR2")),
        ("get", page_url(study, "study_generation_state"), None),
        ("post", page_url(study, "study_generation_retry", job.pk), None),
    ]
    for method, url, data in requests:
        response = getattr(client, method)(url, data)
        if who == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        else:
            assert response.status_code == 403, url
    assert GenerationJob.objects.count() == 1
    assert not AuditEvent.objects.filter(action="generation.retry").exists()
