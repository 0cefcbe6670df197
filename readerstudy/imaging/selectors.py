"""Reads for the import page: a study's import jobs and their state (writes: services.import_jobs)."""

from typing import Any

from django.db.models import QuerySet

from readerstudy.design.models import ReadingSchedule
from readerstudy.imaging.models import ACTIVE_IMPORT_STATUSES, ImportJob, SourceIdentity
from readerstudy.studies.models import Study

#: Jobs listed on the import page.
RECENT_IMPORT_JOBS = 20


def import_jobs_for_study(study: Study, *, limit: int = RECENT_IMPORT_JOBS) -> QuerySet[ImportJob]:
    """The study's latest import jobs, newest first, with who started them."""
    return study.import_jobs.select_related("created_by").order_by("-created_at", "-id")[:limit]


def import_job_for_study(study: Study, job_id: int) -> ImportJob | None:
    return study.import_jobs.select_related("created_by").filter(pk=job_id).first()


def import_job_state(job: ImportJob) -> dict[str, Any]:
    """A job's state as JSON-able data (what the page polls)."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),
        "stage": job.stage,
        "progress": round(job.progress, 3),
        "cancel_requested": job.cancel_requested,
        "error": job.error,
        "summary": job.report.get("summary", ""),
    }


def import_jobs_state(study: Study) -> dict[str, Any]:
    """The state of the study's latest jobs, and whether any is queued or running."""
    jobs = [import_job_state(job) for job in import_jobs_for_study(study)]
    return {"jobs": jobs, "active": any(job["status"] in ACTIVE_IMPORT_STATUSES for job in jobs)}


def import_schedule_active(study: Study) -> bool:
    """Whether the study has an active schedule (an import may then change its design)."""
    return ReadingSchedule.objects.filter(study=study, status=ReadingSchedule.Status.ACTIVE).exists()


def study_source_identities(study: Study) -> QuerySet[SourceIdentity]:
    return (
        SourceIdentity.objects.filter(series__case__study=study)
        .select_related("series__case", "series__condition")
        .order_by("series__case__code", "series__condition__order")
    )
