"""The coordinator's page of a study's standalone algorithms: list, make (with its file), import
a file, delete. Writes go through ``standalone.services``; reads through ``selectors``."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from readerstudy.standalone.policy import algorithm_for_request, can_manage_standalone
from readerstudy.standalone.selectors import standalone_overview
from readerstudy.standalone.services import (
    HEADERS,
    MAX_IMPORT_BYTES,
    StandaloneImportInvalid,
    StandaloneInvalid,
    standalone_algorithm_create,
    standalone_algorithm_delete,
    standalone_import,
)
from readerstudy.studies.models import Study
from readerstudy.studies.policy import study_for_request

FILE_HELP = (
    f"UTF-8 CSV, at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB, with the header "
    f"'{','.join(HEADERS['ratings'])}' (one rating per case) or '{','.join(HEADERS['marks'])}' "
    "(lesion marks in patient mm). condition: its label or code."
)


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text=FILE_HELP)


class CreateForm(forms.Form):
    code = forms.CharField(max_length=20, help_text="Short code in the results, e.g. CAD1 (not a reader's).")
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    file = forms.FileField(label="CSV file (optional)", required=False, help_text=FILE_HELP)


def _page(
    request: HttpRequest,
    study: Study,
    *,
    create_form: CreateForm | None = None,
    import_form: tuple[int, ImportForm] | None = None,
) -> HttpResponse:
    refused = (create_form is not None and create_form.errors) or (
        import_form is not None and import_form[1].errors
    )
    return render(
        request,
        "readerstudy/standalone_index.html",
        {
            "study": study,
            "algorithms": standalone_overview(study),
            "locked": study.status == Study.Status.LOCKED,
            "create_form": create_form or CreateForm(),
            "import_form": ImportForm(),
            "refused_import": import_form,
        },
        status=400 if refused else 200,
    )


def _add_errors(request: HttpRequest, form: forms.Form, exc: StandaloneInvalid, what: str) -> None:
    """The refusal at the form (every problem) and, at the top of the page, that nothing was saved."""
    count = len(exc.errors) if isinstance(exc, StandaloneImportInvalid) else 1
    problems = f"{count} problem{'s' if count != 1 else ''}"
    messages.error(request, f"{what}: nothing was saved ({problems}, listed at the form).")
    if isinstance(exc, StandaloneImportInvalid):
        form.add_error("file", "The file was not imported; nothing was written.")
        for error in exc.errors:
            form.add_error(None, error)
    else:
        form.add_error(None, str(exc))


@login_required
@require_GET
def standalone_index(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's standalone algorithms, what was imported, and the forms."""
    study = study_for_request(request, slug, allowed=can_manage_standalone)
    return _page(request, study)


@login_required
@require_POST
def standalone_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Make an algorithm, with its file when one is given (both or neither)."""
    study = study_for_request(request, slug, allowed=can_manage_standalone)
    form = CreateForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            algorithm = standalone_algorithm_create(
                study=study,
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                file=form.cleaned_data["file"],
                actor=request.user,
            )
        except StandaloneInvalid as exc:
            _add_errors(request, form, exc, "The new algorithm was refused")
        else:
            imported = " and its file imported" if form.cleaned_data["file"] else ""
            messages.success(request, f"Standalone algorithm {algorithm.code} saved{imported}.")
            return redirect("readerstudy:standalone_index", slug=study.slug)
    return _page(request, study, create_form=form)


@login_required
@require_POST
def standalone_import_view(request: HttpRequest, slug: str, algorithm_id: int) -> HttpResponse:
    """Import a file of the algorithm's output (replacing its outputs for the file's conditions)."""
    algorithm = algorithm_for_request(request, slug, algorithm_id)
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            outcome = standalone_import(
                algorithm=algorithm, file=form.cleaned_data["file"], actor=request.user
            )
        except StandaloneInvalid as exc:
            _add_errors(request, form, exc, f"The file for {algorithm.code} was refused")
        else:
            record = outcome.record
            if outcome.created:
                messages.success(
                    request,
                    f"Imported {record.rows} rows for {algorithm.code} "
                    f"({', '.join(record.conditions)}); they replace its earlier outputs there.",
                )
            else:
                messages.info(
                    request, f"This file is {algorithm.code}'s last import already; nothing changed."
                )
            return redirect("readerstudy:standalone_index", slug=algorithm.study.slug)
    return _page(request, algorithm.study, import_form=(algorithm.pk, form))


@login_required
@require_POST
def standalone_delete(request: HttpRequest, slug: str, algorithm_id: int) -> HttpResponse:
    """Delete the algorithm with everything imported for it (not in a locked study)."""
    algorithm = algorithm_for_request(request, slug, algorithm_id)
    try:
        standalone_algorithm_delete(algorithm=algorithm, actor=request.user)
    except StandaloneInvalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Standalone algorithm {algorithm.code} deleted.")
    return redirect("readerstudy:standalone_index", slug=algorithm.study.slug)
