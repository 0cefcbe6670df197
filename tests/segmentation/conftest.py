"""Fixtures of the segmentation tests: a study with three conditions and two cases, and a helper
that imports a mask file through the service."""

from pathlib import Path

import pytest

from readerstudy.segmentation.services import segmentation_mask_import
from tests import factories as f
from tests.segmentation import masks as mk

REFERENCE, LABELS = mk.REFERENCE, mk.LABELS


@pytest.fixture
def conditions(study):
    return {
        label: f.ConditionFactory(study=study, label=label, order=n)
        for n, label in enumerate(("3T", "syn7T", "7T"))
    }


@pytest.fixture
def cases(study):
    return {code: f.CaseFactory(study=study, code=code) for code in ("C1", "C2")}


@pytest.fixture
def import_mask(tmp_path, coordinator):
    """import_mask(case, condition or None, bytes, labels="", name=...) -> SegmentationMask."""
    counter = iter(range(10_000))

    def run(case, condition, data: bytes, labels: str = "", name: str = "mask.nii.gz", actor=None):
        path = Path(tmp_path) / f"upload-{next(counter)}"
        path.write_bytes(data)
        return segmentation_mask_import(
            case=case,
            condition=condition,
            path=path,
            file_name=name,
            labels_text=labels,
            actor=actor or coordinator,
        )

    return run


@pytest.fixture
def reference(cases, import_mask):
    """C1's reference mask (NIfTI, two labels)."""
    return import_mask(
        cases["C1"], None, mk.nifti_bytes(REFERENCE, gzip=True), LABELS, name="C1-manual.nii.gz"
    )
