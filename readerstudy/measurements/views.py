"""Objective image-quality measurement pages: the study's list of cases with the image fidelity
table, and the measuring page of one case (every condition side by side, line and circle
ROIs, their values per condition), with its small JSON API and its own DICOMweb root.

Coordinators of the study measure (``can_measure``); statisticians of the study may
look (``can_view_measurements``); readers of the study never reach any of it.

(under ``studies/<slug>/cases/<case id>/measure/``)

``GET    state.json``             the ROIs, CNRs and values
``PUT    rois/<client id>``       {"kind", "series", "slice", "points_mm": [[x, y, z], [x, y, z]], "label"}
``DELETE rois/<client id>``
``PUT    cnrs/<client id>``       {"a": ROI client id, "b": ROI client id, "label"}
``DELETE cnrs/<client id>``

Every answer of the API is the case's whole state (``measurement_case_state``).
Images come from ``/dicomweb/m/<series public id>/`` (``views.dicomweb``), served through
the same blinding code path as a reader's, so there is one way instances leave the server.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from readerstudy.imaging.locations import series_location
from readerstudy.imaging.models import ImageSeries
from readerstudy.json_io import is_number, json_body, json_error
from readerstudy.measurements.policy import MeasurementViewing, can_measure, can_view_measurements
from readerstudy.measurements.selectors import (
    fidelity_reference_condition,
    fidelity_rows,
    measurement_case_series,
    measurement_case_state,
    measurement_cases,
    t2_agreement_rows,
)
from readerstudy.measurements.services import (
    MeasurementInvalid,
    fidelity_compute,
    fidelity_reference_set,
    measurement_case_recompute,
    measurement_cnr_delete,
    measurement_cnr_save,
    measurement_roi_delete,
    measurement_roi_save,
    nearest_slice,
    series_coordinates,
    t2_agreement_compute,
)
from readerstudy.reading.services import patient_position
from readerstudy.studies.models import Case, Condition, Study
from readerstudy.studies.policy import study_for_request

_ZERO_UUID = uuid.UUID(int=0)


def _case_for_request(request: HttpRequest, slug: str, case_id: int, *, allowed) -> tuple[Study, Case]:
    study = study_for_request(request, slug, allowed=allowed)
    return study, get_object_or_404(Case, pk=case_id, study=study)


@login_required
@require_GET
def measurement_index(request: HttpRequest, slug: str) -> HttpResponse:
    """The cases to measure (with their number of ROIs) and the image fidelity table."""
    study = study_for_request(request, slug, allowed=can_view_measurements)
    return render(
        request,
        "readerstudy/measurement_index.html",
        {
            "study": study,
            "cases": measurement_cases(study),
            "conditions": study.conditions.all(),
            "reference": fidelity_reference_condition(study),
            "fidelity": fidelity_rows(study),
            "t2_agreement": t2_agreement_rows(study),
            "can_measure": can_measure(request.user, study),
        },
    )


@login_required
@require_POST
def measurement_reference(request: HttpRequest, slug: str) -> HttpResponse:
    """Choose the condition image fidelity is measured against."""
    study = study_for_request(request, slug, allowed=can_measure)
    try:
        condition = study.conditions.get(pk=int(request.POST.get("condition", "")))
    except (ValueError, Condition.DoesNotExist):
        messages.error(request, "Choose one of the study's conditions.")
    else:
        fidelity_reference_set(study=study, condition=condition, actor=request.user)
        messages.success(request, f"Image fidelity is measured against {condition.label}.")
    return redirect("readerstudy:measurement_index", slug=study.slug)


@login_required
@require_POST
def measurement_fidelity(request: HttpRequest, slug: str) -> HttpResponse:
    """Compute PSNR, SSIM and RMSE of every case and condition against the reference (synchronously)."""
    study = study_for_request(request, slug, allowed=can_measure)
    try:
        results = fidelity_compute(study=study, actor=request.user)
    except MeasurementInvalid as exc:
        messages.error(request, str(exc))
    else:
        compared = sum(1 for r in results if r.psnr is not None)
        messages.success(
            request,
            f"Image fidelity computed: {compared} of {len(results)} series compared with the reference.",
        )
    return redirect("readerstudy:measurement_index", slug=study.slug)


@login_required
@require_POST
def measurement_t2_agreement(request: HttpRequest, slug: str) -> HttpResponse:
    """Compute the DESS T2 maps' agreement with the reference's map (synchronously)."""
    study = study_for_request(request, slug, allowed=can_measure)
    try:
        results = t2_agreement_compute(study=study, actor=request.user)
    except MeasurementInvalid as exc:
        messages.error(request, str(exc))
    else:
        compared = sum(1 for r in results if r.ccc is not None)
        messages.success(
            request, f"T2 agreement computed: {compared} of {len(results)} maps and regions compared."
        )
    return redirect("readerstudy:measurement_index", slug=study.slug)


# ----------------------------------------------------------------------------- one case


def _start_slices(series_list: list[ImageSeries]) -> dict[int, int]:
    """The slice each series starts on: the first series' middle slice, and in every other
    series the slice nearest to the same patient position."""
    if not series_list:
        return {}
    first = series_list[0]
    centre = patient_position(first, first.num_slices // 2, (first.columns - 1) / 2, (first.rows - 1) / 2)
    starts = {}
    for series in series_list:
        starts[series.pk] = nearest_slice(series, series_coordinates(series, centre)[2])
    return starts


@login_required
@require_GET
def measurement_case(request: HttpRequest, slug: str, case_id: int) -> HttpResponse:
    """The measuring page: every condition of the case side by side, slices synchronised by
    patient position, line and circle ROIs drawn on one shown on all, and their values."""
    study, case = _case_for_request(request, slug, case_id, allowed=can_view_measurements)
    series_list = measurement_case_series(case)
    starts = _start_slices(series_list)
    viewports = []
    for series in series_list:
        location = series_location(
            MeasurementViewing(series.public_id, series), "readerstudy:measure_wado_uri"
        )
        viewports.append(
            {
                "condition": series.condition.label,
                "series": str(series.public_id),
                "reading": f"measure-{series.public_id}",
                **location.config(),
                "metadataUrl": location.metadata_url,
                "numSlices": series.num_slices,
                "startSlice": starts[series.pk],
                "matrix": f"{series.columns} x {series.rows} x {series.num_slices}",
            }
        )
    shown = {series.condition_id for series in series_list}
    base = reverse("readerstudy:api_measurement_roi", args=[study.slug, case.pk, _ZERO_UUID])
    config = {
        "case": case.code,
        "editable": can_measure(request.user, study),
        "viewerScript": static("readerstudy/build/viewer.js"),
        "viewports": viewports,
        "api": {
            "state": reverse("readerstudy:api_measurement_state", args=[study.slug, case.pk]),
            "rois": base.removesuffix(f"{_ZERO_UUID}"),
            "cnrs": reverse(
                "readerstudy:api_measurement_cnr", args=[study.slug, case.pk, _ZERO_UUID]
            ).removesuffix(f"{_ZERO_UUID}"),
        },
    }
    cases = list(study.cases.order_by("code").values_list("pk", "code"))
    index = next(i for i, (pk, _) in enumerate(cases) if pk == case.pk)
    return render(
        request,
        "readerstudy/measurement_case.html",
        {
            "study": study,
            "case": case,
            "viewports": viewports,
            "missing": [c for c in study.conditions.all() if c.pk not in shown],
            "config": config,
            "editable": config["editable"],
            "previous_case": cases[index - 1][0] if index > 0 else None,
            "next_case": cases[index + 1][0] if index + 1 < len(cases) else None,
        },
    )


@login_required
@require_POST
def measurement_recompute(request: HttpRequest, slug: str, case_id: int) -> HttpResponse:
    """Measure every ROI of the case again on every series it has now."""
    study, case = _case_for_request(request, slug, case_id, allowed=can_measure)
    count = measurement_case_recompute(case=case, actor=request.user)
    messages.success(request, f"Measured {count} ROI{'s' if count != 1 else ''} again on every condition.")
    return redirect("readerstudy:measurement_case", slug=study.slug, case_id=case.pk)


@login_required
@require_GET
def api_measurement_state(request: HttpRequest, slug: str, case_id: int) -> JsonResponse:
    """The case's ROIs and CNRs with their values per series (the page loads it, then reloads it)."""
    _, case = _case_for_request(request, slug, case_id, allowed=can_view_measurements)
    return JsonResponse(measurement_case_state(case))


@login_required
@require_http_methods(["PUT", "DELETE"])
def api_measurement_roi(request: HttpRequest, slug: str, case_id: int, client_id: uuid.UUID) -> JsonResponse:
    """Draw, change or delete one ROI of the case (idempotent by its client id)."""
    _, case = _case_for_request(request, slug, case_id, allowed=can_measure)
    if request.method == "DELETE":
        measurement_roi_delete(case=case, client_id=client_id, actor=request.user)
        return JsonResponse(measurement_case_state(case))
    try:
        data = json_body(request)
    except ValueError as exc:
        return json_error(str(exc))
    if not is_number(data.get("slice")) or not float(data["slice"]).is_integer():
        return json_error("slice must be a whole number.")
    points = data.get("points_mm")
    if not (
        isinstance(points, list)
        and len(points) == 2
        and all(isinstance(p, list) and len(p) == 3 and all(is_number(v) for v in p) for p in points)
    ):
        return json_error("points_mm must be two [x, y, z] points in mm (patient coordinates).")
    label = data.get("label", "")
    if not isinstance(label, str):
        return json_error("label must be text.")
    try:
        series = case.series.get(public_id=uuid.UUID(str(data.get("series", ""))))
    except (ValueError, ImageSeries.DoesNotExist):
        return json_error("series must be one of this case's series.")
    try:
        measurement_roi_save(
            case=case,
            client_id=client_id,
            kind=str(data.get("kind", "")),
            series=series,
            slice_index=int(data["slice"]),
            points_mm=points,
            label=label,
            actor=request.user,
        )
    except MeasurementInvalid as exc:
        return json_error(str(exc))
    return JsonResponse(measurement_case_state(case))


@login_required
@require_http_methods(["PUT", "DELETE"])
def api_measurement_cnr(request: HttpRequest, slug: str, case_id: int, client_id: uuid.UUID) -> JsonResponse:
    """Add, change or delete a CNR between two circle ROIs of the case (idempotent)."""
    _, case = _case_for_request(request, slug, case_id, allowed=can_measure)
    if request.method == "DELETE":
        measurement_cnr_delete(case=case, client_id=client_id, actor=request.user)
        return JsonResponse(measurement_case_state(case))
    try:
        data = json_body(request)
        roi_a, roi_b = uuid.UUID(str(data.get("a", ""))), uuid.UUID(str(data.get("b", "")))
    except ValueError as exc:
        message = str(exc) if "JSON" in str(exc) else "a and b must be the client ids of two circle ROIs."
        return json_error(message)
    label = data.get("label", "")
    if not isinstance(label, str):
        return json_error("label must be text.")
    try:
        measurement_cnr_save(
            case=case, client_id=client_id, roi_a=roi_a, roi_b=roi_b, label=label, actor=request.user
        )
    except MeasurementInvalid as exc:
        return json_error(str(exc))
    return JsonResponse(measurement_case_state(case))
