"""Imports that cannot be knocked over: damaged files, zip bombs, crashes, background jobs.

* every damaged file (a fuzz of deterministically mutated DICOM files) is one report line
  and nothing raises; a file without SOPClassUID does not stop the others;
* zip bombs are refused within seconds and with bounded memory, measured in a subprocess
  that runs the import service (its peak RSS is read from ``/proc/self/status``);
* an import killed mid-way (a real ``import_dicom`` process, SIGKILL or SIGTERM) leaves no
  files behind once the next import starts;
* imports run as background jobs whose progress the import page shows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom.dataelem import DataElement

from readerstudy import jobs
from readerstudy.audit.models import AuditEvent
from readerstudy.design.models import ReadingSchedule
from readerstudy.imaging import import_jobs
from readerstudy.imaging.deidentify import DeidentificationError, dataset_deidentify
from readerstudy.imaging.dicom_import import CASE_CODE_RULE, DicomImportError, dicom_import
from readerstudy.imaging.import_jobs import (
    INTERRUPTED,
    import_job_cancel,
    import_job_folder,
    import_job_run,
    import_job_start,
    import_jobs_recover,
    runner_token,
)
from readerstudy.imaging.import_safety import MAX_COMPRESSION_RATIO, NOT_DICOM
from readerstudy.imaging.models import ImageSeries, ImportJob
from readerstudy.studies.models import Study
from tests import dicom_files as dcm
from tests import factories as f

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
GiB = 1024 * MiB


@pytest.fixture
def conditions(study):
    return {label: f.ConditionFactory(study=study, label=label) for label in ("LR", "SR")}


@pytest.fixture
def eager(settings):
    settings.READERSTUDY_JOBS_EAGER = True
    settings.CELERY_BROKER_URL = ""


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["case", "condition", "series_instance_uid", "folder"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def zip_folder(root: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(root.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(root).as_posix())
    return path


def zeros_member(zf: zipfile.ZipFile, name: str, size: int, *, dicm: bool = True) -> None:
    """A member of ``size`` bytes of zeros (after a 128-byte preamble and 'DICM'), written in chunks."""
    chunk = bytes(MiB)
    with zf.open(name, "w") as out:
        left = size
        if dicm:
            out.write(b"\0" * 128 + b"DICM")
            left -= 132
        while left > 0:
            out.write(chunk[: min(left, MiB)])
            left -= MiB


# --------------------------------------------------------------------------- fuzzing


FUZZ_FILES = 1000
FUZZ_SEED = 20240611
REMOVABLE = (
    "SOPClassUID",
    "SOPInstanceUID",
    "Modality",
    "PixelData",
    "Rows",
    "Columns",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "BitsAllocated",
    "PhotometricInterpretation",
)
#: Values of the wrong kind: (keyword, VR written, value).
WRONG_VALUES = (
    ("Rows", "LO", "sixteen"),
    ("ImagePositionPatient", "LO", "x\\y\\z"),
    ("PixelSpacing", "DS", "0\\0"),
    ("ImageOrientationPatient", "DS", "0\\0\\0\\0\\0\\0"),
    ("NumberOfFrames", "IS", "5"),
    ("BurnedInAnnotation", "CS", "YES"),
    ("BitsAllocated", "US", 12),
    ("SamplesPerPixel", "US", 3),
    ("SOPClassUID", "UI", ""),
    ("PatientName", "PN", "x" * 1000),
)
LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
WRONG_VRS = (b"DS", b"SQ", b"UN", b"OB", b"US", b"FD", b"AT", b"ZZ", b"\0\0", b"OW")


def fuzz_base(index: int) -> pydicom.Dataset:
    """A valid 16x16 slice of its own series, with UIDs fixed by ``index`` (a stable layout)."""
    uid = f"2.25.{900000 + index}"
    return dcm.mr_slice(
        study_uid=f"{uid}1",
        series_uid=f"{uid}2",
        frame_uid=f"{uid}3",
        sop_instance_uid=f"{uid}4",
        position=(0.0, 0.0, float(index)),
        instance_number=1,
        rows=16,
        columns=16,
    )


def top_level_elements(data: bytes) -> list[tuple[int, str, int]]:
    """(tag, VR, value offset) of each top-level element of a Part 10 file, file meta included."""
    ds = pydicom.dcmread(io.BytesIO(data))
    return [(int(e.tag), e.VR, e.file_tell) for e in [*ds.file_meta, *ds] if e.file_tell is not None]


def mutate(index: int, rng: random.Random) -> tuple[str, bytes]:
    """One mutated file: (kind of mutation, bytes); every 25th file is left intact."""
    ds = fuzz_base(index)
    if index % 25 == 0:
        return "control", dcm.to_bytes(ds)
    kind = rng.choice(
        [
            "truncate",
            "flip",
            "flip-header",
            "remove",
            "huge-length",
            "wrong-vr",
            "wrong-value",
            "insert",
            "short-pixels",
            "undefined-pixels",
            "duplicate-element",
            "not-dicom",
        ]
    )
    if kind == "wrong-value":
        keyword, vr, value = rng.choice(WRONG_VALUES)
        ds[keyword] = DataElement(pydicom.datadict.tag_for_keyword(keyword), vr, value)
        return kind, dcm.to_bytes(ds)
    if kind == "short-pixels":
        ds.PixelData = ds.PixelData[: -2 * rng.randint(1, 64)]
        return kind, dcm.to_bytes(ds)
    data = bytearray(dcm.to_bytes(ds))
    elements = top_level_elements(bytes(data))
    pixel_offset = next(offset for tag, _, offset in elements if tag == 0x7FE00010)
    if kind == "remove":  # cut out the element's bytes (pydicom would not write some of these)
        tag = pydicom.datadict.tag_for_keyword(rng.choice(REMOVABLE))
        start, end = element_span(elements, next(o for t, _, o in elements if t == tag), len(data))
        return kind, bytes(data[:start] + data[end:])
    if kind == "truncate":
        return kind, bytes(data[: rng.randrange(0, len(data))])
    if kind in ("flip", "flip-header"):
        end = pixel_offset if kind == "flip-header" else len(data)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(0, end)] ^= rng.randint(1, 255)
        return kind, bytes(data)
    if kind == "insert":
        at = rng.randrange(0, len(data))
        return kind, bytes(data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:])
    if kind == "not-dicom":
        choices = [b"", b"\0" * 128, b"\0" * 128 + b"DICM" + bytes(rng.randint(0, 4096)), rng.randbytes(2048)]
        return kind, rng.choice(choices)
    if kind == "undefined-pixels":
        struct.pack_into("<I", data, pixel_offset - 4, 0xFFFFFFFF)
        return kind, bytes(data)
    _, vr, offset = rng.choice(elements)
    long_vr = vr in LONG_VRS
    if kind == "huge-length":
        if long_vr:
            struct.pack_into("<I", data, offset - 4, rng.choice([0xFFFFFFF0, 2**31, len(data) * 50]))
        else:
            struct.pack_into("<H", data, offset - 2, 0xFFFF)
        return kind, bytes(data)
    if kind == "wrong-vr":
        data[offset - (8 if long_vr else 4) : offset - (6 if long_vr else 2)] = rng.choice(WRONG_VRS)
        return kind, bytes(data)
    # duplicate-element: the bytes of one element again, right after it
    start, end = element_span(elements, offset, len(data))
    return kind, bytes(data[:end] + data[start:end] + data[end:])


def element_span(elements: list[tuple[int, str, int]], offset: int, size: int) -> tuple[int, int]:
    """Where the element whose value starts at ``offset`` starts and ends (its header included)."""
    header = {vr: 12 if vr in LONG_VRS else 8 for _, vr, _ in elements}
    vr = next(v for _, v, o in elements if o == offset)
    following = [(o, v) for _, v, o in elements if o > offset]
    end = min(following)[0] - header[min(following)[1]] if following else size
    return offset - header[vr], end


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the mutated values being made
def test_fuzzed_files_are_each_one_report_line_and_nothing_raises(study, conditions, tmp_path):
    rng = random.Random(FUZZ_SEED)
    root = tmp_path / "fuzz"
    kinds: dict[str, str] = {}
    for index in range(FUZZ_FILES):
        kind, data = mutate(index, rng)
        path = root / f"f{index:04d}" / "IM.dcm"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        kinds[f"f{index:04d}/IM.dcm"] = kind
    manifest = [{"case": f"F{i:04d}", "condition": "LR", "folder": f"f{i:04d}"} for i in range(FUZZ_FILES)]

    started = time.monotonic()
    report = dicom_import(study=study, source=root, manifest=manifest)
    elapsed = time.monotonic() - started

    rejected = [item.path for item in report.rejected]
    imported = {f"{item.case_code.lower()}/IM.dcm" for item in report.imported}
    assert len(rejected) == len(set(rejected)), "a file has two report lines"
    assert set(rejected).isdisjoint(imported)
    assert set(rejected) | imported == set(kinds), "a file is neither imported nor reported"
    bad = [item for item in report.rejected if not item.reason or "\n" in item.reason]
    assert not bad, bad[:3]
    controls = {path for path, kind in kinds.items() if kind == "control"}
    assert controls <= imported
    assert len(set(kinds.values())) == 13, "every kind of mutation was made"
    assert ImageSeries.objects.filter(case__study=study).count() == len(imported)
    reasons = {item.path: item.reason for item in report.rejected}
    removed = [p for p, k in kinds.items() if k == "remove" and p in reasons and "missing" in reasons[p]]
    assert removed, "files without a required attribute say which"
    print(f"fuzz: {len(kinds)} files imported or reported in {elapsed:.1f} s")
    assert elapsed < 120, f"the fuzz took {elapsed:.0f} s"


def test_fuzzed_archives_are_refused_or_reported_and_nothing_else_raises(study, conditions, tmp_path):
    dcm.write_series(tmp_path / "src", slices=3, rows=16, columns=16)
    good = zip_folder(tmp_path / "src", tmp_path / "good.zip").read_bytes()
    rng = random.Random(FUZZ_SEED)
    outcomes = set()
    for number in range(150):
        data = bytearray(good)
        if number % 3 == 0:
            data = data[: rng.randrange(len(data))]
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
        path = tmp_path / f"fuzz{number}.zip"
        path.write_bytes(bytes(data))
        try:
            report = dicom_import(
                study=study, source=path, manifest=[{"case": "K1", "condition": "LR", "folder": "."}]
            )
        except DicomImportError:
            outcomes.add("refused")
        else:
            outcomes.add("reported" if report.rejected or report.manifest_errors else "imported")
    assert "refused" in outcomes and "reported" in outcomes


def test_a_file_without_sop_class_uid_is_a_report_line_and_the_rest_imports(study, conditions, tmp_path):
    _, paths = dcm.write_series(tmp_path / "src" / "a", slices=4, rows=16, columns=16)
    dcm.write_series(tmp_path / "src" / "b", slices=3, rows=16, columns=16)
    last = pydicom.dcmread(paths[0])  # the highest slice (files are named in reverse)
    last.SOPInstanceUID = last.file_meta.MediaStorageSOPInstanceUID = "2.25.777"
    last.ImagePositionPatient = [-8.0, -8.0, 10.0 + 4 * 2.0]
    del last.SOPClassUID
    dcm.write(last, tmp_path / "src" / "a" / "no-class.dcm")
    rows = [
        {"case": "K1", "condition": "LR", "folder": "a"},
        {"case": "K1", "condition": "SR", "folder": "b"},
    ]
    report = dicom_import(study=study, source=tmp_path / "src", manifest=rows)

    assert [(r.path, r.reason) for r in report.rejected] == [
        ("a/no-class.dcm", "incomplete DICOM header (missing SOPClassUID): truncated or corrupt file")
    ]
    assert sorted((s.condition_label, s.num_instances) for s in report.imported) == [("LR", 4), ("SR", 3)]
    assert AuditEvent.objects.get(action="dicom.import").data["rejected_files"] == 1


def test_de_identification_refuses_a_dataset_without_sop_class_uid_clearly():
    ds = fuzz_base(1)
    del ds.SOPClassUID
    with pytest.raises(DeidentificationError, match="without SOPClassUID"):
        dataset_deidentify(ds, case_code="K1", uid_salt="salt")
    assert str(ds.PatientName) == dcm.PATIENT_NAME  # unchanged


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda data, px: data[:-100], "declares 512 bytes but the file ends 412 bytes later"),
        (lambda data, px: data[: px - 4] + struct.pack("<I", 2**31) + data[px:], "declares 2147483648 bytes"),
        (lambda data, px: data[: px - 4] + struct.pack("<I", 510) + data[px:-2], "pixel data is 510 bytes"),
        (lambda data, px: data[:128] + b"DICM" + bytes(4 * MiB), "no File Meta Information Group Length"),
    ],
    ids=["truncated", "huge-declared-length", "short-pixel-data", "zeros-after-dicm"],
)
def test_declared_lengths_are_checked_before_pixel_data_is_read(study, conditions, tmp_path, change, reason):
    data = dcm.to_bytes(fuzz_base(2))
    pixel_offset = next(offset for tag, _, offset in top_level_elements(data) if tag == 0x7FE00010)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "IM.dcm").write_bytes(change(data, pixel_offset))
    started = time.monotonic()
    report = dicom_import(
        study=study, source=tmp_path / "src", manifest=[{"case": "K1", "condition": "LR", "folder": "."}]
    )
    assert time.monotonic() - started < 2
    assert reason in report.rejected[0].reason and report.imported == []


def test_deflated_files_are_rejected(study, conditions, tmp_path):
    ds = fuzz_base(3)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    dcm.write(ds, tmp_path / "src" / "IM.dcm")
    report = dicom_import(
        study=study, source=tmp_path / "src", manifest=[{"case": "K1", "condition": "LR", "folder": "."}]
    )
    assert [r.reason for r in report.rejected] == ["deflated transfer syntax is not supported"]


def test_files_of_a_folder_over_the_member_cap_are_rejected(study, conditions, tmp_path, settings):
    dcm.write_series(tmp_path / "src", slices=2, rows=16, columns=16)
    settings.READERSTUDY_MAX_IMPORT_MEMBER = 1000
    report = dicom_import(
        study=study, source=tmp_path / "src", manifest=[{"case": "K1", "condition": "LR", "folder": "."}]
    )
    assert [(r.path, r.reason) for r in report.rejected] == [
        (name, "file larger than 1000 bytes") for name in ("IM0001.dcm", "IM0002.dcm")
    ]


# --------------------------------------------------------------------------- case codes


@pytest.mark.parametrize(
    "code", ["=cmd|' /C calc'!A0", "+1", "-K1", "@SUM(A1)", ".hidden", "K 1", "K/1", "Kü1"]
)
def test_case_codes_must_be_safe(study, conditions, tmp_path, code):
    dcm.write_series(tmp_path / "src" / "bad", slices=2, rows=16, columns=16)
    dcm.write_series(tmp_path / "src" / "good", slices=2, rows=16, columns=16)
    rows = [
        {"case": code, "condition": "LR", "folder": "bad"},
        {"case": "K-1_b.2", "condition": "LR", "folder": "good"},
    ]
    report = dicom_import(study=study, source=tmp_path / "src", manifest=rows)

    expected = f"row 1: case code {code!r} is not allowed (use {CASE_CODE_RULE})"
    assert report.manifest_errors == [expected]
    assert [s.reason for s in report.rejected_series] == [expected]
    assert [s.case_code for s in report.imported] == ["K-1_b.2"]
    assert list(study.cases.values_list("code", flat=True)) == ["K-1_b.2"]


# --------------------------------------------------------------------------- zip bombs


@pytest.fixture(scope="session")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """The archives of the tester's report, made once: zeros compress about 1000:1."""
    folder = tmp_path_factory.mktemp("bombs")
    paths = {}
    paths["1g"] = folder / "bomb-1g.zip"  # one member of 1 GiB, about 1 MB compressed
    with zipfile.ZipFile(paths["1g"], "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zeros_member(zf, "bomb/IM0001.dcm", GiB)
    paths["many"] = folder / "bomb-many.zip"  # 320 members of 1 MiB: each small, all together 320 MiB
    with zipfile.ZipFile(paths["many"], "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for index in range(320):
            zeros_member(zf, f"bomb/IM{index:04d}.dcm", MiB)
    paths["tester"] = folder / "tester.zip"  # 128 zeros + DICM + 200 MB of zeros: about 200 KB
    with zipfile.ZipFile(paths["tester"], "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zeros_member(zf, "x/IM0001.dcm", 200 * 1000 * 1000)
    return paths


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> dict[str, Path | dict[str, str]]:
    """A migrated SQLite database and media folder for subprocesses, with study 'site' (condition LR)."""
    folder = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "READERSTUDY_MEDIA_ROOT": str(folder / "media"),
        "PYTHONPATH": str(REPO),
    }
    setup = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from readerstudy.studies.models import Condition, Study\n"
        "study = Study.objects.create(name='Site', slug='site')\n"
        "Condition.objects.create(study=study, label='LR', order=1)\n"
    )
    subprocess.run([sys.executable, "-c", setup], env=env, cwd=REPO, check=True, timeout=120)
    return {"folder": folder, "db": folder / "db.sqlite3", "media": folder / "media", "env": env}


MEASURE = """
import json, re, sys, time
from pathlib import Path
import django; django.setup()
from django.conf import settings
from readerstudy.studies.models import Study
from readerstudy.imaging.dicom_import import DicomImportError, dicom_import

def status():
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"^{k}:\\s+(\\d+) kB", text, re.M)[1]) * 1024 for k in ("VmRSS", "VmHWM")}

study = Study.objects.get(slug="site")
list(study.conditions.all())
results = []
for number, case in enumerate(json.loads(sys.argv[1])):
    settings.READERSTUDY_MAX_IMPORT_MEMBER = case["member"]
    settings.READERSTUDY_MAX_IMPORT_UNCOMPRESSED = case["total"]
    try:  # reset the peak (VmHWM) to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    before = status()
    started = time.monotonic()
    try:
        report = dicom_import(
            study=study,
            source=Path(case["archive"]),
            manifest=[{"case": "K1", "condition": "LR", "folder": "."}],
            work_dir=Path(case["work"]) / str(number),
        )
        outcome = [item.reason for item in report.rejected]
    except DicomImportError as exc:
        outcome = exc.errors
    elapsed = time.monotonic() - started
    after = status()
    growth = after["VmHWM"] - (before["VmRSS"] if reset else before["VmHWM"])
    results.append({"elapsed": elapsed, "growth": growth, "reset": reset, "outcome": outcome})
print(json.dumps(results))
"""


def test_zip_bombs_are_refused_in_seconds_with_bounded_memory(site, bombs, tmp_path):
    cases = [
        {"archive": str(bombs["1g"]), "member": 512 * MiB, "total": 8 * GiB},  # the defaults
        {"archive": str(bombs["1g"]), "member": 4 * GiB, "total": 4 * GiB},  # caps above the bomb
        {"archive": str(bombs["many"]), "member": 512 * MiB, "total": 8 * GiB},
    ]
    for case in cases:
        case["work"] = str(tmp_path / "work")
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(cases)],
        env=site["env"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for result in results:
        print(f"zip bomb: {result['elapsed']:.2f} s, peak RSS growth {result['growth'] / MiB:.1f} MiB")
        assert result["elapsed"] < 5, result
        assert result["growth"] < 200 * MiB, result
    assert results[0]["outcome"] == ["archive member larger than 536870912 bytes; not extracted"]
    assert results[1]["outcome"] == [
        f"archive member expands more than {MAX_COMPRESSION_RATIO} times its compressed size (a zip bomb?); "
        "not extracted"
    ]
    assert "refused as a likely zip bomb" in results[2]["outcome"][0]
    assert not any((tmp_path / "work").iterdir()), "the extraction is removed"


def test_the_testers_zeros_member_is_refused_in_seconds(study, conditions, bombs, tmp_path):
    started = time.monotonic()
    report = dicom_import(
        study=study, source=bombs["tester"], manifest=[{"case": "K1", "condition": "LR", "folder": "."}]
    )
    assert time.monotonic() - started < 5
    assert [r.reason for r in report.rejected] == [
        f"archive member expands more than {MAX_COMPRESSION_RATIO} times its compressed size (a zip bomb?); "
        "not extracted"
    ]


def test_a_dicm_member_of_zeros_is_extracted_and_rejected_quickly(study, conditions, tmp_path):
    uid, _ = dcm.write_series(tmp_path / "series", slices=3, rows=16, columns=16)
    archive = zip_folder(tmp_path / "series", tmp_path / "upload.zip")
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zeros_member(zf, "zeros.dcm", 16 * MiB)
    started = time.monotonic()
    report = dicom_import(
        study=study, source=archive, manifest=[{"case": "K1", "condition": "LR", "series_instance_uid": uid}]
    )
    assert time.monotonic() - started < 5
    assert [(r.path, r.reason) for r in report.rejected] == [
        ("zeros.dcm", "no File Meta Information Group Length after 'DICM': not a DICOM file")
    ]
    assert [s.num_instances for s in report.imported] == [3]


def test_a_member_whose_header_understates_its_size_is_cut_off(study, conditions, bombs, tmp_path):
    data = bytearray(bombs["1g"].read_bytes())
    directory = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, directory + 24, 1000)  # the central directory's uncompressed size
    forged = tmp_path / "forged.zip"
    forged.write_bytes(bytes(data))
    started = time.monotonic()
    report = dicom_import(
        study=study, source=forged, manifest=[{"case": "K1", "condition": "LR", "folder": "."}]
    )
    assert time.monotonic() - started < 5
    assert [r.reason for r in report.rejected] == [
        "corrupt archive member: Bad CRC-32 for file 'bomb/IM0001.dcm'"
    ]


# --------------------------------------------------------------------------- crashes


def manage(site: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        env=site["env"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def import_jobs_rows(site: dict) -> list[tuple[int, str, str]]:
    with sqlite3.connect(site["db"]) as db:
        return db.execute("SELECT id, status, error FROM readerstudy_importjob ORDER BY id").fetchall()


def leftovers(site: dict) -> list[Path]:
    tmp = site["media"] / "import-tmp"
    return sorted(p for p in tmp.rglob("*") if p.is_file()) if tmp.exists() else []


@pytest.fixture(scope="module")
def slow_source(tmp_path_factory) -> tuple[Path, Path]:
    """A zip of one 300-slice series and its manifest: several seconds to import."""
    folder = tmp_path_factory.mktemp("slow")
    dcm.write_series(folder / "src" / "lr", slices=300, rows=16, columns=16)
    archive = zip_folder(folder / "src", folder / "slow.zip")
    return archive, write_manifest(folder / "slow.csv", [{"case": "S1", "condition": "LR", "folder": "lr"}])


def run_until_extracted(site: dict, source: tuple[Path, Path]) -> subprocess.Popen:
    """Start ``import_dicom`` in a process; return once its extraction has files on disk."""
    process = manage(site, "import_dicom", "site", str(source[0]), "--manifest", str(source[1]))
    deadline = time.monotonic() + 60
    while not any(p.parent.name == "lr" for p in leftovers(site)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the import did not start extracting"
        time.sleep(0.01)
    return process


def test_an_import_killed_outright_is_cleaned_up_at_the_next_start(site, slow_source, tmp_path):
    process = run_until_extracted(site, slow_source)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed_id, status, _ = import_jobs_rows(site)[-1]
    assert status == "running" and leftovers(site), "the crash leaves its job and files behind"

    dcm.write_series(tmp_path / "tiny" / "lr", slices=2, rows=16, columns=16)
    manifest = write_manifest(tmp_path / "tiny.csv", [{"case": "T1", "condition": "LR", "folder": "lr"}])
    nxt = manage(site, "import_dicom", "site", str(tmp_path / "tiny"), "--manifest", str(manifest))
    out, err = nxt.communicate(timeout=120)
    assert nxt.returncode == 0, err

    assert leftovers(site) == []
    rows = {job_id: (status, error) for job_id, status, error in import_jobs_rows(site)}
    assert rows[killed_id] == ("failed", INTERRUPTED)
    assert b"1 series imported" in out


def test_a_server_start_after_a_killed_import_removes_its_files(site, slow_source):
    process = run_until_extracted(site, slow_source)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert leftovers(site)
    recover = manage(site, "jobs_recover")  # what bin/demo and each gunicorn worker run at start
    _, err = recover.communicate(timeout=120)
    assert recover.returncode == 0, err
    assert leftovers(site) == []
    _, status, error = import_jobs_rows(site)[-1]
    assert (status, error) == ("failed", INTERRUPTED)


def test_an_import_stopped_by_sigterm_removes_its_files_itself(site, slow_source):
    process = run_until_extracted(site, slow_source)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert leftovers(site) == []
    _, status, error = import_jobs_rows(site)[-1]
    assert (status, error) == ("failed", INTERRUPTED)


def test_recovery_fails_jobs_of_dead_processes_and_removes_what_no_job_owns(study, coordinator, settings):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    host = runner_token().split(":")[0]

    def job(status: str, runner: str) -> ImportJob:
        created = ImportJob.objects.create(
            study=study,
            source_name="x.zip",
            manifest_text="case,condition,folder\n",
            status=status,
            runner=runner,
        )
        (import_job_folder(created.pk) / "extract" / "a").mkdir(parents=True)
        (import_job_folder(created.pk) / "extract" / "a" / "IM1.dcm").write_bytes(b"x" * 1000)
        return created

    crashed = job(ImportJob.Status.RUNNING, f"{host}:{dead.stdout.strip()}:0123456789ab")
    restarted = job(ImportJob.Status.RUNNING, f"{host}:{os.getpid()}:an-earlier-one")
    elsewhere = job(ImportJob.Status.RUNNING, "another-host:4242:0123456789ab")
    queued = job(ImportJob.Status.QUEUED, "")
    finished = job(ImportJob.Status.DONE, "")
    orphan = import_job_folder(10_000_000)
    orphan.mkdir(parents=True)
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    young = import_job_folder(0).with_name("upload-in-progress")
    young.mkdir()

    import_jobs_recover()

    for gone in (crashed, restarted):
        gone.refresh_from_db()
        assert (gone.status, gone.error) == (ImportJob.Status.FAILED, INTERRUPTED)
        assert not import_job_folder(gone.pk).exists()
    assert AuditEvent.objects.filter(action="dicom.import_interrupted").count() == 2
    for kept in (elsewhere, queued):
        kept.refresh_from_db()
        assert kept.status in (ImportJob.Status.RUNNING, ImportJob.Status.QUEUED)
        assert import_job_folder(kept.pk).exists()
    assert not import_job_folder(finished.pk).exists() and not orphan.exists() and young.exists()

    ImportJob.objects.filter(pk=elsewhere.pk).update(updated_at=elsewhere.updated_at.replace(year=2000))
    import_jobs_recover()  # silent for longer than READERSTUDY_JOBS_STALE_SECONDS: lost
    elsewhere.refresh_from_db()
    assert elsewhere.status == ImportJob.Status.FAILED and not import_job_folder(elsewhere.pk).exists()


# --------------------------------------------------------------------------- background jobs and the page


def upload(tmp_path: Path, *, slices: int = 40, series: int = 2) -> dict[str, SimpleUploadedFile]:
    rows = []
    for label in ("LR", "SR")[:series]:
        dcm.write_series(tmp_path / "src" / label, slices=slices, rows=16, columns=16)
        rows.append({"case": "K1", "condition": label, "folder": label})
    archive = zip_folder(tmp_path / "src", tmp_path / "upload.zip")
    manifest = write_manifest(tmp_path / "manifest.csv", rows)
    return {
        "archive": SimpleUploadedFile("upload.zip", archive.read_bytes(), "application/zip"),
        "manifest": SimpleUploadedFile("manifest.csv", manifest.read_bytes(), "text/csv"),
    }


def test_the_page_shows_a_running_import_and_then_its_report(
    client, study, conditions, coordinator, tmp_path, eager, monkeypatch, django_capture_on_commit_callbacks
):
    """The real runner writes progress; the page is read while it runs (from its progress hook)."""
    client.force_login(coordinator)
    seen: list[dict] = []
    pages: list[str] = []
    write = import_jobs._ProgressWriter.__call__

    def write_and_look(self, fraction: float, stage: str) -> None:
        write(self, fraction, stage)
        seen.append(
            client.get(reverse("readerstudy:study_import_state", args=[study.slug])).json()["jobs"][0]
        )
        if stage == "reading" and not pages:
            pages.append(client.get(reverse("readerstudy:study_import", args=[study.slug])).content.decode())
            job_id = seen[-1]["id"]
            pages.append(
                client.get(
                    reverse("readerstudy:study_import_job", args=[study.slug, job_id])
                ).content.decode()
            )

    monkeypatch.setattr(import_jobs._ProgressWriter, "__call__", write_and_look)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("readerstudy:study_import", args=[study.slug]), upload(tmp_path))
    job = ImportJob.objects.get()

    assert {state["status"] for state in seen} == {"running"}
    assert {state["stage"] for state in seen} == {"extracting", "reading", "importing"}
    progress = [state["progress"] for state in seen]
    assert progress == sorted(progress) and any(0.2 < p < 0.6 for p in progress)
    listing, detail = pages
    assert f'data-job="{job.pk}" data-status="running"' in listing and "reading" in listing
    assert 'data-status="running"' in detail and "Cancel" in detail and "<progress" in detail

    page = client.get(response["Location"]).content.decode()
    assert 'data-status="done"' in page and "2 series imported (80 instances)" in page
    assert client.get(reverse("readerstudy:study_import_state", args=[study.slug])).json()["active"] is False
    assert not import_job_folder(job.pk).exists()
    assert AuditEvent.objects.filter(action="dicom.import_queued", actor=coordinator).count() == 1


def test_a_running_import_is_cancelled_between_two_series(
    client, study, conditions, coordinator, tmp_path, eager, monkeypatch, django_capture_on_commit_callbacks
):
    client.force_login(coordinator)
    write = import_jobs._ProgressWriter.__call__

    def write_and_cancel(self, fraction: float, stage: str) -> None:
        write(self, fraction, stage)
        if stage == "importing" and fraction < 0.7:  # before the first of two series
            job = ImportJob.objects.get()
            client.post(reverse("readerstudy:study_import_cancel", args=[study.slug, job.pk]))

    monkeypatch.setattr(import_jobs._ProgressWriter, "__call__", write_and_cancel)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("readerstudy:study_import", args=[study.slug]), upload(tmp_path, slices=3))
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.CANCELLED
    assert job.report["cancelled"] is True and job.report["counts"]["imported_series"] == 1
    assert ImageSeries.objects.filter(case__study=study).count() == 1
    assert not import_job_folder(job.pk).exists()
    assert AuditEvent.objects.get(action="dicom.import_cancel").data == {"status": "running"}


def test_a_queued_import_is_cancelled_at_once(
    client, study, conditions, coordinator, tmp_path, django_capture_on_commit_callbacks
):
    client.force_login(coordinator)
    response = client.post(reverse("readerstudy:study_import", args=[study.slug]), upload(tmp_path, slices=2))
    job = ImportJob.objects.get()  # queued: the runner starts after the commit, which this test never makes
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="queued"' in page and "Cancel" in page
    assert (import_job_folder(job.pk) / "upload.zip").is_file()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("readerstudy:study_import_cancel", args=[study.slug, job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    assert not import_job_folder(job.pk).exists()
    assert import_job_run(job_id=job.pk) is None  # a runner that gets it later does nothing
    assert ImageSeries.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_imports_run_on_the_embedded_worker_thread(settings, tmp_path):
    settings.READERSTUDY_JOBS_EAGER = False
    settings.CELERY_BROKER_URL = ""
    coordinator = f.UserFactory(username="threadimport", roles=["coordinator"])
    study = f.StudyFactory(coordinators=[coordinator])
    f.ConditionFactory(study=study, label="LR")
    data = upload(tmp_path, slices=3, series=1)
    job = import_job_start(
        study=study,
        archive=data["archive"],
        manifest_text=data["manifest"].read().decode(),
        actor=coordinator,
    )
    assert jobs.jobs_wait(timeout=60), "the worker thread did not finish in time"
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.runner == runner_token()
    assert ImageSeries.objects.filter(case__study=study).count() == 1
    assert not import_job_folder(job.pk).exists()


def test_a_refused_archive_fails_its_job_and_is_audited(
    study, conditions, coordinator, bombs, eager, django_capture_on_commit_callbacks
):
    with bombs["many"].open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        job = import_job_start(
            study=study,
            archive=SimpleUploadedFile("many.zip", handle.read()),
            manifest_text="case,condition,folder\nK1,LR,.\n",
            actor=coordinator,
        )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and "likely zip bomb" in job.error
    assert "likely zip bomb" in AuditEvent.objects.get(action="dicom.import_failed").data["errors"][0]
    assert not import_job_folder(job.pk).exists()


def test_a_locked_study_or_a_bad_manifest_refuses_the_job_and_is_audited(
    study, conditions, coordinator, tmp_path
):
    data = upload(tmp_path, slices=2, series=1)
    with pytest.raises(DicomImportError, match="lacks the column"):
        import_job_start(study=study, archive=data["archive"], manifest_text="case\nK1\n", actor=coordinator)
    study.status = Study.Status.LOCKED
    study.save()
    with pytest.raises(DicomImportError, match="locked"):
        import_job_start(
            study=study, archive=data["archive"], manifest_text="case,condition,folder\n", actor=coordinator
        )
    assert ImportJob.objects.count() == 0
    assert AuditEvent.objects.filter(action="dicom.import_failed").count() == 2


def test_control_characters_in_names_are_stored_escaped_and_nul_in_a_manifest_refused(
    study, conditions, coordinator, tmp_path, eager, django_capture_on_commit_callbacks
):
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("odd\x1b[2J\x07name.dcm", b"not dicom")
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_start(
            study=study,
            archive=SimpleUploadedFile("odd\x07.zip", archive.read_bytes()),
            manifest_text="case,condition,folder\nK1,LR,.\n",
            actor=coordinator,
        )
    job.refresh_from_db()
    assert (job.status, job.source_name) == (ImportJob.Status.DONE, "odd\\x07.zip")
    assert job.report["rejected"] == [{"path": "odd\\x1b[2J\\x07name.dcm", "reason": NOT_DICOM}]

    with pytest.raises(DicomImportError, match="NUL characters"):
        import_job_start(
            study=study,
            archive=SimpleUploadedFile("x.zip", archive.read_bytes()),
            manifest_text="case,condition,folder\nK1\0,LR,.\n",
            actor=coordinator,
        )


def test_with_an_active_schedule_the_form_asks_for_and_passes_on_the_acknowledgement(
    client, study, conditions, coordinator, tmp_path, eager, django_capture_on_commit_callbacks
):
    url = reverse("readerstudy:study_import", args=[study.slug])
    client.force_login(coordinator)
    assert b'name="acknowledge_design_change"' not in client.get(url).content
    ReadingSchedule.objects.create(
        study=study, version=1, kind="crossed", seed="0", spec={}, plan=[], balance={}, status="active"
    )
    assert b'name="acknowledge_design_change"' in client.get(url).content

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {**upload(tmp_path, slices=2, series=1), "acknowledge_design_change": "on"})
    job = ImportJob.objects.get()
    assert job.acknowledge_design_change is True and job.status == ImportJob.Status.DONE
    change = AuditEvent.objects.get(action="dicom.import").data["design_change"]
    assert change["acknowledged"] is True and change["schedule_version"] == 1


def test_cancelling_a_finished_import_changes_nothing(study, coordinator):
    job = ImportJob.objects.create(
        study=study, source_name="x.zip", manifest_text="", status=ImportJob.Status.DONE
    )
    assert import_job_cancel(job=job, actor=coordinator) is False
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE


# --------------------------------------------------------------------------- permissions of the new pages


@pytest.mark.parametrize("name", ["study_import_job", "study_import_state", "study_import_cancel"])
def test_only_the_study_coordinators_may_see_or_cancel_imports(client, study, statistician, name):
    job = ImportJob.objects.create(study=study, source_name="x.zip", manifest_text="")
    args = [study.slug] if name == "study_import_state" else [study.slug, job.pk]
    url = reverse(f"readerstudy:{name}", args=args)
    method = client.post if name == "study_import_cancel" else client.get

    response = method(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    reader = f.UserFactory(roles=["reader"])
    other_coordinator = f.UserFactory(roles=["coordinator"])
    f.StudyFactory(coordinators=[other_coordinator])
    for user in (reader, statistician, other_coordinator):
        client.force_login(user)
        assert method(url).status_code == 403, user
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED

    client.force_login(study.coordinators.get())
    assert method(url).status_code in (200, 302)
    if name != "study_import_state":
        other = ImportJob.objects.create(study=f.StudyFactory(), source_name="y.zip", manifest_text="")
        assert method(reverse(f"readerstudy:{name}", args=[study.slug, other.pk])).status_code == 404
