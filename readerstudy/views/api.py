"""The reading API the workstation autosaves through (JSON, same-origin, CSRF-protected).

``GET  /api/readings/<id>/state``              answers, marks and last slice (resume)
``POST /api/readings/<id>/answers``            {"question": key, "value", "present", "text"}
``PUT  /api/readings/<id>/marks/<client id>``  {"slice", "x", "y", "rating", "label"}
``DELETE /api/readings/<id>/marks/<client id>``
``POST /api/readings/<id>/position``           {"slice": n}
``PUT  /api/readings/<id>/visits/<client id>`` {"active_ms", "first_mark_ms", "slices", "window_changes"}

Every write is idempotent (repeating it changes nothing) so the client may retry freely.
Only the reading's own reader may call it, while the session is open. Refusals are JSON
``{"error": message}``: 400 for invalid input, 409 once the reading is submitted and
locked (every write, telemetry included), 413 for a body over the size limit.
"""

import functools
import uuid
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..models import Question, Reading
from ..services.marks import MarkInvalid, mark_delete, mark_save
from ..services.readings import (
    AnswerInput,
    ReadingLocked,
    answers_save,
    reading_is_locked,
    reading_position_save,
)
from ..services.telemetry import TelemetryInvalid, VisitReport, reading_visit_record
from .json_io import BodyRefused, is_number, json_body, json_error
from .reader import reading_for_reader_request


def _state(reading: Reading) -> dict:
    return {
        "status": reading.status,
        "editable": not reading_is_locked(reading),
        "last_slice": reading.last_slice,
        "answers": {
            a.question.key: {"value": a.value, "present": a.present, "text": a.text}
            for a in reading.answers.select_related("question")
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
    """Answer the services' refusals of a write as JSON errors with their HTTP status."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except ReadingLocked as exc:
            return json_error(str(exc), status=409)
        except BodyRefused as exc:
            return json_error(str(exc), status=exc.status)
        except (MarkInvalid, TelemetryInvalid, ValueError) as exc:
            return json_error(str(exc))

    return wrapped


@login_required
@require_POST
@_refusals_as_json
def answer_put(request: HttpRequest, public_id) -> JsonResponse:
    reading = reading_for_reader_request(request, public_id)
    data = json_body(request)
    try:
        question = reading.session.participation.study.questions.get(key=data.get("question"))
    except Question.DoesNotExist:
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
        answers={question: AnswerInput(value=value, present=present, text=text)},
        user=request.user,
    )
    if errors:
        return json_error(errors[question.key])
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
    numbers = {key: data.get(key) for key in ("slice", "x", "y", "rating")}
    if not all(is_number(v) for v in numbers.values()):
        return json_error("slice, x, y and rating must be numbers.")
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


def _whole(value: object) -> bool:
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
