"""DICOMweb for readers and reference reviewers: QIDO-RS, WADO-RS and WADO-URI over one series.

Every root answers, under ``{root}`` (the URL ending in ``/``; ``urls.py`` lists them):

* QIDO-RS searches (``readerstudy.dicomweb.qido``): ``studies``, ``studies/{study}/series``,
  ``studies/{study}/instances`` and ``studies/{study}/series/{series}/instances``, in
  ``application/dicom+json`` (406 for a client that accepts neither it nor ``application/json``;
  204 when nothing matches; 400 JSON for a query it cannot take);
* WADO-RS: ``studies/{study}`` and ``studies/{study}/series/{series}`` (every instance),
  ``.../metadata`` of the study and the series, ``.../instances/{sop}`` and its frame ``1``;
* WADO-URI: ``wado``.

Each reading is its own DICOMweb root, ``/dicomweb/r/<reading public id>/``, and only
its reader can use it while the session is open (``reading.policy.reading_for_reader_request``).
Each reviewer's draft of a reference case is a root too, ``/dicomweb/d/<draft public id>/``,
that only the draft's reviewer can use while the set is open
(``references.policy.draft_for_reviewer_request``); the URL patterns pass ``root="draft"``.
Each series on a coordinator's measuring page is a root too, ``/dicomweb/m/<series public
id>/``, for the study's coordinators and statisticians (never its readers:
``measurements.policy.series_for_measurement_request``); the patterns pass ``root="measure"``.
Each viewport of a comparative reading is a root too, ``/dicomweb/v/<viewport public id>/``,
for the reading's reader while the session is open (``reading.policy.viewport_for_reader_request``),
blinded with the viewport's own public id, so that nothing served tells which viewport shows
which condition; the patterns pass ``root="viewport"``.
Coordinators are not blinded, but their instances take the same path as everyone's.
Everything served is blinded (``readerstudy.imaging.blinding``): the study, series and
instance UIDs in URLs and bodies are specific to the reading (or draft). A draft has what
the imaging.blinding needs of a reading (``public_id`` and ``series``), so the same functions serve it.
References: DICOM PS3.18 (Web Services), sections 10.4 (WADO-RS), 10.6 (QIDO-RS) and
9 (URI service).
"""

import pydicom
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from readerstudy.dicomweb import qido
from readerstudy.imaging import blinding
from readerstudy.imaging.first_image import first_image_png
from readerstudy.measurements.policy import MeasurementViewing, series_for_measurement_request
from readerstudy.reading.models import Reading, ReadingViewport
from readerstudy.reading.policy import reading_for_reader_request, viewport_for_reader_request
from readerstudy.references.models import ReferenceStandard
from readerstudy.references.policy import draft_for_reviewer_request

BOUNDARY = "readerstudy-boundary"
DICOM_JSON = qido.DICOM_JSON
#: What a DICOMweb root is: a reading (readers), a reference draft (reviewers), a series on
#: the measuring page (coordinators) or a viewport of a comparative reading (readers).
Root = Reading | ReferenceStandard | MeasurementViewing | ReadingViewport


def _root(request: HttpRequest, public_id, root: str) -> Root:
    if root == "draft":
        return draft_for_reviewer_request(request, public_id)
    if root == "viewport":
        return viewport_for_reader_request(request, public_id)
    if root == "measure":
        return series_for_measurement_request(request, public_id)
    reading = reading_for_reader_request(request, public_id)
    if reading.session.phase.is_comparative:  # its series are served per viewport only
        raise Http404
    return reading


#: The WADO-URI URL of each kind of root: the root's own URL is it without its last segment.
_WADO_URI_NAMES = {
    "reading": "readerstudy:wado_uri",
    "draft": "readerstudy:draft_wado_uri",
    "measure": "readerstudy:measure_wado_uri",
    "viewport": "readerstudy:viewport_wado_uri",
}


def _viewing(request: HttpRequest, public_id, root: str) -> Root:
    """The root's reading (draft, measured series) if the user may use it; 404 (403) otherwise."""
    reading = _root(request, public_id, root)
    if reading.series is None:  # a draft without a series (its policy refuses it already)
        raise Http404
    return reading


def _study_of(request: HttpRequest, public_id, study_uid: str, root: str) -> Root:
    reading = _viewing(request, public_id, root)
    assert reading.series is not None
    if study_uid != blinding.reading_uid(reading, reading.series.study_instance_uid):
        raise Http404
    return reading


def _series_of(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, root: str = "reading"
) -> Root:
    reading = _study_of(request, public_id, study_uid, root)
    assert reading.series is not None
    if series_uid != blinding.reading_uid(reading, reading.series.series_instance_uid):
        raise Http404
    return reading


def _instance_file(reading: Root, sop_uid: str) -> str:
    """Storage name of the reading's (or draft's) instance ``sop_uid`` (a reading-specific UID)."""
    name = blinding.reading_instance_files(reading).get(sop_uid)
    if name is None:
        raise Http404
    return name


def _multipart(parts: list[bytes], part_type: str) -> HttpResponse:
    body = (
        b"".join(
            b"--"
            + BOUNDARY.encode()
            + b"\r\nContent-Type: "
            + part_type.encode()
            + b"\r\n\r\n"
            + part
            + b"\r\n"
            for part in parts
        )
        + b"--"
        + BOUNDARY.encode()
        + b"--\r\n"
    )
    response = HttpResponse(body, content_type=f'multipart/related; type="{part_type}"; boundary={BOUNDARY}')
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _search(request: HttpRequest, reading: Root, root: str, level: qido.Level) -> HttpResponse:
    """A QIDO-RS answer over the root's records at ``level`` (the caller authorised the request)."""
    qido.negotiate(request)
    query = qido.parse_query(request.GET)
    root_url = request.build_absolute_uri(reverse(_WADO_URI_NAMES[root], args=[reading.public_id]))
    results, remaining = qido.search_root(reading, root_url.removesuffix("wado"), level, query)
    if not results:  # PS3.18 8.3.4.4.1: no match is 204, without a body
        return HttpResponse(status=204)
    response = JsonResponse(results, safe=False, content_type=DICOM_JSON)
    if remaining:
        response["Warning"] = (
            f'299 {request.get_host()} "There are {remaining} additional results that can be requested"'
        )
    return response


@login_required
@require_GET
@gzip_page
def search_studies(request: HttpRequest, public_id, root: str = "reading") -> HttpResponse:
    """QIDO-RS ``{root}/studies``: the root's one study (if it matches)."""
    return _search(request, _viewing(request, public_id, root), root, qido.Level.STUDY)


@login_required
@require_GET
@gzip_page
def search_series(request: HttpRequest, public_id, study_uid: str, root: str = "reading") -> HttpResponse:
    """QIDO-RS ``{root}/studies/{study}/series``: the root's one series (if it matches)."""
    return _search(request, _study_of(request, public_id, study_uid, root), root, qido.Level.SERIES)


@login_required
@require_GET
@gzip_page
def study_instances(request: HttpRequest, public_id, study_uid: str, root: str = "reading") -> HttpResponse:
    """QIDO-RS ``{root}/studies/{study}/instances``: the matching instances of the root's series."""
    return _search(request, _study_of(request, public_id, study_uid, root), root, qido.Level.INSTANCE)


@login_required
@require_GET
@gzip_page
def series_instances(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, root: str = "reading"
) -> HttpResponse:
    """QIDO-RS ``{root}/studies/{study}/series/{series}/instances``: matching instances, in slice order."""
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    return _search(request, reading, root, qido.Level.INSTANCE)


@login_required
@require_GET
@gzip_page
def series_metadata(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, root: str = "reading"
) -> HttpResponse:
    """WADO-RS metadata: every blinded instance as DICOM JSON, pixel data left out.

    Gzipped when the client accepts it (a 160-slice series' JSON shrinks about tenfold).
    """
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    return HttpResponse(blinding.series_metadata_json(reading), content_type=DICOM_JSON)


@login_required
@require_GET
@gzip_page
def study_metadata(request: HttpRequest, public_id, study_uid: str, root: str = "reading") -> HttpResponse:
    """WADO-RS study metadata: the root's study has the one series, so its series' metadata."""
    reading = _study_of(request, public_id, study_uid, root)
    return HttpResponse(blinding.series_metadata_json(reading), content_type=DICOM_JSON)


@login_required
@require_GET
def retrieve_study(request: HttpRequest, public_id, study_uid: str, root: str = "reading") -> HttpResponse:
    """WADO-RS study (the RetrieveURL of the study search): every blinded instance of its series."""
    reading = _study_of(request, public_id, study_uid, root)
    return _every_instance(reading)


@login_required
@require_GET
def retrieve_series(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, root: str = "reading"
) -> HttpResponse:
    """WADO-RS series (the RetrieveURL of the series search): every blinded instance, in slice order."""
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    return _every_instance(reading)


def _every_instance(reading: Root) -> HttpResponse:
    names = blinding.reading_instance_files(reading).values()
    return _multipart([blinding.blinded_instance_bytes(name, reading) for name in names], "application/dicom")


@login_required
@require_GET
def instance(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, sop_uid: str, root: str = "reading"
) -> HttpResponse:
    """WADO-RS instance: the blinded Part 10 file in a multipart/related response."""
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    return _multipart(
        [blinding.blinded_instance_bytes(_instance_file(reading, sop_uid), reading)], "application/dicom"
    )


@login_required
@require_GET
def frames(
    request: HttpRequest,
    public_id,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    frames: str,
    root: str = "reading",
) -> HttpResponse:
    """WADO-RS frames: the uncompressed pixel data of frame 1 (instances are single-frame)."""
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    span = next((s for s in blinding.reading_frame_spans(reading) if s.sop_uid == sop_uid), None)
    if span is None:
        raise Http404
    if frames.strip() != "1":
        raise Http404("Instances are single-frame: only frame 1 exists.")
    return _multipart([_pixel_data(span)], "application/octet-stream")


def _pixel_data(span: blinding.FrameSpan) -> bytes:
    """The instance's (uncompressed) pixel data: read at its stored offset, or parsed from the file."""
    with default_storage.open(span.name, "rb") as handle:
        if span.offset is not None and span.length is not None:
            handle.seek(span.offset)
            return handle.read(span.length)
        ds = pydicom.dcmread(handle)
    return ds.PixelData


#: The most slices one bulk request may ask for.
BULK_MAX_SLICES = 64


def _slice_ranges(text: str, count: int) -> list[int]:
    """Slice indices of ``"a-b,c,d-e"`` (0-based, inclusive, in the order given); ValueError if bad."""
    indices: list[int] = []
    for part in text.split(","):
        first_text, _, last_text = part.partition("-")
        if not first_text.isdigit() or (last_text and not last_text.isdigit()):
            raise ValueError(f"{part!r} is not a slice index or a range a-b")
        first, last = int(first_text), int(last_text or first_text)
        if first > last or last >= count:
            raise ValueError(f"{part!r} is outside the series' slices 0-{count - 1}")
        indices.extend(range(first, last + 1))
        if len(indices) > BULK_MAX_SLICES:
            raise ValueError(f"at most {BULK_MAX_SLICES} slices per request")
    if len(set(indices)) != len(indices):
        raise ValueError("a slice is asked for twice")
    return indices


@login_required
@require_GET
def bulk_frames(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, slices: str, root: str = "reading"
) -> HttpResponse:
    """The pixel data of several slices in one multipart/related response (PS3.18 8.7.3.3 frames).

    ``{series}/slices/{ranges}``: ``ranges`` is ``a-b`` or a comma-separated list of slice
    indices and ranges (0-based, inclusive), at most ``BULK_MAX_SLICES`` slices; a part per
    slice in that order, each with its ``Content-Location`` (the slice's WADO-RS frame URL) and
    ``Content-Length``. Every part's bytes start at a multiple of 8 in the body (padded part
    headers), so a browser can view each frame in the one response buffer without copying it.
    """
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    spans = blinding.reading_frame_spans(reading)
    try:
        indices = _slice_ranges(slices, len(spans))
    except ValueError as exc:
        return HttpResponse(f"Bad slice range: {exc}.", status=400, content_type="text/plain")
    series_url = request.path.rsplit("/slices/", 1)[0]
    chunks: list[bytes] = []
    size = 0
    for index in indices:
        span = spans[index]
        data = _pixel_data(span)
        head = (
            f"--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Location: {series_url}/instances/{span.sop_uid}/frames/1\r\n"
            f"Content-Length: {len(data)}\r\n"
        )
        pad = -(size + len(head) + len("X-Pad: \r\n\r\n")) % 8
        head += f"X-Pad: {'0' * pad}\r\n\r\n"
        chunks += [head.encode(), data, b"\r\n"]
        size += len(head) + len(data) + 2
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    response = HttpResponse(
        b"".join(chunks),
        content_type=f'multipart/related; type="application/octet-stream"; boundary={BOUNDARY}',
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def first_image(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, root: str = "reading"
) -> HttpResponse:
    """The series' first image (``imaging.first_image``): a PNG of its start slice; 404 if it has none."""
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    assert reading.series is not None
    png = first_image_png(reading.series)
    if png is None:
        raise Http404("This series has no first image.")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def wado_uri(request: HttpRequest, public_id, root: str = "reading") -> HttpResponse:
    """WADO-URI (PS3.18 section 9): ``?requestType=WADO&studyUID=&seriesUID=&objectUID=``."""
    params = request.GET
    if params.get("requestType") != "WADO":
        return HttpResponse("requestType must be WADO.", status=400, content_type="text/plain")
    if params.get("contentType", "application/dicom") != "application/dicom":
        return HttpResponse(
            "Only contentType=application/dicom is served.", status=406, content_type="text/plain"
        )
    reading = _series_of(request, public_id, params.get("studyUID", ""), params.get("seriesUID", ""), root)
    body = blinding.blinded_instance_bytes(_instance_file(reading, params.get("objectUID", "")), reading)
    response = HttpResponse(body, content_type="application/dicom")
    response["Cache-Control"] = "private, max-age=3600"
    return response
