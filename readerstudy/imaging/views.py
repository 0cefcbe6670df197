"""The coordinator's import pages: upload a zip of DICOM files with its manifest, or search a
PACS (DICOMweb) and choose series with their case and condition; follow the background
import's progress (the page polls a small JSON endpoint), read its report, cancel it."""

import zipfile
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from readerstudy.imaging.dicom_import import DicomImportError
from readerstudy.imaging.import_jobs import import_job_cancel, import_job_start, pacs_import_job_start
from readerstudy.imaging.models import ImportJob
from readerstudy.imaging.pacs import (
    PacsSeries,
    pacs_manifest_csv,
    pacs_search,
    pacs_server_get,
    pacs_servers,
    search_date,
)
from readerstudy.imaging.selectors import (
    import_job_for_study,
    import_jobs_for_study,
    import_jobs_state,
    import_schedule_active,
)
from readerstudy.studies.models import Study
from readerstudy.studies.policy import can_coordinate, study_for_request

#: The largest manifest accepted (bytes); real ones are a few kilobytes.
MAX_MANIFEST_BYTES = 5 * 1024 * 1024


class StudyImportForm(forms.Form):
    archive = forms.FileField(label="DICOM files (zip archive)")
    manifest = forms.FileField(
        label="Manifest (CSV)",
        help_text="Columns: case, condition, and one of series_instance_uid, folder or nifti (in the zip).",
    )

    def __init__(self, *args: Any, schedule_active: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if schedule_active:
            # Passed to the import, which records it; the check of what the schedule covers
            # belongs to the import service.
            self.fields["acknowledge_design_change"] = forms.BooleanField(
                required=False,
                label="I understand that this import may add cases or conditions the active schedule "
                "does not cover.",
            )

    def clean_archive(self) -> UploadedFile:
        upload = self.cleaned_data["archive"]
        limit = settings.READERSTUDY_MAX_IMPORT_UPLOAD
        if upload.size > limit:
            raise forms.ValidationError(f"The archive is too large ({upload.size} bytes; at most {limit}).")
        if not zipfile.is_zipfile(upload):
            raise forms.ValidationError("The archive is not a zip file.")
        upload.seek(0)
        return upload

    def clean_manifest(self) -> str:
        upload = self.cleaned_data["manifest"]
        if upload.size > MAX_MANIFEST_BYTES:
            raise forms.ValidationError(f"The manifest is too large (at most {MAX_MANIFEST_BYTES} bytes).")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(f"The manifest is not UTF-8 text: {exc}") from exc


class PacsSearchForm(forms.Form):
    """The search of a PACS page: a configured server and at least one key."""

    server = forms.ChoiceField(label="Server")
    patient_id = forms.CharField(required=False, max_length=64, label="Patient ID")
    accession = forms.CharField(required=False, max_length=64, label="Accession number")
    date_from = forms.DateField(
        required=False, label="Study date from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="Study date to", widget=forms.DateInput(attrs={"type": "date"})
    )
    modality = forms.CharField(required=False, max_length=16, label="Modality", help_text="MR, CT ...")
    description = forms.CharField(
        required=False,
        max_length=64,
        label="Description",
        help_text="Text in the series' or study's description.",
    )

    KEYS = ("patient_id", "accession", "date_from", "date_to", "modality", "description")

    def __init__(self, *args: Any, servers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        server = self.fields["server"]
        assert isinstance(server, forms.ChoiceField)
        server.choices = [(name, name) for name in servers]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(key) for key in self.KEYS):
            raise forms.ValidationError("Give at least one search key.")
        return data

    def search(self) -> list[PacsSeries]:
        """The series the search finds (``PacsError`` when the server fails)."""
        data = self.cleaned_data

        def day(key: str) -> str:
            return data[key].strftime("%Y%m%d") if data.get(key) else ""

        return pacs_search(
            pacs_server_get(data["server"]),
            patient_id=data["patient_id"],
            accession=data["accession"],
            study_date=search_date(day("date_from"), day("date_to")),
            modality=data["modality"],
            description=data["description"],
        )


def _pacs_choices(
    post: Any, found: list[PacsSeries], labels: list[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]], list[str]]:
    """The series chosen on the page (a case given), their manifest rows, and the page's errors."""
    series, rows, errors = [], [], []
    by_label = {label.casefold(): label for label in labels}
    for item in found:
        case = str(post.get(f"case_{item.series_uid}", "")).strip()
        if not case:
            continue
        condition = by_label.get(str(post.get(f"condition_{item.series_uid}", "")).strip().casefold())
        if condition is None:
            errors.append(
                f"Series {item.series_number or item.series_uid}: choose one of the study's conditions."
            )
            continue
        series.append((item.study_uid, item.series_uid))
        rows.append((item.series_uid, case, condition))
    if not series and not errors:
        errors.append("Give a case (and condition) for each series to import.")
    return series, rows, errors


def _job_queued(
    request: HttpRequest, study: Study, form: forms.Form, start: Callable[[], ImportJob]
) -> HttpResponse | None:
    """Start an import job and go to its page, or put the refusal's lines on the form (None)."""
    try:
        job = start()
    except DicomImportError as exc:
        for error in exc.errors:
            form.add_error(None, error)
        return None
    messages.success(request, f"Import of {job.source_name} queued.")
    return redirect("readerstudy:study_import_job", slug=study.slug, job_id=job.pk)


@login_required
def study_import_pacs(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: search a PACS, list the series found with a case and condition input each.
    POST: import the series given a case, as a background job, and show its page."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    servers = sorted(pacs_servers())
    data = request.POST if request.method == "POST" else (request.GET if "server" in request.GET else None)
    form = PacsSearchForm(data, servers=servers)
    found: list[PacsSeries] = []
    labels = [condition.label for condition in study.conditions.all()]
    schedule_active = import_schedule_active(study)
    if form.is_bound and form.is_valid():
        try:
            found = form.search()
        except DicomImportError as exc:
            form.add_error(None, str(exc))
    searched = form.is_bound and form.is_valid()
    if request.method == "POST" and searched:
        series, rows, errors = _pacs_choices(request.POST, found, labels)

        def start() -> ImportJob:
            if errors:
                raise DicomImportError(errors[0], errors)
            return pacs_import_job_start(
                study=study,
                server=form.cleaned_data["server"],
                series=series,
                manifest_text=pacs_manifest_csv(rows),
                actor=request.user,
                acknowledge_design_change=request.POST.get("acknowledge_design_change") == "on",
            )

        if queued := _job_queued(request, study, form, start):
            return queued
    return render(
        request,
        "readerstudy/study_import_pacs.html",
        {
            "study": study,
            "form": form,
            "servers": servers,
            "rows": [
                {
                    "series": item,
                    "case": request.POST.get(f"case_{item.series_uid}", ""),
                    "condition": request.POST.get(f"condition_{item.series_uid}", ""),
                }
                for item in found
            ],
            "searched": searched,
            "labels": labels,
            "schedule_active": schedule_active,
        },
    )


@login_required
def study_import(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the upload form and the latest imports. POST: queue an import and show its page."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    form = StudyImportForm(
        request.POST or None, request.FILES or None, schedule_active=import_schedule_active(study)
    )
    if request.method == "POST" and form.is_valid():
        queued = _job_queued(
            request,
            study,
            form,
            lambda: import_job_start(
                study=study,
                archive=form.cleaned_data["archive"],
                manifest_text=form.cleaned_data["manifest"],
                actor=request.user,
                acknowledge_design_change=form.cleaned_data.get("acknowledge_design_change", False),
            ),
        )
        if queued:
            return queued
    return render(
        request,
        "readerstudy/study_import.html",
        {"study": study, "form": form, "jobs": import_jobs_for_study(study)},
    )


@login_required
@require_GET
def study_import_job(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """One import: its progress while it runs, its report once it has."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    job = import_job_for_study(study, job_id)
    if job is None:
        raise Http404("No such import.")
    return render(request, "readerstudy/study_import_job.html", {"study": study, "job": job})


@login_required
@require_GET
def study_import_state(request: HttpRequest, slug: str) -> JsonResponse:
    """The latest imports' status and progress, for the pages to poll."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    return JsonResponse(import_jobs_state(study))


@login_required
@require_POST
def study_import_cancel(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """Cancel a queued import, or stop a running one after its current file or series."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    job = import_job_for_study(study, job_id)
    if job is None:
        raise Http404("No such import.")
    if import_job_cancel(job=job, actor=request.user):
        messages.info(
            request, "Import cancelled." if job.finished else "The import stops after its current step."
        )
    else:
        messages.info(request, "The import had already finished.")
    return redirect("readerstudy:study_import_job", slug=study.slug, job_id=job.pk)
