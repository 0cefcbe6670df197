"""Imports as background jobs: start, run, cancel, and clean up after a crash.

``import_job_start`` checks the manifest (its errors go straight back to the form),
stores an uploaded archive in the job's folder under ``MEDIA_ROOT``
(``import-tmp/<job id>/``) and queues the job (``readerstudy.jobs``). A runner calls
``import_job_run``, which claims the job with one conditional UPDATE, runs
``dicom_import`` with the extraction in the same folder, writes progress (throttled,
also a heartbeat) and the report, and removes the folder however the import ends:
done, failed, cancelled, or stopped by SIGTERM (the ``import_dicom`` command turns it
into an exit).

``pacs_import_job_start`` queues an import from a DICOMweb server (``imaging.pacs``): the job
stores the server's name and the series, never credentials; its run retrieves the series
into the job's folder (the first half of the progress bar, stage ``retrieving``), then
imports that folder with the same ``dicom_import``.

A process killed outright leaves its folder and a job marked running behind.
``import_jobs_recover``, called whenever a runner starts a job and when a Celery
worker starts, fails the jobs whose process is gone (same host: the process id is not
alive, or was reused; another host: silent for ``READERSTUDY_JOBS_STALE_SECONDS``),
takes over queued jobs that a stopped process held (embedded runner), and removes
every folder under ``import-tmp/`` that no queued or running job owns.

Audit events: ``dicom.import_queued``, ``dicom.import_cancel``,
``dicom.import_interrupted`` and, from the import itself, ``dicom.import`` or
``dicom.import_failed`` (and ``series.import`` per series).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_event_create
from readerstudy.imaging.dicom_import import (
    DicomImportError,
    ImportCancelled,
    ImportReport,
    dicom_import,
    manifest_parse_csv,
    report_text,
)
from readerstudy.imaging.models import ACTIVE_IMPORT_STATUSES, ImportJob
from readerstudy.imaging.pacs import pacs_retrieve, pacs_server_get
from readerstudy.jobs import IMPORT, job_enqueue, jobs_embedded
from readerstudy.studies.models import Study

logger = logging.getLogger(__name__)
#: The folder under MEDIA_ROOT that holds every job's upload and extraction.
IMPORT_TMP = "import-tmp"
UPLOAD_NAME = "upload.zip"
EXTRACT_NAME = "extract"
#: Where a PACS job's retrieved series lie (inside the job's folder).
RETRIEVE_NAME = "retrieved"
#: The part of a PACS job's progress bar that retrieving takes (the import takes the rest).
RETRIEVE_SHARE = 0.5
#: Progress is written at most this often (seconds) unless the stage changed or it moved by STEP.
PROGRESS_INTERVAL_S = 0.5
PROGRESS_STEP = 0.02
#: A folder under import-tmp that no job row names is left alone this long (seconds):
#: its job may be being created in a transaction not yet committed.
ORPHAN_GRACE_S = 600
INTERRUPTED = (
    "The import was interrupted (its process stopped). Series imported before that are complete; "
    "upload the archive again to import the rest (importing the same files again changes nothing)."
)


_process: tuple[int, str] | None = None  # (pid, runner token) of this process
_running: set[int] = set()  # jobs this process is running now
_lock = threading.Lock()


def import_tmp_root() -> Path:
    return Path(settings.MEDIA_ROOT) / IMPORT_TMP


def import_job_folder(job_id: int) -> Path:
    """The job's temporary folder (upload and extraction), removed when the job ends."""
    return import_tmp_root() / str(job_id)


def runner_token() -> str:
    """This process as ``host:pid:nonce`` (the nonce tells a restarted process with the same pid)."""
    global _process
    with _lock:
        if _process is None or _process[0] != os.getpid():
            _process = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}")
        return _process[1]


# --------------------------------------------------------------------------- starting


@contextmanager
def _start_refusal_audited(*, study: Study, actor: Any, source_name: str) -> Iterator[None]:
    """Refuse a locked study; a refusal raised inside (``DicomImportError``) is audited as
    ``dicom.import_failed`` before it goes on to the caller."""
    try:
        if study.status == Study.Status.LOCKED:
            raise DicomImportError("The study is locked: nothing can be imported into it.")
        yield
    except DicomImportError as exc:
        audit_event_create(
            actor=actor,
            action=AuditAction.DICOM_IMPORT_FAILED,
            study=study,
            data={"source": source_name, "errors": [report_text(error) for error in exc.errors[:50]]},
        )
        raise


def import_job_start(
    *,
    study: Study,
    manifest_text: str,
    actor: Any,
    archive: UploadedFile | None = None,
    source: Path | None = None,
    manifest_path: Path | None = None,
    acknowledge_design_change: bool = False,
    background: bool = True,
) -> ImportJob:
    """Queue an import of an uploaded zip (``archive``) or of a folder or zip on the server
    (``source``, read in place), mapped by the CSV ``manifest_text``.

    With ``background=False`` the job is only created; the caller runs it with
    ``import_job_run`` (the ``import_dicom`` command). Raises ``DicomImportError`` (and
    audits the refusal) when the study is locked or the manifest is malformed.
    """
    if (archive is None) == (source is None):
        raise ValueError("Give either an uploaded archive or a source path.")
    if archive is None:
        source_name = report_text(str(source))
    elif archive.name is None:  # an upload always has its file's name
        raise ValueError("The uploaded archive has no name.")
    else:
        source_name = report_text(archive.name)
    with _start_refusal_audited(study=study, actor=actor, source_name=source_name):
        manifest_parse_csv(manifest_text)
    with transaction.atomic():
        job = ImportJob.objects.create(
            study=study,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            source_name=source_name[:255],
            source_path=str(source) if source is not None else "",
            manifest_text=manifest_text,
            manifest_path=str(manifest_path) if manifest_path is not None else "",
            acknowledge_design_change=acknowledge_design_change,
            runner=runner_token() if background and jobs_embedded() else "",
        )
        if archive is not None:
            _upload_save(archive, import_job_folder(job.pk))
        audit_event_create(
            actor=actor,
            action=AuditAction.DICOM_IMPORT_QUEUED,
            target=job,
            study=study,
            data={"source": job.source_name, "acknowledge_design_change": acknowledge_design_change},
        )
        if background:
            job_enqueue(job.pk, IMPORT)
    return job


def pacs_import_job_start(
    *,
    study: Study,
    server: str,
    series: list[tuple[str, str]],
    manifest_text: str,
    actor: Any,
    acknowledge_design_change: bool = False,
    background: bool = True,
) -> ImportJob:
    """Queue an import from a DICOMweb server: retrieve ``series`` ((study UID, series UID)
    pairs) from ``server`` (a name of ``READERSTUDY_DICOMWEB_SERVERS``, or a URL), then import
    them mapped by the CSV ``manifest_text`` (series_instance_uid -> case, condition).

    Only the server's name is stored, never its credentials. Raises ``DicomImportError``
    (audited) for a locked study, a malformed manifest, an unknown server or no series.
    """
    source_name = report_text(f"PACS {server}: {len(series)} series")[:255]
    with _start_refusal_audited(study=study, actor=actor, source_name=source_name):
        pacs_server_get(server)
        if not series:
            raise DicomImportError("Choose at least one series to import.")
        rows = manifest_parse_csv(manifest_text)
        if any(not row.series_instance_uid for row in rows):
            raise DicomImportError("A PACS import's manifest maps series by series_instance_uid only.")
    with transaction.atomic():
        job = ImportJob.objects.create(
            study=study,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            source_name=source_name,
            manifest_text=manifest_text,
            pacs_server=server,
            pacs_series=[[study_uid, series_uid] for study_uid, series_uid in series],
            acknowledge_design_change=acknowledge_design_change,
            runner=runner_token() if background and jobs_embedded() else "",
        )
        audit_event_create(
            actor=actor,
            action=AuditAction.DICOM_IMPORT_QUEUED,
            target=job,
            study=study,
            data={
                "source": job.source_name,
                "pacs_server": server,
                "series": len(series),
                "acknowledge_design_change": acknowledge_design_change,
            },
        )
        if background:
            job_enqueue(job.pk, IMPORT)
    return job


def _upload_save(archive: UploadedFile, folder: Path) -> None:
    """Copy the upload into the job's folder; the folder goes again if that fails."""
    shutil.rmtree(folder, ignore_errors=True)  # a job id reused after a rolled-back start
    folder.mkdir(parents=True)
    try:
        with (folder / UPLOAD_NAME).open("wb") as out:
            for chunk in archive.chunks():
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


class _ProgressWriter:
    """The import's progress hook: stores fraction and stage on the job row (throttled; it
    is also the heartbeat) and stops the import when a cancel was requested.

    ``start`` and ``share`` place the import's 0..1 on the job's bar (a PACS job retrieves
    first, then imports)."""

    def __init__(self, job: ImportJob, token: str, *, start: float = 0.0, share: float = 1.0) -> None:
        self._rows = ImportJob.objects.filter(pk=job.pk, runner=token)
        self._written, self._stage, self._at = 0.0, "", 0.0
        self._start, self._share = start, share

    def retrieving(self, fraction: float) -> None:
        """The progress hook of ``pacs_retrieve``."""
        self(fraction, "retrieving")

    def __call__(self, fraction: float, stage: str) -> None:
        fraction = self._start + self._share * fraction
        now = time.monotonic()
        quiet = fraction - self._written < PROGRESS_STEP and now - self._at < PROGRESS_INTERVAL_S
        if stage == self._stage and quiet:
            return
        self._rows.update(progress=fraction, stage=stage, updated_at=timezone.now())
        self._written, self._stage, self._at = fraction, stage, now
        if self._rows.filter(cancel_requested=True).exists():
            raise ImportCancelled


def import_job_run(*, job_id: int) -> ImportReport | None:
    """Run one import job (what every runner calls); return its report, or None when it did not
    run to its end (claimed elsewhere, finished already, refused or failed: see ``job.error``).

    Never raises for a failure of the import: the job is marked failed with a readable
    message (the traceback goes to the log). An exit (SIGTERM) marks it interrupted and
    is raised again. The job's folder is removed in every case.
    """
    try:
        import_jobs_recover()
    except Exception:  # the job runs anyway; the next start tries again
        logger.exception("Recovering lost import jobs failed")
    token = runner_token()
    job = _claim(job_id, token)
    if job is None:
        logger.info("Import job %s is finished or running elsewhere; nothing to do.", job_id)
        return None
    folder = import_job_folder(job.pk)
    with _lock:
        _running.add(job.pk)
    try:
        if job.pacs_server:
            report = _pacs_import(job, token, folder)
        else:
            report = dicom_import(
                study=job.study,
                source=Path(job.source_path) if job.source_path else folder / UPLOAD_NAME,
                manifest=manifest_parse_csv(job.manifest_text),
                actor=job.created_by,
                work_dir=folder / EXTRACT_NAME,
                skip=Path(job.manifest_path) if job.manifest_path else None,
                progress=_ProgressWriter(job, token),
                acknowledge_design_change=job.acknowledge_design_change,
            )
    except DicomImportError as exc:
        _finish(job, token, ImportJob.Status.FAILED, error="; ".join(exc.errors))
        return None
    except Exception as exc:
        logger.exception("Import job %s failed", job.pk)
        message = f"The import failed unexpectedly ({type(exc).__name__}: {exc})."
        _finish(job, token, ImportJob.Status.FAILED, error=message)
        return None
    except BaseException:  # an exit (SIGTERM in the command) or an interrupt
        _finish(job, token, ImportJob.Status.FAILED, error=INTERRUPTED)
        _audit_interrupted(job)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with _lock:
            _running.discard(job.pk)
    status = ImportJob.Status.CANCELLED if report.cancelled else ImportJob.Status.DONE
    _finish(job, token, status, report=report)
    return report


def _pacs_import(job: ImportJob, token: str, folder: Path) -> ImportReport:
    """A PACS job: retrieve its series into the job's folder, then import that folder.

    A failure to retrieve (``PacsError``) is audited as a failed import and raised; a
    cancel while retrieving ends the job with an empty, cancelled report.
    """
    try:
        pacs_retrieve(
            pacs_server_get(job.pacs_server),
            [(str(pair[0]), str(pair[1])) for pair in job.pacs_series],
            folder / RETRIEVE_NAME,
            progress=_ProgressWriter(job, token, share=RETRIEVE_SHARE).retrieving,
        )
    except ImportCancelled:
        return ImportReport(cancelled=True)
    except DicomImportError as exc:
        audit_event_create(
            actor=job.created_by,
            action=AuditAction.DICOM_IMPORT_FAILED,
            study=job.study,
            data={"source": job.source_name, "errors": [report_text(error) for error in exc.errors[:50]]},
        )
        raise
    return dicom_import(
        study=job.study,
        source=folder / RETRIEVE_NAME,
        manifest=manifest_parse_csv(job.manifest_text),
        actor=job.created_by,
        progress=_ProgressWriter(job, token, start=RETRIEVE_SHARE, share=1.0 - RETRIEVE_SHARE),
        acknowledge_design_change=job.acknowledge_design_change,
    )


def _claim(job_id: int, token: str) -> ImportJob | None:
    """Move the job from queued to running for this process; None when another run has it."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, runner=token, started_at=now, updated_at=now, progress=0.0
    )
    if not claimed:
        return None
    return ImportJob.objects.select_related("study", "created_by").get(pk=job_id)


def _finish(
    job: ImportJob, token: str, status: str, *, error: str = "", report: ImportReport | None = None
) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": status,
        "error": report_text(" ".join(error.split()))[:2000],
        "report": report.as_dict() if report is not None else {},
        "finished_at": now,
        "updated_at": now,
    }
    if status == ImportJob.Status.DONE:
        fields["progress"] = 1.0
    ImportJob.objects.filter(pk=job.pk, runner=token).update(**fields)


def import_job_enqueue_failed(*, job_id: int, error: str) -> None:
    """Mark a queued job failed because no runner could be given it (e.g. the broker is down)."""
    now = timezone.now()
    rows = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED)
    if rows.update(status=ImportJob.Status.FAILED, error=error, finished_at=now, updated_at=now):
        shutil.rmtree(import_job_folder(job_id), ignore_errors=True)


# --------------------------------------------------------------------------- cancelling


def import_job_cancel(*, job: ImportJob, actor: Any) -> bool:
    """Cancel a queued job now, or ask a running one to stop after its current file or series
    (series imported until then stay, each complete). False when the job has finished."""
    now = timezone.now()
    with transaction.atomic():
        rows = ImportJob.objects.filter(pk=job.pk)
        was = ImportJob.Status.QUEUED
        if not rows.filter(status=was).update(
            status=ImportJob.Status.CANCELLED, cancel_requested=True, finished_at=now, updated_at=now
        ):
            was = ImportJob.Status.RUNNING
            if not rows.filter(status=was).update(cancel_requested=True):
                return False
        audit_event_create(
            actor=actor,
            action=AuditAction.DICOM_IMPORT_CANCEL,
            target=job,
            study=job.study,
            data={"status": was},
        )
        if was == ImportJob.Status.QUEUED:
            folder = import_job_folder(job.pk)
            transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
    job.refresh_from_db()
    return True


# --------------------------------------------------------------------------- recovery


def import_jobs_recover() -> None:
    """Clean up after processes that died holding import jobs (see the module's docstring)."""
    stale_before = timezone.now() - timedelta(seconds=settings.READERSTUDY_JOBS_STALE_SECONDS)
    for job in ImportJob.objects.filter(status__in=ACTIVE_IMPORT_STATUSES).select_related("study"):
        if job.status == ImportJob.Status.RUNNING and _runner_lost(job, stale_before):
            _interrupted(job)
        elif job.status == ImportJob.Status.QUEUED and job.runner and _runner_lost(job, stale_before):
            _take_over(job)
    _folders_remove_orphans()


def _runner_lost(job: ImportJob, stale_before: datetime) -> bool:
    """Whether the process holding ``job`` is gone (a process on another host: silent too long)."""
    if job.runner == runner_token():
        with _lock:
            return job.status == ImportJob.Status.RUNNING and job.pk not in _running
    alive = _process_alive(job.runner)
    if alive is None:
        return job.updated_at < stale_before
    return not alive


def _process_alive(token: str) -> bool | None:
    """True or False for a process of this host (by its pid, not this process); None otherwise."""
    host, _, rest = token.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # the token is not ours (checked before): an earlier process with our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited but not been reaped
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _interrupted(job: ImportJob) -> None:
    now = timezone.now()
    rows = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING, runner=job.runner)
    if rows.update(status=ImportJob.Status.FAILED, error=INTERRUPTED, finished_at=now, updated_at=now):
        shutil.rmtree(import_job_folder(job.pk), ignore_errors=True)
        _audit_interrupted(job)
        logger.warning("Import job %s was interrupted (runner %s is gone)", job.pk, job.runner)


def _audit_interrupted(job: ImportJob) -> None:
    audit_event_create(
        actor=None,
        action=AuditAction.DICOM_IMPORT_INTERRUPTED,
        target=job,
        study=job.study,
        data={"runner": job.runner, "stage": job.stage, "progress": round(job.progress, 3)},
    )


def _take_over(job: ImportJob) -> None:
    """Queue here a job that a stopped process had queued on its worker thread."""
    if not jobs_embedded():
        return
    rows = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED, runner=job.runner)
    if rows.update(runner=runner_token()):
        logger.info("Import job %s taken over from %s", job.pk, job.runner)
        job_enqueue(job.pk, IMPORT)


def _folders_remove_orphans() -> None:
    """Remove the folders under import-tmp that no queued or running job owns."""
    root = import_tmp_root()
    if not root.is_dir():
        return
    entries = list(root.iterdir())
    ids = [int(entry.name) for entry in entries if entry.name.isdigit()]
    jobs = dict(ImportJob.objects.filter(pk__in=ids).values_list("pk", "status"))
    young = time.time() - ORPHAN_GRACE_S
    for entry in entries:
        job_id = int(entry.name) if entry.name.isdigit() else None
        if job_id in jobs and jobs[job_id] in ACTIVE_IMPORT_STATUSES:
            continue
        if job_id not in jobs and _modified_since(entry, young):
            continue
        logger.info("Removing %s: no queued or running import owns it", entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _modified_since(entry: Path, moment: float) -> bool:
    try:
        return entry.lstat().st_mtime >= moment
    except FileNotFoundError:
        return True  # gone meanwhile: nothing to do
