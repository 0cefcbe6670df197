"""QIDO-RS searches of a DICOMweb root (PS3.18 10.6): what they answer, matching, includefield,
paging, refusals; and the roots as a standard client (``dicomweb-client``) uses them against a
live server, for a reader, a reference reviewer and the measuring page."""

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from django.test import Client

from readerstudy.imaging import blinding

pytestmark = pytest.mark.django_db

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
PATIENT_NAME, PATIENT_ID, MODALITY = "00100010", "00100020", "00080060"
RETRIEVE_URL, INSTANCE_NUMBER, PIXEL_SPACING = "00081190", "00200013", "00280030"


def value(dataset, tag):
    return dataset[tag]["Value"][0]


def search_paths(root) -> dict[str, str]:
    return {
        "studies": f"{root.path}studies",
        "series": f"{root.path}studies/{root.study_uid}/series",
        "study_instances": f"{root.path}studies/{root.study_uid}/instances",
        "series_instances": f"{root.series_path}/instances",
    }


@pytest.fixture(params=["reading", "draft", "measure"])
def root(request, roots):
    return roots[request.param]


def test_searches_answer_the_roots_one_series_blinded(client, root):
    client.force_login(root.owner)
    metadata = blinding.series_metadata_blinded(root.viewing)
    paths = search_paths(root)

    studies = client.get(paths["studies"])
    assert studies.status_code == 200 and studies["Content-Type"] == "application/dicom+json"
    [study] = studies.json()
    assert value(study, STUDY_UID) == root.study_uid
    assert study[PATIENT_ID] == metadata[0][PATIENT_ID]
    assert value(study, PATIENT_ID) == blinding.reading_pseudonym(root.viewing)
    assert study[PATIENT_NAME] == metadata[0][PATIENT_NAME]
    assert study["00080061"] == {"vr": "CS", "Value": ["MR"]}  # ModalitiesInStudy
    assert value(study, "00201206") == 1 and value(study, "00201208") == 4  # series, instances
    assert study["00080020"] == {"vr": "DA"} and study["00080050"] == {"vr": "SH"}  # blinded: empty
    assert value(study, RETRIEVE_URL) == f"http://testserver{root.path}studies/{root.study_uid}"
    assert list(study) == sorted(study)

    [series] = client.get(paths["series"]).json()
    assert (value(series, STUDY_UID), value(series, SERIES_UID)) == (root.study_uid, root.series_uid)
    assert value(series, MODALITY) == "MR" and value(series, "00200011") == 1  # SeriesNumber (blinded)
    assert value(series, "00201209") == 4
    assert series["0008103E"] == {"vr": "LO"}  # SeriesDescription: removed by the blinding
    assert value(series, RETRIEVE_URL) == f"http://testserver{root.series_path}"

    for name in ("study_instances", "series_instances"):
        instances = client.get(paths[name]).json()
        assert [value(i, SOP_UID) for i in instances] == [value(m, SOP_UID) for m in metadata]
        assert list(blinding.reading_instance_files(root.viewing)) == [value(i, SOP_UID) for i in instances]
        for served, header in zip(instances, metadata, strict=True):
            for tag in ("00080016", INSTANCE_NUMBER, "00280010", "00280011", "00280100"):
                assert served[tag] == header[tag]
            assert value(served, "00280008") == 1  # NumberOfFrames
            assert value(served, SERIES_UID) == root.series_uid
            assert value(served, RETRIEVE_URL).endswith(
                f"{root.series_path}/instances/{value(served, SOP_UID)}"
            )
            assert PIXEL_SPACING not in served

    # Every RetrieveURL is served (WADO-RS study, series and instance).
    for url in (value(study, RETRIEVE_URL), value(series, RETRIEVE_URL), value(instances[0], RETRIEVE_URL)):
        response = client.get(url.removeprefix("http://testserver"))
        assert response.status_code == 200 and response["Content-Type"].startswith("multipart/related")
    study_metadata = client.get(f"{root.path}studies/{root.study_uid}/metadata")
    assert study_metadata.json() == metadata


def test_matching_keys_by_keyword_or_tag(client, roots):
    root = roots["reading"]
    client.force_login(root.owner)
    paths = search_paths(root)
    pseudonym = blinding.reading_pseudonym(root.viewing)
    instances = client.get(paths["series_instances"]).json()
    sops = [value(i, SOP_UID) for i in instances]

    def count(path, **params):
        response = client.get(paths[path], params)
        assert response.status_code in (200, 204), response.content
        return 0 if response.status_code == 204 else len(response.json())

    assert count("studies", StudyInstanceUID=root.study_uid) == 1
    assert count("studies", **{"0020000D": root.study_uid}) == 1
    assert count("studies", StudyInstanceUID=f"1.2.3,{root.study_uid}") == 1  # UID list matching
    assert count("studies", StudyInstanceUID=root.viewing.series.study_instance_uid) == 0  # the stored UID
    assert count("studies", PatientID=pseudonym) == 1
    assert count("studies", PatientID="R-*") == 1 and count("studies", PatientID="QIDO*") == 0
    assert count("studies", PatientName=pseudonym.lower(), fuzzymatching="true") == 1
    assert count("studies", PatientID="") == 1  # universal matching
    assert count("studies", ModalitiesInStudy="CT,MR") == 1 and count("studies", ModalitiesInStudy="CT") == 0
    assert count("studies", StudyDate="20200101-") == 0  # dates are blinded away
    assert count("series", Modality="MR") == 1 and count("series", Modality="CT") == 0
    assert count("series", SeriesInstanceUID=root.series_uid) == 1
    assert count("series", SeriesNumber="1") == 1
    assert count("series_instances", SOPInstanceUID=sops[2]) == 1
    assert count("study_instances", SOPInstanceUID=f"{sops[0]}\\{sops[3]}") == 2
    assert count("series_instances", InstanceNumber=value(instances[1], INSTANCE_NUMBER)) == 1
    assert count("series_instances", SeriesInstanceUID=root.series_uid) == 4

    # Empty results are 204 without a body (PS3.18 8.3.4.4.1).
    empty = client.get(paths["studies"], {"PatientID": "nobody"})
    assert empty.status_code == 204 and empty.content == b""

    # The matching key is in the answer; includefield adds attributes (keyword, tag or all).
    [study] = client.get(paths["studies"], {"00100030": ""}).json()  # PatientBirthDate
    assert study["00100030"] == {"vr": "DA"}
    [first] = client.get(paths["series_instances"], {"includefield": "PixelSpacing", "limit": "1"}).json()
    assert PIXEL_SPACING in first
    [first] = client.get(
        paths["series_instances"], {"includefield": "00280030,SliceThickness", "limit": "1"}
    ).json()
    assert PIXEL_SPACING in first and "00180050" in first
    everything = client.get(paths["series_instances"], {"includefield": "all"}).json()
    metadata = blinding.series_metadata_blinded(root.viewing)
    for served, header in zip(everything, metadata, strict=True):
        assert {tag: served[tag] for tag in header} == header
    [series] = client.get(paths["series"], {"includefield": "all"}).json()
    assert PIXEL_SPACING in series and SOP_UID not in series  # shared by the series / per instance

    # limit and offset page through the instances; a Warning tells that more are left.
    page = client.get(paths["series_instances"], {"limit": "2", "offset": "1"})
    assert [value(i, SOP_UID) for i in page.json()] == sops[1:3]
    assert page["Warning"].startswith("299 ") and "1 additional" in page["Warning"]
    assert "Warning" not in client.get(paths["series_instances"], {"offset": "2"})
    assert client.get(paths["series_instances"], {"offset": "4"}).status_code == 204


@pytest.mark.parametrize(
    "params",
    [
        {"NotAnAttribute": "1"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"offset": "1.5"},
        {"includefield": "NotAKeyword"},
        {"includefield": "7FE1FFFF"},
        {"fuzzymatching": "maybe"},
        {"ReferencedSeriesSequence.SeriesInstanceUID": "1.2"},
        {"ReferencedImageSequence": "1.2"},
        {"StudyInstanceUID": ["1.2", "1.3"]},
    ],
    ids=str,
)
def test_bad_query_parameters_are_400_json(client, roots, params):
    root = roots["reading"]
    client.force_login(root.owner)
    response = client.get(f"{root.path}studies", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json" and response.json()["error"]


def test_accept_is_negotiated(client, roots):
    root = roots["measure"]
    client.force_login(root.owner)
    url = f"{root.path}studies"
    for accept in (
        "application/dicom+json",
        "application/json",
        "*/*",
        "application/*",
        "text/html, */*;q=0.1",
    ):
        assert client.get(url, HTTP_ACCEPT=accept).status_code == 200, accept
    for accept in ("application/dicom+xml", 'multipart/related; type="application/dicom+xml"', "text/html"):
        response = client.get(url, HTTP_ACCEPT=accept)
        assert response.status_code == 406, accept
        assert response.json()["error"]


def test_searches_are_authorised_as_the_roots_wado(client, root):
    paths = search_paths(root)
    other_study = f"{root.path}studies/{root.viewing.series.study_instance_uid}"
    for user in root.refused:
        client.force_login(user)
        for url in (*paths.values(), f"{root.path}studies/{root.study_uid}/metadata", root.series_path):
            assert client.get(url).status_code == 404, (user, url)
            # Refused before the query is read: a bad parameter or Accept tells nothing either.
            assert client.get(url, {"limit": "x"}, HTTP_ACCEPT="text/html").status_code == 404
    client.force_login(root.owner)
    assert client.get(f"{other_study}/series").status_code == 404  # the stored study UID is not a path
    assert client.get(f"{other_study}/instances").status_code == 404
    assert client.get(f"{root.path}studies/{root.study_uid}/series/1.2.3/instances").status_code == 404
    client.logout()
    assert client.get(paths["studies"]).status_code == 302


# ----------------------------------------------------------------------------- dicomweb-client, live


def dicomweb_client(live_server, root, user) -> DICOMwebClient:
    """A dicomweb-client on ``root`` whose requests carry ``user``'s Django session cookie."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    return DICOMwebClient(url=f"{live_server.url}{root.path.removesuffix('/')}", session=session)


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_reads_the_root(live_server, root):
    web = dicomweb_client(live_server, root, root.owner)
    [study] = web.search_for_studies()
    study_uid = value(study, STUDY_UID)
    assert study_uid == root.study_uid
    assert web.search_for_studies(search_filters={"PatientID": "nobody"}) == []
    assert len(web.search_for_studies(search_filters={"StudyInstanceUID": study_uid}, fields=["all"])) == 1
    [series] = web.search_for_series(study_uid)
    series_uid = value(series, SERIES_UID)
    assert series_uid == root.series_uid and value(series, MODALITY) == "MR"
    assert web.search_for_series(study_uid, search_filters={"Modality": "CT"}) == []
    instances = web.search_for_instances(study_uid, series_uid)
    assert len(instances) == 4
    assert web.search_for_instances(study_uid) == instances
    assert len(web.search_for_instances(study_uid, series_uid, limit=1, offset=3)) == 1
    assert len(web.search_for_instances(study_uid, series_uid, limit=1, get_remaining=True)) == 4

    metadata = web.retrieve_series_metadata(study_uid, series_uid)
    assert [value(m, SOP_UID) for m in metadata] == [value(i, SOP_UID) for i in instances]
    sop_uid = value(instances[0], SOP_UID)
    [frame] = web.retrieve_instance_frames(study_uid, series_uid, sop_uid, frame_numbers=[1])
    assert len(frame) == 16 * 16 * 2
    ds = web.retrieve_instance(study_uid, series_uid, sop_uid)
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID) == (study_uid, series_uid, sop_uid)
    assert str(ds.PatientID) == blinding.reading_pseudonym(root.viewing)
    assert ds.PixelData == frame
    assert len(web.retrieve_series(study_uid, series_uid)) == 4
    study_instances = web.retrieve_study(study_uid)
    assert len(study_instances) == 4 and {i.SeriesInstanceUID for i in study_instances} == {series_uid}


@pytest.mark.django_db(transaction=True)
def test_dicomweb_client_is_refused_by_others(live_server, root):
    for user in root.refused:
        web = dicomweb_client(live_server, root, user)
        with pytest.raises(requests.HTTPError) as refused:
            web.search_for_studies()
        assert refused.value.response.status_code == 404
        with pytest.raises(requests.HTTPError) as refused:
            web.retrieve_series_metadata(root.study_uid, root.series_uid)
        assert refused.value.response.status_code == 404
