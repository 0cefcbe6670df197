"""Import from a PACS: search and retrieve over DICOMweb from a live Orthanc, then the import.

The Orthanc (``tests/orthanc.py``, started once per session by ``bin/test``'s Debian packages)
holds two studies of made-up patients, loaded through its REST API.
"""

import contextlib
import http.server
import json
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from pydicom.uid import generate_uid

from readerstudy.audit.models import AuditEvent
from readerstudy.imaging.dicom_import import DicomImportError
from readerstudy.imaging.import_jobs import import_job_cancel, import_job_run, pacs_import_job_start
from readerstudy.imaging.models import ImageSeries, ImportJob, SourceIdentity
from readerstudy.imaging.pacs import PacsError, pacs_retrieve, pacs_search, pacs_server_get, search_date
from tests import dicom_files as dcm
from tests import factories as f
from tests import orthanc as orthanc_module
from tests.orthanc import free_port

SERVER = "orthanc"


class World:
    """What the Orthanc holds: study A (two series of PID-0042) and study B (one CT-labelled
    series of PID-0077)."""

    def __init__(self, root: Path):
        self.study_a = generate_uid()
        self.lr, lr_files = dcm.write_series(root / "a-lr", study_uid=self.study_a, slices=4)
        self.sr, sr_files = dcm.write_series(
            root / "a-sr", study_uid=self.study_a, slices=4, description="T2 TSE sag SR"
        )
        self.study_b = generate_uid()
        self.ct = generate_uid()
        frame = generate_uid()
        self.b_files = []
        for index in range(3):
            ds = dcm.mr_slice(
                study_uid=self.study_b,
                series_uid=self.ct,
                frame_uid=frame,
                position=(0.0, 0.0, index * 2.0),
                instance_number=index + 1,
                patient_id="PID-0077",
                description="Chest low dose",
            )
            ds.Modality = "CT"
            ds.AccessionNumber = "ACC-9001"
            ds.StudyDate = "20230505"
            ds.StudyDescription = "CT thorax"
            self.b_files.append(dcm.write(ds, root / "b" / f"{index}.dcm"))
        self.files = lr_files + sr_files + self.b_files


@pytest.fixture(scope="module")
def world(orthanc, tmp_path_factory):
    orthanc.clear()
    world = World(tmp_path_factory.mktemp("pacs-world"))
    orthanc.upload(world.files)
    return world


@pytest.fixture(autouse=True)
def servers(settings, orthanc):
    settings.READERSTUDY_DICOMWEB_SERVERS = {
        SERVER: {
            "url": orthanc.dicomweb_url,
            "username": orthanc_module.USERNAME,
            "password": orthanc_module.PASSWORD,
        },
        "wrong-password": {
            "url": orthanc.dicomweb_url,
            "username": orthanc_module.USERNAME,
            "password": "nope",
        },
        "down": f"http://127.0.0.1:{free_port()}/dicom-web",
    }
    settings.READERSTUDY_DICOMWEB_TIMEOUT = 10
    settings.READERSTUDY_DICOMWEB_ATTEMPTS = 1
    settings.READERSTUDY_JOBS_EAGER = True


@pytest.fixture
def conditions(study):
    return {
        "LR": f.ConditionFactory(study=study, label="LR"),
        "SR": f.ConditionFactory(study=study, label="SR"),
    }


def manifest(world) -> str:
    return f"case,condition,series_instance_uid\nK001,LR,{world.lr}\nK001,SR,{world.sr}\n"


def uids(found) -> set[str]:
    return {series.series_uid for series in found}


# --------------------------------------------------------------------------- search


def test_search_by_each_key(world):
    server = pacs_server_get(SERVER)
    assert uids(pacs_search(server)) == {world.lr, world.sr, world.ct}
    assert uids(pacs_search(server, patient_id="PID-0042")) == {world.lr, world.sr}
    assert uids(pacs_search(server, accession="ACC-9001")) == {world.ct}
    assert uids(pacs_search(server, study_date="20240102")) == {world.lr, world.sr}
    assert uids(pacs_search(server, study_date=search_date("2023-01-01", "2023-12-31"))) == {world.ct}
    assert uids(pacs_search(server, study_date=search_date("2024-01-01", ""))) == {world.lr, world.sr}
    assert uids(pacs_search(server, modality="ct")) == {world.ct}
    assert uids(pacs_search(server, description="tse sag sr")) == {world.sr}
    assert uids(pacs_search(server, description="THORAX")) == {world.ct}  # the study's description
    assert uids(pacs_search(server, patient_id="PID-0042", modality="CT")) == set()
    assert uids(pacs_search(server, study_uids=[world.study_a])) == {world.lr, world.sr}
    found = {s.series_uid: s for s in pacs_search(server, patient_id="PID-0077")}
    ct = found[world.ct]
    assert (ct.study_uid, ct.accession, ct.study_date, ct.modality) == (
        world.study_b,
        "ACC-9001",
        "20230505",
        "CT",
    )
    assert (ct.series_description, ct.instances) == ("Chest low dose", 3)


def test_search_refuses_bad_keys(world):
    server = pacs_server_get(SERVER)
    with pytest.raises(PacsError, match="study date"):
        pacs_search(server, study_date="2024/01/02")
    with pytest.raises(PacsError, match="modality"):
        pacs_search(server, modality="M R")
    with pytest.raises(PacsError, match="characters"):
        pacs_search(server, patient_id="PID*")


def test_bad_credentials_and_server_down_are_one_line_errors(world):
    with pytest.raises(PacsError) as refused:
        pacs_search(pacs_server_get("wrong-password"), patient_id="PID-0042")
    assert str(refused.value) == (
        "The search failed: the DICOMweb server wrong-password refused the credentials (HTTP 401)."
    )
    with pytest.raises(PacsError) as down:
        pacs_search(pacs_server_get("down"))
    assert "cannot be reached" in str(down.value) and "\n" not in str(down.value)
    with pytest.raises(PacsError, match="Unknown DICOMweb server"):
        pacs_server_get("nowhere")
    with pytest.raises(PacsError, match="holds credentials"):
        pacs_server_get("http://user:pw@127.0.0.1/dicom-web")


def test_retrieve_respects_the_import_caps(world, settings, tmp_path):
    server = pacs_server_get(SERVER)
    settings.READERSTUDY_MAX_IMPORT_UNCOMPRESSED = 10_000
    with pytest.raises(PacsError, match="READERSTUDY_MAX_IMPORT_UNCOMPRESSED"):
        pacs_retrieve(server, [(world.study_a, world.lr)], tmp_path / "out")


def test_retrieve_writes_the_series_and_leaves_out_what_is_missing(world, tmp_path):
    missing = generate_uid()
    result = pacs_retrieve(
        pacs_server_get(SERVER), [(world.study_a, world.lr), (world.study_a, missing)], tmp_path / "out"
    )
    assert (result.instances, result.missing) == (4, [missing])
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 4


# --------------------------------------------------------------------------- the import


def run_job(study, world, actor=None, series=None, server=SERVER):
    job = pacs_import_job_start(
        study=study,
        server=server,
        series=series or [(world.study_a, world.lr), (world.study_a, world.sr)],
        manifest_text=manifest(world),
        actor=actor,
        background=False,
    )
    report = import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job, report


def test_retrieve_and_import_a_study_then_again_changes_nothing(study, conditions, world, coordinator):
    job, report = run_job(study, world, actor=coordinator)
    assert job.status == ImportJob.Status.DONE and job.progress == 1.0, job.error
    assert report is not None and report.ok
    assert sorted((s.case_code, s.condition_label, s.num_instances) for s in report.imported) == [
        ("K001", "LR", 4),
        ("K001", "SR", 4),
    ]
    assert job.report["summary"].startswith("2 series imported (8 instances)")
    identity = SourceIdentity.objects.get(series_instance_uid=world.lr)
    assert identity.patient_id == dcm.PATIENT_ID  # the mapping keeps the source identity
    assert ImageSeries.objects.filter(case__study=study).count() == 2
    job_data = ImportJob.objects.filter(pk=job.pk).values("pacs_server", "pacs_series").get()
    assert job_data["pacs_server"] == SERVER and orthanc_module.PASSWORD not in json.dumps(job_data)
    assert AuditEvent.objects.filter(action="dicom.import_queued", data__pacs_server=SERVER).exists()

    again, report_again = run_job(study, world, actor=coordinator)
    assert again.status == ImportJob.Status.DONE
    assert report_again is not None and not report_again.imported
    assert len(report_again.already_present) == 2
    assert ImageSeries.objects.filter(case__study=study).count() == 2


def test_a_job_that_cannot_retrieve_fails_with_the_reason(study, conditions, world):
    job, report = run_job(study, world, server="wrong-password")
    assert report is None and job.status == ImportJob.Status.FAILED
    assert job.error == (
        "Listing the series' instances failed: the DICOMweb server wrong-password refused the credentials "
        "(HTTP 401)."
    )
    assert AuditEvent.objects.filter(action="dicom.import_failed", study=study).exists()
    job, _ = run_job(study, world, server="down")
    assert job.status == ImportJob.Status.FAILED and "cannot be reached" in job.error
    assert not ImageSeries.objects.filter(case__study=study).exists()


def test_start_refuses_an_unknown_server_and_a_folder_manifest(study, conditions, world):
    with pytest.raises(DicomImportError, match="Unknown DICOMweb server"):
        pacs_import_job_start(
            study=study,
            server="nowhere",
            series=[(world.study_a, world.lr)],
            manifest_text=manifest(world),
            actor=None,
            background=False,
        )
    with pytest.raises(DicomImportError, match="series_instance_uid only"):
        pacs_import_job_start(
            study=study,
            server=SERVER,
            series=[(world.study_a, world.lr)],
            manifest_text="case,condition,folder\nK001,LR,a\n",
            actor=None,
            background=False,
        )


def test_cancel_while_retrieving_stops_the_job(study, conditions, world, coordinator, monkeypatch):
    job = pacs_import_job_start(
        study=study,
        server=SERVER,
        series=[(world.study_a, world.lr)],
        manifest_text=manifest(world),
        actor=coordinator,
        background=False,
    )
    from readerstudy.imaging import import_jobs

    original = import_jobs._ProgressWriter.retrieving

    def cancel_then_report(self, fraction):
        ImportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        original(self, fraction)

    monkeypatch.setattr(import_jobs._ProgressWriter, "retrieving", cancel_then_report)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    assert not ImageSeries.objects.filter(case__study=study).exists()
    assert import_job_cancel(job=job, actor=coordinator) is False


# --------------------------------------------------------------------------- the command


def test_command_lists_then_imports_then_changes_nothing(study, conditions, world, tmp_path, capsys):
    call_command("import_dicomweb", study.slug, "--url", SERVER, "--patient-id", "PID-0042")
    listing = capsys.readouterr().out
    assert world.lr in listing and world.sr in listing and world.ct not in listing
    assert "2 series on orthanc" in listing

    path = tmp_path / "manifest.csv"
    path.write_text(manifest(world))
    call_command("import_dicomweb", study.slug, "--url", SERVER, "--manifest", str(path), "--strict")
    out = capsys.readouterr().out
    assert "2 series imported (8 instances)" in out
    call_command(
        "import_dicomweb", study.slug, "--url", SERVER, "--manifest", str(path), "--study-uid", world.study_a
    )
    assert "0 series imported (0 instances), 2 already present" in capsys.readouterr().out


def test_command_with_an_ad_hoc_url_takes_credentials_from_the_environment(
    study, conditions, world, orthanc, monkeypatch, capsys
):
    monkeypatch.setenv("READERSTUDY_DICOMWEB_USERNAME", orthanc_module.USERNAME)
    monkeypatch.setenv("READERSTUDY_DICOMWEB_PASSWORD", orthanc_module.PASSWORD)
    call_command("import_dicomweb", study.slug, "--url", orthanc.dicomweb_url, "--accession", "ACC-9001")
    assert world.ct in capsys.readouterr().out
    monkeypatch.setenv("READERSTUDY_DICOMWEB_PASSWORD", "wrong")
    with pytest.raises(CommandError, match=r"refused the credentials \(HTTP 401\)"):
        call_command("import_dicomweb", study.slug, "--url", orthanc.dicomweb_url)


def test_command_server_down_is_a_clear_error(study, conditions, world, tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text(manifest(world))
    with pytest.raises(CommandError, match="cannot be reached"):
        call_command("import_dicomweb", study.slug, "--url", "down", "--manifest", str(path))


# --------------------------------------------------------------------------- the page


def page_url(study):
    return reverse("readerstudy:study_import_pacs", args=[study.slug])


def test_page_searches_then_imports_the_chosen_series(
    client, study, conditions, world, coordinator, django_capture_on_commit_callbacks
):
    client.force_login(coordinator)
    response = client.get(page_url(study), {"server": SERVER, "patient_id": "PID-0042"})
    assert response.status_code == 200
    html = response.content.decode()
    assert world.lr in html and world.sr in html and world.ct not in html
    assert f'name="case_{world.lr}"' in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            page_url(study),
            {
                "server": SERVER,
                "patient_id": "PID-0042",
                f"case_{world.lr}": "K001",
                f"condition_{world.lr}": "LR",
                f"case_{world.sr}": "K001",
                f"condition_{world.sr}": "sr",
            },
        )
    job = ImportJob.objects.get(study=study)
    assert response.status_code == 302
    assert response["Location"] == reverse("readerstudy:study_import_job", args=[study.slug, job.pk])
    assert job.status == ImportJob.Status.DONE, job.error  # eager runner in the tests
    assert job.report["summary"].startswith("2 series imported (8 instances)")
    assert job.created_by == coordinator
    assert sorted(pair[1] for pair in job.pacs_series) == sorted([world.lr, world.sr])
    page = client.get(response["Location"]).content.decode()
    assert "2 series imported" in page


def test_page_errors_are_shown_on_the_page(client, study, conditions, world, coordinator):
    client.force_login(coordinator)
    html = client.get(page_url(study), {"server": SERVER}).content.decode()
    assert "Give at least one search key." in html
    html = client.get(page_url(study), {"server": "wrong-password", "patient_id": "X"}).content.decode()
    assert "refused the credentials (HTTP 401)" in html
    response = client.post(
        page_url(study),
        {
            "server": SERVER,
            "patient_id": "PID-0042",
            f"case_{world.lr}": "K001",
            f"condition_{world.lr}": "??",
        },
    )
    assert response.status_code == 200
    assert "choose one of the study&#x27;s conditions" in response.content.decode()
    response = client.post(page_url(study), {"server": SERVER, "patient_id": "PID-0042"})
    assert "Give a case (and condition)" in response.content.decode()
    assert not ImportJob.objects.filter(study=study).exists()


def test_page_is_refused_to_a_non_coordinator(client, study, world, statistician):
    reader = f.ReaderParticipationFactory(study=study).user
    for user in (statistician, reader):
        client.force_login(user)
        assert client.get(page_url(study), {"server": SERVER, "patient_id": "PID-0042"}).status_code == 403
        assert client.post(page_url(study), {"server": SERVER, "patient_id": "PID-0042"}).status_code == 403
    assert not ImportJob.objects.filter(study=study).exists()


# --------------------------------------------------------------------------- progress


def test_progress_goes_across_retrieve_then_import(study, conditions, world, monkeypatch):
    from readerstudy.imaging import import_jobs

    seen = []
    original = import_jobs._ProgressWriter.__call__

    def record(self, fraction, stage):
        seen.append((round(self._start + self._share * fraction, 3), stage))
        original(self, fraction, stage)

    monkeypatch.setattr(import_jobs._ProgressWriter, "__call__", record)
    job, report = run_job(study, world)
    assert job.status == ImportJob.Status.DONE and report is not None
    stages = [stage for _, stage in seen]
    assert stages[0] == "retrieving" and stages.count("retrieving") == 8  # one per instance
    assert {"reading", "importing"} <= set(stages[8:]) and "retrieving" not in stages[8:]
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[7] == 0.5 and fractions[-1] <= 1.0


# --------------------------------------------------------------------------- a misbehaving server


class _Fake(http.server.BaseHTTPRequestHandler):
    """A 'DICOMweb server' whose searches answer JSON and whose series are not DICOM; /slow/ is slow."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(3)
        if "/instances" in self.path or self.path.split("?")[0].endswith("/series"):
            body = json.dumps([{"00080018": {"vr": "UI", "Value": ["1.2.3"]}}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
        else:
            body = b"--XX\r\nContent-Type: application/dicom\r\n\r\nthis is not DICOM\r\n--XX--\r\n"
            self.send_response(200)
            self.send_header("Content-Type", 'multipart/related; type="application/dicom"; boundary=XX')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (the timeout test)
            self.wfile.write(body)


@pytest.fixture
def fake_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_non_dicom_payload_and_timeout_are_one_line_errors(fake_server, settings, tmp_path):
    with pytest.raises(PacsError) as not_dicom:
        pacs_retrieve(pacs_server_get(fake_server), [("1.2", "1.2.3")], tmp_path / "out")
    assert str(not_dicom.value).startswith(
        "Retrieving the series failed: the DICOMweb server http://127.0.0.1:"
    ) and "sent an answer that is not DICOMweb" in str(not_dicom.value)
    settings.READERSTUDY_DICOMWEB_TIMEOUT = 0.5
    with pytest.raises(PacsError, match=r"did not answer within 0.5 s\.$"):
        pacs_search(pacs_server_get(f"{fake_server}/slow"))
