"""Import of DICOM files into a study: validation, grouping into series, de-identification.

``dicom_import`` reads a folder (searched recursively) or a zip archive, checks every
file, groups the valid ones into series by SeriesInstanceUID, checks each series'
geometry, maps it to a case and condition through a manifest, and stores the
de-identified files (see ``deidentify``) with their geometry.

Projection images (radiographs: modality DX, CR or MG, and any single 2D image without
ImageOrientationPatient and ImagePositionPatient) have no patient-space geometry: the
image plane is their frame (``image_plane_geometry``), their pixel spacing comes from
PixelSpacing or ImagerPixelSpacing, corrected by EstimatedRadiographicMagnificationFactor
(``projection_spacing``), and the series records which (``pixel_spacing_source``). Such a
series is one image: several images, or a multi-frame image, without geometry are refused.

The manifest is a CSV with the columns ``case`` and ``condition`` and, per row,
either ``series_instance_uid`` (the original SeriesInstanceUID) or ``folder``
(a folder relative to the import root; every series whose files lie under it).
Case codes are letters, digits, ``-``, ``_`` and ``.``, starting with a letter or digit.

Sources are untrusted (``readerstudy.imaging.import_safety``): zip members are streamed with
per-member, total and compression-ratio caps, and each file's header is read and
checked (declared lengths against the file's size) before its pixel data is.

Nothing knocks an import over and nothing half-written stays behind: every failure of a
file or series, whatever the exception, is a line of the report; each series is
written in one transaction (files stored for a series that fails are removed again);
every import is audited, also one that fails or is refused. Importing the same files
twice changes nothing.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import itertools
import logging
import math
import os
import re
import shutil
import stat
import tempfile
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pydicom
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, models, transaction
from pydicom.dataset import Dataset
from pydicom.uid import UID

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_event_create
from readerstudy.design.services import DesignChangeUnacknowledged, schedule_design_change_check
from readerstudy.errors import ServiceError
from readerstudy.imaging import blinding, first_image
from readerstudy.imaging.deidentify import dataset_deidentify, uid_pseudonymize
from readerstudy.imaging.display_grid import cases_display_grid_apply, series_native_sop_uids
from readerstudy.imaging.import_safety import (
    PIXEL_DATA,
    ArchiveRefused,
    DicomFileRejected,
    ExtractLimits,
    MemberRefused,
    PixelDataInfo,
    dicom_header_read,
    dicom_read,
    zip_member_extract,
)
from readerstudy.imaging.models import DicomInstance, ImageSeries, SourceIdentity
from readerstudy.imaging.nifti_import import (
    DEFAULT_MAX_NIFTI_VOXELS,
    NiftiRefused,
    nifti_file_sha256,
    nifti_series_uid,
    nifti_series_write,
    reference_series_for,
)
from readerstudy.imaging.pixels import pixel_data_span_of_bytes
from readerstudy.studies.models import Case, Condition, Study
from sr_engine.nifti_io import is_nifti_path
from sr_engine.volume import slice_normal

logger = logging.getLogger(__name__)
#: Default caps on a zip archive (override with the settings
#: ``READERSTUDY_MAX_IMPORT_UNCOMPRESSED`` and ``READERSTUDY_MAX_IMPORT_MEMBER``, bytes);
#: the member cap also applies to every file of a folder.
DEFAULT_MAX_UNCOMPRESSED = 8 * 1024**3
DEFAULT_MAX_MEMBER = 512 * 1024**2
MAX_ARCHIVE_MEMBERS = 200_000
#: Report lines of one kind kept in ``ImportReport.as_dict`` (the counts stay complete).
MAX_REPORT_LINES = 5_000
#: Files that archivers and desktops leave behind; skipped without a report line.
IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
IGNORED_FOLDERS = {"__MACOSX"}
NOT_IN_MANIFEST = "not in manifest"
MANIFEST_COLUMNS = ("case", "condition", "series_instance_uid", "folder", "nifti")
#: Case codes a manifest may give (they become patient names and IDs, and appear in exports).
CASE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
CASE_CODE_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit"
#: Header attributes every imported file must have.
REQUIRED_ATTRIBUTES = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "Modality")
#: Modalities of projection images (radiographs: digital and computed radiography, mammography):
#: they have no patient-space geometry, whatever their header holds; the image plane is the frame.
PROJECTION_MODALITIES = frozenset({"DX", "CR", "MG"})
#: Where a projection image's pixel spacing came from (``ImageSeries.pixel_spacing_source``).
SPACING_FROM_PIXEL_SPACING = "PixelSpacing"
SPACING_FROM_IMAGER = "ImagerPixelSpacing"
SPACING_FROM_IMAGER_MAGNIFICATION = "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
#: EstimatedRadiographicMagnificationFactor values accepted (real ones are about 1.0 to 1.5).
MAGNIFICATION_RANGE = (0.1, 10.0)
#: The image frame of a projection image: rows along +x, columns along +y (ImageOrientationPatient).
IMAGE_PLANE_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
#: Geometry tolerances (mm, direction cosines).
POSITION_TOLERANCE_MM = 0.01
SPACING_TOLERANCE = 0.02  # relative deviation allowed between slice gaps
COSINE_TOLERANCE = 0.01
#: Parts of the progress bar: extracting the archive, reading the files, storing the series.
_STAGES = {"extracting": (0.0, 0.2), "reading": (0.2, 0.6), "importing": (0.6, 1.0)}
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
#: Called with the fraction done (0..1) and the stage's name, between files and series
#: (never inside a series' transaction); it may raise ``ImportCancelled``.
ProgressHook = Callable[[float, str], None]


class DicomImportError(ServiceError, ValueError):
    """The import cannot start or go on: bad manifest, missing source or unusable archive.

    ``errors`` lists every problem found.
    """

    def __init__(self, message: str, errors: list[str] | None = None):
        self.errors = errors or [message]
        super().__init__(message)


class ImportCancelled(Exception):
    """Raised by a progress hook to stop an import between two files or series."""


@dataclass(frozen=True)
class ManifestRow:
    """One mapping of the manifest: a series (by UID, folder or NIfTI file) to a case and condition."""

    line: str
    case: str
    condition: str
    series_instance_uid: str = ""
    folder: str = ""
    nifti: str = ""


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
    ``manifest_errors`` lists manifest rows that could not be used; ``cancelled``
    says the import was stopped before its end (the series imported until then stay).
    """

    imported: list[ImportedSeries] = field(default_factory=list)
    already_present: list[ImportedSeries] = field(default_factory=list)
    rejected: list[RejectedFile] = field(default_factory=list)
    rejected_series: list[RejectedSeries] = field(default_factory=list)
    unmapped: list[UnmappedSeries] = field(default_factory=list)
    manifest_errors: list[str] = field(default_factory=list)
    cancelled: bool = False
    #: The accepted change of design (see ``schedule_design_change_check``), or None.
    design_change: dict[str, Any] | None = None
    #: Series of the imported cases that could not be put on the study's display grid, and why.
    display_grid: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file was imported (or already present) and the manifest fully used."""
        return not (
            self.rejected or self.rejected_series or self.unmapped or self.manifest_errors or self.cancelled
        )

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
            ("Cancelled: " if self.cancelled else "")
            + f"{c['imported_series']} series imported ({c['imported_instances']} instances), "
            f"{c['already_present_series']} already present, "
            f"{c['rejected_files']} files rejected ({c['rejected_series']} whole series), "
            f"{c['unmapped_series']} series not in manifest, "
            f"{c['manifest_errors']} manifest errors."
        )

    def lines(self) -> list[str]:
        """The report as text: the summary, then one line per series, file and manifest problem."""
        lines = [self.summary()]
        lines += [
            f"imported: {s.case_code} / {s.condition_label} ({s.num_instances} instances)"
            for s in self.imported
        ]
        lines += [f"already present: {s.case_code} / {s.condition_label}" for s in self.already_present]
        lines += [
            f"rejected series {s.series_instance_uid} in {s.folder}: {s.reason}" for s in self.rejected_series
        ]
        lines += [f"rejected file {r.path}: {r.reason}" for r in self.rejected]
        lines += [f"not in manifest: series {u.series_instance_uid} in {u.folder}" for u in self.unmapped]
        lines += [f"manifest: {error}" for error in self.manifest_errors]
        lines += [f"display grid: {note}" for note in self.display_grid]
        return lines

    def as_dict(self, max_lines: int = MAX_REPORT_LINES) -> dict[str, Any]:
        """The report as JSON-able data (what an import job stores), at most ``max_lines`` per list.

        ``omitted`` counts the lines left out per list.
        """

        def series(items: list[ImportedSeries]) -> list[dict[str, Any]]:
            return [
                {"case": s.case_code, "condition": s.condition_label, "instances": s.num_instances}
                for s in items
            ]

        lists: dict[str, list[Any]] = {
            "imported": series(self.imported),
            "already_present": series(self.already_present),
            "rejected_series": [
                {
                    "series": s.series_instance_uid,
                    "folder": s.folder,
                    "files": s.num_files,
                    "reason": s.reason,
                }
                for s in self.rejected_series
            ],
            "rejected": [{"path": r.path, "reason": r.reason} for r in self.rejected],
            "unmapped": [
                {
                    "series": u.series_instance_uid,
                    "folder": u.folder,
                    "files": u.num_files,
                    "reason": u.reason,
                }
                for u in self.unmapped
            ],
            "manifest_errors": list(self.manifest_errors),
            "display_grid": list(self.display_grid),
        }
        omitted = {name: len(items) - max_lines for name, items in lists.items() if len(items) > max_lines}
        data: dict[str, Any] = {name: _printable(items[:max_lines]) for name, items in lists.items()}
        data.update(summary=self.summary(), counts=self.counts(), cancelled=self.cancelled, omitted=omitted)
        return data


def report_text(text: str) -> str:
    """``text`` with control characters (which file names and values may hold, and which some
    databases cannot store) written as escapes, e.g. NUL as ``\\x00``."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return report_text(value)
    if isinstance(value, list):
        return [_printable(item) for item in value]
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------------------
# Public entry point


def dicom_import(
    *,
    study: Study,
    source: Path,
    manifest: Path | str | Sequence[dict[str, str]] | Sequence[ManifestRow],
    actor: Any = None,
    work_dir: Path | None = None,
    skip: Path | None = None,
    progress: ProgressHook | None = None,
    acknowledge_design_change: bool = False,
) -> ImportReport:
    """Import the DICOM files of ``source`` (folder or .zip) into ``study`` as mapped by ``manifest``.

    ``manifest`` is a CSV file path, rows as dicts with the manifest columns, or
    ``ManifestRow`` objects from ``manifest_parse``. A zip is extracted into
    ``work_dir`` (created, and removed at the end) or a temporary folder. ``skip`` is
    a file under a folder source that is not imported (a manifest file is skipped
    anyway). ``progress`` is called between files and series and may stop the import
    by raising ``ImportCancelled``; the report then says ``cancelled``.
    ``acknowledge_design_change`` is the coordinator's acknowledgement that the import
    may add cases or conditions an active schedule does not cover; it is recorded in
    the audit event.

    Raises ``DicomImportError`` when the import cannot start or go on (malformed
    manifest, missing source, archive over its caps), before writing anything; every
    other problem, with a file or a series, is a line of the returned ``ImportReport``.
    Every outcome is audited: ``dicom.import`` (with the counts) or
    ``dicom.import_failed`` (with the errors).
    """
    report = ImportReport()
    try:
        _import(
            report,
            study=study,
            source=Path(source),
            manifest=manifest,
            actor=actor,
            work_dir=work_dir,
            skip=skip,
            progress=progress,
            acknowledge_design_change=acknowledge_design_change,
        )
    except ImportCancelled:
        report.cancelled = True
    except DicomImportError as exc:
        _audit_failure(actor, study, report, exc.errors)
        raise
    except Exception as exc:
        logger.exception("The import into study %s failed", study.slug)
        _audit_failure(actor, study, report, [f"unexpected error ({type(exc).__name__}: {exc})"])
        raise
    report.rejected.sort(key=lambda item: item.path)
    audit_event_create(
        actor=actor,
        action=AuditAction.DICOM_IMPORT,
        study=study,
        data={
            **report.counts(),
            "cancelled": report.cancelled,
            "design_change": report.design_change,
        },
    )
    return report


def _import(
    report: ImportReport,
    *,
    study: Study,
    source: Path,
    manifest: Path | str | Sequence[dict[str, str]] | Sequence[ManifestRow],
    actor: Any,
    work_dir: Path | None,
    skip: Path | None,
    progress: ProgressHook | None,
    acknowledge_design_change: bool,
) -> None:
    if study.status == Study.Status.LOCKED:
        raise DicomImportError("The study is locked: nothing can be imported into it.")
    if isinstance(manifest, str | Path):
        skip = skip or Path(manifest)
    rows = _manifest_rows(manifest)
    conditions = {condition.label.casefold(): condition for condition in study.conditions.all()}
    limits = import_limits()

    with _import_root(source, report, work_dir=work_dir, limits=limits, progress=progress) as root:
        nifti_rows = _nifti_rows_check(root, rows, conditions, report)
        skipped = {(root / row.nifti).resolve() for row in rows if row.nifti}
        if skip:
            skipped.add(skip.resolve())
        walked = _walk(root, skip=skipped)
        parsed, seen_series = _read_files(walked, report, max_size=limits.member, progress=progress)
        candidates = _series_candidates(parsed, report)
        _check_rows_used([row for row in rows if not row.nifti], conditions, seen_series, walked, report)
        planned = _map_to_rows(candidates, rows, conditions, report)
        slots = planned + [(None, row) for row in nifti_rows]
        # Every series' case and condition is known and nothing is written yet: an active
        # schedule that does not cover them is a design change the coordinator must accept.
        try:
            change = schedule_design_change_check(
                study,
                new_condition_labels=[conditions[row.condition.casefold()].label for _, row in slots],
                new_case_codes=[row.case for _, row in slots],
                acknowledged=acknowledge_design_change,
            )
        except DesignChangeUnacknowledged as exc:
            raise DicomImportError(str(exc)) from None
        report.design_change = change.audit_data() if change else None
        for index, (candidate, row) in enumerate(planned):
            _tick(progress, "importing", index / len(slots))
            _series_import_reported(
                study=study,
                candidate=candidate,
                case_code=row.case,
                condition=conditions[row.condition.casefold()],
                actor=actor,
                report=report,
                max_size=limits.member,
            )
        for index, row in enumerate(nifti_rows, start=len(planned)):  # after their cases' DICOM series
            _tick(progress, "importing", index / len(slots))
            _nifti_import(
                study=study,
                root=root,
                row=row,
                condition=conditions[row.condition.casefold()],
                actor=actor,
                report=report,
                max_size=limits.member,
            )
        # The common display grid of the cases that got a series (the grid's or another's), and of
        # those found present (an earlier import that stopped before this step is finished now).
        report.display_grid = cases_display_grid_apply(
            study, {item.series.case_id for item in report.imported + report.already_present}, actor=actor
        )


def import_limits() -> ExtractLimits:
    """The configured caps on an archive's members and total (bytes)."""
    return ExtractLimits(
        member=int(getattr(settings, "READERSTUDY_MAX_IMPORT_MEMBER", DEFAULT_MAX_MEMBER)),
        total=int(getattr(settings, "READERSTUDY_MAX_IMPORT_UNCOMPRESSED", DEFAULT_MAX_UNCOMPRESSED)),
    )


def _tick(progress: ProgressHook | None, stage: str, fraction: float) -> None:
    if progress is not None:
        low, high = _STAGES[stage]
        progress(low + (high - low) * min(max(fraction, 0.0), 1.0), stage)


def _audit_failure(actor: Any, study: Study, report: ImportReport, errors: list[str]) -> None:
    """Record a failed or refused import (the log keeps it when the database cannot)."""
    try:
        audit_event_create(
            actor=actor,
            action=AuditAction.DICOM_IMPORT_FAILED,
            study=study,
            data={**report.counts(), "errors": [report_text(error) for error in errors[:50]]},
        )
    except DatabaseError:
        logger.exception("The failed import into study %s could not be audited: %s", study.slug, errors)


# ---------------------------------------------------------------------------
# Manifest


def _manifest_rows(
    manifest: Path | str | Sequence[dict[str, str]] | Sequence[ManifestRow],
) -> list[ManifestRow]:
    if (
        not isinstance(manifest, str | Path)
        and manifest
        and all(isinstance(r, ManifestRow) for r in manifest)
    ):
        return list(manifest)  # type: ignore[arg-type]
    return manifest_parse(manifest)  # type: ignore[arg-type]


def manifest_parse(manifest: Path | str | Sequence[dict[str, str]]) -> list[ManifestRow]:
    """Read and check a manifest (CSV file path, or rows as dicts).

    Raises ``DicomImportError`` listing every problem: missing columns, empty
    manifest, empty values, a row with both or neither of ``series_instance_uid``
    and ``folder``, unsafe folders, and duplicate mappings. (Case codes are checked
    against ``CASE_CODE`` when the series are mapped: a bad one is a report line.)
    """
    if isinstance(manifest, str | Path):
        return _rows_check(_manifest_csv_rows(manifest_text_read(Path(manifest))))
    raw_rows = [(f"row {number}", row) for number, row in enumerate(manifest, start=1)]
    if not raw_rows:
        raise DicomImportError("The manifest is empty.")
    _check_columns({str(key).strip().lower() for row in manifest for key in row})
    return _rows_check(raw_rows)


def manifest_parse_csv(text: str) -> list[ManifestRow]:
    """Read and check a manifest given as CSV text (see ``manifest_parse``)."""
    return _rows_check(_manifest_csv_rows(text))


def _rows_check(raw_rows: list[tuple[str, dict[str, str]]]) -> list[ManifestRow]:
    errors: list[str] = []
    rows: list[ManifestRow] = []
    for line, raw in raw_rows:
        values = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(values.get(column) for column in MANIFEST_COLUMNS):
            continue  # blank line
        row, problem = _manifest_row(line, values)
        if row is None:
            errors.append(problem)
        else:
            rows.append(row)
    if not rows and not errors:
        raise DicomImportError("The manifest has no rows.")
    errors.extend(_duplicate_errors(rows))
    if errors:
        raise DicomImportError("Invalid manifest: " + "; ".join(errors), errors)
    return rows


def manifest_text_read(path: Path) -> str:
    """The text of the manifest file at ``path``; ``DicomImportError`` when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise DicomImportError(f"Manifest not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DicomImportError(f"Cannot read the manifest as UTF-8 text: {exc}") from exc


def _manifest_csv_rows(text: str) -> list[tuple[str, dict[str, str]]]:
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise DicomImportError("The manifest is empty.")
    if "\0" in text:
        raise DicomImportError("The manifest contains NUL characters: it is not CSV text.")
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
    if not columns & {"series_instance_uid", "folder", "nifti"}:
        raise DicomImportError("The manifest needs a 'series_instance_uid', a 'folder' or a 'nifti' column.")


def _manifest_row(line: str, values: dict[str, str]) -> tuple[ManifestRow | None, str]:
    case, condition = values.get("case", ""), values.get("condition", "")
    uid, folder, nifti = (
        values.get("series_instance_uid", ""),
        values.get("folder", ""),
        values.get("nifti", ""),
    )
    if not case or not condition:
        return None, f"{line}: case and condition are required"
    max_length = Case._meta.get_field("code").max_length
    if max_length is not None and len(case) > max_length:
        return None, f"{line}: case code {case!r} is too long"
    if sum(map(bool, (uid, folder, nifti))) != 1:
        return None, f"{line}: give one of series_instance_uid, folder or nifti"
    if folder:
        normalized = _safe_relative(folder)
        if normalized is None:
            return None, f"{line}: folder {folder!r} must be a relative path without '..'"
        folder = normalized
    if nifti:
        normalized = _safe_relative(nifti)
        if normalized is None or normalized == ".":
            return None, f"{line}: nifti {nifti!r} must be a relative path to a file, without '..'"
        if not is_nifti_path(normalized):
            return None, f"{line}: nifti {nifti!r} must end in .nii or .nii.gz"
        nifti = normalized
    return ManifestRow(line, case, condition, uid, folder, nifti), ""


def case_code_problem(row: ManifestRow) -> str:
    """Why the row's case code is not allowed, or '' when it is."""
    if CASE_CODE.fullmatch(row.case):
        return ""
    return f"{row.line}: case code {row.case!r} is not allowed (use {CASE_CODE_RULE})"


def _duplicate_errors(rows: list[ManifestRow]) -> list[str]:
    errors = []
    keys: list[tuple[str, Callable[[ManifestRow], object]]] = [
        ("series_instance_uid", lambda row: row.series_instance_uid or None),
        ("folder", lambda row: row.folder or None),
        ("nifti", lambda row: row.nifti or None),
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
    if "\0" in path or pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        return None
    return pure.as_posix()


@contextmanager
def _import_root(
    source: Path,
    report: ImportReport,
    *,
    work_dir: Path | None,
    limits: ExtractLimits,
    progress: ProgressHook | None,
) -> Iterator[Path]:
    """The folder to import: ``source`` itself, or an extraction of a zip (removed afterwards)."""
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise DicomImportError(f"Source not found: {source}")
    if not zipfile.is_zipfile(source):
        raise DicomImportError(f"Source is neither a folder nor a zip archive: {source.name}")
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="dicom-import-") as tmp:
            _zip_extract(source, Path(tmp), report, limits=limits, progress=progress)
            yield Path(tmp)
        return
    work_dir.mkdir(parents=True)
    try:
        _zip_extract(source, work_dir, report, limits=limits, progress=progress)
        yield work_dir
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _zip_extract(
    archive: Path, root: Path, report: ImportReport, *, limits: ExtractLimits, progress: ProgressHook | None
) -> None:
    """Extract the safe members of ``archive`` into ``root``; report the others.

    Rejects absolute paths, '..' components, links and encrypted members, and members
    over their cap or compression ratio; refuses the archive (``DicomImportError``)
    with too many members or when its content is over the total cap or ratio.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except Exception as exc:  # a damaged central directory, as several kinds of error
        raise DicomImportError(f"The archive is not a valid zip file: {exc}") from exc
    with zf:
        members = [info for info in zf.infolist() if not info.is_dir()]
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise DicomImportError(f"The archive has more than {MAX_ARCHIVE_MEMBERS} files.")
        if sum(info.file_size for info in members) > limits.total:
            raise DicomImportError(f"The archive expands to more than {limits.total} bytes.")
        archive_size = archive.stat().st_size
        extracted = 0
        seen: set[str] = set()
        for index, info in enumerate(members):
            _tick(progress, "extracting", index / len(members))
            reason, relative = _zip_member_problem(info, seen)
            if reason:
                report.rejected.append(RejectedFile(info.filename, reason))
                continue
            seen.add(relative)
            try:
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted += zip_member_extract(
                    zf, info, target, limits=limits, archive_size=archive_size, extracted=extracted
                )
            except MemberRefused as exc:
                report.rejected.append(RejectedFile(info.filename, str(exc)))
            except ArchiveRefused as exc:
                raise DicomImportError(str(exc)) from exc
            except OSError as exc:
                if exc.errno in _DISK_FULL:
                    raise DicomImportError(f"The archive could not be extracted: {exc.strerror}.") from exc
                report.rejected.append(RejectedFile(info.filename, f"cannot be extracted: {exc}"))
    _tick(progress, "extracting", 1.0)


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


def _walk(root: Path, *, skip: set[Path]) -> list[tuple[Path, str]]:
    """Every file under ``root`` as (path, relative POSIX path), sorted, without known litter
    and without the files in ``skip`` (resolved paths: the manifest, NIfTI rows' files)."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if name not in IGNORED_FOLDERS)
        for name in sorted(filenames):
            path = Path(folder) / name
            if name in IGNORED_NAMES or path.resolve() in skip:
                continue
            found.append((path, path.relative_to(root).as_posix()))
    return found


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
    projection: bool = False
    pixel_spacing_source: str = SPACING_FROM_PIXEL_SPACING


def _read_files(
    walked: list[tuple[Path, str]], report: ImportReport, *, max_size: int, progress: ProgressHook | None
) -> tuple[list[_ParsedFile], set[str]]:
    """Check each file; return the valid ones and every SeriesInstanceUID seen.

    Whatever goes wrong with a file (any exception) is its report line.
    """
    parsed: list[_ParsedFile] = []
    seen_series: set[str] = set()
    for index, (path, rel) in enumerate(walked):
        _tick(progress, "reading", index / len(walked))
        try:
            parsed.append(_file_check(path, rel, max_size=max_size, seen_series=seen_series))
        except DicomFileRejected as exc:
            report.rejected.append(RejectedFile(rel, str(exc)))
        except OSError as exc:
            if exc.errno is None:  # pydicom's way of saying the data ended early
                report.rejected.append(RejectedFile(rel, f"corrupt DICOM file: {_brief(exc)}"))
            else:
                report.rejected.append(RejectedFile(rel, f"cannot read file: {exc.strerror or exc}"))
        except Exception as exc:  # malformed values surface lazily, as many kinds of error
            report.rejected.append(RejectedFile(rel, f"corrupt DICOM file: {_brief(exc)}"))
    _tick(progress, "reading", 1.0)
    return parsed, seen_series


def _file_check(path: Path, rel: str, *, max_size: int, seen_series: set[str]) -> _ParsedFile:
    """Header first (declared lengths checked), then the pixel data is decoded; raise with the reason."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise DicomFileRejected("not a regular file")
    with warnings.catch_warnings():  # invalid values are rejected with a reason, not warned about
        warnings.simplefilter("ignore")
        ds, pixels = dicom_header_read(path, max_size=max_size)
        if uid := str(ds.get("SeriesInstanceUID", "") or "").strip():
            seen_series.add(uid)
        parsed = _parse(ds, pixels, path=path, rel=rel, sha256=_sha256(path))
        _check_pixels(dicom_read(path, max_size=max_size), parsed.rows, parsed.columns)
    return parsed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _brief(exc: BaseException, *, with_kind: bool = False) -> str:
    """One line for the report: the message, with the kind of error when asked or when it says little."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if with_kind or isinstance(exc, KeyError | AttributeError | TypeError | IndexError | MemoryError):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= 300 else text[:297] + "…"


def _parse(ds: Dataset, pixels: PixelDataInfo | None, *, path: Path, rel: str, sha256: str) -> _ParsedFile:
    """Check one header and extract what the import needs; raise ``DicomFileRejected`` with the reason."""
    if "DirectoryRecordSequence" in ds:
        raise DicomFileRejected("DICOMDIR (a media directory), not an image")
    missing = [k for k in REQUIRED_ATTRIBUTES if not str(ds.get(k, "") or "").strip()]
    if missing:
        raise DicomFileRejected(
            f"incomplete DICOM header (missing {', '.join(missing)}): truncated or corrupt file"
        )
    if pixels is None:
        raise DicomFileRejected("no pixel data (not an image, or the file is truncated)")
    if pixels.tag != PIXEL_DATA:
        raise DicomFileRejected("floating-point pixel data is not supported")
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        if _is_projection(ds):
            raise DicomFileRejected(
                f"multi-frame image ({frames} frames) without patient geometry (no "
                "ImageOrientationPatient/ImagePositionPatient) is not supported: its frames cannot be "
                "placed; import each frame as a single image of its own series"
            )
        raise DicomFileRejected(
            f"multi-frame image ({frames} frames) is not supported; export single-frame images"
        )
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        raise DicomFileRejected("burned-in annotation in the pixels (may identify the patient)")
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows <= 0 or columns <= 0:
        raise DicomFileRejected("missing image size (Rows/Columns)")
    _check_pixel_length(ds, pixels, rows, columns)
    modality = str(ds.get("Modality", "")).strip()
    projection = _is_projection(ds)
    if projection:
        spacing, spacing_source = projection_spacing(ds)
        orientation, position = image_plane_geometry(spacing)
    else:
        orientation = _floats(ds, "ImageOrientationPatient", 6)
        x, y, z = _floats(ds, "ImagePositionPatient", 3)
        position = (x, y, z)
        spacing = _spacing(ds, "PixelSpacing")
        spacing_source = SPACING_FROM_PIXEL_SPACING
        _check_orientation(orientation)
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
        slice_thickness=float(thickness) if thickness not in (None, "") and not projection else None,
        modality=modality,
        series_description=str(ds.get("SeriesDescription", "")),
        identity=_identity(ds),
        projection=projection,
        pixel_spacing_source=spacing_source,
    )


def _is_projection(ds: Dataset) -> bool:
    """A projection image: of a radiographic modality, or without any patient-space geometry."""
    return str(ds.get("Modality", "")).strip().upper() in PROJECTION_MODALITIES or _without_patient_geometry(
        ds
    )


def _without_patient_geometry(ds: Dataset) -> bool:
    """Whether the header has neither ImageOrientationPatient nor ImagePositionPatient."""
    return all(
        ds.get(keyword) in (None, "") for keyword in ("ImageOrientationPatient", "ImagePositionPatient")
    )


def _spacing(ds: Dataset, keyword: str) -> tuple[float, float]:
    """A (row, column) spacing attribute, in mm; ``DicomFileRejected`` when missing or not positive."""
    spacing = _floats(ds, keyword, 2)
    if min(spacing) <= 0:
        raise DicomFileRejected(f"invalid {keyword} {list(spacing)}")
    return spacing[0], spacing[1]


def projection_spacing(ds: Dataset) -> tuple[tuple[float, float], str]:
    """The (row, column) pixel spacing (mm) of a projection image and the attributes it came from.

    PixelSpacing, where present, is the spacing in the patient (already calibrated: DICOM
    PS3.3 C.8.11.7, "Pixel Spacing" of the DX image module, and 10.7.1.3); else
    ImagerPixelSpacing, the spacing at the detector's front plane, divided by
    EstimatedRadiographicMagnificationFactor when the header has one (PS3.3 C.8.11.7: the
    ratio of source-to-image to source-to-object distance, which maps the detector back to
    the patient). Raises ``DicomFileRejected`` when neither spacing is usable or the factor is
    not a plausible positive number.
    """
    if ds.get("PixelSpacing") not in (None, ""):
        return _spacing(ds, "PixelSpacing"), SPACING_FROM_PIXEL_SPACING
    if ds.get("ImagerPixelSpacing") in (None, ""):
        raise DicomFileRejected(
            "missing pixel spacing: a projection image needs PixelSpacing or ImagerPixelSpacing"
        )
    row, column = _spacing(ds, "ImagerPixelSpacing")
    raw = ds.get("EstimatedRadiographicMagnificationFactor")
    if raw in (None, ""):
        return (row, column), SPACING_FROM_IMAGER
    try:
        factor = float(raw)
    except (TypeError, ValueError) as exc:
        raise DicomFileRejected(f"invalid EstimatedRadiographicMagnificationFactor: {raw}") from exc
    low, high = MAGNIFICATION_RANGE
    if not (math.isfinite(factor) and low <= factor <= high):
        raise DicomFileRejected(
            f"invalid EstimatedRadiographicMagnificationFactor {raw} "
            f"(expected a number from {low:g} to {high:g})"
        )
    return (row / factor, column / factor), SPACING_FROM_IMAGER_MAGNIFICATION


def image_plane_geometry(spacing: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, float, float]]:
    """The orientation and origin stored for a projection image: the image's own frame, in mm.

    Rows run along +x and columns along +y, z = 0, and the top-left pixel's centre lies half
    a pixel in from the image's corner, so a point (x, y) of the workstation (measured from
    the corner, in pixels) is at (x * column spacing, y * row spacing, 0) mm.
    """
    row, column = (float(v) for v in spacing)
    return IMAGE_PLANE_ORIENTATION, (column / 2, row / 2, 0.0)


def _check_pixel_length(ds: Dataset, pixels: PixelDataInfo, rows: int, columns: int) -> None:
    """The pixel data's declared length must be what the image attributes need (uncompressed),
    or undefined (compressed: encapsulated fragments, checked when decoded)."""
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if not syntax.is_transfer_syntax:
        raise DicomFileRejected(f"unknown transfer syntax {syntax}")
    if pixels.encapsulated != syntax.is_compressed:
        kind = "compressed" if syntax.is_compressed else "uncompressed"
        raise DicomFileRejected(f"pixel data encoding does not match its {kind} transfer syntax")
    if pixels.encapsulated:
        return
    bits, samples = int(ds.get("BitsAllocated") or 0), int(ds.get("SamplesPerPixel") or 1)
    if bits not in (1, 8, 16, 32, 64):
        raise DicomFileRejected(f"unsupported BitsAllocated {bits}")
    if samples not in (1, 3):
        raise DicomFileRejected(f"unsupported SamplesPerPixel {samples}")
    expected = (rows * columns * samples * bits + 7) // 8
    if not expected <= pixels.length <= expected + 1:
        raise DicomFileRejected(
            f"pixel data is {pixels.length} bytes where {rows}x{columns} pixels of {bits} bits "
            f"need {expected} (truncated or corrupt)"
        )


def _floats(ds: Dataset, keyword: str, count: int) -> tuple[float, ...]:
    value = ds.get(keyword)
    if value is None or value == "":
        raise DicomFileRejected(f"missing geometry: {keyword}")
    try:
        values = [value] if isinstance(value, int | float) else value  # one value of a DS/IS/FD
        numbers = tuple(float(v) for v in (values if isinstance(values, list | tuple) else list(values)))
    except (TypeError, ValueError) as exc:
        raise DicomFileRejected(f"invalid {keyword}: {value}") from exc
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        raise DicomFileRejected(f"invalid {keyword}: expected {count} numbers, got {list(numbers)}")
    return numbers


def _check_orientation(orientation: tuple[float, ...]) -> None:
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    unit = abs(np.linalg.norm(row) - 1) < COSINE_TOLERANCE and abs(np.linalg.norm(col) - 1) < COSINE_TOLERANCE
    if not unit or abs(float(np.dot(row, col))) > COSINE_TOLERANCE:
        raise DicomFileRejected(
            f"invalid ImageOrientationPatient {list(orientation)} (not two orthogonal unit vectors)"
        )


def _check_pixels(ds: Dataset, rows: int, columns: int) -> None:
    """Decode the pixel data to be sure it is complete and matches Rows x Columns."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = ds.pixel_array
    except Exception as exc:  # decoders raise many kinds on damaged data
        raise DicomFileRejected(f"pixel data cannot be decoded (truncated or corrupt): {exc}") from exc
    if pixels.shape[:2] != (rows, columns):
        raise DicomFileRejected(f"pixel data has shape {pixels.shape}, expected {rows}x{columns}")


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
        except Exception as exc:  # a value no check foresaw: this series only
            logger.exception("Checking series %s failed", uid)
            _reject_series(report, uid, files, f"could not be checked ({_brief(exc, with_kind=True)})")
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
    ("patient geometry", lambda f: f.projection, lambda v: "none (a projection image)" if v else "present"),
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

    if files[0].projection:
        if len(files) > 1:
            raise _SeriesRejected(
                f"{len(files)} images without patient geometry (projection images, or no "
                "ImageOrientationPatient/ImagePositionPatient) in one series: they cannot be stacked; "
                "import each image as a series of its own",
                files,
            )
        return _Candidate(uid=uid, files=files, folder=_common_folder(files), slice_spacing=None)
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
# NIfTI rows (see readerstudy.imaging.nifti_import)


def _nifti_rows_check(
    root: Path, rows: list[ManifestRow], conditions: dict[str, Condition], report: ImportReport
) -> list[ManifestRow]:
    """The NIfTI rows that can be imported; the others are manifest errors (case code, condition,
    a file that is missing or lies outside the import root)."""
    usable = []
    base = root.resolve()
    for row in rows:
        if not row.nifti:
            continue
        problems = [case_code_problem(row)]
        if row.condition.casefold() not in conditions:
            problems.append(f"{row.line}: condition {row.condition!r} does not exist in this study")
        path = (root / row.nifti).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            problems.append(f"{row.line}: no NIfTI file {row.nifti!r} in the import")
        problems = [p for p in problems if p]
        if problems:
            report.manifest_errors.extend(problems)
        else:
            usable.append(row)
    return usable


def _nifti_reject(report: ImportReport, row: ManifestRow, uid: str, reason: str) -> None:
    report.rejected_series.append(RejectedSeries(uid, row.nifti, reason, 1))
    report.rejected.append(RejectedFile(row.nifti, f"series rejected: {reason}"))


def _nifti_import(
    *,
    study: Study,
    root: Path,
    row: ManifestRow,
    condition: Condition,
    actor: Any,
    report: ImportReport,
    max_size: int,
) -> None:
    """Write the row's NIfTI file as a DICOM series of its case and import it like any series."""
    path = root / row.nifti
    uid = nifti_series_uid(nifti_file_sha256(path), row.case, condition.label)
    stored_uid = uid_pseudonymize(uid, salt=study.uid_salt)
    existing = (
        ImageSeries.objects.select_related("case", "condition").filter(series_instance_uid=stored_uid).first()
    )
    if existing is not None:
        if (
            existing.case.study_id == study.pk
            and existing.case.code == row.case
            and existing.condition_id == condition.pk
        ):
            report.already_present.append(
                ImportedSeries(row.case, condition.label, existing.instances.count(), existing)
            )
        else:
            _nifti_reject(
                report,
                row,
                uid,
                f"already imported as case {existing.case.code} / condition {existing.condition.label}",
            )
        return
    case_series = list(
        ImageSeries.objects.filter(case__study=study, case__code=row.case).select_related("condition")
    )
    if any(series.condition_id == condition.pk for series in case_series):
        _nifti_reject(
            report,
            row,
            uid,
            f"case {row.case} already has a different series for condition {condition.label}",
        )
        return
    reference = reference_series_for(case_series, condition.pk)
    if reference is None:
        _nifti_reject(
            report,
            row,
            uid,
            f"case {row.case} has no DICOM series to place the NIfTI in: import its source series first "
            "(or in the same import)",
        )
        return
    max_voxels = int(getattr(settings, "READERSTUDY_MAX_NIFTI_VOXELS", DEFAULT_MAX_NIFTI_VOXELS))
    with tempfile.TemporaryDirectory(prefix="nifti-import-") as tmp:
        try:
            written = nifti_series_write(
                path,
                reference=reference,
                case_code=row.case,
                series_instance_uid=uid,
                out_dir=Path(tmp),
                max_voxels=max_voxels,
            )
        except NiftiRefused as exc:
            _nifti_reject(report, row, uid, f"{row.line}: the NIfTI was not imported: {exc}")
            return
        files = sorted(written.folder.iterdir())
        walked = [(file, f"{row.nifti} (image {n})") for n, file in enumerate(files, start=1)]
        checks = ImportReport()
        parsed, _ = _read_files(walked, checks, max_size=max_size, progress=None)
        candidates = _series_candidates(parsed, checks)
        if checks.rejected or len(candidates) != 1:
            reasons = sorted({r.reason for r in checks.rejected}) or ["it did not make one series"]
            _nifti_reject(report, row, uid, f"{row.line}: the NIfTI was not imported: {'; '.join(reasons)}")
            return
        _series_import_reported(
            study=study,
            candidate=candidates[0],
            case_code=row.case,
            condition=condition,
            actor=actor,
            report=report,
            max_size=max_size,
        )


# ---------------------------------------------------------------------------
# Mapping series to manifest rows


def _check_rows_used(
    rows: list[ManifestRow],
    conditions: dict[str, Condition],
    seen_series: set[str],
    walked: list[tuple[Path, str]],
    report: ImportReport,
) -> None:
    """Report rows with a case code not allowed, naming an unknown condition, or matching no file."""
    folders = {folder for _, rel in walked for folder in _folders_above(rel)}
    for row in rows:
        if problem := case_code_problem(row):
            report.manifest_errors.append(problem)
        if row.condition.casefold() not in conditions:
            known = ", ".join(sorted(c.label for c in conditions.values())) or "none"
            report.manifest_errors.append(
                f"{row.line}: condition {row.condition!r} does not exist in this study (known: {known})"
            )
        if row.series_instance_uid and row.series_instance_uid not in seen_series:
            report.manifest_errors.append(f"{row.line}: no file of series {row.series_instance_uid} found")
        if row.folder and row.folder not in folders:
            report.manifest_errors.append(f"{row.line}: no file found under folder {row.folder!r}")


def _folders_above(rel: str) -> list[str]:
    """The folders a file lies under, deepest first, ending with '.' (the root)."""
    parents = [parent.as_posix() for parent in PurePosixPath(rel).parents]
    return parents or ["."]


def _map_to_rows(
    candidates: list[_Candidate],
    rows: list[ManifestRow],
    conditions: dict[str, Condition],
    report: ImportReport,
) -> list[tuple[_Candidate, ManifestRow]]:
    """Pair each series with its manifest row; report unmapped, ambiguous and colliding ones."""
    by_uid = {row.series_instance_uid: row for row in rows if row.series_instance_uid}
    by_folder = {row.folder: row for row in rows if row.folder}
    planned: list[tuple[_Candidate, ManifestRow]] = []
    for candidate in candidates:
        row = by_uid.get(candidate.uid)
        if row is None:
            matches = {_deepest_folder_row(f.rel, by_folder) for f in candidate.files}
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
            if row is None:  # no folder of the manifest holds the series' files
                report.unmapped.append(UnmappedSeries(candidate.uid, candidate.folder, len(candidate.files)))
                continue
        if problem := case_code_problem(row):
            _reject_series(report, candidate.uid, candidate.files, problem)
            continue
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


def _deepest_folder_row(rel: str, by_folder: dict[str, ManifestRow]) -> ManifestRow | None:
    return next((by_folder[folder] for folder in _folders_above(rel) if folder in by_folder), None)


# ---------------------------------------------------------------------------
# Writing one series


def _series_import_reported(*, candidate: _Candidate, report: ImportReport, **kwargs: Any) -> None:
    """``_series_import``, with any failure of the series as its report line."""
    try:
        _series_import(candidate=candidate, report=report, **kwargs)
    except (OSError, DatabaseError, DicomFileRejected) as exc:
        logger.warning("Import of series %s failed: %s", candidate.uid, exc)
        _reject_series(report, candidate.uid, candidate.files, f"could not be stored: {_brief(exc)}")
    except Exception as exc:
        logger.exception("Import of series %s failed", candidate.uid)
        reason = f"could not be imported ({_brief(exc, with_kind=True)})"
        _reject_series(report, candidate.uid, candidate.files, reason)


def _series_import(
    *,
    study: Study,
    candidate: _Candidate,
    case_code: str,
    condition: Condition,
    actor: Any,
    report: ImportReport,
    max_size: int,
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
            series = _series_write(study, candidate, case_code, condition, stored, max_size=max_size)
            series_derivatives_store(series, stored)
            audit_event_create(
                actor=actor,
                action=AuditAction.SERIES_IMPORT,
                target=series,
                study=study,
                data={"case": case_code, "condition": condition.label, "instances": len(candidate.files)},
            )
    except BaseException:
        for name in stored:
            _storage_delete(name)
        raise
    report.imported.append(ImportedSeries(case_code, condition.label, len(candidate.files), series))


def series_derivatives_store(series: ImageSeries, stored: list[str]) -> None:
    """Make what is derived from a series' stored instances (its blinded metadata, the PNG of its
    start slice: ``imaging.first_image``); the files' names
    go to ``stored``. Called by the import and again by the display grid after it replaced them."""
    _blinded_metadata_store(series, stored)
    _first_image_store(series, stored)


def _blinded_metadata_store(series: ImageSeries, stored: list[str]) -> None:
    """Make the series' blinded metadata now, so that the first reader does not wait for it.

    If storage fails it is made on first use instead; a header that cannot be blinded
    fails the series.
    """
    stored.append(blinding.series_metadata_path(series))
    try:
        blinding.series_metadata_neutral(series)
    except OSError as exc:
        logger.warning("The blinded metadata of series %s could not be stored: %s", series.public_id, exc)


def _first_image_store(series: ImageSeries, stored: list[str]) -> None:
    """Make the PNG of the series' start slice now (``imaging.first_image``); on a storage
    error it is made on first use instead."""
    stored.append(first_image.first_image_path(series))
    try:
        first_image.first_image_png(series)
    except OSError as exc:
        logger.warning("The first image of series %s could not be stored: %s", series.public_id, exc)


def _storage_delete(name: str) -> None:
    try:
        default_storage.delete(name)
    except OSError:
        logger.exception("Could not remove %s after a failed import", name)


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
    stored = series_native_sop_uids(existing)  # the originals also when shown resampled
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
    study: Study,
    candidate: _Candidate,
    case_code: str,
    condition: Condition,
    stored: list[str],
    *,
    max_size: int,
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
        projection=first.projection,
        pixel_spacing_source=first.pixel_spacing_source,
    )
    SourceIdentity.objects.create(series=series, **_truncated_identity(first.identity))
    for index, item in enumerate(candidate.files):
        payload, sop_uid = _deidentified_bytes(item, case_code=case.code, salt=salt, max_size=max_size)
        dicom_instance_store(
            series,
            slice_index=index,
            instance_number=item.instance_number,
            image_position=list(item.position),
            payload=payload,
            sop_uid=sop_uid,
            source_sha256=item.source_sha256,
            stored=stored,
        )
    return series


def dicom_instance_store(
    series: ImageSeries,
    *,
    slice_index: int,
    instance_number: int | None,
    image_position: Sequence[float],
    payload: bytes,
    sop_uid: str,
    source_sha256: str,
    stored: list[str],
) -> DicomInstance:
    """Store one de-identified instance (its file and row) of ``series``; the file's name goes to ``stored``.

    The one way instances are stored: by the import and by the display grid
    (``readerstudy.imaging.display_grid``), so whatever is computed per stored instance
    applies to both.
    """
    span = pixel_data_span_of_bytes(payload)
    instance = DicomInstance(
        series=series,
        sop_instance_uid=sop_uid,
        slice_index=slice_index,
        instance_number=instance_number,
        image_position=list(image_position),
        sha256=hashlib.sha256(payload).hexdigest(),
        source_sha256=source_sha256,
        size=len(payload),
        pixel_offset=span[0] if span else None,
        pixel_length=span[1] if span else None,
    )
    instance.file.save(f"{sop_uid}.dcm", ContentFile(payload), save=False)
    assert instance.file.name is not None, "saving the file names it"
    stored.append(instance.file.name)
    instance.save()
    return instance


def _deidentified_bytes(item: _ParsedFile, *, case_code: str, salt: str, max_size: int) -> tuple[bytes, str]:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dicom_read(item.path, max_size=max_size)
        if _sha256(item.path) != item.source_sha256:
            raise DicomFileRejected(f"{item.rel} changed during the import")
        dataset_deidentify(ds, case_code=case_code, uid_salt=salt)
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue(), str(ds.SOPInstanceUID)


def _truncated_identity(identity: dict[str, str]) -> dict[str, str]:
    return {key: value[: _identity_max_length(key)] for key, value in identity.items()}


def _identity_max_length(name: str) -> int | None:
    """The longest value SourceIdentity's field ``name`` holds (None: no limit)."""
    model_field = SourceIdentity._meta.get_field(name)
    assert isinstance(model_field, models.Field), "the identity's keys are SourceIdentity's own text fields"
    return model_field.max_length
