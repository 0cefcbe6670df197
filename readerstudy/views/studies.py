"""Study pages for coordinators (configuration, progress, identities, references)
and statisticians (unblinded results)."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from stats.spreadsheet import spreadsheet_safe
from stats.study_export import answers_csv

from .. import roles, selectors
from ..models import AnalysisRun, Study
from ..selectors_results import study_record
from ..services.analysis import (
    ResultsBlinded,
    analysis_blockers,
    analysis_default_reference_sets,
    analysis_run_filename,
    analysis_run_start,
)


def study_for_request(request: HttpRequest, slug: str, *, allowed) -> Study:
    """The study if ``allowed(user, study)``; 404 for unknown slugs, 403 otherwise."""
    study = get_object_or_404(Study, slug=slug)
    if not allowed(request.user, study):
        raise PermissionDenied
    return study


def _csv_response(filename: str, columns: list[str], rows: list[dict[str, object]]) -> HttpResponse:
    """A CSV download with a header row; no text cell opens as a formula (``stats.spreadsheet``)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.DictWriter(response, fieldnames=columns)
    writer.writeheader()
    writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    return response


def _answers_response(filename: str, study: Study, run: AnalysisRun) -> HttpResponse:
    """Every answer of the submitted readings, from the study record the analyses read."""
    record = study_record(study, run.reference_sets.all(), run)
    return HttpResponse(answers_csv(record), content_type="text/csv; charset=utf-8")


def _readings_response(filename: str, study: Study, run: AnalysisRun) -> HttpResponse:
    return _csv_response(filename, selectors.READING_COLUMNS, selectors.study_reading_rows(study))


def analysis_run_download(response: HttpResponse, run, filename: str) -> HttpResponse:
    """Name an analysis run's download and say which run and reference versions made it."""
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Analysis-Run"] = str(run.pk)
    response["X-Reference-Versions"] = ", ".join(s.name for s in run.reference_sets.all()) or "none"
    return response


def _coordinates_or_analyses(user, study: Study) -> bool:
    return roles.can_coordinate(user, study) or roles.can_view_results(user, study)


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    """Studies the user coordinates or analyses."""
    if not (
        roles.has_role(request.user, roles.COORDINATOR) or roles.has_role(request.user, roles.STATISTICIAN)
    ):
        raise PermissionDenied
    return render(
        request, "readerstudy/study_list.html", {"studies": selectors.studies_for_user(request.user)}
    )


@login_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Overview: conditions (with labels), questions, cases and series, reader progress (no scores)."""
    study = study_for_request(request, slug, allowed=_coordinates_or_analyses)
    cases = study.cases.prefetch_related("series__condition").order_by("code")
    return render(
        request,
        "readerstudy/study_detail.html",
        {
            "study": study,
            "conditions": study.conditions.all(),
            "questions": study.questions.all(),
            "cases": cases,
            "progress": selectors.study_reader_progress(study),
            "can_coordinate": roles.can_coordinate(request.user, study),
            "can_view_results": roles.can_view_results(request.user, study),
        },
    )


@login_required
def study_identities(request: HttpRequest, slug: str) -> HttpResponse:
    """The private mapping from de-identified series to their original identifiers."""
    study = study_for_request(request, slug, allowed=roles.can_coordinate)
    return render(
        request,
        "readerstudy/study_identities.html",
        {"study": study, "identities": selectors.study_source_identities(study)},
    )


#: The unblinded downloads: kind -> (file name suffix, the response for a study's analysis run).
RESULT_DOWNLOADS = {
    "answers.csv": ("answers", _answers_response),
    "readings.csv": ("readings", _readings_response),
}


def _result_download(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """An unblinded CSV, under the unblinding rule (``services.analysis``).

    GET works once the study and its reference are locked; before that the statistician
    POSTs a written reason and gets an interim analysis. Each download is an audited
    analysis run; the file's name and the ``X-Analysis-Run`` header name the run, and
    ``X-Reference-Versions`` the reference versions it used.
    """
    study = study_for_request(request, slug, allowed=roles.can_view_results)
    reason = request.POST.get("interim_reason", "") if request.method == "POST" else ""
    try:
        run = analysis_run_start(study=study, user=request.user, kind=kind, interim_reason=reason)
    except ResultsBlinded as blinded:
        messages.error(request, f"Results are still blinded. {blinded}")
        return redirect("readerstudy:study_results", slug=study.slug)
    suffix, response = RESULT_DOWNLOADS[kind]
    filename = analysis_run_filename(run, suffix, "csv")
    return analysis_run_download(response(filename, study, run), run, filename)


@login_required
@require_http_methods(["GET", "POST"])
def study_results_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """Every answer of the submitted readings as one row of a long CSV table, with condition
    labels (statisticians only)."""
    return _result_download(request, slug, "answers.csv")


@login_required
@require_http_methods(["GET", "POST"])
def study_readings_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One row per reading with status, marks count and reading telemetry (statisticians only)."""
    return _result_download(request, slug, "readings.csv")


@login_required
@require_GET
def study_results(request: HttpRequest, slug: str) -> HttpResponse:
    """The statistician's results page: whether results are unblinded yet, downloads, past runs."""
    study = study_for_request(request, slug, allowed=roles.can_view_results)
    reference_sets = analysis_default_reference_sets(study)
    return render(
        request,
        "readerstudy/study_results.html",
        {
            "study": study,
            "blockers": analysis_blockers(study, reference_sets),
            "reference_sets": reference_sets,
            "downloads": [
                ("answers.csv", "readerstudy:study_results_csv", "Answers (one row per answer)"),
                ("readings.csv", "readerstudy:study_readings_csv", "Readings with status and telemetry"),
            ],
            "runs": study.analysis_runs.select_related("requested_by").prefetch_related("reference_sets")[
                :50
            ],
        },
    )
