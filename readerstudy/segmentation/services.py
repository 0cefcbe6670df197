"""Writes of segmentation masks: import (with the overlap metrics computed at once) and delete.

``segmentation_mask_import`` reads an uploaded NIfTI or DICOM SEG file (``mask_io``: the
import's size and voxel caps, every refusal in words), checks it against the case's
reference mask and stores the decoded masks with their overlap metrics
(``stats.overlap.masks_overlap``), all in one transaction:

* the **reference** mask of a case (``condition`` None) comes first; importing it again
  replaces it, and every condition mask of the case is compared again with the new one
  (if one of them no longer fits it, nothing changes and the refusal says which);
* a **condition** mask must lie on the reference's voxel grid (``mask_io.common_grid``) and
  name the reference's labels (matched by name; a NIfTI without labels takes the
  reference's name = value list); importing it again replaces it and its metrics.

A refused file stores nothing; the refusal is audited (``segmentation.mask.import_failed``)
and raised as ``SegmentationRefused``. Audit events: ``segmentation.mask.import`` (before
and after: the replaced and the new mask's file, format, labels and grid) and
``segmentation.mask.delete``.
"""

from __future__ import annotations

import hashlib
import io
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create
from readerstudy.errors import ServiceError
from readerstudy.imaging.dicom_import import DEFAULT_MAX_MEMBER
from readerstudy.imaging.nifti_import import DEFAULT_MAX_NIFTI_VOXELS
from readerstudy.segmentation.mask_io import LabelMasks, MaskRefused, common_grid, labels_parse, mask_read
from readerstudy.segmentation.models import OverlapMeasurement, SegmentationMask
from readerstudy.studies.models import Case, Condition
from stats.overlap import LabelOverlap, OverlapError, masks_overlap


class SegmentationRefused(ServiceError, ValueError):
    """The mask cannot be imported or deleted (said in words for the coordinator)."""


def _caps() -> tuple[int, int]:
    """(bytes a file, voxels a mask): the DICOM/NIfTI import's own caps."""
    return (
        int(getattr(settings, "READERSTUDY_MAX_IMPORT_MEMBER", DEFAULT_MAX_MEMBER)),
        int(getattr(settings, "READERSTUDY_MAX_NIFTI_VOXELS", DEFAULT_MAX_NIFTI_VOXELS)),
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- stored masks


def _npz(masks: LabelMasks) -> bytes:
    """The masks as a compressed .npz: ``affine`` and ``label_<n>`` in label order."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {f"label_{n}": m for n, m in enumerate(masks.masks.values())}
    np.savez_compressed(buffer, affine=masks.affine, **arrays)
    return buffer.getvalue()


def stored_masks(mask: SegmentationMask) -> LabelMasks:
    """The decoded masks of a stored ``SegmentationMask`` (as they were imported)."""
    with mask.voxels.open("rb") as handle:
        data = np.load(io.BytesIO(handle.read()), allow_pickle=False)
        names = [item["name"] for item in mask.labels]
        masks = {name: data[f"label_{n}"].astype(bool) for n, name in enumerate(names)}
        return LabelMasks(
            file_format=mask.file_format, labels=mask.label_map, masks=masks, affine=data["affine"]
        )


def _facts(mask: SegmentationMask | None) -> dict[str, Any] | None:
    """What the audit log records of a mask."""
    if mask is None:
        return None
    return {
        "file_name": mask.file_name,
        "file_format": mask.file_format,
        "sha256": mask.sha256,
        "labels": mask.labels,
        "shape": mask.shape,
        "spacing_mm": mask.spacing,
    }


def _context(case: Case, condition: Condition | None) -> dict[str, Any]:
    return {"case": case.code, "condition": condition.label if condition else None}


def _overlaps(masks: LabelMasks, reference: LabelMasks) -> list[LabelOverlap]:
    grid = common_grid(masks, reference)
    return masks_overlap(grid.masks, grid.reference, grid.spacing)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _overlaps_store(mask: SegmentationMask, reference: SegmentationMask, results: list[LabelOverlap]) -> None:
    mask.overlaps.all().delete()
    OverlapMeasurement.objects.bulk_create(
        OverlapMeasurement(
            mask=mask,
            reference=reference,
            label=r.label,
            dice=_finite(r.dice),
            jaccard=_finite(r.jaccard),
            hd95_mm=_finite(r.hd95_mm),
            volume_ml=r.volume_ml,
            reference_volume_ml=r.reference_volume_ml,
            volume_difference_ml=r.volume_difference_ml,
            relative_volume_difference_percent=_finite(r.relative_volume_difference_percent),
            voxels=r.voxels,
            reference_voxels=r.reference_voxels,
            note=r.note,
        )
        for r in results
    )


# ----------------------------------------------------------------------------- import


def _mask_checked(
    *, case: Case, condition: Condition | None, path: Path, labels_text: str
) -> tuple[LabelMasks, SegmentationMask | None, dict[int, list[LabelOverlap]]]:
    """Read the file and compare it: (its masks, the case's reference mask, the overlaps to
    store by condition mask pk, the new mask's own under 0). Raises MaskRefused/OverlapError."""
    if condition is not None and condition.study_id != case.study_id:
        raise MaskRefused(f"the condition {condition.label} is not of this study")
    reference = SegmentationMask.objects.filter(case=case, condition__isnull=True).first()
    if condition is not None and reference is None:
        raise MaskRefused(f"case {case.code} has no reference mask yet: import the reference mask first")
    max_bytes, max_voxels = _caps()
    labels = labels_parse(labels_text)
    masks = mask_read(
        path,
        labels=labels,
        default_labels=reference.label_map if reference is not None and condition is not None else None,
        max_bytes=max_bytes,
        max_voxels=max_voxels,
    )
    results: dict[int, list[LabelOverlap]] = {}
    if condition is not None:
        assert reference is not None
        results[0] = _overlaps(masks, stored_masks(reference))
        return masks, reference, results
    for other in SegmentationMask.objects.filter(case=case, condition__isnull=False).select_related(
        "condition"
    ):
        try:
            results[other.pk] = _overlaps(stored_masks(other), masks)
        except (MaskRefused, OverlapError) as exc:
            raise MaskRefused(
                f"the {other.role} mask of case {case.code} does not fit this reference: {exc} "
                "(delete that mask first, or import a reference on its grid with its labels)"
            ) from None
    return masks, reference, results


def segmentation_mask_import(
    *,
    case: Case,
    condition: Condition | None,
    path: Path,
    file_name: str,
    labels_text: str = "",
    actor: Any,
) -> SegmentationMask:
    """Import the mask file at ``path`` as the case's reference (``condition`` None) or a
    condition's mask, computing and storing its overlap with the reference (see the module
    docstring). Raises SegmentationRefused with the reason; nothing is stored then.

    The case's row is locked for the whole import, so two imports of one case (a reference
    and a condition mask racing) run one after the other and every metric is computed
    against the reference that is stored with it.
    """
    study = case.study
    sha256, size = _sha256(path), path.stat().st_size
    what = "reference mask" if condition is None else f"{condition.label} mask"
    written: list[str] = []
    try:
        with transaction.atomic():
            Case.objects.select_for_update().get(pk=case.pk)
            masks, reference, results = _mask_checked(
                case=case, condition=condition, path=path, labels_text=labels_text
            )
            mask = _mask_store(
                case=case,
                condition=condition,
                masks=masks,
                reference=reference,
                results=results,
                file={"file_name": file_name[:255], "sha256": sha256, "size": size},
                actor=actor,
                written=written,
            )
    except (MaskRefused, OverlapError) as exc:
        reason = str(exc).rstrip(".")
        audit_event_create(
            actor=actor,
            action=AuditAction.SEGMENTATION_MASK_IMPORT_FAILED,
            target=case,
            study=study,
            data={
                **_context(case, condition),
                "file_name": file_name,
                "sha256": sha256,
                "size": size,
                "error": reason,
            },
        )
        raise SegmentationRefused(
            f"The {what} of case {case.code} was not imported: {file_name}: {reason}."
        ) from None
    except BaseException:
        for name in written:  # the transaction is undone: so is the file it wrote
            default_storage.delete(name)
        raise
    return mask


def _mask_store(
    *,
    case: Case,
    condition: Condition | None,
    masks: LabelMasks,
    reference: SegmentationMask | None,
    results: dict[int, list[LabelOverlap]],
    file: dict[str, Any],
    actor: Any,
    written: list[str],
) -> SegmentationMask:
    """Create or replace the mask, its overlaps (or, for a reference, every condition mask's)
    and the audit event; in the caller's transaction. ``written`` gets the stored file's name."""
    previous = SegmentationMask.objects.filter(case=case, condition=condition).first()
    before = _facts(previous)
    old_file = previous.voxels.name if previous is not None else None
    mask = previous or SegmentationMask(case=case, condition=condition)
    mask.file_format = masks.file_format
    mask.file_name = file["file_name"]
    mask.sha256 = file["sha256"]
    mask.size = file["size"]
    mask.labels = [{"name": name, "value": value} for name, value in masks.labels.items()]
    mask.shape = list(masks.shape)
    mask.affine = [[float(v) for v in row] for row in masks.affine]
    mask.spacing = list(masks.spacing)
    mask.uploaded_by = actor
    mask.voxels.save(f"{uuid.uuid4().hex}.npz", ContentFile(_npz(masks)), save=False)
    written.append(str(mask.voxels.name))
    mask.save()
    if condition is not None:
        assert reference is not None
        _overlaps_store(mask, reference, results[0])
    else:
        for other in SegmentationMask.objects.filter(case=case, condition__isnull=False):
            _overlaps_store(other, mask, results[other.pk])
    audit_event_create(
        actor=actor,
        action=AuditAction.SEGMENTATION_MASK_IMPORT,
        target=mask,
        study=case.study,
        data={
            **_context(case, condition),
            "overlaps": sum(len(r) for r in results.values()),
            **audit_change(before, _facts(mask)),
        },
    )
    if old_file:
        transaction.on_commit(lambda: default_storage.delete(old_file))
    return mask


def segmentation_mask_delete(*, mask: SegmentationMask, actor: Any) -> None:
    """Delete a mask and its overlap metrics. A reference mask goes only once the case has no
    condition masks (they are compared with it)."""
    case = mask.case
    with transaction.atomic():
        mask = (
            SegmentationMask.objects.select_for_update(of=("self",))
            .select_related("condition")
            .get(pk=mask.pk)
        )
        if mask.is_reference and SegmentationMask.objects.filter(case=case, condition__isnull=False).exists():
            raise SegmentationRefused(
                f"The reference mask of case {case.code} is what its condition masks are compared with: "
                "delete those first, or import a new reference over it."
            )
        before, name = _facts(mask), str(mask.voxels.name)
        audit_event_create(
            actor=actor,
            action=AuditAction.SEGMENTATION_MASK_DELETE,
            target=mask,
            study=case.study,
            data={**_context(case, mask.condition), **audit_change(before, None)},
        )
        mask.delete()
        transaction.on_commit(lambda: default_storage.delete(name))
