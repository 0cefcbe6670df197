"""The audit event each segmentation service writes (one test per service)."""

from unittest.mock import ANY

import pytest

from readerstudy.audit.models import AuditAction
from readerstudy.segmentation.services import SegmentationRefused, segmentation_mask_delete
from tests.audit_events import event_written
from tests.segmentation import masks as mk
from tests.segmentation.masks import LABELS, REFERENCE

pytestmark = pytest.mark.django_db

LEFT_RIGHT = [{"name": "left amygdala", "value": 1}, {"name": "right amygdala", "value": 2}]


def test_segmentation_mask_import_creates_then_replaces(study, cases, conditions, import_mask, coordinator):
    reference = import_mask(cases["C1"], None, mk.nifti_bytes(REFERENCE), LABELS, name="manual.nii")
    event_written(
        AuditAction.SEGMENTATION_MASK_IMPORT,
        actor=coordinator,
        target=reference,
        study=study,
        data={
            "case": "C1",
            "condition": None,
            "overlaps": 0,
            "before": None,
            "after": {
                "file_name": "manual.nii",
                "file_format": "nifti",
                "sha256": reference.sha256,
                "labels": LEFT_RIGHT,
                "shape": [10, 8, 4],
                "spacing_mm": [0.5, 0.5, 2.0],
            },
        },
    )
    first = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(REFERENCE), name="a.nii")
    segments = {"left amygdala": REFERENCE == 1, "right amygdala": REFERENCE == 2}
    again = import_mask(cases["C1"], conditions["3T"], mk.seg_bytes(segments), name="b.dcm")
    events = study.audit_events.filter(action=AuditAction.SEGMENTATION_MASK_IMPORT).order_by("pk")
    assert [e.data["after"]["file_name"] if e.data["after"] else None for e in events] == [
        "manual.nii",
        "a.nii",
        "b.dcm",
    ]
    replaced = events.last()
    assert (replaced.target_id, replaced.data["condition"], replaced.data["overlaps"]) == (
        str(first.pk),
        "3T",
        2,
    )
    assert replaced.data["before"] == {
        "file_name": "a.nii",
        "file_format": "nifti",
        "sha256": first.sha256,
        "shape": [10, 8, 4],
    }
    assert replaced.data["after"] == {
        "file_name": "b.dcm",
        "file_format": "dicom-seg",
        "sha256": again.sha256,
        "shape": [10, 8, 2],
    }


def test_segmentation_mask_import_refused(study, cases, import_mask, coordinator):
    with pytest.raises(SegmentationRefused):
        import_mask(cases["C1"], None, b"not a mask" * 50, name="bad.nii")
    event_written(
        AuditAction.SEGMENTATION_MASK_IMPORT_FAILED,
        actor=coordinator,
        target=cases["C1"],
        study=study,
        data={
            "case": "C1",
            "condition": None,
            "file_name": "bad.nii",
            "sha256": ANY,
            "size": 500,
            "error": "it is neither a NIfTI image (.nii, .nii.gz) nor a DICOM file",
        },
    )


def test_segmentation_mask_delete(study, cases, conditions, reference, import_mask, coordinator):
    mask = import_mask(cases["C1"], conditions["syn7T"], mk.nifti_bytes(REFERENCE), name="syn.nii")
    recorded = {
        "file_name": "syn.nii",
        "file_format": "nifti",
        "sha256": mask.sha256,
        "labels": LEFT_RIGHT,
        "shape": [10, 8, 4],
        "spacing_mm": [0.5, 0.5, 2.0],
    }
    segmentation_mask_delete(mask=mask, actor=coordinator)
    event_written(
        AuditAction.SEGMENTATION_MASK_DELETE,
        actor=coordinator,
        target=mask,
        study=study,
        data={"case": "C1", "condition": "syn7T", "before": recorded, "after": None},
    )
