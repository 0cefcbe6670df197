"""The coordinator's segmentation page: import label masks per case (the reference mask, or a
condition's mask) and see each condition's overlap with the reference per case and label.

``GET  studies/<slug>/segmentation/``          the form, the masks and the metrics
``POST studies/<slug>/segmentation/``          import one mask (case, reference or condition, file, labels)
``POST studies/<slug>/segmentation/delete/``   delete one mask (``mask``: its id)

Coordinators of the study only, never one who reads in it (``can_segment``).
"""

import tempfile
from pathlib import Path
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from readerstudy.imaging.dicom_import import DEFAULT_MAX_MEMBER
from readerstudy.segmentation.policy import can_segment
from readerstudy.segmentation.selectors import mask_for_study, segmentation_cases
from readerstudy.segmentation.services import (
    SegmentationRefused,
    segmentation_mask_delete,
    segmentation_mask_import,
)
from readerstudy.studies.models import Study
from readerstudy.studies.policy import study_for_request
from stats.matching import natural_key

REFERENCE = "reference"


class MaskUploadForm(forms.Form):
    """One mask file for one case: its reference mask or a condition's."""

    case = forms.ChoiceField(label="Case")
    target = forms.ChoiceField(
        label="Mask of", help_text="The reference (e.g. manual) mask, or a condition's."
    )
    file = forms.FileField(label="Mask file", help_text="NIfTI (.nii, .nii.gz) label map or DICOM SEG.")
    labels = forms.CharField(
        label="Labels",
        required=False,
        max_length=5000,
        help_text='NIfTI only: value=name, e.g. "1=left amygdala; 2=right amygdala". Empty: a condition '
        "mask takes the reference's labels, a reference names each value by its number. A DICOM SEG "
        "names its own segments.",
    )

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.study = study
        cases = sorted(study.cases.all(), key=lambda c: natural_key(c.code))
        cast(forms.ChoiceField, self.fields["case"]).choices = [(str(c.pk), c.code) for c in cases]
        cast(forms.ChoiceField, self.fields["target"]).choices = [(REFERENCE, "Reference mask")] + [
            (str(c.pk), c.label) for c in study.conditions.all()
        ]

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        limit = int(getattr(settings, "READERSTUDY_MAX_IMPORT_MEMBER", DEFAULT_MAX_MEMBER))
        if upload.size > limit:
            raise forms.ValidationError(f"The file is too large ({upload.size:,} bytes; at most {limit:,}).")
        return upload


def _import(request: HttpRequest, study: Study, form: MaskUploadForm) -> bool:
    """Import the form's mask; False (with the refusal on the form) when it is refused."""
    case = study.cases.get(pk=int(form.cleaned_data["case"]))
    target = form.cleaned_data["target"]
    condition = None if target == REFERENCE else study.conditions.get(pk=int(target))
    upload: UploadedFile = form.cleaned_data["file"]
    name = Path(upload.name or "mask").name
    with tempfile.TemporaryDirectory(prefix="segmentation-") as tmp:
        path = Path(tmp) / "upload"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        try:
            mask = segmentation_mask_import(
                case=case,
                condition=condition,
                path=path,
                file_name=name,
                labels_text=form.cleaned_data["labels"],
                actor=request.user,
            )
        except SegmentationRefused as exc:
            form.add_error(None, exc.message)
            return False
    labels = ", ".join(item["name"] for item in mask.labels)
    what = "reference mask" if condition is None else f"{condition.label} mask"
    messages.success(request, f"The {what} of case {case.code} was imported ({labels}).")
    return True


@login_required
@require_http_methods(["GET", "POST"])
def segmentation_index(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the upload form, every case's masks and overlap metrics. POST: import one mask."""
    study = study_for_request(request, slug, allowed=can_segment)
    form = MaskUploadForm(request.POST or None, request.FILES or None, study=study)
    status = 200
    if request.method == "POST":
        if form.is_valid() and _import(request, study, form):
            return redirect("readerstudy:segmentation_index", slug=study.slug)
        status = 400
    return render(
        request,
        "readerstudy/segmentation_index.html",
        {"study": study, "form": form, "cases": segmentation_cases(study)},
        status=status,
    )


@login_required
@require_POST
def segmentation_delete(request: HttpRequest, slug: str) -> HttpResponse:
    """Delete one mask of the study (the ``mask`` field: its id) and its metrics."""
    study = study_for_request(request, slug, allowed=can_segment)
    mask = mask_for_study(study, request.POST.get("mask", ""))
    if mask is None:
        messages.error(request, "Choose one of the study's masks to delete.")
    else:
        what = "reference mask" if mask.condition is None else f"{mask.condition.label} mask"
        try:
            segmentation_mask_delete(mask=mask, actor=request.user)
        except SegmentationRefused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"The {what} of case {mask.case.code} was deleted.")
    return redirect("readerstudy:segmentation_index", slug=study.slug)
