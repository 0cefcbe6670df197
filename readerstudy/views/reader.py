"""Pages of a reader: their sessions and the reading of one series.

Nothing here shows a condition label, a case code or a reference: readers are blinded.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from .. import roles, selectors
from ..models import Question, Reading
from ..services.readings import (
    AnswerInput,
    ReadingLocked,
    answer_text_max_length,
    answers_save,
    reading_is_locked,
    reading_open,
    reading_submit,
)
from .dicomweb_location import series_location

_ZERO_UUID = uuid.UUID(int=0)


@login_required
def reader_sessions(request: HttpRequest) -> HttpResponse:
    """The reader's sessions, with progress and the readings of each open session."""
    if not roles.has_role(request.user, roles.READER):
        raise PermissionDenied
    sessions = list(selectors.reader_sessions_list(request.user))
    for session in sessions:
        session.window = selectors.session_window(session)
        session.rows = [
            {"reading": r, "can_open": roles.can_open_in_order(r), "locked": reading_is_locked(r)}
            for r in session.readings.all()
        ]
    return render(request, "readerstudy/reader_sessions.html", {"sessions": sessions})


def reading_for_reader_request(request: HttpRequest, public_id, *, in_order: bool = True) -> Reading:
    """The reading if it is the user's own in an open session; 404 otherwise (no existence leak).

    With ``in_order`` (the default), a reading the study's navigation does not allow yet
    (sequential reading) is refused with 403 as well.
    """
    try:
        reading = selectors.reading_for_reader(public_id)
    except Reading.DoesNotExist:
        raise Http404 from None
    if not roles.can_read(request.user, reading):
        raise Http404
    if not selectors.session_is_open(reading.session):
        raise PermissionDenied("This session is not open (see your reading sessions for when it opens).")
    if in_order and not roles.can_open_in_order(reading):
        raise PermissionDenied("The readings of this session are read in order.")
    return reading


def _parse_answers(request: HttpRequest, questions: list[Question]) -> dict[Question, AnswerInput]:
    def as_int(raw: str | None) -> int | None:
        try:
            return int(raw) if raw not in (None, "") else None
        except ValueError:
            return None

    parsed = {}
    for q in questions:
        field = f"q-{q.key}"
        if q.kind == Question.Kind.TEXT:
            parsed[q] = AnswerInput(text=request.POST.get(field, ""))
        elif q.kind == Question.Kind.FINDING:
            raw_present = request.POST.get(f"{field}-present")
            present = {"yes": True, "no": False}.get(raw_present or "")
            value = as_int(request.POST.get(field)) if present else None
            parsed[q] = AnswerInput(value=value, present=present)
        else:
            parsed[q] = AnswerInput(value=as_int(request.POST.get(field)))
    return parsed


def _after_submit(reading: Reading) -> HttpResponse:
    upcoming = selectors.reading_next_unsubmitted(reading)
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
    if not roles.can_open_in_order(reading):
        upcoming = selectors.reading_next_unsubmitted(reading)
        messages.info(request, "The readings of this session are read in order.")
        return redirect("readerstudy:reading_detail", public_id=upcoming.public_id)
    study = reading.session.participation.study
    questions = list(study.questions.all())
    if request.method == "POST":
        was_submitted = reading.status == Reading.Status.SUBMITTED
        try:
            errors = answers_save(
                reading=reading, answers=_parse_answers(request, questions), user=request.user
            )
        except ReadingLocked:
            messages.info(request, "This reading was already submitted; nothing was changed.")
            return _after_submit(reading)
        for reason in errors.values():
            messages.error(request, reason)
        if "submit" in request.POST and not errors:
            missing = reading_submit(reading=reading, user=request.user)
            if missing:
                for q in missing:
                    messages.error(request, f"Please answer: {q.text}")
            else:
                verb = "updated" if was_submitted else "submitted"
                messages.success(request, f"Reading {reading.position} {verb}.")
                return _after_submit(reading)
        elif not errors:
            messages.success(request, "Saved.")
        return redirect("readerstudy:reading_detail", public_id=reading.public_id)

    reading = reading_open(reading=reading, user=request.user)
    stored = {a.question_id: a for a in reading.answers.all()}
    previous, following, total = selectors.reading_neighbours(reading)
    done, _ = selectors.session_progress(reading.session)
    items = [{"question": q, "answer": stored.get(q.pk)} for q in questions]
    series = reading.series
    editable = not reading_is_locked(reading)
    location = series_location(reading, "readerstudy:wado_uri")
    config = {
        "reading": str(reading.public_id),
        "editable": editable,
        "submitted": reading.status == Reading.Status.SUBMITTED,
        **location.config(),
        "numSlices": series.num_slices,
        "startSlice": reading.last_slice if reading.last_slice is not None else series.num_slices // 2,
        "markScale": study.mark_scale,
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
            "mark_scale": study.mark_scale,
            "num_slices": series.num_slices,
            "workstation_config": config,
            "text_max_length": answer_text_max_length(),
            "metadata_url": location.metadata_url,
        },
    )


@login_required
@require_http_methods(["GET"])
def session_complete(request: HttpRequest, public_id) -> HttpResponse:
    """The page after the last reading of a session: what was done and when the next session opens."""
    reading = reading_for_reader_request(request, public_id)
    session = reading.session
    following = session.participation.sessions.filter(number__gt=session.number).order_by("number").first()
    return render(
        request,
        "readerstudy/session_complete.html",
        {
            "session": session,
            "total": session.readings.count(),
            "done": session.readings.filter(status=Reading.Status.SUBMITTED).count(),
            "next_session": following,
            "next_window": selectors.session_window(following) if following else None,
        },
    )
