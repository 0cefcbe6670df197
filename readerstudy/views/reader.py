"""Pages of a reader: their sessions and the reading of one series.

Nothing here shows a condition label, a case code or a reference: readers are blinded.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from .. import blinding, rendering, roles, selectors
from ..models import Question, Reading
from ..services.readings import AnswerInput, ReadingLocked, answers_save, reading_open, reading_submit


@login_required
def reader_sessions(request: HttpRequest) -> HttpResponse:
    """The reader's sessions, with progress and the readings of each open session."""
    if not roles.has_role(request.user, roles.READER):
        raise PermissionDenied
    sessions = list(selectors.reader_sessions_list(request.user))
    for session in sessions:
        session.is_open = selectors.session_is_open(session)
    return render(request, "readerstudy/reader_sessions.html", {"sessions": sessions})


def reading_for_reader_request(request: HttpRequest, public_id) -> Reading:
    """The reading if it is the user's own in an open session; 404 otherwise (no existence leak)."""
    try:
        reading = selectors.reading_for_reader(public_id)
    except Reading.DoesNotExist:
        raise Http404 from None
    if not roles.can_read(request.user, reading):
        raise Http404
    if not selectors.session_is_open(reading.session):
        raise PermissionDenied("This session is not open.")
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


@login_required
@require_http_methods(["GET", "POST"])
def reading_detail(request: HttpRequest, public_id) -> HttpResponse:
    """One reading: its questions; POST saves the answers and, with ``submit``, submits."""
    reading = reading_for_reader_request(request, public_id)
    study = reading.session.participation.study
    questions = list(study.questions.all())
    if request.method == "POST":
        if reading.status == Reading.Status.SUBMITTED:
            messages.info(request, "This reading was already submitted; nothing was changed.")
            return redirect("readerstudy:reader_sessions")
        try:
            errors = answers_save(
                reading=reading, answers=_parse_answers(request, questions), user=request.user
            )
        except ReadingLocked as exc:
            messages.error(request, str(exc))
            return redirect("readerstudy:reader_sessions")
        for reason in errors.values():
            messages.error(request, reason)
        if "submit" in request.POST and not errors:
            missing = reading_submit(reading=reading, user=request.user)
            if missing:
                for q in missing:
                    messages.error(request, f"Please answer: {q.text}")
            else:
                messages.success(request, f"Case {reading.position} submitted.")
                upcoming = selectors.reading_next_unsubmitted(reading)
                if upcoming is not None:
                    return redirect("readerstudy:reading_detail", public_id=upcoming.public_id)
                return redirect("readerstudy:session_complete", public_id=reading.public_id)
        elif not errors:
            messages.success(request, "Saved.")
        return redirect("readerstudy:reading_detail", public_id=reading.public_id)

    reading = reading_open(reading=reading, user=request.user)
    stored = {a.question_id: a for a in reading.answers.all()}
    previous, following, total = selectors.reading_neighbours(reading)
    items = [{"question": q, "answer": stored.get(q.pk)} for q in questions]
    series = reading.series
    return render(
        request,
        "readerstudy/reading_detail.html",
        {
            "reading": reading,
            "session": reading.session,
            "items": items,
            "total": total,
            "previous": previous,
            "following": following,
            "locked": reading.status == Reading.Status.SUBMITTED,
            "num_slices": series.instances.count(),
            "dicomweb_root": reverse("readerstudy:wado_uri", args=[reading.public_id]).removesuffix("wado"),
            "study_uid": blinding.reading_uid(reading, series.study_instance_uid),
            "series_uid": blinding.reading_uid(reading, series.series_instance_uid),
            "start_slice": reading.last_slice if reading.last_slice is not None else series.num_slices // 2,
        },
    )


@login_required
@require_http_methods(["GET"])
def reading_slice(request: HttpRequest, public_id, index: int) -> HttpResponse:
    """Slice ``index`` of the reading's series as a PNG; optional window ``?c=&w=``."""
    reading = reading_for_reader_request(request, public_id)
    instance = reading.series.instances.filter(slice_index=index).first()
    if instance is None:
        raise Http404
    pixels, window = rendering.slice_pixels(instance.file.path)
    try:
        if "c" in request.GET and "w" in request.GET:
            window = rendering.Window(float(request.GET["c"]), max(float(request.GET["w"]), 1.0))
    except ValueError:
        return HttpResponse("Window centre and width must be numbers.", status=400, content_type="text/plain")
    response = HttpResponse(rendering.render_png(pixels, window), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


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
        },
    )
