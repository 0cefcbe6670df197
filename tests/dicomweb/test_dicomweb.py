"""DICOMweb for readers: authorised per request, and blind.

The blinding test fetches everything a reader's browser receives for a case read under
two conditions (HTML, PNG, DICOM JSON, DICOM files and frames) and checks that no
condition label or description, patient identifier, case code or stored/original UID
appears in any of it, and that the two conditions share no UID.
"""

import gzip
import io
import json
import re
from datetime import timedelta

import pydicom
import pytest
from django.core.files.storage import default_storage
from django.urls import resolve, reverse
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.dicomweb import urls as dicomweb_urls
from readerstudy.imaging import blinding
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.models import ImageSeries, SourceIdentity
from readerstudy.reading.models import Reading, ReadingViewport
from readerstudy.studies.models import ReadingPhase
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.django_db
DESCRIPTIONS = {"HR-secret-label": "T1 MPRAGE 1mm ORIGINAL", "SR-secret-label": "T1 SR-net v2 DERIVED"}


@pytest.fixture
def two_conditions(tmp_path, study):
    """One case imported under two conditions; one reader reads each in its own session.

    Session 1 was completed longer ago than the washout, so session 2 is open as well.
    """
    conditions = [f.ConditionFactory(study=study, label=label) for label in DESCRIPTIONS]
    for condition in conditions:
        dicom_files.write_series(
            tmp_path / condition.label,
            slices=4,
            rows=16,
            columns=16,
            description=DESCRIPTIONS[condition.label],
        )
    report = dicom_import(
        study=study,
        source=tmp_path,
        manifest=[{"case": "KNEE-CASE-0042", "condition": c.label, "folder": c.label} for c in conditions],
    )
    assert report.ok, report.summary()
    participation = f.ReaderParticipationFactory(study=study, user__username="blindreader")
    readings = []
    for number, condition in enumerate(conditions, start=1):
        completed = timezone.now() - timedelta(days=study.washout_days + 1) if number == 1 else None
        session = f.ReadingSessionFactory(participation=participation, number=number, completed_at=completed)
        readings.append(f.ReadingFactory(session=session, series=condition.series.get(), position=1))
    return participation.user, readings


def dicomweb_urls_names() -> list[str]:
    return [pattern.name for pattern in dicomweb_urls.urlpatterns if pattern.name]


def root(reading):
    """The DICOMweb root of a reading (``r/``) or of a comparative reading's viewport (``v/``)."""
    letter = "v" if isinstance(reading, ReadingViewport) else "r"
    return f"/dicomweb/{letter}/{reading.public_id}"


def series_url(reading):
    study_uid = blinding.reading_uid(reading, reading.series.study_instance_uid)
    series_uid = blinding.reading_uid(reading, reading.series.series_instance_uid)
    return f"{root(reading)}/studies/{study_uid}/series/{series_uid}"


def multipart_parts(response) -> list[bytes]:
    boundary = re.search(r"boundary=([^;]+)", response["Content-Type"]).group(1).encode()
    chunks = response.content.split(b"--" + boundary)
    return [chunk.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for chunk in chunks[1:-1]]


#: Every URL of a reading's DICOMweb root (the crawl below must reach each of them).
READING_ROOT_URLS = {
    name for name in dicomweb_urls_names() if not name.startswith(("draft_", "measure_", "viewport_"))
}
#: Every URL of a comparative reading's viewport root.
VIEWPORT_ROOT_URLS = {name for name in dicomweb_urls_names() if name.startswith("viewport_")}


def everything_the_browser_gets(client, reading) -> tuple[list[bytes], list[pydicom.Dataset]]:
    """What the reader's pages and the reading's DICOMweb root serve, found by following the
    pages and the root's own answers: QIDO-RS searches (every attribute, ``includefield=all``),
    their RetrieveURLs, WADO-RS metadata, instances and frames, WADO-URI."""
    bodies: list[bytes] = []
    page = client.get(reverse("readerstudy:reading_detail", args=[reading.public_id]))
    assert page.status_code == 200
    bodies.append(page.content)
    bodies.append(client.get(reverse("readerstudy:reader_sessions")).content)
    state = client.get(reverse("readerstudy:api_reading_state", args=[reading.public_id]))
    assert state.status_code == 200
    bodies.append(state.content)
    html = page.content.decode()
    assert blinding.reading_uid(reading, reading.series.series_instance_uid) in html
    # The page's first image is the root's PNG of the start slice (crawled below)
    [first_image] = re.findall(r'<img id="first-image"[^>]* src="([^"]+)"', html)
    assert first_image == f"{series_url(reading)}/first-image.png"
    root_bodies, datasets = crawl_root(client, reading, READING_ROOT_URLS)
    return bodies + root_bodies, datasets


def crawl_root(client, reading, names) -> tuple[list[bytes], list[pydicom.Dataset]]:
    """Everything one DICOMweb root serves (a reading's, or a viewport's), found by following its
    own answers; asserts that the crawl reached every URL in ``names``."""
    bodies, datasets = [], []
    reached: set[str] = set()

    def get(url, params=None):
        path = url.removeprefix("http://testserver")
        response = client.get(path, params)
        assert response.status_code == 200, (path, response.status_code)
        reached.add(resolve(path.split("?")[0]).url_name)
        bodies.append(response.content)
        return response

    everything = {"includefield": "all"}
    [study] = get(f"{root(reading)}/studies", everything).json()
    study_uid = study["0020000D"]["Value"][0]
    study_url = f"{root(reading)}/studies/{study_uid}"
    [series] = get(f"{study_url}/series", everything).json()
    series_uid = series["0020000E"]["Value"][0]
    assert f"{study_url}/series/{series_uid}" == series_url(reading)
    get(f"{study_url}/instances", everything)
    get(f"{study_url}/metadata")
    for listing in (study, series):
        for part in multipart_parts(get(listing["00081190"]["Value"][0])):
            datasets.append(pydicom.dcmread(io.BytesIO(part)))
    # The first image (a PNG of the start slice) and the bulk pixel data of every slice
    png = get(f"{series_url(reading)}/first-image.png")
    assert png["Content-Type"] == "image/png"
    bulk = multipart_parts(get(f"{series_url(reading)}/slices/0-{reading.series.num_slices - 1}"))
    bodies.extend(bulk)
    qido = get(series_url(reading) + "/instances")
    assert qido["Content-Type"] == "application/dicom+json"
    get(series_url(reading) + "/instances", everything)
    get(series_url(reading) + "/metadata")
    for entry in qido.json():
        sop_uid = entry["00080018"]["Value"][0]
        wado_rs = get(entry["00081190"]["Value"][0])
        assert wado_rs.request["PATH_INFO"] == f"{series_url(reading)}/instances/{sop_uid}"
        [part] = multipart_parts(wado_rs)
        datasets.append(pydicom.dcmread(io.BytesIO(part)))
        bodies.append(part)
        frame = get(f"{series_url(reading)}/instances/{sop_uid}/frames/1")
        bodies.append(multipart_parts(frame)[0])
        assert multipart_parts(frame)[0] in bulk
        uri = get(
            f"{root(reading)}/wado",
            {"requestType": "WADO", "studyUID": study_uid, "seriesUID": series_uid, "objectUID": sop_uid},
        )
        assert uri["Content-Type"] == "application/dicom"
        assert uri.content == part
    assert reached == names, f"the crawl misses {names - reached}"
    return bodies, datasets


def test_a_reader_receives_nothing_that_unblinds(client, study, two_conditions):
    user, readings = two_conditions
    client.force_login(user)
    secrets = [
        *DESCRIPTIONS,
        *DESCRIPTIONS.values(),
        dicom_files.PATIENT_NAME,
        dicom_files.PATIENT_ID,
        dicom_files.INSTITUTION,
        dicom_files.ACCESSION,
        dicom_files.PRIVATE_VALUE,
        "KNEE-CASE-0042",
        *(c.code for c in study.conditions.all()),
    ]
    for source in SourceIdentity.objects.filter(series__case__study=study):
        secrets += [source.study_instance_uid, source.series_instance_uid]
    uids_seen = []
    for reading in readings:
        series = reading.series
        secrets += [series.study_instance_uid, series.series_instance_uid]
        secrets += list(series.instances.values_list("sop_instance_uid", flat=True))
        bodies, datasets = everything_the_browser_gets(client, reading)
        for body in bodies:
            for secret in secrets:
                assert secret.encode() not in body, f"{secret!r} reached the reader"
        for ds in datasets:
            assert "SeriesDescription" not in ds and "Manufacturer" not in ds
            assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY"]
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            assert ds.pixel_array.shape == (16, 16)
        uids_seen.append(
            {
                uid
                for ds in datasets
                for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID)
            }
            | {ds.SOPInstanceUID for ds in datasets}
            | {str(ds.PatientID) for ds in datasets}
        )
    assert not uids_seen[0] & uids_seen[1], "two conditions of one case can be linked"


def test_dicomweb_is_authorised_per_request(client, study, coordinator, statistician, two_conditions):
    user, (first, second) = two_conditions
    url = series_url(first) + "/instances"
    other = f.ReaderParticipationFactory(study=study, user__username="other-reader").user
    for outsider in (other, coordinator, statistician):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
        assert client.get(series_url(first) + "/metadata").status_code == 404
    client.force_login(user)
    assert client.get(url).status_code == 200
    # Another reading's UIDs do not open this reading's root.
    assert client.get(f"{root(first)}/studies/x/series/y/instances").status_code == 404
    session = second.session
    session.opens_at = timezone.now() + timedelta(days=7)
    session.save()
    assert client.get(series_url(second) + "/instances").status_code == 403
    client.logout()
    assert client.get(url).status_code == 302


def test_bad_wado_requests_are_refused(client, two_conditions):
    user, (reading, _) = two_conditions
    client.force_login(user)
    assert client.get(f"{root(reading)}/wado", {"requestType": "NOPE"}).status_code == 400
    assert (
        client.get(f"{root(reading)}/wado", {"requestType": "WADO", "contentType": "image/jpeg"}).status_code
        == 406
    )
    sop = client.get(series_url(reading) + "/instances").json()[0]["00080018"]["Value"][0]
    assert client.get(f"{series_url(reading)}/instances/{sop}/frames/2").status_code == 404
    assert client.get(f"{series_url(reading)}/instances/1.2.3").status_code == 404


def test_series_metadata_is_every_header_blinded_for_the_reading(client, two_conditions):
    """The stored, reading-independent metadata plus the per-reading remap equals blinding each header."""
    user, readings = two_conditions
    # Give one stored header nested UIDs and a nested patient name, as real files have.
    stored = readings[0].series.instances.order_by("slice_index").first()
    with stored.file.open("rb") as handle:
        ds = pydicom.dcmread(handle)
    reference, patient = Dataset(), Dataset()
    reference.ReferencedSOPClassUID = pydicom.uid.MRImageStorage
    reference.ReferencedSOPInstanceUID = "2.25.123456789"
    patient.PatientName = "Nested^Name"
    patient.PatientID = "NESTED-ID"
    ds.ReferencedInstanceSequence = Sequence([reference])
    ds.SourcePatientGroupIdentificationSequence = Sequence([patient])
    with default_storage.open(stored.file.name, "wb") as handle:
        ds.save_as(handle, enforce_file_format=True)
    default_storage.delete(blinding.series_metadata_path(readings[0].series))

    client.force_login(user)
    for reading in readings:
        served = client.get(series_url(reading) + "/metadata").json()
        expected = []
        for instance in reading.series.instances.order_by("slice_index"):
            with instance.file.open("rb") as handle:
                header = pydicom.dcmread(handle, stop_before_pixels=True)
            expected.append(blinding.blind_dataset(header, reading).to_json_dict())
        assert served == expected
        assert default_storage.exists(blinding.series_metadata_path(reading.series))
    nested = client.get(series_url(readings[0]) + "/metadata").json()[0]
    uid = nested["0008114A"]["Value"][0]["00081155"]["Value"][0]
    assert uid == blinding.reading_uid(readings[0], "2.25.123456789")
    assert nested["00100026"]["Value"][0]["00100010"]["Value"] == [
        {"Alphabetic": blinding.reading_pseudonym(readings[0])}
    ]


def test_series_metadata_is_gzipped_for_clients_that_accept_it(client, two_conditions):
    user, (reading, _) = two_conditions
    client.force_login(user)
    plain = client.get(series_url(reading) + "/metadata")
    zipped = client.get(series_url(reading) + "/metadata", HTTP_ACCEPT_ENCODING="gzip")
    assert zipped["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.content)) == plain.json()


@pytest.fixture
def comparative(tmp_path, study, coordinator):
    """One case imported under two conditions, read by one reader in a comparative phase (the
    schedule made the reading and placed the conditions as A and B)."""
    conditions = [
        f.ConditionFactory(study=study, label=label, order=n) for n, label in enumerate(DESCRIPTIONS)
    ]
    for condition in conditions:
        dicom_files.write_series(
            tmp_path / condition.label,
            slices=4,
            rows=16,
            columns=16,
            description=DESCRIPTIONS[condition.label],
        )
    report = dicom_import(
        study=study,
        source=tmp_path,
        manifest=[{"case": "KNEE-CASE-0042", "condition": c.label, "folder": c.label} for c in conditions],
    )
    assert report.ok, report.summary()
    phase = study.first_phase()
    ReadingPhase.objects.filter(pk=phase.pk).update(layout=ReadingPhase.Layout.COMPARATIVE, takes_marks=False)
    f.QuestionFactory(study=study, phase=phase, key="preferred", kind="preference", scale=[])
    participation = f.ReaderParticipationFactory(study=study, user__username="blindreader")
    draft = schedule_draft_create(study=study, actor=coordinator, seed=11)
    assert draft.problems == []
    schedule_activate(schedule=draft, actor=coordinator)
    return participation.user, Reading.objects.get(session__participation=participation)


def test_a_comparative_reading_tells_no_one_which_viewport_holds_which_condition(client, study, comparative):
    user, reading = comparative
    client.force_login(user)
    viewports = list(reading.viewports.order_by("slot"))
    assert [(v.label, v.is_reference) for v in viewports] == [("A", False), ("B", False)]
    secrets = [
        *DESCRIPTIONS,
        *DESCRIPTIONS.values(),
        dicom_files.PATIENT_NAME,
        dicom_files.PATIENT_ID,
        dicom_files.INSTITUTION,
        dicom_files.ACCESSION,
        dicom_files.PRIVATE_VALUE,
        "KNEE-CASE-0042",
        *(c.code for c in study.conditions.all()),
        *(str(s.public_id) for s in ImageSeries.objects.filter(case__study=study)),
    ]
    for source in SourceIdentity.objects.filter(series__case__study=study):
        secrets += [source.study_instance_uid, source.series_instance_uid]
    for series in ImageSeries.objects.filter(case__study=study):
        secrets += [series.study_instance_uid, series.series_instance_uid]
        secrets += list(series.instances.values_list("sop_instance_uid", flat=True))
        # what the single-series root of the reading would have served for it
        secrets.append(blinding.reading_uid(reading, series.series_instance_uid))

    page = client.get(reverse("readerstudy:reading_detail", args=[reading.public_id]))
    assert page.status_code == 200
    html = page.content.decode()
    config = json.loads(
        re.search(r'id="workstation-config" type="application/json">(.*?)</script>', html).group(1)
    )
    assert config["layout"] == "comparative" and "seriesUid" not in config
    assert [v["label"] for v in config["viewports"]] == ["A", "B"]
    for shown, viewport in zip(config["viewports"], viewports, strict=True):
        assert set(shown) == {
            "label",
            "isReference",
            "dicomwebRoot",
            "studyUid",
            "seriesUid",
            "numSlices",
            "startSlice",
        }
        assert shown["dicomwebRoot"] == root(viewport) + "/"
        assert shown["seriesUid"] == blinding.reading_uid(viewport, viewport.series.series_instance_uid)
    # The reading's own single-series root serves nothing of a comparative reading.
    assert client.get(f"{root(reading)}/studies").status_code == 404

    bodies = [page.content, client.get(reverse("readerstudy:reader_sessions")).content]
    bodies.append(client.get(reverse("readerstudy:api_reading_state", args=[reading.public_id])).content)
    uids_seen = []
    for viewport in viewports:
        served, datasets = crawl_root(client, viewport, VIEWPORT_ROOT_URLS)
        bodies += served
        for ds in datasets:
            assert "SeriesDescription" not in ds and "Manufacturer" not in ds
            assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY"]
        uids_seen.append(
            {
                uid
                for ds in datasets
                for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID)
            }
            | {ds.SOPInstanceUID for ds in datasets}
            | {str(ds.PatientID) for ds in datasets}
        )
    for body in bodies:
        for secret in secrets:
            assert secret.encode() not in body, f"{secret!r} reached the reader"
    assert not uids_seen[0] & uids_seen[1], "the two viewports can be linked to each other"

    other = f.ReaderParticipationFactory(study=study, user__username="other-reader").user
    client.force_login(other)
    assert client.get(series_url(viewports[0]) + "/metadata").status_code == 404
