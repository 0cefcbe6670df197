"""Reads of generation jobs and their tasks (writes: ``generation.services``)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from readerstudy.generation.models import ACTIVE_TASK_STATUSES, GenerationJob, GenerationTask
from readerstudy.studies.models import Study


def generation_task_stale_before() -> datetime:
    """Tasks queued or running but silent since before this moment are lost (their worker died)."""
    return timezone.now() - timedelta(seconds=settings.READERSTUDY_JOBS_STALE_SECONDS)


def generation_tasks_retryable(job: GenerationJob) -> QuerySet[GenerationTask]:
    """Failed tasks, and queued or running ones that have been silent for too long (lost)."""
    stale = Q(status__in=ACTIVE_TASK_STATUSES, updated_at__lt=generation_task_stale_before())
    return job.tasks.filter(Q(status=GenerationTask.Status.FAILED) | stale)


def generation_jobs_for_study(study: Study) -> QuerySet[GenerationJob]:
    """The study's jobs, newest first, with their conditions, creator and tasks (by case code)."""
    return (
        study.generation_jobs.select_related("source_condition", "target_condition", "created_by")
        .prefetch_related("tasks__case", "tasks__output_series")
        .order_by("-created_at", "-id")
    )


def generation_jobs_state(study: Study) -> dict[str, Any]:
    """The jobs' and tasks' state as JSON-able data (what the console polls)."""
    jobs = []
    for job in generation_jobs_for_study(study):
        jobs.append(
            {
                "id": job.pk,
                "status": job.status,
                "tasks": [
                    {
                        "id": task.pk,
                        "case": task.case.code,
                        "status": task.status,
                        "progress": round(task.progress, 3),
                        "error": task.error,
                        "attempts": task.attempts,
                    }
                    for task in job.tasks.all()
                ],
            }
        )
    return {"jobs": jobs, "running": any(job["status"] == GenerationJob.Status.RUNNING for job in jobs)}


# --------------------------------------------------------------------------- weights and model files


def _weights_dir_files() -> list[tuple[str, Path]]:
    """Files under ``READERSTUDY_SR_WEIGHTS_DIR`` as (path relative to it, absolute path), hidden
    files and folders left out, sorted."""
    root = Path(settings.READERSTUDY_SR_WEIGHTS_DIR)
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found.append((relative.as_posix(), path))
    return sorted(found)


def generation_weights_choices() -> list[str]:
    """The weight files a coordinator may choose for resnet3d/resnet2d: files under
    ``READERSTUDY_SR_WEIGHTS_DIR``, as paths relative to it (hidden files, model files of the
    ``model`` method and their metadata left out)."""
    from sr_engine.model_file import is_model_file  # imported on use: the app starts without the engine

    files = _weights_dir_files()
    models = {name for name, path in files if is_model_file(path)}
    metadata = {Path(name).with_suffix(".json").as_posix() for name in models}
    return [name for name, _ in files if name not in models and name not in metadata]


@dataclass(frozen=True)
class ModelFile:
    """A model file of the ``model`` method in the weights folder, and what its metadata says."""

    path: str  # relative to READERSTUDY_SR_WEIGHTS_DIR
    format: str  # onnx or torchscript
    usable: bool
    reason: str  # why it is not usable ("" when it is)
    name: str = ""
    factor: int | None = None
    axes: str = ""
    generative: bool = False
    description: str = ""

    @property
    def label(self) -> str:
        """How the form's choice reads: name, factor, axes and the generative flag."""
        flag = ", generative" if self.generative else ""
        return f"{self.name or self.path} (x{self.factor}, {self.axes}{flag}) — {self.path}"


def generation_model_files() -> list[ModelFile]:
    """The ONNX and TorchScript model files under ``READERSTUDY_SR_WEIGHTS_DIR`` with their metadata
    (``sr_engine.model_file``); one without valid metadata is listed with the reason, unusable."""
    from sr_engine.model_file import ModelError, is_model_file, model_format, read_metadata

    listed = []
    for name, path in _weights_dir_files():
        if not is_model_file(path):
            continue
        try:
            meta = read_metadata(path)
        except ModelError as error:
            listed.append(ModelFile(name, model_format(path), usable=False, reason=str(error)))
            continue
        listed.append(
            ModelFile(
                name,
                model_format(path),
                usable=True,
                reason="",
                name=meta.name,
                factor=meta.factor,
                axes=meta.axes,
                generative=meta.generative,
                description=meta.description,
            )
        )
    return listed


def generation_model_file(name: str) -> ModelFile | None:
    """The listed model file of that relative path (usable or not), None when there is none."""
    return next((model for model in generation_model_files() if model.path == name), None)
