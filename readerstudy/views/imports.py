"""The coordinator page that imports a zip of DICOM files into a study."""

import tempfile
import zipfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..models import Study
from ..roles import can_coordinate
from ..services.dicom_import import DicomImportError, ImportReport, dicom_import
from .studies import study_for_request


class StudyImportForm(forms.Form):
    archive = forms.FileField(label="DICOM files (zip archive)")
    manifest = forms.FileField(
        label="Manifest (CSV)",
        help_text="Columns: case, condition, and series_instance_uid or folder (inside the zip).",
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


@login_required
def study_import(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the upload form. POST: import the uploaded zip with its manifest and show the report."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    report = None
    form = StudyImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = _import_uploads(
                study, form.cleaned_data["archive"], form.cleaned_data["manifest"], request.user
            )
        except DicomImportError as exc:
            for error in exc.errors:
                form.add_error(None, error)
    return render(request, "readerstudy/study_import.html", {"study": study, "form": form, "report": report})


def _import_uploads(study: Study, archive: UploadedFile, manifest: UploadedFile, user) -> ImportReport:
    """Save both uploads to a temporary folder (removed afterwards) and run the import."""
    with tempfile.TemporaryDirectory(prefix="dicom-upload-") as tmp:
        archive_path = _save(archive, Path(tmp) / "upload.zip")
        manifest_path = _save(manifest, Path(tmp) / "manifest.csv")
        return dicom_import(study=study, source=archive_path, manifest=manifest_path, actor=user)


def _save(upload: UploadedFile, path: Path) -> Path:
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path
