"""Generating a condition with the SR engine: start a job, run its tasks, retry the failed ones.

A coordinator asks for a new condition (e.g. "SR") made from an existing one (e.g. "LR")
by an ``sr_engine.upscale`` method. ``generation_job_start`` creates the
``GenerationJob``, its target condition and one ``GenerationTask`` per case with a
source series, and enqueues the tasks (``readerstudy.jobs``). A runner (a worker thread
or a Celery worker) calls ``generation_task_run`` for each; it

1. claims the task with one conditional UPDATE (queued, or running but silent for longer
   than ``READERSTUDY_JOBS_STALE_SECONDS``, becomes running), so a task delivered twice
   runs once;
2. reads the case's source series from the image store (checking every file against its
   stored checksum) into an ``sr_engine`` Volume;
3. upscales it, writes the result as a DERIVED DICOM series in the source's study, and
   imports that through the regular import service (``dicom_import``), so it is stored
   and de-identified exactly like uploaded data;
4. records the output series, or the failure with a readable message (the traceback
   goes to the log), and finishes the job when its last task has finished.

The derived series' SeriesInstanceUID (before de-identification) is made from the task's
idempotency key, so a run that finds that series already stored (a redelivery, a worker
that died after the import) marks the task done instead of importing twice.

A new condition in a study whose schedule is active is a design change the coordinator must
acknowledge (``schedules.schedule_design_change_check``); ``generation.start`` records it.

Audit events: ``generation.start``, ``generation.retry``, ``generation.case_fail`` and
``generation.finish`` (the import adds ``dicom.import`` and ``series.import``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_event_create
from readerstudy.design.services import schedule_design_change_check
from readerstudy.errors import ServiceError
from readerstudy.generation.models import ACTIVE_TASK_STATUSES, GenerationJob, GenerationTask
from readerstudy.generation.selectors import (
    ModelFile,
    generation_model_file,
    generation_task_stale_before,
    generation_tasks_retryable,
    generation_weights_choices,
)
from readerstudy.imaging.deidentify import uid_pseudonymize
from readerstudy.imaging.dicom_import import DicomImportError, dicom_import
from readerstudy.imaging.display_grid import series_native_files
from readerstudy.imaging.models import ImageSeries, SourceIdentity
from readerstudy.jobs import job_enqueue
from readerstudy.studies.models import Case, Condition, Study
from sr_engine.dicom_series import SeriesInfo, read_dicom_series, write_dicom_series
from sr_engine.progress import progress_reporter

logger = logging.getLogger(__name__)
#: Methods that need a trained weights file (chosen from READERSTUDY_SR_WEIGHTS_DIR).
WEIGHTED_METHODS = frozenset({"resnet3d", "resnet2d"})
#: The method that runs a brought model file (ONNX or TorchScript with its .json, from the same
#: folder); the job's ``weights`` field holds its path.
MODEL_METHOD = "model"
#: Upscaling factors a coordinator may ask for.
FACTORS = (2, 3, 4, 5, 6)
#: Progress is written to the database at most this often (seconds) unless it moved by PROGRESS_STEP.
PROGRESS_INTERVAL_S = 0.5
PROGRESS_STEP = 0.05


#: Parts of a task's progress bar: reading the source, upscaling, writing and importing.
READ_PART, UPSCALE_PART = (0.0, 0.05), (0.05, 0.9)


class GenerationError(ServiceError, ValueError):
    """A generation request or run that cannot go on; the message says why, for the coordinator."""


def generation_methods() -> tuple[str, ...]:
    """The SR engine's methods (``sr_engine.upscale.METHODS``)."""
    from sr_engine.upscale import METHODS  # imported on use: the app starts without the engine loaded

    return tuple(METHODS)


def _weights_path(name: str) -> Path:
    """The absolute path of a listed weights file; ``GenerationError`` for anything else."""
    if name not in generation_weights_choices():
        raise GenerationError(f"There is no weights file '{name}' in the configured weights folder.")
    return Path(settings.READERSTUDY_SR_WEIGHTS_DIR) / name


def _model_path(name: str) -> tuple[Path, ModelFile]:
    """The absolute path of a listed, usable model file; ``GenerationError`` (with the reason) else.

    Only files the listing found are accepted, so no name leads outside the weights folder."""
    model = generation_model_file(name)
    if model is None:
        raise GenerationError(f"There is no model file '{name}' in the configured weights folder.")
    if not model.usable:
        raise GenerationError(f"The model file {name} cannot be used: {model.reason}")
    return Path(settings.READERSTUDY_SR_WEIGHTS_DIR) / model.path, model


@dataclass(frozen=True)
class GenerationRequest:
    """What a coordinator asks for: the target condition made from the source by a method."""

    source_condition: Condition
    target_label: str
    method: str
    factor: int
    seed: int = 0
    weights: str = ""  # the weights file (resnet3d, resnet2d) or the model file (model)
    options: dict[str, Any] | None = None


def _request_check(study: Study, request: GenerationRequest) -> None:
    if study.status == Study.Status.LOCKED:
        raise GenerationError("The study is locked: no condition can be added to it.")
    if request.source_condition.study_id != study.pk:
        raise GenerationError("The source condition belongs to another study.")
    label = request.target_label.strip()
    if not label:
        raise GenerationError("Give the new condition a name.")
    max_length = Condition._meta.get_field("label").max_length
    if max_length is not None and len(label) > max_length:
        raise GenerationError("The condition name is too long.")
    if label.casefold() == request.source_condition.label.casefold():
        raise GenerationError("The new condition must differ from its source.")
    if request.method not in generation_methods():
        raise GenerationError(f"Unknown method '{request.method}'.")
    if request.factor not in FACTORS:
        raise GenerationError(f"The factor must be one of {', '.join(map(str, FACTORS))}.")
    if request.method in WEIGHTED_METHODS:
        if not request.weights:
            raise GenerationError(f"The method {request.method} needs a weights file.")
        _weights_path(request.weights)
    elif request.method == MODEL_METHOD:
        if not request.weights:
            raise GenerationError("The method model needs a model file.")
        _model_path(request.weights)
    elif request.weights:
        raise GenerationError(f"The method {request.method} takes no weights file.")
    if not isinstance(request.options or {}, dict):
        raise GenerationError("Options must be a JSON object.")


def _target_condition(study: Study, label: str, request: GenerationRequest) -> tuple[Condition, bool]:
    """The condition to fill: an existing empty one of that label, or a new one."""
    existing = study.conditions.filter(label__iexact=label).first()
    if existing is not None:
        if GenerationJob.objects.filter(target_condition=existing).exists():
            raise GenerationError(f"The condition {existing.label} is already being generated by a job.")
        if existing.series.exists():
            raise GenerationError(
                f"The condition {existing.label} already has series: generate into a new condition."
            )
        return existing, False
    order = (study.conditions.aggregate(last=Max("order"))["last"] or 0) + 1
    description = f"Generated from {request.source_condition.label} by {request.method} x{request.factor}"
    condition = Condition.objects.create(study=study, label=label, description=description, order=order)
    return condition, True


def _generative(request: GenerationRequest) -> bool:
    """Whether the request's output is generative: a model file whose metadata says so."""
    return request.method == MODEL_METHOD and _model_path(request.weights)[1].generative


def generation_job_start(
    *,
    study: Study,
    request: GenerationRequest,
    actor: Any,
    request_key: uuid.UUID | None = None,
    acknowledge_design_change: bool = False,
) -> tuple[GenerationJob, bool]:
    """Start generating ``request.target_label`` for every case with a source series.

    Returns ``(job, created)``: a request with the ``request_key`` of an earlier one (a form
    submitted twice) returns that job with ``created=False``. Raises ``GenerationError``
    when the study or the request does not allow it, and ``DesignChangeUnacknowledged``
    when the active schedule does not cover the target and ``acknowledge_design_change``
    is false.
    """
    if request_key is not None:
        earlier = GenerationJob.objects.filter(request_key=request_key, study=study).first()
        if earlier is not None:
            return earlier, False
    _request_check(study, request)
    label = request.target_label.strip()
    try:
        with transaction.atomic():
            Study.objects.select_for_update().get(pk=study.pk)  # one start at a time per study
            if request_key is not None:  # a twin request that waited for the lock
                earlier = GenerationJob.objects.filter(request_key=request_key, study=study).first()
                if earlier is not None:
                    return earlier, False
            cases = list(
                Case.objects.filter(study=study, series__condition=request.source_condition).order_by("code")
            )
            if not cases:
                raise GenerationError(
                    f"No case has a series for the condition {request.source_condition.label}."
                )
            target, created = _target_condition(study, label, request)
            if _generative(request) and not target.generative:
                target.generative = True
                target.save(update_fields=["generative"])
            design_change = schedule_design_change_check(  # raising rolls the new condition back
                study, new_condition_labels=[target.label], acknowledged=acknowledge_design_change
            )
            job = GenerationJob.objects.create(
                study=study,
                source_condition=request.source_condition,
                target_condition=target,
                method=request.method,
                factor=request.factor,
                seed=request.seed,
                weights=request.weights,
                options=request.options or {},
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
                request_key=request_key or uuid.uuid4(),
            )
            GenerationTask.objects.bulk_create(GenerationTask(job=job, case=case) for case in cases)
            audit_event_create(
                actor=actor,
                action=AuditAction.GENERATION_START,
                target=job,
                study=study,
                data={
                    "source": request.source_condition.label,
                    "target": target.label,
                    "target_created": created,
                    "method": job.method,
                    "factor": job.factor,
                    "seed": job.seed,
                    "weights": job.weights,
                    "options": job.options,
                    "generative": target.generative,
                    "cases": [case.code for case in cases],
                    "design_change": design_change.audit_data() if design_change else None,
                },
            )
            for task in GenerationTask.objects.filter(job=job).values_list("pk", flat=True):
                job_enqueue(task)
    except IntegrityError:
        # A concurrent twin of this request (same key) or of this target got there first.
        if request_key is not None:
            earlier = GenerationJob.objects.filter(request_key=request_key, study=study).first()
            if earlier is not None:
                return earlier, False
        raise GenerationError(f"The condition {label} is already being generated by a job.") from None
    return job, True


# --------------------------------------------------------------------------- retrying


def generation_job_retry(*, job: GenerationJob, actor: Any) -> int:
    """Queue the job's failed (and lost) tasks again; return how many (0: nothing to retry)."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.study.status == Study.Status.LOCKED:
            raise GenerationError("The study is locked: nothing can be generated in it.")
        retry = list(generation_tasks_retryable(locked).select_related("case"))
        if not retry:
            return 0
        now = timezone.now()
        GenerationTask.objects.filter(pk__in=[task.pk for task in retry]).update(
            status=GenerationTask.Status.QUEUED, progress=0.0, finished_at=None, updated_at=now
        )
        locked.status = GenerationJob.Status.RUNNING
        locked.finished_at = None
        locked.save(update_fields=["status", "finished_at"])
        audit_event_create(
            actor=actor,
            action=AuditAction.GENERATION_RETRY,
            target=locked,
            study=locked.study,
            data={"cases": [task.case.code for task in retry]},
        )
        for task in retry:
            job_enqueue(task.pk)
    job.refresh_from_db()
    return len(retry)


# --------------------------------------------------------------------------- running a task


def _task_claim(task_id: int) -> GenerationTask | None:
    """Move the task to running if it is queued or lost; None when another run has it or it is done."""
    now = timezone.now()
    claimable = Q(status=GenerationTask.Status.QUEUED) | Q(
        status=GenerationTask.Status.RUNNING, updated_at__lt=generation_task_stale_before()
    )
    claimed = GenerationTask.objects.filter(claimable, pk=task_id).update(
        status=GenerationTask.Status.RUNNING,
        attempts=F("attempts") + 1,
        progress=0.0,
        error="",
        started_at=now,
        finished_at=None,
        updated_at=now,
    )
    if not claimed:
        return None
    return GenerationTask.objects.select_related(
        "job__study", "job__source_condition", "job__target_condition", "case"
    ).get(pk=task_id)


class _ProgressWriter:
    """A progress callback that stores the fraction on the task row, throttled.

    Writes when the fraction moved by ``PROGRESS_STEP`` or ``PROGRESS_INTERVAL_S`` passed;
    only while this attempt still owns the task.
    """

    def __init__(self, task: GenerationTask) -> None:
        self._rows = GenerationTask.objects.filter(
            pk=task.pk, attempts=task.attempts, status=GenerationTask.Status.RUNNING
        )
        self._written = 0.0
        self._at = time.monotonic()

    def __call__(self, fraction: float) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        small_step = fraction - self._written < PROGRESS_STEP
        if fraction <= self._written or (small_step and now - self._at < PROGRESS_INTERVAL_S):
            return
        self._rows.update(progress=fraction, updated_at=timezone.now())
        self._written, self._at = fraction, now


def generation_task_run(*, task_id: int) -> None:
    """Run one case of a job (what every runner calls). Never raises for a failure of the case:
    the task is marked failed with a readable message and the traceback is logged."""
    task = _task_claim(task_id)
    if task is None:
        logger.info("Generation task %s is done or running elsewhere; nothing to do.", task_id)
        return
    rows = GenerationTask.objects.filter(pk=task.pk, attempts=task.attempts)
    try:
        series, provenance = _task_execute(task, _ProgressWriter(task))
    except Exception as exc:
        message = _error_message(exc)
        if isinstance(exc, GenerationError | DicomImportError):
            logger.warning("Generation task %s (case %s) failed: %s", task.pk, task.case.code, message)
        else:
            logger.exception("Generation task %s (case %s) failed", task.pk, task.case.code)
        now = timezone.now()
        failed = GenerationTask.Status.FAILED
        finished = rows.update(status=failed, error=message, finished_at=now, updated_at=now)
        if finished:
            audit_event_create(
                actor=None,
                action=AuditAction.GENERATION_CASE_FAIL,
                target=task.job,
                study=task.job.study,
                data={"case": task.case.code, "attempt": task.attempts, "error": message},
            )
    else:
        rows.update(
            status=GenerationTask.Status.DONE,
            progress=1.0,
            error="",
            output_series=series,
            provenance=provenance,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
    _job_finish_if_complete(task.job_id)


def generation_task_enqueue_failed(*, task_id: int, error: str) -> None:
    """Mark a queued task failed because no runner could be given it (e.g. the broker is down)."""
    now = timezone.now()
    rows = GenerationTask.objects.filter(pk=task_id, status=GenerationTask.Status.QUEUED)
    if rows.update(status=GenerationTask.Status.FAILED, error=error, finished_at=now, updated_at=now):
        task = GenerationTask.objects.select_related("job__study", "case").get(pk=task_id)
        audit_event_create(
            actor=None,
            action=AuditAction.GENERATION_CASE_FAIL,
            target=task.job,
            study=task.job.study,
            data={"case": task.case.code, "attempt": task.attempts, "error": error},
        )
        _job_finish_if_complete(task.job_id)


def _error_message(exc: BaseException) -> str:
    """One readable line for the coordinator (no traceback)."""
    if isinstance(exc, GenerationError | DicomImportError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "The SR engine ran out of memory on this case."
    else:
        text = f"The SR engine failed on this case ({type(exc).__name__}: {exc})"
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "…"


def _derived_series_uid(task: GenerationTask) -> str:
    """The derived series' SeriesInstanceUID before de-identification (PS3.5 B.2, from a UUID)."""
    return f"2.25.{task.idempotency_key.int}"


def _own_series(task: GenerationTask) -> ImageSeries | None:
    """The series this task imported earlier (found by its de-identified UID), if any."""
    stored_uid = uid_pseudonymize(_derived_series_uid(task), salt=task.job.study.uid_salt)
    return ImageSeries.objects.filter(series_instance_uid=stored_uid, case=task.case).first()


def _task_execute(task: GenerationTask, progress: _ProgressWriter) -> tuple[ImageSeries, dict[str, Any]]:
    """Make and import the case's derived series; return it and its provenance."""
    from sr_engine.model_file import ModelError  # imported on use: the app starts without the engine
    from sr_engine.upscale import upscale

    job, case = task.job, task.case
    existing = _own_series(task)
    if existing is not None:  # imported by an earlier run that did not live to record it
        return existing, task.provenance
    if ImageSeries.objects.filter(case=case, condition=job.target_condition).exists():
        raise GenerationError(
            f"Case {case.code} already has another series for the condition {job.target_condition.label}."
        )
    source = ImageSeries.objects.filter(case=case, condition=job.source_condition).first()
    if source is None:
        raise GenerationError(
            f"Case {case.code} has no series for the condition {job.source_condition.label}."
        )
    report = progress_reporter(progress)
    with tempfile.TemporaryDirectory(prefix="generation-") as tmp:
        volume = _source_volume(source, Path(tmp) / "source")
        report.part(*READ_PART)(1.0)
        model = _model_path(job.weights)[0] if job.method == MODEL_METHOD else None
        weights = _weights_path(job.weights) if job.weights and model is None else None
        try:
            result = upscale(
                volume,
                job.factor,
                job.method,
                seed=job.seed,
                weights=weights,
                model=model,
                progress=report.part(*UPSCALE_PART),
                **job.options,
            )
        except ModelError as exc:  # the model does not fit this volume: the reason, for the coordinator
            raise GenerationError(f"Case {case.code}: {exc}") from exc
        out = Path(tmp) / "derived"
        write_dicom_series(result, out, _series_info(task, source, result))
        provenance = dict(result.acquisition.get("provenance") or {})
        imported = dicom_import(
            study=job.study,
            source=out,
            manifest=[{"case": case.code, "condition": job.target_condition.label, "folder": "."}],
            actor=job.created_by,
        )
    series = _own_series(task)  # also when a twin run imported it first
    if series is None:
        reasons = [item.reason for item in imported.rejected_series] + imported.manifest_errors
        raise GenerationError(
            "The generated series could not be imported: " + ("; ".join(reasons) or imported.summary())
        )
    return series, provenance


def _source_volume(source: ImageSeries, folder: Path) -> Any:
    """Copy the series' stored files to ``folder`` (checking their checksums) and read the volume."""
    folder.mkdir(parents=True)
    code = source.case.code
    # The series as imported, also when it is shown resampled onto the study's display grid.
    for instance in series_native_files(source):
        target = folder / f"{instance.slice_index:05d}.dcm"
        digest = hashlib.sha256()
        try:
            with default_storage.open(instance.name, "rb") as src, target.open("wb") as dst:
                while chunk := src.read(1024 * 1024):
                    digest.update(chunk)
                    dst.write(chunk)
        except OSError as exc:
            raise GenerationError(
                f"A file of the source series of case {code} cannot be read from the image store "
                f"(slice {instance.slice_index + 1}): {exc.strerror or exc}."
            ) from exc
        if digest.hexdigest() != instance.sha256:
            raise GenerationError(
                f"The source series of case {code} is damaged: slice {instance.slice_index + 1} does not "
                "match its stored checksum. Import the series again, then retry."
            )
    try:
        return read_dicom_series(folder)
    except Exception as exc:  # pydicom and the geometry checks raise many kinds
        raise GenerationError(f"The source series of case {code} cannot be read as a volume: {exc}") from exc


def _series_info(task: GenerationTask, source: ImageSeries, result: Any) -> SeriesInfo:
    """The derived series' identity: the source's patient and study, a new series from the task's key.

    The StudyInstanceUID and FrameOfReferenceUID are the source's original ones (from its
    SourceIdentity), so that de-identification on import maps them to the source's stored
    UIDs: the derived series shares the source's study and frame of reference. The
    description is the source's: nothing in the header names the method (readers are
    blinded; de-identification and blinding strip descriptions and derivation anyway).
    """
    job = task.job
    identity = SourceIdentity.objects.filter(series=source).first()
    study_uid = (identity.study_instance_uid if identity else "") or source.study_instance_uid
    frame_uid = identity.frame_of_reference_uid if identity else ""
    return SeriesInfo(
        patient_name=task.case.code,
        patient_id=task.case.code,
        series_description=source.description or "MR",
        study_instance_uid=study_uid,
        series_instance_uid=_derived_series_uid(task),
        frame_of_reference_uid=frame_uid or _derived_series_uid(task) + ".1",
        slice_thickness=result.acquisition.get("slice_thickness_mm"),
        derivation=f"sr_engine {job.method} x{job.factor} (seed {job.seed}) from the series of condition "
        f"{job.source_condition.code}",
    )


def _job_finish_if_complete(job_id: int) -> None:
    """Mark the job done or failed once none of its tasks is queued or running (once: row lock)."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        if job.status != GenerationJob.Status.RUNNING:
            return
        counts = dict(job.tasks.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
        if any(counts.get(status, 0) for status in ACTIVE_TASK_STATUSES):
            return
        failed = counts.get(GenerationTask.Status.FAILED, 0)
        job.status = GenerationJob.Status.FAILED if failed else GenerationJob.Status.DONE
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        audit_event_create(
            actor=None,
            action=AuditAction.GENERATION_FINISH,
            target=job,
            study=job.study,
            data={"status": job.status, "done": counts.get(GenerationTask.Status.DONE, 0), "failed": failed},
        )
