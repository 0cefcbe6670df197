"""Writes of lesion marks: placed, moved, re-rated or deleted by a reader, idempotently."""

import uuid

import numpy as np

from sr_engine.volume import dicom_affine, slice_normal

from ..models import AuditAction, ImageSeries, LesionMark, Reading
from .audit import audit_event_create
from .readings import reading_set_in_progress, reading_write, text_refusal


class MarkInvalid(ValueError):
    """The mark does not fit the series or the study's confidence scale."""


def patient_position(
    series: ImageSeries, slice_index: float, x: float, y: float
) -> tuple[float, float, float]:
    """Patient coordinates (LPS, mm) of pixel index (column x, row y) on a slice (DICOM PS3.3 C.7.6.2.1.1).

    DICOM indices count pixel centres: (0, 0) is the centre of the top-left pixel.
    """
    slice_vector = slice_normal(series.orientation) * float(series.slice_spacing or 0.0)
    affine = dicom_affine(series.orientation, series.pixel_spacing, slice_vector, series.origin)
    return tuple(float(v) for v in (affine @ np.array([x, y, slice_index, 1.0]))[:3])  # type: ignore[return-value]


def viewer_patient_position(
    series: ImageSeries, slice_index: float, x: float, y: float
) -> tuple[float, float, float]:
    """Patient coordinates (LPS, mm) of a point in the workstation's image coordinates.

    The workstation (Cornerstone3D, ``utilities.imageToWorldCoords``) measures image
    points from the top-left *corner* of the image: pixel (i, j) covers [i, i + 1) x
    [j, j + 1) and has its centre at (i + 0.5, j + 0.5). Marks and drafted lesions arrive
    in these coordinates (``0 <= x < columns``); as a DICOM index the point is
    (x - 0.5, y - 0.5).
    """
    return patient_position(series, slice_index, x - 0.5, y - 0.5)


#: Longest label a mark may carry (the model's field length).
MARK_LABEL_MAX_LENGTH = 200


def mark_save(
    *,
    reading: Reading,
    client_id: uuid.UUID,
    slice_index: int,
    x: float,
    y: float,
    rating: int,
    label: str = "",
    user,
) -> tuple[LesionMark, bool]:
    """Create or update the mark with this client id; returns (mark, created).

    Same input, same result: a repeated or concurrent PUT of one client id is an update.
    Raises MarkInvalid for a mark that does not fit, ReadingLocked when the reading can no
    longer change.
    """
    label = label.strip()
    refusal = text_refusal(label, max_length=MARK_LABEL_MAX_LENGTH, what="The mark's label")
    if refusal:
        raise MarkInvalid(refusal)
    with reading_write(reading) as locked:
        series = locked.series
        study = locked.session.participation.study
        scale = [point["value"] for point in study.mark_scale]
        if not scale:
            raise MarkInvalid("This study has no lesion marking.")
        if rating not in scale:
            raise MarkInvalid(
                f"Confidence {rating} is not on the study's scale ({', '.join(map(str, scale))})."
            )
        if not 0 <= slice_index < series.num_slices:
            raise MarkInvalid(f"Slice {slice_index} is outside the series (0 to {series.num_slices - 1}).")
        if not (0 <= x < series.columns and 0 <= y < series.rows):
            raise MarkInvalid("The mark lies outside the image.")
        px, py, pz = viewer_patient_position(series, slice_index, x, y)
        values = {
            "slice_index": slice_index,
            "x": x,
            "y": y,
            "patient_x": px,
            "patient_y": py,
            "patient_z": pz,
            "rating": rating,
            "label": label,
        }
        mark = LesionMark.objects.filter(reading=locked, client_id=client_id).first()
        if mark is not None and all(getattr(mark, k) == v for k, v in values.items()):
            return mark, False
        created = mark is None
        if created:
            mark = LesionMark.objects.create(reading=locked, client_id=client_id, **values)
        else:
            for key, value in values.items():
                setattr(mark, key, value)
            mark.save()
        reading_set_in_progress(locked)
        audit_event_create(
            actor=user,
            action=AuditAction.MARK_CREATE if created else AuditAction.MARK_UPDATE,
            target=locked,
            study=study,
            data={"client_id": str(client_id), **values},
        )
    return mark, created


def mark_delete(*, reading: Reading, client_id: uuid.UUID, user) -> bool:
    """Delete the mark with this client id; False if there was none (deleting twice is harmless)."""
    with reading_write(reading) as locked:
        deleted, _ = LesionMark.objects.filter(reading=locked, client_id=client_id).delete()
        if deleted:
            audit_event_create(
                actor=user,
                action=AuditAction.MARK_DELETE,
                target=locked,
                study=locked.session.participation.study,
                data={"client_id": str(client_id)},
            )
    return bool(deleted)
