"""Writes of objective image-quality measurements: ROIs, their values on every condition, CNRs,
and image fidelity against a reference condition.

A coordinator draws an ROI on one series of a case (``measurement_roi_save``): a line
(two clicks) or a circle (its centre, then a point on its edge). The clicks arrive in
patient coordinates (LPS, mm: where the viewer shows them) and are checked against that
series (on the slice, on the image); the ROI is stored in patient coordinates, so that
it applies to every series of the case, each on its own grid: a patient point maps to a
series' column, row and (fractional) slice through the series' geometry (origin,
orientation, pixel and slice spacing: DICOM PS3.3 C.7.6.2.1.1), and the ROI is measured
on the nearest slice, the way ImageJ's *Sync Windows* puts one selection on every window.
Values come from the stored DICOM files (checked against their checksums, after
RescaleSlope/Intercept) through ``sr_engine.roi``, never from the browser's rendering.

Writes are idempotent: the page names each ROI and CNR by a client id, and sending the
same thing twice changes nothing. Deleting an ROI deletes its values and the CNRs that
use it. Audit events: ``measurement.roi.create``/``update``/``delete``,
``measurement.cnr.create``/``update``/``delete``, ``measurement.recompute``,
``fidelity.reference.set``, ``fidelity.compute`` and ``t2_agreement.compute``.

Image fidelity (``fidelity_compute``) runs synchronously: every case's series under every
condition against the reference condition's series (``fidelity_reference_condition``)
with ``sr_engine.metrics.compare``, only where both lie on one grid.
"""

from __future__ import annotations

import hashlib
import io
import math
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from django.db import transaction
from django.db.models import Max, Q

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create
from readerstudy.errors import ServiceError
from readerstudy.imaging.models import DicomInstance, ImageSeries, series_on_same_grid
from readerstudy.measurements.models import (
    FidelityReference,
    FidelityResult,
    MeasurementCNR,
    MeasurementCNRValue,
    MeasurementROI,
    MeasurementValue,
    T2AgreementResult,
)
from readerstudy.measurements.selectors import (
    ECHO_2_SUFFIX,
    dess_echo_partners,
    dess_second_echo_condition_ids,
    fidelity_reference_condition,
    measurement_roi_names,
)
from readerstudy.studies.models import Case, Condition, Study
from sr_engine import roi as sr_roi
from sr_engine.volume import slice_normal

#: Longest label of an ROI or CNR.
MAX_LABEL = 100
#: Most samples of a line profile kept for display (the values are computed on all of them).
PROFILE_POINTS_KEPT = 256


class MeasurementInvalid(ServiceError, ValueError):
    """The ROI, CNR or request does not fit the case (said in words for the coordinator)."""


class MeasurementUnavailable(ServiceError, ValueError):
    """A value cannot be measured on a series (no pixels, outside the series...); stored as its error."""


# ----------------------------------------------------------------------------- geometry


def _unit_vectors(series: ImageSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    orientation = np.asarray(series.orientation, dtype=float)
    return orientation[:3], orientation[3:], slice_normal(orientation)


def series_coordinates(series: ImageSeries, point_mm: Sequence[float]) -> tuple[float, float, float]:
    """Image coordinates (column x, row y, slice s) of a patient point (LPS, mm) in ``series``.

    The inverse of ``reading.services.patient_position`` (DICOM PS3.3 C.7.6.2.1.1): with the
    slice's row and column directions r and c, the normal n = r x c, PixelSpacing
    (dr, dc) and the slice spacing ds, a point p at d = p - origin is at
    x = d.r / dc, y = d.c / dr and s = d.n / ds. ``s`` is fractional (the nearest slice is
    its rounding); a series of one slice (no spacing) gives s = d.n / thickness (1 mm
    when unknown), so that "within half a slice" still means something.
    """
    row_dir, col_dir, normal = _unit_vectors(series)
    row_mm, col_mm = (float(v) for v in series.pixel_spacing)
    d = np.asarray(point_mm, dtype=float) - np.asarray(series.origin, dtype=float)
    step = float(series.slice_spacing or series.slice_thickness or 1.0)
    return float(d @ row_dir / col_mm), float(d @ col_dir / row_mm), float(d @ normal / step)


def nearest_slice(series: ImageSeries, position: float) -> int:
    """The slice nearest to a fractional slice position (half-way goes to the next slice), clamped
    to the series."""
    return min(max(math.floor(position + 0.5), 0), series.num_slices - 1)


def _slice_step_mm(series: ImageSeries) -> float:
    return float(series.slice_spacing or series.slice_thickness or 1.0)


def _distance_mm(a: Sequence[float], b: Sequence[float]) -> float:
    return float(math.dist(a, b))


# ----------------------------------------------------------------------------- pixels


def _instance_bytes(instance: DicomInstance) -> bytes:
    try:
        with instance.file.open("rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise MeasurementUnavailable(
            f"Slice {instance.slice_index + 1} cannot be read from the image store ({exc.strerror or exc})."
        ) from exc
    if hashlib.sha256(data).hexdigest() != instance.sha256:
        raise MeasurementUnavailable(
            f"Slice {instance.slice_index + 1} does not match its stored checksum (the file is damaged)."
        )
    return data


def series_slice_pixels(series: ImageSeries, slice_index: int) -> np.ndarray:
    """The stored pixels of one slice as float64, after RescaleSlope and RescaleIntercept.

    Raises MeasurementUnavailable when the series has no image there, the file is damaged
    or holds no pixel data, or its matrix is not the series'.
    """
    instance = DicomInstance.objects.filter(series=series, slice_index=slice_index).first()
    if instance is None:
        raise MeasurementUnavailable(f"This series has no stored image for slice {slice_index + 1}.")
    ds = pydicom.dcmread(io.BytesIO(_instance_bytes(instance)))
    if "PixelData" not in ds:
        raise MeasurementUnavailable(f"Slice {slice_index + 1} has no pixel data.")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many kinds for undecodable pixel data
        raise MeasurementUnavailable(
            f"The pixels of slice {slice_index + 1} cannot be decoded: {exc}"
        ) from exc
    if pixels.shape != (series.rows, series.columns):
        raise MeasurementUnavailable(
            f"Slice {slice_index + 1} is {pixels.shape[1]}x{pixels.shape[0]} pixels, "
            f"not the series' {series.columns}x{series.rows}."
        )
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return pixels.astype(np.float64) * slope + intercept


#: The value fields of a MeasurementValue, all empty until measured.
VALUE_FIELDS = (
    "slice_index",
    "plane_distance_mm",
    "length_mm",
    "fwhm_mm",
    "edge_rise_distance_mm",
    "edge_rise_slope",
    "mean",
    "sd",
    "snr",
    "n_pixels",
)


PixelReader = Callable[[ImageSeries, int], np.ndarray]


def _cached_reader() -> PixelReader:
    cache: dict[tuple[int, int], np.ndarray] = {}

    def read(series: ImageSeries, slice_index: int) -> np.ndarray:
        key = (series.pk, slice_index)
        if key not in cache:
            cache[key] = series_slice_pixels(series, slice_index)
        return cache[key]

    return read


# ----------------------------------------------------------------------------- one ROI on one series


def _place(roi: MeasurementROI, series: ImageSeries) -> tuple[int, float, list[list[float]]]:
    """The slice of ``series`` the ROI falls on, its distance from that slice's centre (mm) and
    its points in the series' pixels."""
    coordinates = [series_coordinates(series, point) for point in roi.points_mm]
    slices = [s for _, _, s in coordinates]
    if max(slices) - min(slices) > 0.5:
        raise MeasurementUnavailable(
            "The ROI is not in this series' image plane (its ends lie on different slices): "
            "the series is oriented differently."
        )
    position = float(np.mean(slices))
    index = nearest_slice(series, position)
    if abs(position - index) > 0.5:
        away = abs(position - index) * _slice_step_mm(series)
        raise MeasurementUnavailable(
            f"The ROI lies outside this series' slices ({away:.1f} mm from its nearest slice)."
        )
    points = [[round(x, 4), round(y, 4)] for x, y, _ in coordinates]
    return index, abs(position - index) * _slice_step_mm(series), points


def _thin(values: np.ndarray, keep: int) -> list[float]:
    """At most ``keep`` samples of a profile, evenly chosen, rounded for display."""
    if values.size > keep:
        values = values[np.linspace(0, values.size - 1, keep).round().astype(int)]
    return [float(f"{v:.6g}") for v in values]


def _measure(roi: MeasurementROI, series: ImageSeries, read: PixelReader) -> dict[str, Any]:
    """The fields of the ROI's MeasurementValue on ``series`` (every value field is set, or None)."""
    fields: dict[str, Any] = dict.fromkeys(VALUE_FIELDS)
    fields.update(points=[], profile={}, notes={}, error="")
    try:
        index, off_plane, points = _place(roi, series)
        fields.update(slice_index=index, plane_distance_mm=round(off_plane, 4), points=points)
        image = read(series, index)
        spacing = [float(v) for v in series.pixel_spacing]
        notes = {}
        if roi.kind == MeasurementROI.Kind.LINE:
            profile = sr_roi.line_profile(image, points[0], points[1], spacing)
            fields["length_mm"] = profile.length_mm
            fields["profile"] = {
                "mm": _thin(profile.distances_mm, PROFILE_POINTS_KEPT),
                "values": _thin(profile.values, PROFILE_POINTS_KEPT),
            }
            try:
                fields["fwhm_mm"] = sr_roi.fwhm(profile.distances_mm, profile.values).fwhm_mm
            except ValueError as exc:
                notes["fwhm_mm"] = str(exc)
            try:
                edges = sr_roi.edge_rise(profile.distances_mm, profile.values)
                fields["edge_rise_distance_mm"] = edges.distance_mm
                fields["edge_rise_slope"] = edges.slope
            except ValueError as exc:
                notes["edge_rise_distance_mm"] = notes["edge_rise_slope"] = str(exc)
        else:
            stats = sr_roi.circle_stats(image, points[0], float(roi.radius_mm or 0), spacing)
            fields.update(mean=stats.mean, sd=stats.sd, n_pixels=stats.n)
            try:
                fields["snr"] = sr_roi.snr(stats.mean, stats.sd)
            except ValueError as exc:
                notes["snr"] = str(exc)
        fields["notes"] = notes
    except (MeasurementUnavailable, ValueError) as exc:
        fields["error"] = str(exc)[:300]
    return fields


def _case_series(case: Case) -> list[ImageSeries]:
    return list(case.series.select_related("condition").order_by("condition__order", "condition__label"))


def _roi_values_compute(roi: MeasurementROI, series_list: list[ImageSeries], read: PixelReader) -> None:
    """(Re)compute the ROI's value on every series of its case; drop values of series gone."""
    for series in series_list:
        MeasurementValue.objects.update_or_create(
            roi=roi, series=series, defaults=_measure(roi, series, read)
        )
    roi.values.exclude(series__in=series_list).delete()


def _cnr_values_compute(cnr: MeasurementCNR, series_list: list[ImageSeries]) -> None:
    """(Re)compute a CNR on every series from its two circles' stored values there."""
    by_series: dict[tuple[int, int], MeasurementValue] = {
        (value.roi_id, value.series_id): value
        for value in MeasurementValue.objects.filter(roi__in=[cnr.roi_a_id, cnr.roi_b_id])
    }
    for series in series_list:
        a = by_series.get((cnr.roi_a_id, series.pk))
        b = by_series.get((cnr.roi_b_id, series.pk))
        value, error = None, ""
        if a is None or b is None or a.mean is None or b.mean is None:
            missing = [
                f"ROI {roi.number}"
                for roi, v in ((cnr.roi_a, a), (cnr.roi_b, b))
                if v is None or v.mean is None
            ]
            error = f"{' and '.join(missing)} could not be measured on this series."
        else:
            try:
                value = sr_roi.cnr(
                    sr_roi.CircleStats(mean=a.mean, sd=a.sd or 0.0, n=a.n_pixels or 0, area_mm2=0.0),
                    sr_roi.CircleStats(mean=b.mean, sd=b.sd or 0.0, n=b.n_pixels or 0, area_mm2=0.0),
                )
            except ValueError as exc:
                error = str(exc)
        MeasurementCNRValue.objects.update_or_create(
            cnr=cnr, series=series, defaults={"value": value, "error": error[:300]}
        )
    cnr.values.exclude(series__in=series_list).delete()


def _cnrs_of(roi: MeasurementROI):
    return MeasurementCNR.objects.filter(Q(roi_a=roi) | Q(roi_b=roi)).select_related("roi_a", "roi_b")


# ----------------------------------------------------------------------------- ROIs


def _label(label: str) -> str:
    label = " ".join((label or "").split())
    if len(label) > MAX_LABEL:
        raise MeasurementInvalid(f"A label is at most {MAX_LABEL} characters long.")
    return label


def _clicks(
    series: ImageSeries, slice_index: int, points_mm: Sequence[Sequence[float]]
) -> tuple[list[list[float]], list[list[float]]]:
    """Two clicks on slice ``slice_index`` of the series, given in patient coordinates, checked:
    (the points in mm, rounded to 0.1 µm; the same points in the series' pixels)."""
    if not 0 <= slice_index < series.num_slices:
        raise MeasurementInvalid(f"Slice {slice_index} is outside the series (0 to {series.num_slices - 1}).")
    try:
        ends = [[round(float(v), 4) for v in point] for point in points_mm]
    except (TypeError, ValueError):
        raise MeasurementInvalid("points_mm must be two [x, y, z] points in mm.") from None
    if len(ends) != 2 or any(len(p) != 3 for p in ends) or not all(math.isfinite(v) for p in ends for v in p):
        raise MeasurementInvalid("points_mm must be two [x, y, z] points in mm.")
    clicks = []
    for point in ends:
        x, y, s = series_coordinates(series, point)
        if abs(s - slice_index) > 0.5:
            raise MeasurementInvalid(
                f"The point {point} is not on slice {slice_index + 1} of the series it was drawn on."
            )
        if not (-0.5 <= x <= series.columns - 0.5 and -0.5 <= y <= series.rows - 0.5):
            raise MeasurementInvalid(
                f"The ROI lies outside the image: ({x:.1f}, {y:.1f}) is not within its "
                f"{series.columns}x{series.rows} pixels."
            )
        clicks.append([round(x, 4), round(y, 4)])
    return ends, clicks


def measurement_roi_save(
    *,
    case: Case,
    client_id: uuid.UUID,
    kind: str,
    series: ImageSeries,
    slice_index: int,
    points_mm: Sequence[Sequence[float]],
    label: str = "",
    actor,
) -> tuple[MeasurementROI, bool]:
    """Create or change the case's ROI with this client id (idempotent); returns (roi, created).

    ``points_mm`` are two clicks in patient coordinates (LPS, mm) on slice
    ``slice_index`` of ``series`` (a series of the case), as the viewer places what it
    shows: a line's two ends, or a circle's centre and a point on its edge (the radius is
    their distance). Each must lie on that slice (within half a slice) and on the image.
    The ROI is stored in patient coordinates and measured at once on every series of the
    case. A line shorter than half a pixel, or a circle smaller than that, is refused; an
    ROI keeps its kind.
    """
    if kind not in MeasurementROI.Kind.values:
        raise MeasurementInvalid(f"kind must be one of {', '.join(MeasurementROI.Kind.values)}.")
    if series.case_id != case.pk:
        raise MeasurementInvalid("The ROI must be drawn on a series of this case.")
    ends, clicks = _clicks(series, slice_index, points_mm)
    label = _label(label)
    size = _distance_mm(ends[0], ends[1])
    smallest = 0.5 * min(float(v) for v in series.pixel_spacing)
    if kind == MeasurementROI.Kind.LINE and size < smallest:
        raise MeasurementInvalid(
            f"The line has {'zero length' if size < 1e-9 else f'a length of {size:.2f} mm'}: "
            f"its ends must be at least half a pixel ({smallest:.2f} mm) apart."
        )
    if kind == MeasurementROI.Kind.CIRCLE and size < smallest:
        raise MeasurementInvalid(f"The circle's radius must be at least half a pixel ({smallest:.2f} mm).")
    values = {
        "kind": kind,
        "label": label,
        "points_mm": ends,
        "radius_mm": round(size, 4) if kind == MeasurementROI.Kind.CIRCLE else None,
        "drawn_on": series,
        "drawn_slice": slice_index,
        "drawn_points": clicks,
    }
    with transaction.atomic():
        Case.objects.select_for_update().filter(pk=case.pk).first()  # one writer per case at a time
        roi = MeasurementROI.objects.filter(case=case, client_id=client_id).first()
        if roi is not None:
            if roi.kind != kind:
                raise MeasurementInvalid(f"ROI {roi.number} is a {roi.kind}; an ROI keeps its kind.")
            if all(getattr(roi, key) == value for key, value in values.items()):
                return roi, False
        created = roi is None
        before = None if roi is None else _roi_record(roi)
        if roi is None:
            number = (case.measurement_rois.aggregate(top=Max("number"))["top"] or 0) + 1
            roi = MeasurementROI.objects.create(
                case=case, client_id=client_id, number=number, created_by=actor, **values
            )
        else:
            for key, value in values.items():
                setattr(roi, key, value)
            roi.save()
        series_list = _case_series(case)
        _roi_values_compute(roi, series_list, _cached_reader())
        for cnr in _cnrs_of(roi):
            _cnr_values_compute(cnr, series_list)
        audit_event_create(
            actor=actor,
            action=AuditAction.MEASUREMENT_ROI_CREATE if created else AuditAction.MEASUREMENT_ROI_UPDATE,
            target=roi,
            study=case.study,
            data={
                "client_id": str(client_id),
                "case": case.code,
                "number": roi.number,
                **audit_change(before, _roi_record(roi)),
            },
        )
    return roi, created


def _roi_record(roi: MeasurementROI) -> dict[str, Any]:
    """An ROI as its audit events record it."""
    return {
        "kind": roi.kind,
        "label": roi.label,
        "series": str(roi.drawn_on.public_id) if roi.drawn_on is not None else None,
        "slice": roi.drawn_slice,
        "points": roi.drawn_points,
        "points_mm": roi.points_mm,
        "radius_mm": roi.radius_mm,
    }


def measurement_roi_delete(*, case: Case, client_id: uuid.UUID, actor) -> bool:
    """Delete the case's ROI with this client id, its values and the CNRs that use it; False if
    there was none (deleting twice is harmless)."""
    with transaction.atomic():
        Case.objects.select_for_update().filter(pk=case.pk).first()
        roi = MeasurementROI.objects.filter(case=case, client_id=client_id).first()
        if roi is None:
            return False
        cnrs = [str(c.client_id) for c in _cnrs_of(roi)]
        audit_event_create(
            actor=actor,
            action=AuditAction.MEASUREMENT_ROI_DELETE,
            target=roi,
            study=case.study,
            data={
                "client_id": str(client_id),
                "case": case.code,
                "number": roi.number,
                "cnrs_deleted": cnrs,
                **audit_change(_roi_record(roi), None),
            },
        )
        roi.delete()  # its values and CNRs go with it (CASCADE)
    return True


# ----------------------------------------------------------------------------- CNRs


def measurement_cnr_save(
    *,
    case: Case,
    client_id: uuid.UUID,
    roi_a: uuid.UUID,
    roi_b: uuid.UUID,
    label: str = "",
    actor,
) -> tuple[MeasurementCNR, bool]:
    """Create or change the CNR with this client id between two circle ROIs of the case (named by
    their client ids; B is the background whose SD is the noise); returns (cnr, created)."""
    label = _label(label)
    with transaction.atomic():
        Case.objects.select_for_update().filter(pk=case.pk).first()
        rois = {
            str(r.client_id): r
            for r in MeasurementROI.objects.filter(case=case, client_id__in=[roi_a, roi_b])
        }
        a, b = rois.get(str(roi_a)), rois.get(str(roi_b))
        if a is None or b is None:
            raise MeasurementInvalid("A CNR needs two ROIs of this case.")
        if a.pk == b.pk:
            raise MeasurementInvalid("A CNR needs two different ROIs.")
        if a.kind != MeasurementROI.Kind.CIRCLE or b.kind != MeasurementROI.Kind.CIRCLE:
            raise MeasurementInvalid("A CNR is measured between two circle ROIs.")
        cnr = MeasurementCNR.objects.filter(case=case, client_id=client_id).first()
        values = {"roi_a": a, "roi_b": b, "label": label}
        if cnr is not None and (cnr.roi_a_id, cnr.roi_b_id, cnr.label) == (a.pk, b.pk, label):
            return cnr, False
        created = cnr is None
        before = None if cnr is None else _cnr_record(cnr)
        if cnr is None:
            cnr = MeasurementCNR.objects.create(case=case, client_id=client_id, created_by=actor, **values)
        else:
            for key, value in values.items():
                setattr(cnr, key, value)
            cnr.save()
        _cnr_values_compute(cnr, _case_series(case))
        audit_event_create(
            actor=actor,
            action=AuditAction.MEASUREMENT_CNR_CREATE if created else AuditAction.MEASUREMENT_CNR_UPDATE,
            target=cnr,
            study=case.study,
            data={"client_id": str(client_id), "case": case.code, **audit_change(before, _cnr_record(cnr))},
        )
    return cnr, created


def _cnr_record(cnr: MeasurementCNR) -> dict[str, Any]:
    """A CNR as its audit events record it (its ROIs by number)."""
    return {"roi_a": cnr.roi_a.number, "roi_b": cnr.roi_b.number, "label": cnr.label}


def measurement_cnr_delete(*, case: Case, client_id: uuid.UUID, actor) -> bool:
    """Delete the case's CNR with this client id; False if there was none."""
    with transaction.atomic():
        cnr = (
            MeasurementCNR.objects.filter(case=case, client_id=client_id)
            .select_related("roi_a", "roi_b")
            .first()
        )
        if cnr is None:
            return False
        audit_event_create(
            actor=actor,
            action=AuditAction.MEASUREMENT_CNR_DELETE,
            target=cnr,
            study=case.study,
            data={"client_id": str(client_id), "case": case.code, **audit_change(_cnr_record(cnr), None)},
        )
        cnr.delete()
    return True


def measurement_case_recompute(*, case: Case, actor) -> int:
    """Measure every ROI and CNR of the case again on every series it has now (e.g. after a
    condition was generated or a series imported again); returns the number of ROIs."""
    with transaction.atomic():
        Case.objects.select_for_update().filter(pk=case.pk).first()
        series_list = _case_series(case)
        read = _cached_reader()
        rois = list(case.measurement_rois.all())
        for roi in rois:
            _roi_values_compute(roi, series_list, read)
        for cnr in case.measurement_cnrs.select_related("roi_a", "roi_b"):
            _cnr_values_compute(cnr, series_list)
        audit_event_create(
            actor=actor,
            action=AuditAction.MEASUREMENT_RECOMPUTE,
            target=case,
            study=case.study,
            data={"case": case.code, "rois": len(rois), "series": [str(s.public_id) for s in series_list]},
        )
    return len(rois)


# ----------------------------------------------------------------------------- image fidelity


def fidelity_reference_set(*, study: Study, condition: Condition, actor) -> FidelityReference:
    """Make ``condition`` the one the study's image fidelity is measured against (audited)."""
    if condition.study_id != study.pk:
        raise MeasurementInvalid("The reference must be a condition of this study.")
    with transaction.atomic():
        previous = (
            FidelityReference.objects.select_for_update()
            .filter(study=study)
            .select_related("condition")
            .first()
        )
        before = {"condition": previous.condition.label} if previous is not None else None
        if previous is not None and previous.condition_id == condition.pk:
            return previous
        reference, _ = FidelityReference.objects.update_or_create(
            study=study, defaults={"condition": condition, "chosen_by": actor}
        )
        audit_event_create(
            actor=actor,
            action=AuditAction.FIDELITY_REFERENCE_SET,
            target=reference,
            study=study,
            data=audit_change(before, {"condition": condition.label}),
        )
    return reference


def _series_files(series: ImageSeries, folder: Path) -> Path:
    """Write the series' stored files (checksums checked) into a new ``folder``; return it."""
    folder.mkdir(parents=True)
    instances = list(series.instances.order_by("slice_index"))
    if not instances:
        raise MeasurementUnavailable("The series has no stored images.")
    for instance in instances:
        (folder / f"{instance.slice_index:05d}.dcm").write_bytes(_instance_bytes(instance))
    return folder


def _series_volume(series: ImageSeries, folder: Path):
    """The series read from its stored files (checksums checked) as an ``sr_engine`` Volume."""
    from sr_engine.dicom_series import read_dicom_series  # imported on use, as the engine's heavier parts

    return read_dicom_series(_series_files(series, folder))


def fidelity_compute(*, study: Study, actor) -> list[FidelityResult]:
    """PSNR, SSIM and RMSE of every case's series under every other condition against the
    reference condition's series, whole volume and in the tissue mask (``sr_engine.metrics.compare``).

    Only series on the reference's grid are compared; the others get a result without
    values whose note says why ("not on the reference grid", no reference series for the
    case, a file that cannot be read). Replaces the study's earlier results. Synchronous:
    it reads every series once.
    """
    from sr_engine.dicom_series import VolumeError
    from sr_engine.metrics import compare

    reference = fidelity_reference_condition(study)
    if reference is None:
        raise MeasurementInvalid(
            'The study has no reference condition: choose one (or name a condition "HR") first.'
        )
    second_echoes = dess_second_echo_condition_ids(study)  # a DESS echo 2 is in the T2 agreement
    rows: list[dict[str, Any]] = []
    for case in study.cases.order_by("code"):
        series_list = _case_series(case)
        reference_series = next((s for s in series_list if s.condition_id == reference.pk), None)
        others = [
            s for s in series_list if s.condition_id != reference.pk and s.condition_id not in second_echoes
        ]
        if not others:
            continue
        with tempfile.TemporaryDirectory(prefix="readerstudy-fidelity-") as tmp:
            reference_volume = None
            reference_error = ""
            if reference_series is None:
                reference_error = f"case {case.code} has no {reference.label} series"
            for series in others:
                row: dict[str, Any] = {"case": case, "condition": series.condition, "reference": reference}
                if reference_series is None:
                    row["note"] = reference_error
                elif not series_on_same_grid(series, reference_series):
                    row["note"] = "not on the reference grid"
                else:
                    try:
                        if reference_volume is None:
                            reference_volume = _series_volume(reference_series, Path(tmp) / "reference")
                        volume = _series_volume(series, Path(tmp) / str(series.public_id))
                        result = compare(reference_volume, volume)
                    except MeasurementUnavailable as exc:
                        row["note"] = str(exc)[:300]
                    except (VolumeError, ValueError) as exc:
                        message = str(exc).splitlines()[0]
                        row["note"] = (
                            "not on the reference grid" if "different grids" in message else message[:300]
                        )
                    else:
                        row.update(
                            psnr=result.psnr,
                            ssim=result.ssim,
                            rmse=result.rmse,
                            nrmse=result.nrmse,
                            psnr_tissue=result.psnr_tissue,
                            ssim_tissue=result.ssim_tissue,
                            rmse_tissue=result.rmse_tissue,
                            n_slices_used=result.n_slices_used,
                        )
                rows.append(row)
    with transaction.atomic():
        FidelityResult.objects.filter(case__study=study).delete()
        results = [
            FidelityResult.objects.create(
                computed_by=actor if getattr(actor, "is_authenticated", False) else None, **row
            )
            for row in rows
        ]
        audit_event_create(
            actor=actor,
            action=AuditAction.FIDELITY_COMPUTE,
            study=study,
            data={
                "reference": reference.label,
                "results": len(results),
                "compared": sum(1 for r in results if r.psnr is not None),
            },
        )
    return results


# ----------------------------------------------------------------------------- DESS T2 agreement

#: The region of a T2 agreement over the tissue mask (``sr_engine.metrics.tissue_mask``).
T2_TISSUE_REGION = "tissue"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _dess_t2_map(echo_1: ImageSeries, echo_2: ImageSeries, folder: Path):
    """The T2 map (``sr_engine.dess.dess_t2_map``) of a condition from its two echoes' stored files."""
    from sr_engine.dess import dess_t2_map
    from sr_engine.dicom_series import read_dicom_series

    if not series_on_same_grid(echo_1, echo_2):
        raise MeasurementUnavailable(f"the {echo_2.condition.label} series is not on the first echo's grid")
    first = _series_files(echo_1, folder / "echo1")
    second = _series_files(echo_2, folder / "echo2")
    volume = read_dicom_series([first, second])
    return volume, dess_t2_map(volume, mask=np.ones(volume.shape, dtype=bool))


def _t2_regions(case: Case, reference_series: ImageSeries, reference_volume) -> list[tuple[str, Any]]:
    """(name, mask on the reference grid) of each region: the tissue mask of the reference's first
    echo, and every circle ROI of the case on its nearest slice of the reference series (an ROI
    more than half a slice outside the series has an empty mask)."""
    from sr_engine.metrics import tissue_mask

    regions: list[tuple[str, Any]] = [(T2_TISSUE_REGION, tissue_mask(reference_volume))]
    rois = list(case.measurement_rois.all())
    names = measurement_roi_names(rois)
    shape = (reference_series.num_slices, reference_series.rows, reference_series.columns)
    for roi in rois:
        if roi.kind != MeasurementROI.Kind.CIRCLE or roi.radius_mm is None:
            continue
        x, y, position = series_coordinates(reference_series, roi.points_mm[0])
        index = nearest_slice(reference_series, position)
        mask = np.zeros(shape, dtype=bool)
        if abs(position - index) <= 0.5:
            mask[index] = sr_roi.circle_mask(
                shape[1:], (x, y), float(roi.radius_mm), reference_series.pixel_spacing
            )
        regions.append((names[roi.pk], mask))
    return regions


def _t2_values(reference_map: np.ndarray, test_map: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """The stored values of one region's agreement (``sr_engine.dess.t2_agreement``), the means over
    the voxels it counts; raises ``ValueError`` when fewer than three voxels count."""
    from sr_engine.dess import t2_agreement

    agreement = t2_agreement(reference_map, test_map, mask)
    counted = mask & np.isfinite(reference_map) & np.isfinite(test_map) & (reference_map > 0) & (test_map > 0)
    reference_mean = float(np.mean(reference_map[counted], dtype=np.float64))
    return {
        "ccc": agreement.ccc,
        "ccc_lower": agreement.ccc_ci[0],
        "ccc_upper": agreement.ccc_ci[1],
        "cv_percent": agreement.cv_percent,
        "mean_t2_ms": reference_mean + agreement.mean_difference_ms,
        "reference_mean_t2_ms": reference_mean,
        "mean_difference_ms": agreement.mean_difference_ms,
        "n_voxels": agreement.n_voxels,
    }


def t2_agreement_compute(*, study: Study, actor) -> list[T2AgreementResult]:
    """Agreement of every case's DESS T2 map under every condition with the reference condition's.

    Each condition with a second echo (the condition labelled "<label> echo 2":
    ``selectors.dess_echo_partners``) gets its T2 map from its two series by
    ``sr_engine.dess.dess_t2_map`` (Sveinsson et al. 2017; TR, TE and flip angle from the
    DICOM headers, T1 assumed 1.2 s, T2 above 100 ms left out), and so does the reference
    condition (``fidelity_reference_condition``, e.g. HR). Agreement with the reference map
    (``sr_engine.dess.t2_agreement``: Lin's CCC with its 95 % interval and the within-voxel
    CV%) is taken over the tissue mask of the reference's first echo (region "tissue") and
    over every circle ROI of the case (region: the ROI's name), only for maps on the
    reference's grid; a condition that cannot be compared gets one row without values whose
    note says why. Replaces the study's earlier results; synchronous.
    """
    from sr_engine.dicom_series import VolumeError

    reference = fidelity_reference_condition(study)
    if reference is None:
        raise MeasurementInvalid(
            'The study has no reference condition: choose one (or name a condition "HR") first.'
        )
    partners = dess_echo_partners(study)
    if reference.pk not in partners:
        raise MeasurementInvalid(
            f"T2 agreement needs the second DESS echo of the reference: import it as the condition "
            f'"{reference.label} echo 2".'
        )
    second_echoes = {partner.pk for partner in partners.values()}
    compared = [
        c
        for c in study.conditions.order_by("order", "label")
        if c.pk != reference.pk and c.pk not in second_echoes
    ]
    rows: list[dict[str, Any]] = []
    for case in study.cases.order_by("code"):
        series = {s.condition_id: s for s in _case_series(case)}
        targets = [c for c in compared if c.pk in series]
        if not targets:
            continue
        with tempfile.TemporaryDirectory(prefix="readerstudy-t2-") as tmp:
            reference_series = series.get(reference.pk)
            reference_echo_2 = series.get(partners[reference.pk].pk)
            reference_map = None
            regions: list[tuple[str, Any]] = []
            reference_error = ""
            if reference_series is None or reference_echo_2 is None:
                missing = reference if reference_series is None else partners[reference.pk]
                reference_error = f"case {case.code} has no {missing.label} series"
            else:
                try:
                    volume, t2 = _dess_t2_map(reference_series, reference_echo_2, Path(tmp) / "reference")
                    reference_map = t2.data
                    regions = _t2_regions(case, reference_series, volume)
                except (MeasurementUnavailable, VolumeError, ValueError) as exc:
                    reference_error = f"the reference's T2 map: {_first_line(exc)}"
            for condition in targets:
                base: dict[str, Any] = {"case": case, "condition": condition, "reference": reference}
                note = reference_error
                partner = partners.get(condition.pk)
                test_map = None
                if note:
                    pass
                elif partner is None:
                    note = f'no second echo (no condition is labelled "{condition.label}{ECHO_2_SUFFIX}")'
                elif partner.pk not in series:
                    note = f"case {case.code} has no {partner.label} series"
                elif reference_series is None or not series_on_same_grid(
                    series[condition.pk], reference_series
                ):
                    note = "not on the reference grid"
                else:
                    try:
                        _, t2 = _dess_t2_map(
                            series[condition.pk], series[partner.pk], Path(tmp) / str(condition.pk)
                        )
                        test_map = t2.data
                    except (MeasurementUnavailable, VolumeError, ValueError) as exc:
                        note = _first_line(exc)
                if test_map is None or reference_map is None:
                    rows.append({**base, "region": T2_TISSUE_REGION, "note": note[:300]})
                    continue
                for name, mask in regions:
                    try:
                        rows.append({**base, "region": name, **_t2_values(reference_map, test_map, mask)})
                    except ValueError as exc:
                        rows.append({**base, "region": name, "note": _first_line(exc)})
    with transaction.atomic():
        T2AgreementResult.objects.filter(case__study=study).delete()
        results = [
            T2AgreementResult.objects.create(
                computed_by=actor if getattr(actor, "is_authenticated", False) else None, **row
            )
            for row in rows
        ]
        audit_event_create(
            actor=actor,
            action=AuditAction.T2_AGREEMENT_COMPUTE,
            study=study,
            data={
                "reference": reference.label,
                "results": len(results),
                "compared": sum(1 for r in results if r.ccc is not None),
                "regions": sorted({r.region for r in results}),
            },
        )
    return results
