"""May this reader touch this reading now? The one rule, composed of four parts:

* ``can_read``: the reader's own reading, an active participation, a study open for reading;
* the session's time window (``design.washout.session_window``: dates and washout);
* ``can_open_in_order``: the study's navigation (free, or sequential);
* ``reading_is_locked``: a submitted reading changes no more unless the study keeps it editable.

``reading_for_reader_request`` applies the first three to every reader request (pages, the
workstation API, DICOMweb); services check ``reading_is_locked`` on the locked row before a write.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from readerstudy.design.washout import session_is_open
from readerstudy.reading.models import Reading, ReadingViewport
from readerstudy.studies.models import Study
from readerstudy.studies.policy import READER, User, has_role


def can_read(user: User, reading: Reading) -> bool:
    """Open a reading and the images of its series: the reader's own, active participation,
    in a study whose reading is open. (Whether the session's time window is open is
    checked separately, so that the reader can be told when it opens.)"""
    if not has_role(user, READER):
        return False
    participation = reading.session.participation
    return (
        participation.active
        and participation.user_id == user.pk
        and participation.study.status == Study.Status.ACTIVE
    )


def can_open_in_order(reading: Reading) -> bool:
    """Whether the study's navigation lets the reader open this reading now.

    Free navigation: any reading of the session. Sequential: the submitted ones (to see
    them) and the first unsubmitted one in the reader's order, nothing ahead of it.
    """
    if reading.session.participation.study.navigation == Study.Navigation.FREE:
        return True
    if reading.status == Reading.Status.SUBMITTED:
        return True
    first_open = (
        reading.session.readings.exclude(status=Reading.Status.SUBMITTED).order_by("position").first()
    )
    return first_open is not None and first_open.pk == reading.pk


def reading_is_locked(reading: Reading) -> bool:
    """Whether the reading can no longer change: it was submitted and the study does not keep
    submitted readings editable (those stay editable while their session is open; the views
    refuse closed sessions)."""
    return (
        reading.status == Reading.Status.SUBMITTED
        and not reading.session.participation.study.submitted_editable
    )


def reading_for_reader_request(request: HttpRequest, public_id, *, in_order: bool = True) -> Reading:
    """The reading if it is the user's own in an open session; 404 otherwise (no existence leak).

    With ``in_order`` (the default), a reading the study's navigation does not allow yet
    (sequential reading) is refused with 403 as well.
    """
    try:
        reading = Reading.objects.select_related("session__participation__study", "series__case__study").get(
            public_id=public_id
        )
    except Reading.DoesNotExist:
        raise Http404 from None
    if not can_read(request.user, reading):
        raise Http404
    if not session_is_open(reading.session):
        raise PermissionDenied("This session is not open (see your reading sessions for when it opens).")
    if in_order and not can_open_in_order(reading):
        raise PermissionDenied("The readings of this session are read in order.")
    return reading


def viewport_for_reader_request(request: HttpRequest, public_id) -> ReadingViewport:
    """A comparative reading's viewport, for its reader only, on the rule of
    ``reading_for_reader_request`` (404 for anyone else: no existence leak)."""
    try:
        viewport = ReadingViewport.objects.select_related("series__case__study", "reading").get(
            public_id=public_id
        )
    except ReadingViewport.DoesNotExist:
        raise Http404 from None
    reading_for_reader_request(request, viewport.reading.public_id)
    return viewport
