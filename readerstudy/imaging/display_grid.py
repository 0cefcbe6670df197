"""The common display grid: every condition of a case shown on one matrix, field of view and slices.

A study may name a *grid condition* (``Study.display_grid_condition``). In each case, the
series of that condition defines the grid (its rows, columns, pixel spacing, orientation and
slice positions); every other series of the case is resampled onto it
(``sr_engine.resample``: trilinear, through patient coordinates, so series with another
field of view or orientation land where the patient is), and the resampled instances are
what readers are served. A reader then cannot tell a 4 mm series from a 1 mm one by its
slice count or matrix.

* **When**: after each import (``dicom_import`` calls ``case_display_grid_apply`` for the
  cases it touched: a generated series is imported the same way), for the whole case, so
  a grid series that arrives after the others puts them on the grid then; and for every
  case when a coordinator sets, changes or clears the setting (``study_display_grid_set``).
  Applying is idempotent: a series already on its grid (same grid series and geometry) is
  left alone.
* **Originals are kept**: their instance rows are recorded in ``ImageSeries.display_grid``
  (``native_instances``, every stored field) and their files stay in storage, so the SR
  engine generates from native data (``series_native_files``), a re-import of the same
  files is still recognised, and clearing the setting (or choosing another grid) restores
  them exactly. A series whose native geometry already is the grid is not resampled.
* **Provenance**: ``ImageSeries.display_grid`` holds the grid series, source and target
  geometry, the interpolation, the software versions and the checksums of the native
  instances; ``display_grid_provenance`` lists them for the study record (provenance.json
  of every bundle and export).
* **Not resampled**: projection images (radiographs have no patient space), series whose
  readings were already opened (a reader saw them as imported), and any series while the
  study is locked. Cases whose grid is incomplete are readiness problems of the schedule
  (``readerstudy.design.services``).

The resampled headers are the native series' own (de-identified) headers with the grid's
geometry (Rows, Columns, PixelSpacing, ImageOrientationPatient, ImagePositionPatient,
SliceThickness, SpacingBetweenSlices, SliceLocation) and new instance UIDs; attributes
that describe the native matrix (AcquisitionMatrix and the like) and private tags are
removed. Pixels are stored as unsigned 16-bit values with a rescale where needed
(``sr_engine.dicom_series.stored_values``).
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from pydicom.uid import UID, ExplicitVRLittleEndian

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create
from readerstudy.errors import ServiceError
from readerstudy.imaging import blinding, first_image
from readerstudy.imaging.models import (
    DicomInstance,
    ImageSeries,
    geometries_equal,
    geometry_shape,
    series_geometry,
)
from readerstudy.reading.models import Reading, ReadingViewport
from readerstudy.references.models import ReferenceStandard
from readerstudy.studies.models import Case, Condition, Study

logger = logging.getLogger(__name__)

#: Version of this module's resampling rules (part of every record).
GRID_VERSION = 1
#: Attributes of a native header that describe its matrix or acquisition grid: removed.
MATRIX_REVEALING = (
    "AcquisitionMatrix",
    "ReconstructionDiameter",
    "PercentSampling",
    "PercentPhaseFieldOfView",
    "NumberOfPhaseEncodingSteps",
    "InPlanePhaseEncodingDirection",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "PixelPaddingValue",
    "NumberOfFrames",
)


class DisplayGridError(ServiceError, ValueError):
    """The display grid cannot be set or applied; the message says why."""


# ----------------------------------------------------------------------------- geometry


def _software() -> dict[str, str]:
    import sr_engine

    versions = {"readerstudy.display_grid": str(GRID_VERSION), "sr_engine": sr_engine.__version__}
    for name in ("numpy", "scipy", "pydicom"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def geometry_affine(geometry: dict[str, Any]) -> np.ndarray:
    """The ``sr_engine`` affine of a geometry dict (PS3.3 C.7.6.2.1.1)."""
    from sr_engine.volume import dicom_affine, slice_normal

    step = slice_normal(geometry["orientation"]) * float(geometry["slice_spacing"] or 1.0)
    return dicom_affine(geometry["orientation"], geometry["pixel_spacing"], step, geometry["origin"])


# ----------------------------------------------------------------------------- reads


def series_is_resampled(series: ImageSeries) -> bool:
    """Whether the series' served instances were resampled (its originals are kept aside)."""
    return bool((series.display_grid or {}).get("native_instances"))


def series_native_geometry(series: ImageSeries) -> dict[str, Any]:
    """The series' geometry as imported (before any resampling)."""
    if series_is_resampled(series):
        return dict(series.display_grid["source"])
    return series_geometry(series)


@dataclass(frozen=True)
class NativeFile:
    """One original instance of a series: its slice, stored file and checksum."""

    slice_index: int
    name: str
    sha256: str
    sop_instance_uid: str


def series_native_files(series: ImageSeries) -> list[NativeFile]:
    """The series' instances as imported, in slice order (the kept originals when resampled).

    What the SR engine reads to generate from a series, so that it never works on a copy
    resampled for display.
    """
    if series_is_resampled(series):
        rows = series.display_grid["native_instances"]
        files = [NativeFile(r["slice_index"], r["file"], r["sha256"], r["sop_instance_uid"]) for r in rows]
    else:
        files = [
            NativeFile(i.slice_index, str(i.file.name), i.sha256, i.sop_instance_uid)
            for i in series.instances.order_by("slice_index")
        ]
    return sorted(files, key=lambda f: f.slice_index)


def series_native_sop_uids(series: ImageSeries) -> set[str]:
    """The stored SOP instance UIDs of the series as imported."""
    return {f.sop_instance_uid for f in series_native_files(series)}


def display_grid_provenance(study: Study) -> dict[str, Any] | None:
    """The study's display grid for provenance.json: the grid condition and, per series, what was done."""
    condition = study.display_grid_condition
    if (
        condition is None
        and not ImageSeries.objects.filter(case__study=study).exclude(display_grid={}).exists()
    ):
        return None
    series_rows = []
    for series in (
        ImageSeries.objects.filter(case__study=study)
        .exclude(display_grid={})
        .select_related("case", "condition")
        .order_by("case__code", "condition__order", "condition__label")
    ):
        record = {k: v for k, v in series.display_grid.items() if k != "native_instances"}
        record.update(case=series.case.code, condition=series.condition.label)
        series_rows.append(record)
    return {"condition": condition.label if condition else None, "series": series_rows}


# ----------------------------------------------------------------------------- the setting


def study_display_grid_not_settable_reason(study: Study) -> str | None:
    """Why the display grid of ``study`` can no longer change, or None."""
    if study.status == Study.Status.LOCKED:
        return "The study is locked: its display grid can no longer change."
    opened = Reading.objects.filter(session__participation__study=study).filter(
        Q(opened_at__isnull=False) | ~Q(status=Reading.Status.PENDING)
    )
    if opened.exists():
        return (
            "Readers have already opened readings of this study: changing the display grid now would show "
            "them the images differently from before."
        )
    return None


def study_display_grid_set(*, study: Study, condition: Condition | None, actor: Any) -> list[str]:
    """Set (a condition of the study) or clear (None) the display grid, audited; apply it to every case.

    Returns the problems left (cases whose grid is incomplete). Raises ``DisplayGridError``
    when the study is locked or readings were opened, or the condition is another study's.
    Setting the same value again changes nothing.
    """
    if condition is not None and condition.study_id != study.pk:
        raise DisplayGridError("That condition belongs to another study.")
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        reason = study_display_grid_not_settable_reason(locked)
        if reason is not None:
            raise DisplayGridError(reason)
        before = locked.display_grid_condition.label if locked.display_grid_condition else None
        after = condition.label if condition else None
        if locked.display_grid_condition_id != (condition.pk if condition else None):
            locked.display_grid_condition = condition
            locked.save(update_fields=["display_grid_condition", "updated_at"])
            audit_event_create(
                actor=actor,
                action=AuditAction.STUDY_DISPLAY_GRID,
                target=locked,
                study=locked,
                data=audit_change({"display_grid_condition": before}, {"display_grid_condition": after}),
            )
    study.display_grid_condition = condition
    for case in Case.objects.filter(study=study).order_by("code"):
        case_display_grid_apply(case, actor=actor)
    return display_grid_problems(study)


def display_grid_problems(study: Study) -> list[str]:
    """What keeps the study's cases off their display grid (empty when the grid is off or complete)."""
    from readerstudy.design.services import display_grid_problems as problems

    return problems(study)


# ----------------------------------------------------------------------------- applying


def case_display_grid_apply(case: Case, *, actor: Any = None) -> list[str]:
    """Put every series of ``case`` on its display grid, or back as imported when the grid is off.

    Idempotent. Returns one line per series that could not be put on the grid (also logged);
    a failure of one series leaves it as it was and does not stop the others.
    """
    study = Study.objects.select_related("display_grid_condition").get(pk=case.study_id)
    if study.status == Study.Status.LOCKED:
        return []
    series_list = list(ImageSeries.objects.filter(case=case).select_related("condition"))
    grid_condition = study.display_grid_condition
    grid = next((s for s in series_list if grid_condition and s.condition_id == grid_condition.pk), None)
    notes: list[str] = []
    for series in series_list:
        try:
            if grid is None or series.pk == grid.pk or series.projection:
                _series_native_restore(series, actor=actor)
            elif grid.projection:
                notes.append(f"case {case.code}: the grid series is a projection image; nothing resampled")
            else:
                _series_onto_grid(series, grid, actor=actor)
        except DisplayGridError as exc:
            notes.append(f"case {case.code} / {series.condition.label}: {exc}")
        except Exception as exc:  # a damaged file, a volume the engine refuses: this series only
            logger.exception("Display grid of series %s failed", series.public_id)
            notes.append(
                f"case {case.code} / {series.condition.label}: not resampled ({type(exc).__name__}: {exc})"
            )
    return notes


def cases_display_grid_apply(study: Study, case_ids: Iterable[int], *, actor: Any = None) -> list[str]:
    """``case_display_grid_apply`` for each of ``case_ids`` (the import's hook); the notes of all."""
    ids = set(case_ids)
    grid_on = Study.objects.filter(pk=study.pk, display_grid_condition__isnull=False).exists()  # fresh
    if not grid_on and not ImageSeries.objects.filter(case_id__in=ids).exclude(display_grid={}).exists():
        return []  # the grid is off and nothing was ever put on one: nothing to do
    notes: list[str] = []
    for case in Case.objects.filter(pk__in=ids).order_by("code"):
        notes += case_display_grid_apply(case, actor=actor)
    return notes


def _seen_by_readers(series: ImageSeries) -> bool:
    return (
        Reading.objects.filter(series=series)
        .filter(Q(opened_at__isnull=False) | ~Q(status=Reading.Status.PENDING))
        .exists()
    )


def _grid_record(grid: ImageSeries) -> dict[str, Any]:
    return {
        "series": str(grid.public_id),
        "condition": grid.condition.label,
        "geometry": series_geometry(grid),
    }


def _series_onto_grid(series: ImageSeries, grid: ImageSeries, *, actor: Any) -> None:
    from sr_engine.resample import INTERPOLATION, INTERPOLATION_DETAIL

    target = series_geometry(grid)
    current = series.display_grid or {}
    if (
        current.get("grid", {}).get("series") == str(grid.public_id)
        and current.get("target")
        and geometries_equal(current["target"], target)
    ):
        return  # already on this grid
    source = series_native_geometry(series)
    if _seen_by_readers(series):
        raise DisplayGridError("readers have already seen it as imported; it is not resampled")
    if geometries_equal(source, target):
        _series_native_restore(series, actor=actor)
        _record_store(
            series,
            {
                "version": GRID_VERSION,
                "grid": _grid_record(grid),
                "resampled": False,
                "source": source,
                "target": target,
                "note": "already on the grid: shown as imported",
                "software": _software(),
                "at": timezone.now().isoformat(),
            },
        )
        return
    natives = _native_rows(series)
    record = {
        "version": GRID_VERSION,
        "grid": _grid_record(grid),
        "resampled": True,
        "source": source,
        "target": target,
        "interpolation": INTERPOLATION,
        "interpolation_detail": INTERPOLATION_DETAIL,
        "software": _software(),
        "at": timezone.now().isoformat(),
        "native_sha256": hashlib.sha256("".join(r["sha256"] for r in natives).encode()).hexdigest(),
        "native_instances": natives,
    }
    _resample_store(series, grid, natives, record, actor=actor)


def _native_rows(series: ImageSeries) -> list[dict[str, Any]]:
    """Every stored field of the series' original instance rows (kept ones when resampled)."""
    if series_is_resampled(series):
        return [dict(row) for row in series.display_grid["native_instances"]]
    rows = []
    for instance in series.instances.order_by("slice_index"):
        row: dict[str, Any] = {}
        for model_field in DicomInstance._meta.concrete_fields:
            if model_field.name in ("id", "series"):
                continue
            value = model_field.value_from_object(instance)
            row[model_field.attname] = (
                value.name if hasattr(value, "name") and model_field.name == "file" else value
            )
        rows.append(row)
    return rows


def _native_volume(natives: list[dict[str, Any]], folder: Path) -> Any:
    """The native series as an ``sr_engine`` Volume, read from its kept files (checksums checked)."""
    from sr_engine.dicom_series import read_dicom_series

    folder.mkdir(parents=True)
    for row in natives:
        with default_storage.open(row["file"], "rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise DisplayGridError(
                f"slice {row['slice_index'] + 1} of the original series does not match its stored checksum"
            )
        (folder / f"{row['slice_index']:05d}.dcm").write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_dicom_series(folder)


def _resampled_uid(series: ImageSeries, signature: str, index: int) -> str:
    """A stored SOP instance UID for slice ``index`` of the resampled series (PS3.5 B.2, from a hash)."""
    key = hashlib.sha256(f"{series.series_instance_uid}\0{signature}\0{index}".encode()).digest()[:16]
    return f"2.25.{int.from_bytes(key, 'big')}"


def _ds(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


def _resampled_payloads(
    series: ImageSeries, natives: list[dict[str, Any]], target: dict[str, Any], signature: str
) -> list[tuple[int, list[float], bytes, str]]:
    """(slice index, position, DICOM bytes, SOP UID) of every resampled slice."""
    from sr_engine.dicom_series import image_pixel_module_set, stored_values
    from sr_engine.resample import resample_onto
    from sr_engine.volume import slice_normal

    with tempfile.TemporaryDirectory(prefix="display-grid-") as tmp:
        volume = _native_volume(natives, Path(tmp) / "native")
        if volume.data.ndim != 3:
            raise DisplayGridError("a multi-channel series is not resampled")
        data = resample_onto(volume, geometry_affine(target), geometry_shape(target))
    with default_storage.open(natives[0]["file"], "rb") as handle:
        template = pydicom.dcmread(io.BytesIO(handle.read()))
    template.remove_private_tags()
    for keyword in MATRIX_REVEALING:
        if keyword in template:
            delattr(template, keyword)
    for keyword in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
        if keyword in template:
            delattr(template, keyword)
    del template.PixelData
    pixels, slope, intercept = stored_values(data)
    normal = slice_normal(target["orientation"])
    step = normal * float(target["slice_spacing"] or 0.0)
    origin = np.asarray(target["origin"], dtype=float)
    thickness = target["slice_thickness"] or target["slice_spacing"]
    out = []
    for index in range(pixels.shape[0]):
        ds = copy.deepcopy(template)
        uid = _resampled_uid(series, signature, index)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
        ds.SOPInstanceUID = uid
        position = origin + index * step
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in target["orientation"]]
        ds.PixelSpacing = [_ds(v) for v in target["pixel_spacing"]]
        if thickness:
            ds.SliceThickness = _ds(thickness)
        if target["slice_spacing"]:
            ds.SpacingBetweenSlices = _ds(target["slice_spacing"])
        ds.SliceLocation = _ds(float(np.dot(position, normal)))
        image_pixel_module_set(ds, pixels.shape[1], pixels.shape[2], slope, intercept)
        ds.add_new(0x7FE00010, "OW", pixels[index].tobytes())  # PixelData
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        out.append((index, [float(v) for v in position], buffer.getvalue(), uid))
    return out


def _signature(grid: ImageSeries, target: dict[str, Any]) -> str:
    text = repr((str(grid.public_id), GRID_VERSION, sorted((k, repr(v)) for k, v in target.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resample_store(
    series: ImageSeries,
    grid: ImageSeries,
    natives: list[dict[str, Any]],
    record: dict[str, Any],
    *,
    actor: Any,
) -> None:
    """Replace the served instances by the resampled ones and the series' geometry by the grid's."""
    from readerstudy.imaging.dicom_import import dicom_instance_store

    target = record["target"]
    signature = _signature(grid, target)
    record["signature"] = signature
    payloads = _resampled_payloads(series, natives, target, signature)
    native_files = {row["file"] for row in natives}
    stored: list[str] = []
    obsolete: list[str] = []
    try:
        with transaction.atomic():
            locked = ImageSeries.objects.select_for_update().get(pk=series.pk)
            if (locked.display_grid or {}).get("signature") == signature:
                return  # another run put it on this grid meanwhile
            obsolete = [
                name for name in locked.instances.values_list("file", flat=True) if name not in native_files
            ]
            locked.instances.all().delete()
            _geometry_set(locked, target)
            locked.display_grid = record
            locked.save()
            for index, position, payload, uid in payloads:
                dicom_instance_store(
                    locked,
                    slice_index=index,
                    instance_number=index + 1,
                    image_position=position,
                    payload=payload,
                    sop_uid=uid,
                    source_sha256=hashlib.sha256(payload).hexdigest(),
                    stored=stored,
                )
            audit_event_create(
                actor=actor,
                action=AuditAction.SERIES_DISPLAY_GRID,
                target=locked,
                study=locked.case.study,
                data={
                    "case": locked.case.code,
                    "condition": locked.condition.label,
                    "grid_condition": grid.condition.label,
                    "resampled": True,
                    "interpolation": record["interpolation"],
                    "source": {k: record["source"][k] for k in ("rows", "columns", "num_slices")},
                    "target": {k: target[k] for k in ("rows", "columns", "num_slices")},
                },
            )
            transaction.on_commit(lambda: _files_delete(obsolete))
    except BaseException:
        _files_delete(stored)
        raise
    _after_change(locked)
    series.refresh_from_db()


def _series_native_restore(series: ImageSeries, *, actor: Any = None) -> None:
    """Serve the series' original instances again (a no-op for a series never resampled)."""
    if not series.display_grid:
        return
    if not series_is_resampled(series):
        ImageSeries.objects.filter(pk=series.pk).update(display_grid={})
        series.display_grid = {}
        return
    if _seen_by_readers(series):
        raise DisplayGridError("readers have already seen it on the grid; it is not restored")
    with transaction.atomic():
        locked = ImageSeries.objects.select_for_update().get(pk=series.pk)
        if not series_is_resampled(locked):
            return
        natives = locked.display_grid["native_instances"]
        native_files = {row["file"] for row in natives}
        obsolete = [
            name for name in locked.instances.values_list("file", flat=True) if name not in native_files
        ]
        locked.instances.all().delete()
        DicomInstance.objects.bulk_create(DicomInstance(series=locked, **row) for row in natives)
        _geometry_set(locked, locked.display_grid["source"])
        locked.display_grid = {}
        locked.save()
        audit_event_create(
            actor=actor,
            action=AuditAction.SERIES_DISPLAY_GRID,
            target=locked,
            study=locked.case.study,
            data={"case": locked.case.code, "condition": locked.condition.label, "resampled": False},
        )
        transaction.on_commit(lambda: _files_delete(obsolete))
    _after_change(locked)
    series.refresh_from_db()


def _record_store(series: ImageSeries, record: dict[str, Any]) -> None:
    ImageSeries.objects.filter(pk=series.pk).update(display_grid=record)
    series.display_grid = record


def _geometry_set(series: ImageSeries, geometry: dict[str, Any]) -> None:
    series.rows = geometry["rows"]
    series.columns = geometry["columns"]
    series.num_slices = geometry["num_slices"]
    series.pixel_spacing = list(geometry["pixel_spacing"])
    series.slice_spacing = geometry["slice_spacing"]
    series.slice_thickness = geometry["slice_thickness"]
    series.orientation = list(geometry["orientation"])
    series.origin = list(geometry["origin"])


def _after_change(series: ImageSeries) -> None:
    """Rebuild what is derived from the served instances and forget cached instance lists."""
    from readerstudy.imaging.dicom_import import series_derivatives_store

    # made from the instances replaced
    _files_delete([blinding.series_metadata_path(series), first_image.first_image_path(series)])
    series_derivatives_store(series, [])
    viewings = [series.public_id, *Reading.objects.filter(series=series).values_list("public_id", flat=True)]
    viewings += ReferenceStandard.objects.filter(series=series).values_list("public_id", flat=True)
    viewings += ReadingViewport.objects.filter(series=series).values_list("public_id", flat=True)
    cache.delete_many(
        [
            key
            for public_id in viewings
            for key in (
                f"readerstudy:instance-files:{public_id}:{series.pk}",
                blinding.metadata_json_cache_key(public_id, series.pk),
            )
        ]
    )


def _files_delete(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("Could not remove %s", name)
