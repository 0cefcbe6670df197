"""Import from a PACS: search and retrieve over DICOMweb from a live Orthanc, then the import.

The Orthanc (``tests/orthanc.py``, started once per session by ``bin/test``'s Debian packages)
holds two studies of made-up patients, loaded through its REST API.
"""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
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
