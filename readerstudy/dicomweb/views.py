"""DICOMweb for readers and reference reviewers: QIDO-RS, WADO-RS and WADO-URI over one series.

Each reading is its own DICOMweb root, ``/dicomweb/r/<reading public id>/``, and only
its reader can use it while the session is open (``reading.policy.reading_for_reader_request``).
Each reviewer's draft of a reference case is a root too, ``/dicomweb/d/<draft public id>/``,
that only the draft's reviewer can use while the set is open
(``references.policy.draft_for_reviewer_request``); the URL patterns pass ``root="draft"``.
Each series on a coordinator's measuring page is a root too, ``/dicomweb/m/<series public
id>/``, for the study's coordinators and statisticians (never its readers:
``measurements.policy.series_for_measurement_request``); the patterns pass ``root="measure"``.
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
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from readerstudy.imaging import blinding
from readerstudy.measurements.policy import MeasurementViewing, series_for_measurement_request
from readerstudy.reading.models import Reading
from readerstudy.reading.policy import reading_for_reader_request
from readerstudy.references.models import ReferenceStandard
from readerstudy.references.policy import draft_for_reviewer_request

BOUNDARY = "readerstudy-boundary"
DICOM_JSON = "application/dicom+json"
#: What a DICOMweb root is: a reading (readers), a reference draft (reviewers) or a series on
#: the measuring page (coordinators).
Root = Reading | ReferenceStandard | MeasurementViewing


def _root(request: HttpRequest, public_id, root: str) -> Root:
    if root == "draft":
        return draft_for_reviewer_request(request, public_id)
    if root == "measure":
        return series_for_measurement_request(request, public_id)
    return reading_for_reader_request(request, public_id)


def _series_of(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, root: str = "reading"
) -> Root:
    reading = _root(request, public_id, root)
    series = reading.series
    if series is None:  # a draft without a series (its policy refuses it already)
        raise Http404
    if study_uid != blinding.reading_uid(
        reading, series.study_instance_uid
    ) or series_uid != blinding.reading_uid(reading, series.series_instance_uid):
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


@login_required
@require_GET
@gzip_page
def series_instances(
    request: HttpRequest, public_id, study_uid: str, series_uid: str, root: str = "reading"
) -> HttpResponse:
    """QIDO-RS: the series' instances in slice order (SOP UIDs and instance numbers)."""
    reading = _series_of(request, public_id, study_uid, series_uid, root)
    results = []
    for position, sop_uid in enumerate(blinding.reading_instance_files(reading), start=1):
        results.append(
            {
                "0020000D": {"vr": "UI", "Value": [study_uid]},
                "0020000E": {"vr": "UI", "Value": [series_uid]},
                "00080018": {"vr": "UI", "Value": [sop_uid]},
                "00080016": {"vr": "UI", "Value": [str(pydicom.uid.MRImageStorage)]},
                "00200013": {"vr": "IS", "Value": [position]},
            }
        )
    return JsonResponse(results, safe=False, content_type=DICOM_JSON)


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
    return JsonResponse(blinding.series_metadata_blinded(reading), safe=False, content_type=DICOM_JSON)


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
    name = _instance_file(reading, sop_uid)
    if frames.strip() != "1":
        raise Http404("Instances are single-frame: only frame 1 exists.")
    with default_storage.open(name, "rb") as handle:
        ds = pydicom.dcmread(handle)
    return _multipart([ds.PixelData], "application/octet-stream")


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
