"""Pages of the reference standard: the study's overview (coordinators, statisticians), the
reviewers' drafting pages and their small JSON API, the adjudicator's discrepancy view and
the final version of a case.

Readers of a study never reach any of it (``roles``: every reference rule refuses them).
Writes go through ``references.services``; reads through ``selectors``.

``GET    /api/reference-drafts/<id>/state``               the draft's lesions (resume)
``PUT    /api/reference-drafts/<id>/lesions/<client id>``  {"slice", "x", "y", "size_mm", "lesion_type"}
``DELETE /api/reference-drafts/<id>/lesions/<client id>``
"""

import uuid
from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from readerstudy.errors import ServiceError
from readerstudy.imaging.locations import series_location
from readerstudy.json_io import is_number, json_body, json_error
from readerstudy.references.models import ReferenceSet, ReferenceSource, ReferenceStandard
from readerstudy.references.policy import (
    can_adjudicate_reference,
    can_draft_reference,
    can_manage_references,
    can_view_references,
    draft_for_reviewer_request,
    reference_set_for_request,
)
from readerstudy.references.selectors import (
    reference_discrepancies,
    reference_final,
    reference_reviewer_cases,
    reference_sets_for_user,
    reference_sets_overview,
)
from readerstudy.references.services import (
    ReferenceImportInvalid,
    ReferenceInvalid,
    reference_adjudicate,
    reference_draft_findings_save,
    reference_draft_get_or_create,
    reference_draft_missing,
    reference_draft_submit,
    reference_import_csv,
    reference_lesion_delete,
    reference_lesion_save,
    reference_set_create,
    reference_set_lock,
)
from readerstudy.studies.models import Case, Question, Study
from readerstudy.studies.policy import study_for_request

_ZERO_UUID = uuid.UUID(int=0)
MAX_CSV_BYTES = 10 * 1024 * 1024
#: Lesion types offered on the drafting page (free text is allowed too).
LESION_TYPES = ["metastasis", "primary tumour", "meningioma", "cyst", "haemorrhage", "infarct", "other"]


def _case_of(reference_set: ReferenceSet, case_id: int) -> Case:
    return get_object_or_404(Case, pk=case_id, study=reference_set.study_id)


def _manages(user, reference_set: ReferenceSet) -> bool:
    return can_manage_references(user, reference_set.study)


def _sees_discrepancies(user, reference_set: ReferenceSet) -> bool:
    return can_adjudicate_reference(user, reference_set) or _manages(user, reference_set)


def _sees_final(user, reference_set: ReferenceSet) -> bool:
    return can_adjudicate_reference(user, reference_set) or can_view_references(user, reference_set.study)


# ----------------------------------------------------------------------------- overview


def _eligible_users(study: Study):
    """Users who may review or adjudicate: active, and not reading in the study."""
    readers = study.participations.filter(active=True).values("user")
    return get_user_model().objects.filter(is_active=True).exclude(pk__in=readers).order_by("username")


class ReferenceSetCreateForm(forms.Form):
    source = forms.ChoiceField(choices=ReferenceSource.choices, initial=ReferenceSource.CONSENSUS)
    reviewers = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Two or more for a consensus; each drafts every case independently.",
    )
    adjudicator = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="(none: a coordinator of the study adjudicates)",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["reviewers"]).queryset = _eligible_users(study)
        cast(forms.ModelChoiceField, self.fields["adjudicator"]).queryset = _eligible_users(study)


class ReferenceImportForm(forms.Form):
    source = forms.ChoiceField(choices=ReferenceSource.choices, initial=ReferenceSource.ARTHROSCOPY)
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: case, finding, present (yes/no, 1/0, true/false, present/absent), "
        "grade (optional).",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(
                f"The file is too large (at most {MAX_CSV_BYTES // 1024 // 1024} MB)."
            )
        return upload


def _overview(
    request: HttpRequest,
    study: Study,
    *,
    create_form: ReferenceSetCreateForm | None = None,
    import_form: ReferenceImportForm | None = None,
) -> HttpResponse:
    manages = can_manage_references(request.user, study)
    sets = [
        {
            "overview": entry,
            "can_adjudicate": can_adjudicate_reference(request.user, entry.reference_set),
        }
        for entry in reference_sets_overview(study)
    ]
    return render(
        request,
        "readerstudy/study_references.html",
        {
            "study": study,
            "sets": sets,
            "can_manage": manages,
            "create_form": (create_form or ReferenceSetCreateForm(study=study)) if manages else None,
            "import_form": (import_form or ReferenceImportForm()) if manages else None,
        },
        status=400 if (create_form and create_form.errors) or (import_form and import_form.errors) else 200,
    )


@login_required
@require_GET
def reference_overview(request: HttpRequest, slug: str) -> HttpResponse:
    """The reference sets of a study: versions, reviewers, drafting progress per case, finals."""
    study = study_for_request(request, slug, allowed=can_view_references)
    return _overview(request, study)


@login_required
@require_POST
def reference_set_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Create a reference set (the next version of its source) with reviewers and an adjudicator."""
    study = study_for_request(request, slug, allowed=can_manage_references)
    form = ReferenceSetCreateForm(request.POST, study=study)
    if form.is_valid():
        try:
            reference_set = reference_set_create(
                study=study,
                source=form.cleaned_data["source"],
                actor=request.user,
                reviewers=form.cleaned_data["reviewers"],
                adjudicator=form.cleaned_data["adjudicator"],
                notes=form.cleaned_data["notes"],
            )
        except ReferenceInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created {reference_set.name}; its reviewers can start drafting.")
            return redirect("readerstudy:study_references", slug=study.slug)
    return _overview(request, study, create_form=form)


@login_required
@require_POST
def reference_import(request: HttpRequest, slug: str) -> HttpResponse:
    """Import an external reference from a CSV as a new, locked set."""
    study = study_for_request(request, slug, allowed=can_manage_references)
    form = ReferenceImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            reference_set = reference_import_csv(
                study=study,
                source=form.cleaned_data["source"],
                file=form.cleaned_data["file"],
                actor=request.user,
                notes=form.cleaned_data["notes"],
            )
        except ReferenceImportInvalid as exc:
            form.add_error("file", "The file was not imported; nothing was written.")
            for error in exc.errors:
                form.add_error(None, error)
        except ReferenceInvalid as exc:
            form.add_error(None, str(exc))
        else:
            rows = reference_set.provenance["import"]["rows"]
            messages.success(request, f"Imported {reference_set.name} ({rows} rows); it is locked.")
            return redirect("readerstudy:study_references", slug=study.slug)
    return _overview(request, study, import_form=form)


@login_required
@require_POST
def reference_set_lock_view(request: HttpRequest, set_id: int) -> HttpResponse:
    """Lock a set: from now on analyses can name it, and it never changes."""
    reference_set = reference_set_for_request(request, set_id, allowed=_manages)
    try:
        reference_set_lock(reference_set=reference_set, actor=request.user)
    except ReferenceInvalid as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            messages.error(request, problem)
    else:
        messages.success(request, f"{reference_set.name} is locked.")
    return redirect("readerstudy:study_references", slug=reference_set.study.slug)


@login_required
@require_GET
def reference_mine(request: HttpRequest) -> HttpResponse:
    """The open reference sets the user reviews or adjudicates."""
    sets = reference_sets_for_user(request.user)
    rows = [
        {
            "set": s,
            "reviews": can_draft_reference(request.user, s),
            "adjudicates": can_adjudicate_reference(request.user, s),
        }
        for s in sets
    ]
    return render(request, "readerstudy/reference_mine.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def reference_cases(request: HttpRequest, set_id: int) -> HttpResponse:
    """A reviewer's list of the cases to draft; POST ``case`` starts (or opens) the draft of a case."""
    reference_set = reference_set_for_request(request, set_id, allowed=can_draft_reference)
    if request.method == "POST":
        try:
            case = _case_of(reference_set, int(request.POST.get("case", "")))
        except ValueError:
            raise Http404 from None
        try:
            draft, _ = reference_draft_get_or_create(
                reference_set=reference_set, case=case, reviewer=request.user
            )
        except ReferenceInvalid as exc:
            messages.error(request, str(exc))
            return redirect("readerstudy:reference_cases", set_id=reference_set.pk)
        return redirect("readerstudy:reference_draft", public_id=draft.public_id)
    rows = reference_reviewer_cases(reference_set, request.user)
    return render(
        request,
        "readerstudy/reference_cases.html",
        {
            "reference_set": reference_set,
            "study": reference_set.study,
            "rows": rows,
            "submitted": sum(1 for row in rows if row.draft and row.draft.submitted_at),
        },
    )


def _parse_findings(request: HttpRequest, questions: list[Question]) -> tuple[dict, list[str]]:
    """(key -> (present, grade)) from the drafting form, and what could not be read."""
    findings, errors = {}, []
    for question in questions:
        present = {"yes": True, "no": False}.get(request.POST.get(f"f-{question.key}-present", ""))
        if present is None:
            continue
        raw = request.POST.get(f"f-{question.key}-grade", "").strip()
        grade = None
        if present and raw:
            try:
                grade = int(raw)
            except ValueError:
                errors.append(f"{question.text}: the grade must be a whole number.")
                continue
        findings[question.key] = (present, grade)
    return findings, errors


@login_required
@require_http_methods(["GET", "POST"])
def reference_draft(request: HttpRequest, public_id) -> HttpResponse:
    """The drafting page: the viewer with the reviewer's lesions, the case's truth and findings.

    Lesions are saved through the JSON API as they are placed; the form saves the truth and
    findings and, with ``submit``, submits the draft.
    """
    draft = draft_for_reviewer_request(request, public_id)
    reference_set, case, study = draft.reference_set, draft.case, draft.reference_set.study
    questions = list(study.questions.filter(kind=Question.Kind.FINDING).order_by("order", "id"))
    if request.method == "POST":
        findings, errors = _parse_findings(request, questions)
        for error in errors:
            messages.error(request, error)
        if not errors:
            try:
                reference_draft_findings_save(
                    draft=draft,
                    is_abnormal={"yes": True, "no": False}.get(request.POST.get("abnormal", "")),
                    findings=findings,
                    notes=request.POST.get("notes", ""),
                    actor=request.user,
                )
                if "submit" in request.POST:
                    reference_draft_submit(draft=draft, actor=request.user)
                    messages.success(request, f"Your draft of case {case.code} is submitted.")
                    return redirect("readerstudy:reference_cases", set_id=reference_set.pk)
                messages.success(request, "Saved.")
            except ReferenceInvalid as exc:
                for problem in getattr(exc, "problems", None) or [str(exc)]:
                    messages.error(request, problem)
        return redirect("readerstudy:reference_draft", public_id=draft.public_id)

    editable = draft.submitted_at is None
    stored = {f.key: f for f in draft.findings.all()}
    series = draft.series
    if series is None:  # draft_for_reviewer_request refuses a draft without a series already
        raise Http404
    location = series_location(draft, "readerstudy:draft_wado_uri")
    config = {
        "reading": str(draft.public_id),
        "editable": editable,
        **location.config(),
        "numSlices": series.num_slices,
        "startSlice": series.num_slices // 2,
        "viewerScript": static("readerstudy/build/viewer.js"),
        "api": {
            "state": reverse("readerstudy:api_reference_draft_state", args=[draft.public_id]),
            "lesions": reverse(
                "readerstudy:api_reference_lesion", args=[draft.public_id, _ZERO_UUID]
            ).removesuffix(str(_ZERO_UUID)),
        },
    }
    return render(
        request,
        "readerstudy/reference_draft.html",
        {
            "draft": draft,
            "reference_set": reference_set,
            "case": case,
            "study": study,
            "editable": editable,
            "items": [{"question": q, "finding": stored.get(q.key)} for q in questions],
            "missing": reference_draft_missing(draft) if editable else [],
            "lesion_types": LESION_TYPES,
            "num_slices": series.num_slices,
            "draft_config": config,
            "metadata_url": location.metadata_url,
        },
    )


def _draft_state(draft: ReferenceStandard) -> dict:
    return {
        "editable": draft.submitted_at is None,
        "lesions": [
            {
                "client_id": str(lesion.client_id),
                "label": lesion.label,
                "slice": lesion.slice_index,
                "x": lesion.x,
                "y": lesion.y,
                "size_mm": lesion.size_mm,
                "lesion_type": lesion.lesion_type,
                "x_mm": lesion.x_mm,
                "y_mm": lesion.y_mm,
                "z_mm": lesion.z_mm,
            }
            for lesion in draft.lesions.order_by("pk")
        ],
    }


@login_required
@require_GET
def api_reference_draft_state(request: HttpRequest, public_id) -> JsonResponse:
    return JsonResponse(_draft_state(draft_for_reviewer_request(request, public_id)))


@login_required
@require_http_methods(["PUT", "DELETE"])
def api_reference_lesion(request: HttpRequest, public_id, client_id: uuid.UUID) -> JsonResponse:
    """Place, change or delete one lesion of the reviewer's draft (idempotent)."""
    draft = draft_for_reviewer_request(request, public_id)
    try:
        if request.method == "DELETE":
            reference_lesion_delete(draft=draft, client_id=client_id, actor=request.user)
            return JsonResponse(_draft_state(draft))
        try:
            data = json_body(request)
        except ValueError as exc:
            return json_error(str(exc))
        numbers = [data.get(key) for key in ("slice", "x", "y", "size_mm")]
        if not all(is_number(v) for v in numbers):
            return json_error("slice, x, y and size_mm must be numbers.")
        if not float(data["slice"]).is_integer():
            return json_error("slice must be a whole number.")
        lesion_type = data.get("lesion_type", "")
        if not isinstance(lesion_type, str):
            return json_error("lesion_type must be text.")
        reference_lesion_save(
            draft=draft,
            client_id=client_id,
            slice_index=int(data["slice"]),
            x=float(data["x"]),
            y=float(data["y"]),
            size_mm=float(data["size_mm"]),
            lesion_type=lesion_type,
            actor=request.user,
        )
    except ServiceError as exc:
        return json_error(exc.message, status=exc.status)
    return JsonResponse(_draft_state(draft))


@login_required
@require_http_methods(["GET", "POST"])
def reference_discrepancies_view(request: HttpRequest, set_id: int, case_id: int) -> HttpResponse:
    """Where the drafts of a case disagree, with each reviewer's option; POST: the adjudicator decides.

    The form names the drafts it showed, so that a decision is never applied to other drafts.
    """
    reference_set = reference_set_for_request(request, set_id, allowed=_sees_discrepancies)
    case = _case_of(reference_set, case_id)
    can_adjudicate = can_adjudicate_reference(request.user, reference_set)
    if request.method == "POST":
        if not can_adjudicate:
            raise PermissionDenied
        current = reference_discrepancies(reference_set, case)
        shown = request.POST.get("drafts", "")
        if shown != ",".join(str(d.pk) for d in current.submitted + current.drafting):
            messages.error(request, "The drafts of this case changed meanwhile; please decide again.")
            return redirect("readerstudy:reference_discrepancies", set_id=reference_set.pk, case_id=case.pk)
        decisions = {
            view.item.key: request.POST.get(f"d-{view.item.key}", "")
            for view in current.discrepancies
            if request.POST.get(f"d-{view.item.key}")
        }
        try:
            reference_adjudicate(
                reference_set=reference_set, case=case, decisions=decisions, actor=request.user
            )
        except ReferenceInvalid as exc:
            messages.error(request, str(exc))
            return redirect("readerstudy:reference_discrepancies", set_id=reference_set.pk, case_id=case.pk)
        messages.success(request, f"The final version of case {case.code} is written.")
        return redirect("readerstudy:reference_final", set_id=reference_set.pk, case_id=case.pk)
    result = reference_discrepancies(reference_set, case)
    decided = (result.adjudication or {}).get("decisions", {}) if not result.stale else {}
    return render(
        request,
        "readerstudy/reference_discrepancies.html",
        {
            "reference_set": reference_set,
            "study": reference_set.study,
            "case": case,
            "result": result,
            "discrepancies": [{"view": v, "chosen": decided.get(v.item.key)} for v in result.discrepancies],
            "drafts_shown": ",".join(str(d.pk) for d in result.submitted + result.drafting),
            "can_adjudicate": can_adjudicate,
            "can_view_final": _sees_final(request.user, reference_set),
        },
    )


@login_required
@require_GET
def reference_final_view(request: HttpRequest, set_id: int, case_id: int) -> HttpResponse:
    """The final version of one case in a set, with where it came from."""
    reference_set = reference_set_for_request(request, set_id, allowed=_sees_final)
    case = _case_of(reference_set, case_id)
    final = reference_final(reference_set, case)
    if final is None:
        raise Http404("This case has no final version in this set yet.")
    provenance = reference_set.provenance
    adjudication = provenance.get("adjudications", {}).get(case.code) or provenance.get("cases", {}).get(
        case.code, {}
    ).get("adjudication")
    return render(
        request,
        "readerstudy/reference_final.html",
        {
            "reference_set": reference_set,
            "study": reference_set.study,
            "case": case,
            "final": final,
            "adjudication": adjudication,
            "case_provenance": provenance.get("cases", {}).get(case.code),
            "can_see_discrepancies": _sees_discrepancies(request.user, reference_set),
        },
    )
