"""Pages of a reader: their sessions and the reading of one series.

Nothing here shows a condition label, a case code or a reference: readers are blinded.
"""

import functools
import json
import uuid
from collections.abc import Callable
from typing import TypeGuard, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from readerstudy.design.selectors import session_progress
from readerstudy.design.washout import session_window
from readerstudy.errors import ServiceError
from readerstudy.imaging import blinding, first_image
from readerstudy.imaging.locations import SeriesLocation, series_location
from readerstudy.json_io import is_number, json_body, json_error
from readerstudy.reading.models import Reading, ReadingViewport
from readerstudy.reading.policy import can_open_in_order, reading_for_reader_request, reading_is_locked
from readerstudy.reading.selectors import (
    AnswerItem,
    lesion_slice,
    next_session,
    practice_feedback,
    reader_next_open_reading,
    reader_sessions_list,
    reading_answer_items,
    reading_neighbours,
    reading_next_unsubmitted,
)
from readerstudy.reading.services import (
    AnswerInput,
    ReadingLocked,
    VisitReport,
    answer_text_max_length,
    answers_save,
    mark_delete,
    mark_save,
    reading_missing_items,
    reading_open,
    reading_position_save,
    reading_submit,
    reading_visit_record,
)
from readerstudy.studies.models import Question, ReadingPhase
from readerstudy.studies.policy import READER, has_role

_ZERO_UUID = uuid.UUID(int=0)


@login_required
def reader_sessions(request: HttpRequest) -> HttpResponse:
    """The reader's sessions, with progress and the readings of each open session."""
    if not has_role(request.user, READER):
        raise PermissionDenied
    several_phases = set(
        ReadingPhase.objects.filter(order__gt=1).values_list("study_id", flat=True).distinct()
    )
    sessions = [
        {
            "session": session,
            "show_phase": session.participation.study_id in several_phases,
            "window": session_window(session),
            "rows": [
                {"reading": r, "can_open": can_open_in_order(r), "locked": reading_is_locked(r)}
                for r in session.readings.all()
            ],
        }
        for session in reader_sessions_list(request.user)
    ]
    return render(request, "readerstudy/reader_sessions.html", {"sessions": sessions})


@login_required
@require_GET
def after_login(request: HttpRequest) -> HttpResponse:
    """Where a login without ``?next=`` lands (``LOGIN_REDIRECT_URL``): a reader with an open,
    unsubmitted reading goes straight to it (the sessions list is one click away, in the
    workstation's bar); everyone else to the home page."""
    upcoming = reader_next_open_reading(request.user) if has_role(request.user, READER) else None
    if upcoming is not None:
        return redirect("readerstudy:reading_detail", public_id=upcoming.public_id)
    return redirect("readerstudy:home")


def _parse_answers(request: HttpRequest, items: list[AnswerItem]) -> dict[AnswerItem, AnswerInput]:
    def as_int(raw: str | None) -> int | None:
        try:
            return int(raw) if raw not in (None, "") else None
        except ValueError:
            return None

    parsed = {}
    for item in items:
        q, field = item.question, f"q-{item.key}"
        if q.kind == Question.Kind.TEXT:
            parsed[item] = AnswerInput(text=request.POST.get(field, ""))
        elif q.kind == Question.Kind.FINDING:
            raw_present = request.POST.get(f"{field}-present")
            present = {"yes": True, "no": False}.get(raw_present or "")
            value = as_int(request.POST.get(field)) if present else None
            parsed[item] = AnswerInput(value=value, present=present)
        else:
            parsed[item] = AnswerInput(value=as_int(request.POST.get(field)))
    return parsed


def _after_submit(reading: Reading) -> HttpResponse:
    if reading.session.phase.is_practice:  # the reference is shown as feedback before going on
        return redirect("readerstudy:reading_detail", public_id=reading.public_id)
    upcoming = reading_next_unsubmitted(reading)
    if upcoming is not None:
        return redirect("readerstudy:reading_detail", public_id=upcoming.public_id)
    return redirect("readerstudy:session_complete", public_id=reading.public_id)


@login_required
@require_http_methods(["GET", "POST"])
def reading_detail(request: HttpRequest, public_id) -> HttpResponse:
    """The workstation for one reading; POST saves the answers and, with ``submit``, submits.

    The workstation script autosaves through ``views.api``; the form POST is the submit
    (and the no-script fallback).
    """
    reading = reading_for_reader_request(request, public_id, in_order=False)
    if not can_open_in_order(reading):
        upcoming = reading_next_unsubmitted(reading)
        assert upcoming is not None, "a reading that cannot be opened yet has an unsubmitted one before it"
        messages.info(request, "The readings of this session are read in order.")
        return redirect("readerstudy:reading_detail", public_id=upcoming.public_id)
    answer_items = reading_answer_items(reading)
    if request.method == "POST":
        was_submitted = reading.status == Reading.Status.SUBMITTED
        try:
            errors = answers_save(
                reading=reading, answers=_parse_answers(request, answer_items), user=request.user
            )
        except ReadingLocked:
            messages.info(request, "This reading was already submitted; nothing was changed.")
            return _after_submit(reading)
        if "submit" in request.POST and not errors:
            if not reading_submit(reading=reading, user=request.user):
                verb = "updated" if was_submitted else "submitted"
                messages.success(request, f"Reading {reading.position} {verb}.")
                return _after_submit(reading)
            errors = {item.key: MISSING_ANSWER for item in reading_missing_items(reading)}
        if not errors:
            messages.success(request, "Saved.")
            return redirect("readerstudy:reading_detail", public_id=reading.public_id)
        # Each refusal is shown inside the question it concerns (the page is rendered again
        # rather than redirected, as a refused form is; the valid answers are saved).
        return _reading_page(request, reading, answer_items, errors)
    return _reading_page(request, reading, answer_items, {})


#: The error shown in a required question left unanswered at submit (the page script shows the same).
MISSING_ANSWER = "Please answer this question before submitting."


def _reading_page(
    request: HttpRequest, reading: Reading, answer_items: list[AnswerItem], errors: dict[str, str]
) -> HttpResponse:
    """The workstation page; ``errors`` ({item key: message}) are shown in their questions."""
    study = reading.session.participation.study
    phase = reading.session.phase
    reading = reading_open(reading=reading, user=request.user)
    stored = {(a.question_id, a.lesion_id): a for a in reading.answers.all()}
    previous, following, total = reading_neighbours(reading)
    done, _ = session_progress(reading.session)
    series = reading.series
    slices = {item.key: lesion_slice(series, item.lesion) for item in answer_items if item.lesion is not None}
    items = [
        {
            "key": item.key,
            "question": item.question,
            "answer": stored.get((item.question.pk, item.lesion.pk if item.lesion else None)),
            "lesion_index": item.index,
            "slice": slices.get(item.key),
            "error": errors.get(item.key, ""),
        }
        for item in answer_items
    ]
    mark_scale = study.mark_scale if phase.marks_enabled and not phase.is_comparative else []
    editable = not reading_is_locked(reading)
    viewports = _comparison_viewports(reading) if phase.is_comparative else []
    location = viewports[0][1] if viewports else series_location(reading, "readerstudy:wado_uri")
    start_slice = reading.last_slice if reading.last_slice is not None else first_image.start_slice(series)
    new_start = start_slice == first_image.start_slice(series)
    config = {
        "reading": str(reading.public_id),
        "editable": editable,
        "submitted": reading.status == Reading.Status.SUBMITTED,
        **(
            {"layout": "comparative", "viewports": [_viewport_config(v, loc) for v, loc in viewports]}
            if viewports
            else {**location.config(), "layout": "single"}
        ),
        "numSlices": series.num_slices,
        "projection": bool(series.projection),
        "startSlice": start_slice,
        "markScale": mark_scale,
        "lesionTargets": [
            {
                "item": item.key,
                "slice": slices[item.key],
                "point": [item.lesion.x_mm, item.lesion.y_mm, item.lesion.z_mm],
                "label": f"lesion {item.index}",
            }
            for item in answer_items
            if item.lesion is not None
        ],
        "api": {
            "state": reverse("readerstudy:api_reading_state", args=[reading.public_id]),
            "answers": reverse("readerstudy:api_answer", args=[reading.public_id]),
            "position": reverse("readerstudy:api_position", args=[reading.public_id]),
            "marks": reverse("readerstudy:api_mark", args=[reading.public_id, _ZERO_UUID]).removesuffix(
                str(_ZERO_UUID)
            ),
            "visits": reverse("readerstudy:api_visit", args=[reading.public_id, _ZERO_UUID]).removesuffix(
                str(_ZERO_UUID)
            ),
        },
        "previousUrl": reverse("readerstudy:reading_detail", args=[previous.public_id]) if previous else None,
        "nextUrl": reverse("readerstudy:reading_detail", args=[following.public_id]) if following else None,
        "viewerScript": static("readerstudy/build/viewer.js"),
    }
    return render(
        request,
        "readerstudy/reading_detail.html",
        {
            "reading": reading,
            "session": reading.session,
            "study": study,
            "items": items,
            "total": total,
            "done": done,
            "previous": previous,
            "following": following,
            "editable": editable,
            "submitted": reading.status == Reading.Status.SUBMITTED,
            "mark_scale": mark_scale,
            "phase": phase,
            "show_phase": study.phases.count() > 1,
            "feedback": practice_feedback(reading),
            "num_slices": series.num_slices,
            "workstation_config": config,
            "text_max_length": answer_text_max_length(),
            "metadata_url": location.metadata_url,
            "errors": errors,
            "comparative": bool(viewports),
            "viewports": [{"label": v.label, "is_reference": v.is_reference} for v, _ in viewports],
            "viewer_preload": _viewer_preload(),
            # The blinded metadata, inlined (computed once per reading: blinding.series_metadata_json);
            # a comparative page loads each viewport's own
            "metadata_json": None if viewports else mark_safe(blinding.series_metadata_json(reading)),  # noqa: S308 (escaped)
            # The PNG of the start slice of a new reading (none when the reading resumes elsewhere)
            "first_image_url": (
                f"{location.series_path}/first-image.png"
                if not viewports and new_start and first_image.first_image_available(series)
                else None
            ),
        },
    )


def _comparison_viewports(reading: Reading) -> list[tuple[ReadingViewport, SeriesLocation]]:
    """A comparative reading's viewports by slot, each with its own DICOMweb root."""
    viewports = list(reading.viewports.select_related("series__case__study").order_by("slot"))
    if not viewports:  # a comparative reading is always made with its viewports
        raise ServiceError("This comparative reading has no viewports; ask the study's coordinator.")
    return [(v, series_location(v, "readerstudy:viewport_wado_uri")) for v in viewports]


def _viewport_config(viewport: ReadingViewport, location: SeriesLocation) -> dict[str, object]:
    """What the comparative page knows of one viewport: its label and where its series is;
    never its condition (the reference is only labelled "Reference")."""
    series = viewport.series
    return {
        "label": viewport.label,
        "isReference": viewport.is_reference,
        **location.config(),
        "numSlices": series.num_slices,
        "startSlice": series.num_slices // 2,
    }


def _viewer_preload() -> list[str]:
    """URLs of viewer.js and the chunks it imports (frontend/build.mjs's manifest.json).

    The reading page preloads them (modulepreload) from its start; [] without a built bundle.
    viewer.js is the page's config.viewerScript (``static``, hashed in production); the chunks
    are the URLs its ``import`` statements name, i.e. the unhashed files beside it.
    """
    name = finders.find("readerstudy/build/manifest.json")
    if not name:
        return []
    try:
        with open(name, encoding="utf-8") as handle:
            files = json.load(handle).get("viewer", [])
    except (OSError, ValueError):
        return []
    viewer = "readerstudy/build/viewer.js"
    chunks = [f"{settings.STATIC_URL}{f}" for f in files if isinstance(f, str) and f != viewer]
    return [static(viewer), *chunks]


@login_required
@require_http_methods(["GET"])
def session_complete(request: HttpRequest, public_id) -> HttpResponse:
    """The page after the last reading of a session: what was done and when the next session opens."""
    reading = reading_for_reader_request(request, public_id)
    session = reading.session
    following = next_session(session)
    return render(
        request,
        "readerstudy/session_complete.html",
        {
            "session": session,
            "total": session.readings.count(),
            "done": session.readings.filter(status=Reading.Status.SUBMITTED).count(),
            "next_session": following,
            "next_window": session_window(following) if following else None,
        },
    )


def _state(reading: Reading) -> dict:
    keys = {(i.question.pk, i.lesion.pk if i.lesion else None): i.key for i in reading_answer_items(reading)}
    return {
        "status": reading.status,
        "editable": not reading_is_locked(reading),
        "last_slice": reading.last_slice,
        "answers": {
            keys[a.question_id, a.lesion_id]: {"value": a.value, "present": a.present, "text": a.text}
            for a in reading.answers.all()
            if (a.question_id, a.lesion_id) in keys
        },
        "marks": [
            {
                "client_id": str(m.client_id),
                "slice": m.slice_index,
                "x": m.x,
                "y": m.y,
                "rating": m.rating,
                "label": m.label,
            }
            for m in reading.marks.order_by("created_at")
        ],
    }


@login_required
@require_GET
def reading_state(request: HttpRequest, public_id) -> JsonResponse:
    return JsonResponse(_state(reading_for_reader_request(request, public_id)))


def _refusals_as_json(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """Answer a write's refusals as JSON errors: a service's with its status (``ServiceError``),
    a value the view could not parse with 400."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except ServiceError as exc:
            return json_error(exc.message, status=exc.status)
        except ValueError as exc:
            return json_error(str(exc))

    return wrapped


@login_required
@require_POST
@_refusals_as_json
def answer_put(request: HttpRequest, public_id) -> JsonResponse:
    reading = reading_for_reader_request(request, public_id)
    data = json_body(request)
    item = next((i for i in reading_answer_items(reading) if i.key == data.get("question")), None)
    if item is None:
        return json_error("Unknown question.")
    value, present, text = data.get("value"), data.get("present"), data.get("text", "")
    if (value is not None and not isinstance(value, int)) or isinstance(value, bool):
        return json_error("value must be an integer or null.")
    if present is not None and not isinstance(present, bool):
        return json_error("present must be true, false or null.")
    if not isinstance(text, str):
        return json_error("text must be a string.")
    errors = answers_save(
        reading=reading,
        answers={item: AnswerInput(value=value, present=present, text=text)},
        user=request.user,
    )
    if errors:
        return json_error(errors[item.key])
    reading.refresh_from_db()
    return JsonResponse(_state(reading))


@login_required
@require_http_methods(["PUT", "DELETE"])
@_refusals_as_json
def mark_put(request: HttpRequest, public_id, client_id: uuid.UUID) -> JsonResponse:
    reading = reading_for_reader_request(request, public_id)
    if request.method == "DELETE":
        mark_delete(reading=reading, client_id=client_id, user=request.user)
        return JsonResponse(_state(reading))
    data = json_body(request)
    raw_numbers = {key: data.get(key) for key in ("slice", "x", "y", "rating")}
    if not all(is_number(v) for v in raw_numbers.values()):
        return json_error("slice, x, y and rating must be numbers.")
    numbers = cast(dict[str, float], raw_numbers)  # every one an int or float, checked just above
    if not (float(numbers["slice"]).is_integer() and float(numbers["rating"]).is_integer()):
        return json_error("slice and rating must be whole numbers.")
    label = data.get("label", "")
    if not isinstance(label, str):
        return json_error("label must be a string.")
    mark_save(
        reading=reading,
        client_id=client_id,
        slice_index=int(numbers["slice"]),
        x=float(numbers["x"]),
        y=float(numbers["y"]),
        rating=int(numbers["rating"]),
        label=label,
        user=request.user,
    )
    reading.refresh_from_db()
    return JsonResponse(_state(reading))


@login_required
@require_POST
@_refusals_as_json
def position_put(request: HttpRequest, public_id) -> JsonResponse:
    reading = reading_for_reader_request(request, public_id)
    slice_index = json_body(request).get("slice")
    if not _whole(slice_index):
        return json_error("slice must be an integer.")
    reading_position_save(reading=reading, slice_index=slice_index)
    return JsonResponse({"last_slice": slice_index})


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@login_required
@require_http_methods(["PUT"])
@_refusals_as_json
def visit_put(request: HttpRequest, public_id, client_id: uuid.UUID) -> JsonResponse:
    """Telemetry of one page visit (cumulative figures; repeating a report changes nothing)."""
    reading = reading_for_reader_request(request, public_id)
    data = json_body(request)
    first_mark = data.get("first_mark_ms")
    slices = data.get("slices", [])
    if not (_whole(data.get("active_ms")) and _whole(data.get("window_changes", 0))):
        return json_error("active_ms and window_changes must be whole numbers.")
    if first_mark is not None and not _whole(first_mark):
        return json_error("first_mark_ms must be a whole number or null.")
    if not isinstance(slices, list) or not all(_whole(s) for s in slices):
        return json_error("slices must be a list of slice numbers.")
    visit = reading_visit_record(
        reading=reading,
        client_id=client_id,
        report=VisitReport(
            active_ms=data["active_ms"],
            first_mark_ms=first_mark,
            slices=slices,
            window_changes=data.get("window_changes", 0),
        ),
    )
    return JsonResponse({"active_ms": visit.active_ms, "slices": len(visit.slices)})
