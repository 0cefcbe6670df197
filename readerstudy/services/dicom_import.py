"""Import of DICOM files into a study: validation, grouping into series, de-identification.

``dicom_import`` reads a folder (searched recursively) or a zip archive, checks every
file with pydicom, groups the valid ones into series by SeriesInstanceUID, checks
each series' geometry, maps it to a case and condition through a manifest, and
stores the de-identified files (see ``deidentify``) with their geometry.

The manifest is a CSV with the columns ``case`` and ``condition`` and, per row,
either ``series_instance_uid`` (the original SeriesInstanceUID) or ``folder``
(a folder relative to the import root; every series whose files lie under it).

Nothing half-written stays behind: each series is written in one transaction and
the files stored for a series that fails are removed again. Importing the same
files twice changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import logging
import math
import os
import stat
import tempfile
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pydicom
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from sr_engine.volume import slice_normal

from .. import blinding
from ..models import Case, Condition, DicomInstance, ImageSeries, SourceIdentity, Study
from .audit import audit_event_create
from .deidentify import dataset_deidentify, uid_pseudonymize

logger = logging.getLogger(__name__)

#: Default cap on the total uncompressed size of an archive (override with the
#: setting ``READERSTUDY_MAX_IMPORT_UNCOMPRESSED``, bytes).
DEFAULT_MAX_UNCOMPRESSED = 16 * 1024**3
MAX_ARCHIVE_MEMBERS = 200_000
#: Files that archivers and desktops leave behind; skipped without a report line.
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
IGNORED_FOLDERS = {"__MACOSX"}

NOT_IN_MANIFEST = "not in manifest"
NOT_DICOM = "not a DICOM file (no 128-byte preamble with the 'DICM' prefix)"
MANIFEST_COLUMNS = ("case", "condition", "series_instance_uid", "folder")

#: Geometry tolerances (mm, direction cosines).
POSITION_TOLERANCE_MM = 0.01
SPACING_TOLERANCE = 0.02  # relative deviation allowed between slice gaps
COSINE_TOLERANCE = 0.01


class DicomImportError(ValueError):
    """The import cannot start: bad manifest, missing source or unusable archive.

    Raised before anything is written. ``errors`` lists every problem found.
    """

    def __init__(self, message: str, errors: list[str] | None = None):
        self.errors = errors or [message]
        super().__init__(message)


@dataclass(frozen=True)
class ManifestRow:
    """One mapping of the manifest: a series (by UID or folder) to a case and condition."""

    line: str
    case: str
    condition: str
    series_instance_uid: str = ""
    folder: str = ""


@dataclass
class ImportedSeries:
    case_code: str
    condition_label: str
    num_instances: int
    series: ImageSeries


@dataclass
class RejectedFile:
    path: str
    reason: str


@dataclass
class RejectedSeries:
    series_instance_uid: str
    folder: str
    reason: str
    num_files: int


@dataclass
class UnmappedSeries:
    series_instance_uid: str
    folder: str
    num_files: int
    reason: str = NOT_IN_MANIFEST


@dataclass
class ImportReport:
    """What an import did: imported, already present, rejected and unmapped series.

    Every rejected file is in ``rejected`` with its reason, also when its whole
    series was rejected (then the series is in ``rejected_series`` too).
    ``manifest_errors`` lists manifest rows that could not be used.
    """

    imported: list[ImportedSeries] = field(default_factory=list)
    already_present: list[ImportedSeries] = field(default_factory=list)
    rejected: list[RejectedFile] = field(default_factory=list)
    rejected_series: list[RejectedSeries] = field(default_factory=list)
    unmapped: list[UnmappedSeries] = field(default_factory=list)
    manifest_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file was imported (or already present) and the manifest fully used."""
        return not (self.rejected or self.rejected_series or self.unmapped or self.manifest_errors)

    def counts(self) -> dict[str, int]:
        return {
            "imported_series": len(self.imported),
            "imported_instances": sum(item.num_instances for item in self.imported),
            "already_present_series": len(self.already_present),
            "rejected_files": len(self.rejected),
            "rejected_series": len(self.rejected_series),
            "unmapped_series": len(self.unmapped),
            "manifest_errors": len(self.manifest_errors),
        }

    def summary(self) -> str:
        """One line of counts."""
        c = self.counts()
        return (
            f"{c['imported_series']} series imported ({c['imported_instances']} instances), "
            f"{c['already_present_series']} already present, "
            f"{c['rejected_files']} files rejected ({c['rejected_series']} whole series), "
            f"{c['unmapped_series']} series not in manifest, "
            f"{c['manifest_errors']} manifest errors."
        )


# ---------------------------------------------------------------------------
# Public entry point


def dicom_import(
    *,
    study: Study,
    source: Path,
    manifest: Path | str | list[dict[str, str]],
    actor: Any = None,
) -> ImportReport:
    """Import the DICOM files of ``source`` (folder or .zip) into ``study`` as mapped by ``manifest``.

    ``manifest`` is a CSV file path or already-parsed rows (dicts with the manifest
    columns). Raises ``DicomImportError`` before writing anything when the manifest
    is malformed or the source unusable; problems with single files or series are
    reported in the returned ``ImportReport``.
    """
    if study.status == Study.Status.LOCKED:
        raise DicomImportError("The study is locked: nothing can be imported into it.")
    rows = manifest_parse(manifest)
    source = Path(source)
    manifest_path = Path(manifest).resolve() if isinstance(manifest, str | Path) else None
    report = ImportReport()
    conditions = {condition.label.casefold(): condition for condition in study.conditions.all()}

    with _import_root(source, report) as root:
        walked = _walk(root, skip=manifest_path)
        parsed, seen_series = _read_files(root, walked, report)
        candidates = _series_candidates(parsed, report)
        _check_rows_used(rows, conditions, seen_series, walked, report)
        for candidate, row in _map_to_rows(candidates, rows, conditions, report):
            _series_import(
                study=study,
                candidate=candidate,
                case_code=row.case,
                condition=conditions[row.condition.casefold()],
                actor=actor,
                report=report,
            )

    report.rejected.sort(key=lambda item: item.path)
    audit_event_create(actor=actor, action="dicom.import", study=study, data=report.counts())
    return report


# ---------------------------------------------------------------------------
# Manifest


def manifest_parse(manifest: Path | str | list[dict[str, str]]) -> list[ManifestRow]:
    """Read and check a manifest (CSV file path, or rows as dicts).

    Raises ``DicomImportError`` listing every problem: missing columns, empty
    manifest, empty values, a row with both or neither of ``series_instance_uid``
    and ``folder``, unsafe folders, and duplicate mappings.
    """
    if isinstance(manifest, str | Path):
        raw_rows = _manifest_csv_rows(Path(manifest))
    else:
        raw_rows = [(f"row {number}", row) for number, row in enumerate(manifest, start=1)]
        if not raw_rows:
            raise DicomImportError("The manifest is empty.")
        _check_columns({str(key).strip().lower() for row in manifest for key in row})

    errors: list[str] = []
    rows: list[ManifestRow] = []
    for line, raw in raw_rows:
        values = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(values.get(column) for column in MANIFEST_COLUMNS):
            continue  # blank line
        row, problem = _manifest_row(line, values)
        if problem:
            errors.append(problem)
        else:
            rows.append(row)
    if not rows and not errors:
        raise DicomImportError("The manifest has no rows.")
    errors.extend(_duplicate_errors(rows))
    if errors:
        raise DicomImportError("Invalid manifest: " + "; ".join(errors), errors)
    return rows


def _manifest_csv_rows(path: Path) -> list[tuple[str, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise DicomImportError(f"Manifest not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DicomImportError(f"Cannot read the manifest as UTF-8 text: {exc}") from exc
    if not text.strip():
        raise DicomImportError("The manifest is empty.")
    reader = csv.DictReader(io.StringIO(text))
    try:
        _check_columns({(name or "").strip().lower() for name in reader.fieldnames or []})
        return [(f"line {reader.line_num}", row) for row in reader]
    except csv.Error as exc:
        raise DicomImportError(f"The manifest is not valid CSV: {exc}") from exc


def _check_columns(columns: set[str]) -> None:
    missing = [column for column in ("case", "condition") if column not in columns]
    if missing:
        raise DicomImportError(f"The manifest lacks the column(s) {', '.join(missing)}.")
    if "series_instance_uid" not in columns and "folder" not in columns:
        raise DicomImportError("The manifest needs a 'series_instance_uid' or a 'folder' column.")


def _manifest_row(line: str, values: dict[str, str]) -> tuple[ManifestRow | None, str]:
    case, condition = values.get("case", ""), values.get("condition", "")
    uid, folder = values.get("series_instance_uid", ""), values.get("folder", "")
    if not case or not condition:
        return None, f"{line}: case and condition are required"
    if len(case) > Case._meta.get_field("code").max_length:
        return None, f"{line}: case code {case!r} is too long"
    if bool(uid) == bool(folder):
        return None, f"{line}: give either series_instance_uid or folder"
    if folder:
        normalized = _safe_relative(folder)
        if normalized is None:
            return None, f"{line}: folder {folder!r} must be a relative path without '..'"
        folder = normalized
    return ManifestRow(line, case, condition, uid, folder), ""


def _duplicate_errors(rows: list[ManifestRow]) -> list[str]:
    errors = []
    keys: list[tuple[str, Callable[[ManifestRow], object]]] = [
        ("series_instance_uid", lambda row: row.series_instance_uid or None),
        ("folder", lambda row: row.folder if not row.series_instance_uid else None),
        ("case and condition", lambda row: (row.case, row.condition.casefold())),
    ]
    for name, key in keys:
        lines: dict[object, list[str]] = defaultdict(list)
        for row in rows:
            if (value := key(row)) is not None:
                lines[value].append(row.line)
        errors += [f"duplicate {name} in {', '.join(found)}" for found in lines.values() if len(found) > 1]
    return errors


def _safe_relative(path: str) -> str | None:
    """``path`` as a normalized relative POSIX path ('.' for the root), or None if unsafe."""
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        return None
    return pure.as_posix()


# ---------------------------------------------------------------------------
# Source: folder or zip archive


@contextmanager
def _import_root(source: Path, report: ImportReport) -> Iterator[Path]:
    """The folder to import: ``source`` itself, or a temporary extraction of a zip."""
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise DicomImportError(f"Source not found: {source}")
    if not zipfile.is_zipfile(source):
        raise DicomImportError(f"Source is neither a folder nor a zip archive: {source.name}")
    with tempfile.TemporaryDirectory(prefix="dicom-import-") as tmp:
        root = Path(tmp)
        _zip_extract(source, root, report)
        yield root


def _zip_extract(archive: Path, root: Path, report: ImportReport) -> None:
    """Extract the safe members of ``archive`` into ``root``; report the unsafe ones.

    Rejects absolute paths, '..' components, links and encrypted members, and caps
    the number of members and their total uncompressed size.
    """
    limit = getattr(settings, "READERSTUDY_MAX_IMPORT_UNCOMPRESSED", DEFAULT_MAX_UNCOMPRESSED)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [info for info in zf.infolist() if not info.is_dir()]
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise DicomImportError(f"The archive has more than {MAX_ARCHIVE_MEMBERS} files.")
            if sum(info.file_size for info in members) > limit:
                raise DicomImportError(f"The archive expands to more than {limit} bytes.")
            written = 0
            seen: set[str] = set()
            for info in members:
                reason, relative = _zip_member_problem(info, seen)
                if reason:
                    report.rejected.append(RejectedFile(info.filename, reason))
                    continue
                seen.add(relative)
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    written += _copy_capped(zf, info, target, limit - written)
                except zipfile.BadZipFile as exc:
                    target.unlink(missing_ok=True)
                    report.rejected.append(RejectedFile(info.filename, f"corrupt archive member: {exc}"))
    except zipfile.BadZipFile as exc:
        raise DicomImportError(f"The archive is not a valid zip file: {exc}") from exc


def _zip_member_problem(info: zipfile.ZipInfo, seen: set[str]) -> tuple[str, str]:
    relative = _safe_relative(info.filename)
    if relative is None or relative == ".":
        return "unsafe path in archive (absolute or containing '..'); not extracted", ""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link in archive; not extracted", ""
    if info.flag_bits & 0x1:
        return "encrypted archive member; not extracted", ""
    if relative in seen:
        return "duplicate name in archive; not extracted", ""
    return "", relative


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    written = 0
    with zf.open(info) as src, target.open("wb") as dst:
        while chunk := src.read(1024 * 1024):
            written += len(chunk)
            if written > budget:
                raise DicomImportError("The archive expands to more than the allowed size.")
            dst.write(chunk)
    return written


def _walk(root: Path, *, skip: Path | None) -> list[tuple[Path, str]]:
    """Every file under ``root`` as (path, relative POSIX path), sorted, without known litter."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if name not in IGNORED_FOLDERS)
        for name in sorted(filenames):
            path = Path(folder) / name
            if name in IGNORED_NAMES or (skip is not None and path.resolve() == skip):
                continue
            found.append((path, path.relative_to(root).as_posix()))
    return found


# ---------------------------------------------------------------------------
# Reading and checking single files


@dataclass
class _ParsedFile:
    path: Path
    rel: str
    source_sha256: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    rows: int
    columns: int
    orientation: tuple[float, ...]
    pixel_spacing: tuple[float, float]
    position: tuple[float, float, float]
    instance_number: int | None
    slice_thickness: float | None
    modality: str
    series_description: str
    identity: dict[str, str]


class _Rejected(Exception):
    """A file that cannot be imported; the message is the reason."""


def _read_files(
    root: Path, walked: list[tuple[Path, str]], report: ImportReport
) -> tuple[list[_ParsedFile], set[str]]:
    """Parse and check each file; return the valid ones and every SeriesInstanceUID seen."""
    parsed, seen_series = [], set()
    for path, rel in walked:
        try:
            data = _read_dicom_bytes(path)
            ds = _dcmread(data)
            if uid := str(ds.get("SeriesInstanceUID", "")).strip():
                seen_series.add(uid)
            parsed.append(_parse(ds, path=path, rel=rel, sha256=hashlib.sha256(data).hexdigest()))
        except _Rejected as exc:
            report.rejected.append(RejectedFile(rel, str(exc)))
        except OSError as exc:
            report.rejected.append(RejectedFile(rel, f"cannot read file: {exc.strerror or exc}"))
        except Exception as exc:  # malformed values surface lazily, as many kinds of error
            report.rejected.append(RejectedFile(rel, f"corrupt DICOM file: {exc}"))
    return parsed, seen_series


def _read_dicom_bytes(path: Path) -> bytes:
    """The file's bytes; only the first 132 are read when the DICOM 'DICM' prefix is missing."""
    with path.open("rb") as fh:
        head = fh.read(132)
        if head[128:132] != b"DICM":
            raise _Rejected(NOT_DICOM)
        return head + fh.read()


def _dcmread(data: bytes) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(io.BytesIO(data))
        except InvalidDicomError as exc:
            raise _Rejected(NOT_DICOM) from exc
        except Exception as exc:  # pydicom raises many kinds on damaged files
            raise _Rejected(f"corrupt DICOM file: {exc}") from exc


def _parse(ds: Dataset, *, path: Path, rel: str, sha256: str) -> _ParsedFile:
    """Check one dataset and extract what the import needs; raise ``_Rejected`` with the reason."""
    if "DirectoryRecordSequence" in ds:
        raise _Rejected("DICOMDIR (a media directory), not an image")
    missing = [k for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID") if not ds.get(k)]
    if missing:
        raise _Rejected(f"incomplete DICOM header (missing {', '.join(missing)}): truncated or corrupt file")
    if "PixelData" not in ds:
        raise _Rejected("no pixel data (not an image, or the file is truncated)")
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        raise _Rejected(f"multi-frame image ({frames} frames) is not supported; export single-frame images")
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        raise _Rejected("burned-in annotation in the pixels (may identify the patient)")
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if not rows or not columns:
        raise _Rejected("missing image size (Rows/Columns)")
    orientation = _floats(ds, "ImageOrientationPatient", 6)
    position = _floats(ds, "ImagePositionPatient", 3)
    spacing = _floats(ds, "PixelSpacing", 2)
    if min(spacing) <= 0:
        raise _Rejected(f"invalid PixelSpacing {list(spacing)}")
    _check_orientation(orientation)
    _check_pixels(ds, rows, columns)
    thickness = ds.get("SliceThickness")
    return _ParsedFile(
        path=path,
        rel=rel,
        source_sha256=sha256,
        sop_instance_uid=str(ds.SOPInstanceUID).strip(),
        series_instance_uid=str(ds.SeriesInstanceUID).strip(),
        study_instance_uid=str(ds.StudyInstanceUID).strip(),
        rows=rows,
        columns=columns,
        orientation=orientation,
        pixel_spacing=(spacing[0], spacing[1]),
        position=(position[0], position[1], position[2]),
        instance_number=int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None,
        slice_thickness=float(thickness) if thickness not in (None, "") else None,
        modality=str(ds.get("Modality", "")),
        series_description=str(ds.get("SeriesDescription", "")),
        identity=_identity(ds),
    )


def _floats(ds: Dataset, keyword: str, count: int) -> tuple[float, ...]:
    value = ds.get(keyword)
    if value is None or value == "":
        raise _Rejected(f"missing geometry: {keyword}")
    try:
        numbers = tuple(float(v) for v in (value if isinstance(value, list | tuple) else list(value)))
    except (TypeError, ValueError) as exc:
        raise _Rejected(f"invalid {keyword}: {value}") from exc
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        raise _Rejected(f"invalid {keyword}: expected {count} numbers, got {list(numbers)}")
    return numbers


def _check_orientation(orientation: tuple[float, ...]) -> None:
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    unit = abs(np.linalg.norm(row) - 1) < COSINE_TOLERANCE and abs(np.linalg.norm(col) - 1) < COSINE_TOLERANCE
    if not unit or abs(float(np.dot(row, col))) > COSINE_TOLERANCE:
        raise _Rejected(
            f"invalid ImageOrientationPatient {list(orientation)} (not two orthogonal unit vectors)"
        )


def _check_pixels(ds: Dataset, rows: int, columns: int) -> None:
    """Decode the pixel data to be sure it is complete and matches Rows x Columns."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = ds.pixel_array
    except Exception as exc:  # decoders raise many kinds on damaged data
        raise _Rejected(f"pixel data cannot be decoded (truncated or corrupt): {exc}") from exc
    if pixels.shape[:2] != (rows, columns):
        raise _Rejected(f"pixel data has shape {pixels.shape}, expected {rows}x{columns}")


def _identity(ds: Dataset) -> dict[str, str]:
    def text(keyword: str) -> str:
        return str(ds.get(keyword, "") or "").strip()

    return {
        "patient_id": text("PatientID"),
        "patient_name": text("PatientName"),
        "patient_birth_date": text("PatientBirthDate"),
        "accession_number": text("AccessionNumber"),
        "study_date": text("StudyDate"),
        "institution_name": text("InstitutionName"),
        "study_instance_uid": text("StudyInstanceUID"),
        "series_instance_uid": text("SeriesInstanceUID"),
        "frame_of_reference_uid": text("FrameOfReferenceUID"),
    }


# ---------------------------------------------------------------------------
# Series: grouping and geometry


@dataclass
class _Candidate:
    """A series whose files passed every check, in slice order."""

    uid: str
    files: list[_ParsedFile]
    folder: str
    slice_spacing: float | None


def _series_candidates(parsed: list[_ParsedFile], report: ImportReport) -> list[_Candidate]:
    by_series: dict[str, list[_ParsedFile]] = defaultdict(list)
    for item in parsed:
        by_series[item.series_instance_uid].append(item)
    candidates = []
    for uid, files in by_series.items():
        try:
            candidates.append(_series_check(uid, files, report))
        except _SeriesRejected as exc:
            _reject_series(report, uid, exc.files, str(exc), exc.file_reasons)
    return candidates


class _SeriesRejected(Exception):
    def __init__(self, reason: str, files: list[_ParsedFile], file_reasons: dict[str, str] | None = None):
        super().__init__(reason)
        self.files = files
        self.file_reasons = file_reasons or {}


#: Attributes every file of a series must share: (name, key, how to show a value).
_CONSISTENCY: tuple[tuple[str, Callable[[_ParsedFile], object], Callable[[Any], str]], ...] = (
    ("image size", lambda f: (f.rows, f.columns), lambda v: f"{v[0]}x{v[1]}"),
    ("orientation", lambda f: tuple(round(x, 3) for x in f.orientation), lambda v: str(list(v))),
    ("pixel spacing", lambda f: tuple(round(x, 4) for x in f.pixel_spacing), lambda v: str(list(v))),
    ("StudyInstanceUID", lambda f: f.study_instance_uid, lambda v: "another study"),
)


def _series_check(uid: str, files: list[_ParsedFile], report: ImportReport) -> _Candidate:
    """Drop files that disagree with the series; sort the rest along the slice normal.

    Raises ``_SeriesRejected`` when the series as a whole is unusable.
    """
    files = _drop_duplicate_instances(files, report)
    for name, key, show in _CONSISTENCY:
        counts = Counter(key(f) for f in files).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            raise _SeriesRejected(f"files disagree on {name} and no value is held by a majority", files)
        majority = counts[0][0]
        for f in [f for f in files if key(f) != majority]:
            reason = f"{name} {show(key(f))} differs from the rest of the series ({show(majority)})"
            report.rejected.append(RejectedFile(f.rel, reason))
        files = [f for f in files if key(f) == majority]

    normal = slice_normal(files[0].orientation)
    distances = {f.rel: float(np.dot(f.position, normal)) for f in files}
    files.sort(key=lambda f: distances[f.rel])
    gaps = [distances[b.rel] - distances[a.rel] for a, b in itertools.pairwise(files)]

    duplicates = {
        f.rel
        for index, gap in enumerate(gaps)
        if gap < POSITION_TOLERANCE_MM
        for f in (files[index], files[index + 1])
    }
    if duplicates:
        raise _SeriesRejected(
            "several files at the same slice position",
            files,
            dict.fromkeys(duplicates, "duplicate slice position (another file of the series is there too)"),
        )
    spacing = None
    if gaps:
        spacing = float(np.median(gaps))
        allowed = max(POSITION_TOLERANCE_MM, SPACING_TOLERANCE * spacing)
        uneven = [(i, g) for i, g in enumerate(gaps) if abs(g - spacing) > allowed]
        if uneven:
            index, gap = uneven[0]
            raise _SeriesRejected(
                f"slice positions are not evenly spaced: gap of {gap:.2f} mm between "
                f"{files[index].rel} and {files[index + 1].rel} where {spacing:.2f} mm is expected "
                "(missing slice?)",
                files,
            )
        spacing = round(float(np.mean(gaps)), 6)
    return _Candidate(uid=uid, files=files, folder=_common_folder(files), slice_spacing=spacing)


def _drop_duplicate_instances(files: list[_ParsedFile], report: ImportReport) -> list[_ParsedFile]:
    first: dict[str, _ParsedFile] = {}
    kept = []
    for f in files:
        if f.sop_instance_uid in first:
            other = first[f.sop_instance_uid]
            same = "identical copy" if other.source_sha256 == f.source_sha256 else "same SOPInstanceUID"
            report.rejected.append(RejectedFile(f.rel, f"duplicate instance ({same} as {other.rel})"))
        else:
            first[f.sop_instance_uid] = f
            kept.append(f)
    return kept


def _common_folder(files: list[_ParsedFile]) -> str:
    parents = [PurePosixPath(f.rel).parent.as_posix() for f in files]
    common = os.path.commonpath(parents) if parents else "."
    return PurePosixPath(common).as_posix() or "."


def _reject_series(
    report: ImportReport,
    uid: str,
    files: list[_ParsedFile],
    reason: str,
    file_reasons: dict[str, str] | None = None,
) -> None:
    file_reasons = file_reasons or {}
    report.rejected_series.append(RejectedSeries(uid, _common_folder(files), reason, len(files)))
    for f in files:
        report.rejected.append(RejectedFile(f.rel, file_reasons.get(f.rel, f"series rejected: {reason}")))


# ---------------------------------------------------------------------------
# Mapping series to manifest rows


def _check_rows_used(
    rows: list[ManifestRow],
    conditions: dict[str, Condition],
    seen_series: set[str],
    walked: list[tuple[Path, str]],
    report: ImportReport,
) -> None:
    """Report rows naming an unknown condition, or matching no file at all."""
    rels = [PurePosixPath(rel) for _, rel in walked]
    for row in rows:
        if row.condition.casefold() not in conditions:
            known = ", ".join(sorted(c.label for c in conditions.values())) or "none"
            report.manifest_errors.append(
                f"{row.line}: condition {row.condition!r} does not exist in this study (known: {known})"
            )
        if row.series_instance_uid and row.series_instance_uid not in seen_series:
            report.manifest_errors.append(f"{row.line}: no file of series {row.series_instance_uid} found")
        if row.folder and not any(_under(rel, row.folder) for rel in rels):
            report.manifest_errors.append(f"{row.line}: no file found under folder {row.folder!r}")


def _under(rel: PurePosixPath, folder: str) -> bool:
    parts = PurePosixPath(folder).parts if folder != "." else ()
    return rel.parent.parts[: len(parts)] == parts


def _map_to_rows(
    candidates: list[_Candidate],
    rows: list[ManifestRow],
    conditions: dict[str, Condition],
    report: ImportReport,
) -> list[tuple[_Candidate, ManifestRow]]:
    """Pair each series with its manifest row; report unmapped, ambiguous and colliding ones."""
    by_uid = {row.series_instance_uid: row for row in rows if row.series_instance_uid}
    folder_rows = sorted(
        (row for row in rows if row.folder),
        key=lambda row: len(PurePosixPath(row.folder).parts),
        reverse=True,
    )
    planned: list[tuple[_Candidate, ManifestRow]] = []
    for candidate in candidates:
        row = by_uid.get(candidate.uid)
        if row is None:
            matches = {_deepest_folder_row(f.rel, folder_rows) for f in candidate.files}
            if matches == {None}:
                report.unmapped.append(UnmappedSeries(candidate.uid, candidate.folder, len(candidate.files)))
                continue
            if len(matches) > 1:
                lines = sorted(m.line if m else "no row" for m in matches)
                _reject_series(
                    report,
                    candidate.uid,
                    candidate.files,
                    f"files of the series lie under different manifest folders ({', '.join(lines)})",
                )
                continue
            row = matches.pop()
        if row.condition.casefold() not in conditions:
            _reject_series(
                report,
                candidate.uid,
                candidate.files,
                f"{row.line}: condition {row.condition!r} does not exist in this study",
            )
            continue
        planned.append((candidate, row))

    slots: dict[tuple[str, str], list[tuple[_Candidate, ManifestRow]]] = defaultdict(list)
    for candidate, row in planned:
        slots[(row.case, row.condition.casefold())].append((candidate, row))
    result = []
    for (case, _), pairs in slots.items():
        if len(pairs) == 1:
            result.extend(pairs)
            continue
        for candidate, row in pairs:
            _reject_series(
                report,
                candidate.uid,
                candidate.files,
                f"{len(pairs)} series map to case {case} / condition {row.condition} ({row.line})",
            )
    return result


def _deepest_folder_row(rel: str, folder_rows: list[ManifestRow]) -> ManifestRow | None:
    path = PurePosixPath(rel)
    return next((row for row in folder_rows if _under(path, row.folder)), None)


# ---------------------------------------------------------------------------
# Writing one series


def _series_import(
    *,
    study: Study,
    candidate: _Candidate,
    case_code: str,
    condition: Condition,
    actor: Any,
    report: ImportReport,
) -> None:
    """Store one checked series (or find it already stored), all or nothing."""
    new_uid = uid_pseudonymize(candidate.uid, salt=study.uid_salt)
    existing = (
        ImageSeries.objects.select_related("case", "condition").filter(series_instance_uid=new_uid).first()
    )
    if existing is not None:
        _report_existing(study, candidate, existing, case_code, condition, report)
        return
    if ImageSeries.objects.filter(case__study=study, case__code=case_code, condition=condition).exists():
        _reject_series(
            report,
            candidate.uid,
            candidate.files,
            f"case {case_code} already has a different series for condition {condition.label}",
        )
        return

    stored: list[str] = []
    try:
        with transaction.atomic():
            series = _series_write(study, candidate, case_code, condition, stored)
            audit_event_create(
                actor=actor,
                action="series.import",
                target=series,
                study=study,
                data={"case": case_code, "condition": condition.label, "instances": len(candidate.files)},
            )
    except BaseException as exc:
        for name in stored:
            default_storage.delete(name)
        if not isinstance(exc, OSError | DatabaseError | _Rejected):
            raise
        logger.warning("Import of series %s failed: %s", candidate.uid, exc)
        _reject_series(report, candidate.uid, candidate.files, f"could not be stored: {exc}")
        return
    try:  # made now so that the first reader does not wait for it
        blinding.series_metadata_neutral(series)
    except OSError as exc:  # made on first use instead
        logger.warning("The blinded metadata of series %s could not be stored: %s", series.public_id, exc)
    report.imported.append(ImportedSeries(case_code, condition.label, len(candidate.files), series))


def _report_existing(
    study: Study,
    candidate: _Candidate,
    existing: ImageSeries,
    case_code: str,
    condition: Condition,
    report: ImportReport,
) -> None:
    same_slot = existing.case.code == case_code and existing.condition_id == condition.pk
    if existing.case.study_id != study.pk or not same_slot:
        _reject_series(
            report,
            candidate.uid,
            candidate.files,
            f"already imported as case {existing.case.code} / condition {existing.condition.label}",
        )
        return
    stored = set(existing.instances.values_list("sop_instance_uid", flat=True))
    incoming = {uid_pseudonymize(f.sop_instance_uid, salt=study.uid_salt) for f in candidate.files}
    if stored != incoming:
        _reject_series(
            report,
            candidate.uid,
            candidate.files,
            f"already imported with other instances ({len(stored)} stored, {len(incoming)} now); "
            "delete the series first to import it again",
        )
        return
    report.already_present.append(ImportedSeries(case_code, condition.label, len(stored), existing))


def _series_write(
    study: Study, candidate: _Candidate, case_code: str, condition: Condition, stored: list[str]
) -> ImageSeries:
    """Create the rows and files of one series; appends each stored file name to ``stored``."""
    first = candidate.files[0]
    salt = study.uid_salt
    case, _ = Case.objects.get_or_create(study=study, code=case_code)
    series = ImageSeries.objects.create(
        case=case,
        condition=condition,
        series_instance_uid=uid_pseudonymize(candidate.uid, salt=salt),
        study_instance_uid=uid_pseudonymize(first.study_instance_uid, salt=salt),
        modality=first.modality[:16],
        description=first.series_description[:200],
        rows=first.rows,
        columns=first.columns,
        num_slices=len(candidate.files),
        pixel_spacing=list(first.pixel_spacing),
        slice_spacing=candidate.slice_spacing,
        slice_thickness=first.slice_thickness,
        orientation=list(first.orientation),
        origin=list(first.position),
    )
    SourceIdentity.objects.create(series=series, **_truncated_identity(first.identity))
    for index, item in enumerate(candidate.files):
        payload, sop_uid = _deidentified_bytes(item, case_code=case.code, salt=salt)
        instance = DicomInstance(
            series=series,
            sop_instance_uid=sop_uid,
            slice_index=index,
            instance_number=item.instance_number,
            image_position=list(item.position),
            sha256=hashlib.sha256(payload).hexdigest(),
            source_sha256=item.source_sha256,
            size=len(payload),
        )
        instance.file.save(f"{sop_uid}.dcm", ContentFile(payload), save=False)
        stored.append(instance.file.name)
        instance.save()
    return series


def _deidentified_bytes(item: _ParsedFile, *, case_code: str, salt: str) -> tuple[bytes, str]:
    data = item.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != item.source_sha256:
        raise _Rejected(f"{item.rel} changed during the import")
    ds = _dcmread(data)
    dataset_deidentify(ds, case_code=case_code, uid_salt=salt)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue(), str(ds.SOPInstanceUID)


def _truncated_identity(identity: dict[str, str]) -> dict[str, str]:
    return {key: value[: SourceIdentity._meta.get_field(key).max_length] for key, value in identity.items()}
