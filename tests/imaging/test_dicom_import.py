"""Importing DICOM folders and zip archives into a study (service, command and page)."""

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from pydicom.uid import generate_uid

from readerstudy.audit.models import AuditEvent
from readerstudy.imaging import blinding
from readerstudy.imaging.deidentify import uid_pseudonymize
from readerstudy.imaging.dicom_import import DicomImportError, dicom_import, manifest_parse
from readerstudy.imaging.first_image import first_image_path
from readerstudy.imaging.models import DicomInstance, ImageSeries, ImportJob, SourceIdentity
from readerstudy.studies.models import Case, Study
from tests import dicom_files as dcm
from tests import factories as f

# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def conditions(study):
    return {
        "LR": f.ConditionFactory(study=study, label="LR"),
        "SR": f.ConditionFactory(study=study, label="SR"),
    }


class Folder:
    """A folder mixing two valid series with every kind of bad file."""

    def __init__(self, root: Path):
        self.root = root
        self.study_uid = generate_uid()
        self.uid_a, self.files_a = dcm.write_series(root / "K001" / "lr", study_uid=self.study_uid)
        # A file of series A with the wrong size, where a 7th slice would be.
        self.wrong_rows = dcm.write(
            dcm.mr_slice(
                study_uid=self.study_uid,
                series_uid=self.uid_a,
                frame_uid=generate_uid(),
                position=(-8.0, -8.0, 22.0),
                instance_number=7,
                rows=40,
            ),
            root / "K001" / "lr" / "EXTRA.dcm",
        )
        self.uid_b, self.files_b = dcm.write_series(
            root / "K001" / "sr", study_uid=self.study_uid, description="T2 TSE sag SR"
        )
        self.uid_gap, self.files_gap = dcm.write_series(root / "K002" / "lr", skip=(2,))
        self.text = dcm.write_text_file(root / "notes.txt")
        _, scratch = dcm.write_series(root.parent / "scratch", slices=1)
        self.truncated = dcm.write_truncated(scratch[0], root / "broken" / "truncated.dcm")
        self.no_pixels = dcm.write_without_pixels(root / "broken" / "header-only.dcm")

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def manifest_rows(self) -> list[dict[str, str]]:
        return [
            {"case": "K001", "condition": "LR", "series_instance_uid": "", "folder": "K001/lr"},
            {"case": "K001", "condition": "sr", "series_instance_uid": self.uid_b, "folder": ""},
            {"case": "K002", "condition": "LR", "series_instance_uid": "", "folder": "K002/lr"},
        ]

    def write_manifest(self, path: Path, rows: list[dict[str, str]] | None = None) -> Path:
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=["case", "condition", "series_instance_uid", "folder"])
            writer.writeheader()
            writer.writerows(rows or self.manifest_rows())
        return path

    def zip(self, path: Path) -> Path:
        with zipfile.ZipFile(path, "w") as zf:
            for file in sorted(self.root.rglob("*")):
                if file.is_file():
                    zf.write(file, self.rel(file))
        return path


@pytest.fixture
def folder(tmp_path):
    return Folder(tmp_path / "import")


def stored_files(media_root: Path) -> list[Path]:
    return sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []


def row_counts() -> dict[str, int]:
    return {
        "cases": Case.objects.count(),
        "series": ImageSeries.objects.count(),
        "instances": DicomInstance.objects.count(),
        "identities": SourceIdentity.objects.count(),
    }


# ---------------------------------------------------------------------------
# The folder of the issue: valid series imported, the rest reported


def test_imports_valid_series_and_reports_each_rejected_file(study, conditions, folder, coordinator):
    report = dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows(), actor=coordinator)

    imported = {(item.case_code, item.condition_label, item.num_instances) for item in report.imported}
    assert imported == {("K001", "LR", 6), ("K001", "SR", 6)}
    reasons = {item.path: item.reason for item in report.rejected}
    assert "not a DICOM file" in reasons[folder.rel(folder.text)]
    assert "truncated or corrupt" in reasons[folder.rel(folder.truncated)]
    assert "no pixel data" in reasons[folder.rel(folder.no_pixels)]
    assert "image size 40x32 differs" in reasons[folder.rel(folder.wrong_rows)]
    for path in folder.files_gap:
        assert "not evenly spaced" in reasons[folder.rel(path)]
    assert len(reasons) == 4 + len(folder.files_gap)
    assert [s.series_instance_uid for s in report.rejected_series] == [folder.uid_gap]
    assert "missing slice" in report.rejected_series[0].reason
    assert report.unmapped == []
    assert not report.ok
    assert "2 series imported (12 instances)" in report.summary()

    assert row_counts() == {"cases": 1, "series": 2, "instances": 12, "identities": 2}
    assert not Case.objects.filter(code="K002").exists()


def test_importing_twice_changes_nothing(study, conditions, folder, media_root):
    dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())
    counts, files = row_counts(), stored_files(media_root)
    checksums = {path: path.read_bytes() for path in files}

    report = dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())

    assert report.imported == []
    assert {(s.case_code, s.condition_label, s.num_instances) for s in report.already_present} == {
        ("K001", "LR", 6),
        ("K001", "SR", 6),
    }
    assert row_counts() == counts
    assert stored_files(media_root) == files
    assert all(path.read_bytes() == data for path, data in checksums.items())
    assert len(report.rejected) == 4 + len(folder.files_gap)


def test_series_geometry_and_slice_order(study, conditions, folder):
    dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())
    series = ImageSeries.objects.get(case__code="K001", condition=conditions["LR"])

    assert (series.rows, series.columns, series.num_slices) == (32, 32, 6)
    assert series.pixel_spacing == [0.5, 0.5]
    assert series.slice_spacing == pytest.approx(2.0)
    assert series.slice_thickness == 2.0
    assert series.orientation == list(dcm.AXIAL)
    assert series.origin == [-8.0, -8.0, 10.0]
    assert series.modality == "MR"
    assert series.description == "T2 TSE sag"
    instances = list(series.instances.order_by("slice_index"))
    assert [i.slice_index for i in instances] == list(range(6))
    assert [i.instance_number for i in instances] == [1, 2, 3, 4, 5, 6]
    assert [i.image_position[2] for i in instances] == [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]


def test_stored_files_are_deidentified(study, conditions, folder):
    dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())
    series = ImageSeries.objects.get(case__code="K001", condition=conditions["LR"])
    originals = {pydicom.dcmread(p).InstanceNumber: pydicom.dcmread(p) for p in folder.files_a}
    secrets = [
        dcm.PATIENT_NAME,
        dcm.PATIENT_ID,
        dcm.INSTITUTION,
        dcm.ACCESSION,
        dcm.PRIVATE_VALUE,
        folder.uid_a,
        folder.study_uid,
        "19700101",
    ]

    for instance in series.instances.all():
        raw = instance.file.read()
        instance.file.close()
        for secret in secrets:
            assert secret.encode() not in raw, secret
        ds = pydicom.dcmread(io.BytesIO(raw))
        original = originals[ds.InstanceNumber]
        assert str(ds.PatientName) == ds.PatientID == "K001"
        assert ds.PatientIdentityRemoved == "YES"
        assert not any(elem.tag.is_private for elem in ds.iterall())
        assert ds.SOPInstanceUID == instance.sop_instance_uid
        assert ds.SOPInstanceUID == uid_pseudonymize(original.SOPInstanceUID, salt=study.uid_salt)
        assert ds.SeriesInstanceUID == series.series_instance_uid
        assert np.array_equal(ds.pixel_array, original.pixel_array)
        assert instance.size == len(raw)
        assert len(instance.sha256) == 64 and instance.sha256 != instance.source_sha256


def test_source_identity_keeps_the_original_identifiers(study, conditions, folder):
    dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())
    source = SourceIdentity.objects.get(series__case__code="K001", series__condition=conditions["LR"])
    assert source.patient_id == dcm.PATIENT_ID
    assert source.patient_name == dcm.PATIENT_NAME
    assert source.patient_birth_date == dcm.PATIENT_BIRTH_DATE
    assert source.accession_number == dcm.ACCESSION
    assert source.institution_name == dcm.INSTITUTION
    assert source.study_date == "20240102"
    assert source.series_instance_uid == folder.uid_a
    assert source.study_instance_uid == folder.study_uid


def test_uids_are_deterministic_per_study(study, conditions, folder):
    dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())
    series = ImageSeries.objects.get(case__code="K001", condition=conditions["LR"])
    assert series.series_instance_uid == uid_pseudonymize(folder.uid_a, salt=study.uid_salt)
    assert series.study_instance_uid == uid_pseudonymize(folder.study_uid, salt=study.uid_salt)

    other = f.StudyFactory()
    f.ConditionFactory(study=other, label="LR")
    f.ConditionFactory(study=other, label="SR")
    dicom_import(study=other, source=folder.root, manifest=folder.manifest_rows())
    copy = ImageSeries.objects.get(case__study=other, case__code="K001", condition__label="LR")
    assert copy.series_instance_uid != series.series_instance_uid
    assert copy.series_instance_uid == uid_pseudonymize(folder.uid_a, salt=other.uid_salt)


def test_audit_events(study, conditions, folder, coordinator):
    dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows(), actor=coordinator)
    imports = AuditEvent.objects.filter(action="dicom.import", study=study)
    assert imports.count() == 1
    assert imports.get().actor == coordinator
    assert imports.get().data["imported_series"] == 2
    assert AuditEvent.objects.filter(action="series.import", study=study).count() == 2


# ---------------------------------------------------------------------------
# Mapping


def test_series_not_in_manifest_is_reported_unmapped(study, conditions, folder):
    rows = [row for row in folder.manifest_rows() if row["case"] != "K002"][:1]
    report = dicom_import(study=study, source=folder.root, manifest=rows)
    unmapped = {(item.series_instance_uid, item.folder, item.reason) for item in report.unmapped}
    assert (folder.uid_b, "K001/sr", "not in manifest") in unmapped
    assert [s.case_code for s in report.imported] == ["K001"]


def test_folder_row_at_parent_maps_every_series_below(study, conditions, tmp_path):
    dcm.write_series(tmp_path / "src" / "a" / "one")
    dcm.write_series(tmp_path / "src" / "a" / "two")
    report = dicom_import(
        study=study, source=tmp_path / "src", manifest=[{"case": "K9", "condition": "LR", "folder": "a"}]
    )
    assert report.imported == []
    assert len(report.rejected_series) == 2
    assert all("2 series map to case K9" in s.reason for s in report.rejected_series)


def test_unknown_condition_is_reported_for_its_rows(study, conditions, folder):
    rows = folder.manifest_rows()
    rows[1]["condition"] = "HR"
    report = dicom_import(study=study, source=folder.root, manifest=rows)
    assert any("'HR' does not exist" in error and "row 2" in error for error in report.manifest_errors)
    assert folder.uid_b in {s.series_instance_uid for s in report.rejected_series}
    assert {s.condition_label for s in report.imported} == {"LR"}


def test_manifest_row_matching_nothing_is_reported(study, conditions, folder):
    rows = [*folder.manifest_rows(), {"case": "K003", "condition": "SR", "series_instance_uid": "1.2.3.999"}]
    report = dicom_import(study=study, source=folder.root, manifest=rows)
    assert any("1.2.3.999" in error for error in report.manifest_errors)


def test_case_with_a_different_series_is_never_overwritten(study, conditions, folder):
    case = f.CaseFactory(study=study, code="K001")
    existing = f.ImageSeriesFactory(case=case, condition=conditions["LR"])
    report = dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())
    rejected = {s.series_instance_uid: s.reason for s in report.rejected_series}
    assert "already has a different series" in rejected[folder.uid_a]
    assert ImageSeries.objects.get(case=case, condition=conditions["LR"]) == existing
    assert {s.condition_label for s in report.imported} == {"SR"}


def test_same_series_under_another_case_is_rejected(study, conditions, folder):
    dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())
    rows = folder.manifest_rows()
    rows[0]["case"] = "K009"
    report = dicom_import(study=study, source=folder.root, manifest=rows)
    rejected = {s.series_instance_uid: s.reason for s in report.rejected_series}
    assert "already imported as case K001 / condition LR" in rejected[folder.uid_a]
    assert not Case.objects.filter(code="K009").exists()


# ---------------------------------------------------------------------------
# Geometry checks within a series


def test_duplicate_positions_reject_the_series(study, conditions, tmp_path):
    uid, paths = dcm.write_series(tmp_path / "src", slices=4)
    ds = pydicom.dcmread(paths[1])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dcm.write(ds, tmp_path / "src" / "copy.dcm")
    report = dicom_import(
        study=study,
        source=tmp_path / "src",
        manifest=[{"case": "K1", "condition": "LR", "series_instance_uid": uid}],
    )
    assert report.imported == []
    reasons = {item.path: item.reason for item in report.rejected}
    assert "duplicate slice position" in reasons["copy.dcm"]


def test_identical_copy_is_rejected_but_series_imported(study, conditions, tmp_path):
    uid, paths = dcm.write_series(tmp_path / "src", slices=3)
    (tmp_path / "src" / "zz-copy.dcm").write_bytes(paths[0].read_bytes())
    report = dicom_import(
        study=study,
        source=tmp_path / "src",
        manifest=[{"case": "K1", "condition": "LR", "series_instance_uid": uid}],
    )
    assert [s.num_instances for s in report.imported] == [3]
    assert "duplicate instance" in report.rejected[0].reason


def test_missing_geometry_and_sagittal_order(study, conditions, tmp_path):
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # normal = row x column = -x
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    for index, x in enumerate([4.0, 0.0, 2.0]):
        ds = dcm.mr_slice(
            study_uid=study_uid,
            series_uid=series_uid,
            frame_uid=frame_uid,
            position=(x, -10.0, 10.0),
            instance_number=index + 1,
            orientation=sagittal,
        )
        dcm.write(ds, tmp_path / "src" / f"s{index}.dcm")
    ds = pydicom.dcmread(tmp_path / "src" / "s0.dcm")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    del ds.ImagePositionPatient
    dcm.write(ds, tmp_path / "src" / "no-position.dcm")

    report = dicom_import(
        study=study,
        source=tmp_path / "src",
        manifest=[{"case": "K1", "condition": "LR", "series_instance_uid": series_uid}],
    )
    assert [(r.path, r.reason) for r in report.rejected] == [
        ("no-position.dcm", "missing geometry: ImagePositionPatient")
    ]
    series = report.imported[0].series
    assert [i.image_position[0] for i in series.instances.order_by("slice_index")] == [4.0, 2.0, 0.0]
    assert series.origin == [4.0, -10.0, 10.0]
    assert series.slice_spacing == pytest.approx(2.0)


# ---------------------------------------------------------------------------
# Nothing half-written stays behind


def failing_storage_save(monkeypatch, exception: Exception, fail_on_call: int):
    original = FileSystemStorage._save
    calls = {"n": 0}

    def save(self, name, content):
        calls["n"] += 1
        if calls["n"] == fail_on_call:
            raise exception
        return original(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", save)


def test_storage_failure_leaves_no_partial_series(study, conditions, folder, media_root, monkeypatch):
    failing_storage_save(monkeypatch, OSError("disk full"), fail_on_call=3)
    report = dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())

    failed = [s for s in report.rejected_series if "could not be stored" in s.reason]
    assert len(failed) == 1 and "disk full" in failed[0].reason
    assert len(report.imported) == 1
    survivor = report.imported[0].series
    assert row_counts() == {"cases": 1, "series": 1, "instances": 6, "identities": 1}
    assert sorted(p.name for p in stored_files(media_root)) == sorted(
        [Path(i.file.name).name for i in survivor.instances.all()]
        + [Path(blinding.series_metadata_path(survivor)).name, Path(first_image_path(survivor)).name]
    )


def test_unexpected_error_fails_its_series_alone(study, conditions, folder, media_root, monkeypatch):
    failing_storage_save(monkeypatch, RuntimeError("boom"), fail_on_call=4)
    report = dicom_import(study=study, source=folder.root, manifest=folder.manifest_rows())

    failed = [s for s in report.rejected_series if "could not be imported" in s.reason]
    assert len(failed) == 1 and "RuntimeError: boom" in failed[0].reason
    assert len(report.imported) == 1
    survivor = report.imported[0].series
    assert row_counts() == {"cases": 1, "series": 1, "instances": 6, "identities": 1}
    # the survivor's instances, blinded metadata and first image
    assert len(stored_files(media_root)) == 6 + 2
    assert AuditEvent.objects.get(action="dicom.import").data["rejected_series"] == 2
    assert survivor.instances.count() == 6


# ---------------------------------------------------------------------------
# Zip archives


def test_zip_import(study, conditions, folder, tmp_path):
    archive = folder.zip(tmp_path / "upload.zip")
    report = dicom_import(study=study, source=archive, manifest=folder.manifest_rows())
    assert {(s.case_code, s.condition_label) for s in report.imported} == {("K001", "LR"), ("K001", "SR")}
    assert "notes.txt" in {r.path for r in report.rejected}

    again = dicom_import(study=study, source=archive, manifest=folder.manifest_rows())
    assert again.imported == [] and len(again.already_present) == 2


def test_zip_slip_members_are_rejected(study, conditions, tmp_path):
    uid, paths = dcm.write_series(tmp_path / "src", slices=2)
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in paths:
            zf.write(path, f"ok/{path.name}")
        zf.writestr("../escaped.dcm", paths[0].read_bytes())
        zf.writestr("/etc/absolute.dcm", paths[0].read_bytes())
    report = dicom_import(
        study=study, source=archive, manifest=[{"case": "K1", "condition": "LR", "series_instance_uid": uid}]
    )
    reasons = {r.path: r.reason for r in report.rejected}
    assert "unsafe path" in reasons["../escaped.dcm"]
    assert "unsafe path" in reasons["/etc/absolute.dcm"]
    assert [s.num_instances for s in report.imported] == [2]
    assert not (tmp_path / "escaped.dcm").exists()


def test_zip_too_large_is_refused_before_writing(study, conditions, folder, tmp_path, settings):
    settings.READERSTUDY_MAX_IMPORT_UNCOMPRESSED = 1000
    archive = folder.zip(tmp_path / "upload.zip")
    with pytest.raises(DicomImportError, match="expands to more than"):
        dicom_import(study=study, source=archive, manifest=folder.manifest_rows())
    assert row_counts()["series"] == 0


def test_source_that_is_neither_folder_nor_zip(study, conditions, folder):
    with pytest.raises(DicomImportError, match="neither a folder nor a zip"):
        dicom_import(study=study, source=folder.text, manifest=folder.manifest_rows())


# ---------------------------------------------------------------------------
# Manifest errors: raised before anything is written


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("case,condition\nK1,LR\n", "series_instance_uid', a 'folder' or a 'nifti' column"),
        ("case,folder\nK1,a\n", "lacks the column(s) condition"),
        ("case,condition,folder\n", "no rows"),
        ("case,condition,folder\nK1,LR,a\nK2,LR,a\n", "duplicate folder"),
        ("case,condition,folder\nK1,LR,a\nK1,lr,b\n", "duplicate case and condition"),
        (
            "case,condition,folder,series_instance_uid\nK1,LR,a,1.2.3\n",
            "give one of series_instance_uid, folder or nifti",
        ),
        ("case,condition,folder\nK1,LR,../up\n", "without '..'"),
        ("case,condition,folder\n,LR,a\n", "case and condition are required"),
    ],
)
def test_malformed_manifest(tmp_path, content, message):
    path = tmp_path / "manifest.csv"
    path.write_text(content)
    with pytest.raises(DicomImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        manifest_parse(path)


def test_manifest_error_writes_nothing(study, conditions, folder, tmp_path, media_root):
    rows = folder.manifest_rows()
    rows.append(dict(rows[0]))
    with pytest.raises(ValueError, match="duplicate"):
        dicom_import(study=study, source=folder.root, manifest=rows)
    assert row_counts() == {"cases": 0, "series": 0, "instances": 0, "identities": 0}
    assert stored_files(media_root) == []
    assert not AuditEvent.objects.filter(action="dicom.import").exists()
    refused = AuditEvent.objects.get(action="dicom.import_failed")
    assert "duplicate folder" in refused.data["errors"][0]


def test_manifest_csv_file_inside_the_source_is_not_reported(study, conditions, folder):
    manifest = folder.write_manifest(folder.root / "manifest.csv")
    report = dicom_import(study=study, source=folder.root, manifest=manifest)
    assert "manifest.csv" not in {r.path for r in report.rejected}
    assert len(report.imported) == 2


# ---------------------------------------------------------------------------
# Management command


def test_command_imports_and_prints_the_report(study, conditions, folder, tmp_path):
    manifest = folder.write_manifest(tmp_path / "manifest.csv")
    out = io.StringIO()
    call_command("import_dicom", study.slug, str(folder.root), manifest=str(manifest), stdout=out)
    text = out.getvalue()
    assert "2 series imported" in text
    assert "notes.txt: not a DICOM file" in text
    assert "broken/header-only.dcm: no pixel data" in text
    assert ImageSeries.objects.count() == 2

    out = io.StringIO()
    call_command("import_dicom", study.slug, str(folder.root), manifest=str(manifest), stdout=out)
    assert "2 already present" in out.getvalue()
    assert ImageSeries.objects.count() == 2


def test_command_strict_fails_on_rejections(study, conditions, folder, tmp_path):
    manifest = folder.write_manifest(tmp_path / "manifest.csv")
    with pytest.raises(CommandError, match="rejected"):
        call_command(
            "import_dicom",
            study.slug,
            str(folder.root),
            manifest=str(manifest),
            strict=True,
            stdout=io.StringIO(),
        )


def test_command_errors(study, conditions, folder, tmp_path):
    manifest = folder.write_manifest(tmp_path / "manifest.csv")
    with pytest.raises(CommandError, match="No study"):
        call_command("import_dicom", "nope", str(folder.root), manifest=str(manifest), stdout=io.StringIO())
    bad = tmp_path / "bad.csv"
    bad.write_text("case\nK1\n")
    with pytest.raises(CommandError, match="lacks the column"):
        call_command("import_dicom", study.slug, str(folder.root), manifest=str(bad), stdout=io.StringIO())


# ---------------------------------------------------------------------------
# Coordinator page


def upload_data(folder: Folder, tmp_path: Path) -> dict[str, SimpleUploadedFile]:
    archive = folder.zip(tmp_path / "upload.zip")
    manifest = folder.write_manifest(tmp_path / "manifest.csv")
    return {
        "archive": SimpleUploadedFile("upload.zip", archive.read_bytes(), "application/zip"),
        "manifest": SimpleUploadedFile("manifest.csv", manifest.read_bytes(), "text/csv"),
    }


@pytest.fixture
def eager(settings):
    """Import jobs run synchronously once the transaction commits (see readerstudy.jobs)."""
    settings.READERSTUDY_JOBS_EAGER = True
    settings.CELERY_BROKER_URL = ""


def test_page_imports_an_uploaded_zip(
    client, study, conditions, coordinator, folder, tmp_path, eager, django_capture_on_commit_callbacks
):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_import", args=[study.slug])
    assert client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, upload_data(folder, tmp_path))
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("readerstudy:study_import_job", args=[study.slug, job.pk])
    page = client.get(response["Location"]).content.decode()
    assert "K001" in page
    assert "not a DICOM file" in page
    assert "not evenly spaced" in page
    assert ImageSeries.objects.filter(case__study=study).count() == 2
    assert AuditEvent.objects.get(action="dicom.import").actor == coordinator
    job.refresh_from_db()
    assert (job.status, job.created_by, job.progress) == (ImportJob.Status.DONE, coordinator, 1.0)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, upload_data(folder, tmp_path))
    assert "Already present" in client.get(response["Location"]).content.decode()
    assert ImageSeries.objects.filter(case__study=study).count() == 2


def test_page_shows_manifest_errors(client, study, conditions, coordinator, folder, tmp_path):
    client.force_login(coordinator)
    data = upload_data(folder, tmp_path)
    data["manifest"] = SimpleUploadedFile("manifest.csv", b"case,condition\nK1,LR\n", "text/csv")
    response = client.post(reverse("readerstudy:study_import", args=[study.slug]), data)
    assert response.status_code == 200
    assert "series_instance_uid" in response.content.decode()
    assert ImageSeries.objects.count() == 0


def test_page_refuses_too_large_and_non_zip_uploads(
    client, study, conditions, coordinator, folder, tmp_path, settings
):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_import", args=[study.slug])
    data = upload_data(folder, tmp_path)
    data["archive"] = SimpleUploadedFile("upload.zip", b"not a zip at all", "application/zip")
    assert "not a zip" in client.post(url, data).content.decode()

    settings.READERSTUDY_MAX_IMPORT_UPLOAD = 100
    response = client.post(url, upload_data(folder, tmp_path))
    assert "too large" in response.content.decode()
    assert ImageSeries.objects.count() == 0


def test_page_permissions(client, study, statistician, tmp_path):
    url = reverse("readerstudy:study_import", args=[study.slug])

    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    reader = f.UserFactory(roles=["reader"])
    other_coordinator = f.UserFactory(roles=["coordinator"])
    f.StudyFactory(coordinators=[other_coordinator])
    for user in (reader, statistician, other_coordinator):
        client.force_login(user)
        assert client.get(url).status_code == 403, user
        assert client.post(url, {}).status_code == 403, user

    coordinator = study.coordinators.get()
    client.force_login(coordinator)
    assert client.get(url).status_code == 200
    assert client.get(reverse("readerstudy:study_import", args=["no-such-study"])).status_code == 404


def test_nothing_is_imported_into_a_locked_study(tmp_path, study):
    condition = f.ConditionFactory(study=study, label="HR")
    dcm.write_series(tmp_path / "src" / "hr")
    study.status = Study.Status.LOCKED
    study.save()
    with pytest.raises(DicomImportError, match="locked"):
        dicom_import(
            study=study,
            source=tmp_path / "src",
            manifest=[{"case": "K1", "condition": condition.label, "folder": "hr"}],
        )
    assert not ImageSeries.objects.filter(case__study=study).exists()
