"""Study pages for coordinators (configuration, progress, identities, references)
and statisticians (unblinded results)."""

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .. import roles, selectors
from ..models import Study


def study_for_request(request: HttpRequest, slug: str, *, allowed) -> Study:
    """The study if ``allowed(user, study)``; 404 for unknown slugs, 403 otherwise."""
    study = get_object_or_404(Study, slug=slug)
    if not allowed(request.user, study):
        raise PermissionDenied
    return study


def _csv_response(filename: str, columns: list[str], rows: list[dict[str, object]]) -> HttpResponse:
    """A CSV download with a header row."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.DictWriter(response, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
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


@login_required
def study_references(request: HttpRequest, slug: str) -> HttpResponse:
    """The reference standard of every case (coordinators edit it; statisticians analyse with it)."""
    study = study_for_request(request, slug, allowed=_coordinates_or_analyses)
    return render(
        request,
        "readerstudy/study_references.html",
        {"study": study, "references": selectors.study_references(study)},
    )


@login_required
def study_results_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """Every answer as one row of a long CSV table, with condition labels (statisticians only)."""
    study = study_for_request(request, slug, allowed=roles.can_view_results)
    return _csv_response(
        f"{study.slug}-answers.csv", selectors.RESULT_COLUMNS, selectors.study_answer_rows(study)
    )


@login_required
@require_GET
def study_readings_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One row per reading with status, marks count and reading telemetry (statisticians only)."""
    study = study_for_request(request, slug, allowed=roles.can_view_results)
    return _csv_response(
        f"{study.slug}-readings.csv", selectors.READING_COLUMNS, selectors.study_reading_rows(study)
    )
