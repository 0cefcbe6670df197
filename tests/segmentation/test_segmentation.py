"""Segmentation masks: import (NIfTI and DICOM SEG), the overlap metrics computed at import,
refusals of every kind storing nothing, the coordinator's page and its permissions, and the
metrics in the study record and the exports."""

import io
import zipfile

import nibabel as nib
import numpy as np
import openpyxl
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from readerstudy.audit.models import AuditAction, AuditEvent
from readerstudy.results.selectors import study_record
from readerstudy.segmentation.models import OverlapMeasurement, SegmentationMask
from readerstudy.segmentation.selectors import overlap_rows
from readerstudy.segmentation.services import SegmentationRefused, segmentation_mask_delete
from stats.overlap import BOTH_EMPTY, TEST_EMPTY
from stats.study_record import read_bundle
from stats.study_tables import analyse_study
from tests import factories as f
from tests.factories import PASSWORD
from tests.segmentation import masks as mk
from tests.segmentation.masks import LABELS, REFERENCE

pytestmark = pytest.mark.django_db

#: The 3T mask: left amygdala one column (0.5 mm) over, right exact.
SHIFTED = mk.label_map(left=((1, 2, 3), (3, 6, 7), 1), right=((1, 2, 7), (3, 4, 9), 2))


def metrics(mask) -> dict[str, dict]:
    return {
        o.label: {
            "dice": o.dice,
            "jaccard": o.jaccard,
            "hd95_mm": o.hd95_mm,
            "volume_ml": o.volume_ml,
            "reference_volume_ml": o.reference_volume_ml,
            "volume_difference_ml": o.volume_difference_ml,
            "relative_volume_difference_percent": o.relative_volume_difference_percent,
            "note": o.note,
        }
        for o in mask.overlaps.all()
    }


def assert_shifted_metrics(mask) -> None:
    """Hand-computed: the left boxes (2 x 4 x 4 = 32 voxels of 0.5 mm^3) share 24 voxels: Dice
    48/64, Jaccard 24/40; every voxel of a 2-slice box is a surface voxel, 8 of 32 are one
    column (0.5 mm) from the other's: HD95 = 0.5 mm; 0.016 mL each. The right ones are equal."""
    m = metrics(mask)
    left, right = m["left amygdala"], m["right amygdala"]
    assert (left["dice"], left["jaccard"], left["hd95_mm"]) == (0.75, 0.6, 0.5)
    assert left["volume_ml"] == pytest.approx(32 * mk.VOXEL_ML) == left["reference_volume_ml"]
    assert left["volume_difference_ml"] == 0.0 and left["relative_volume_difference_percent"] == 0.0
    assert (right["dice"], right["jaccard"], right["hd95_mm"]) == (1.0, 1.0, 0.0)
    assert right["volume_ml"] == pytest.approx(8 * mk.VOXEL_ML)


# ----------------------------------------------------------------------------- import and metrics


def test_a_nifti_mask_is_compared_with_the_reference_at_import(cases, conditions, reference, import_mask):
    mask = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))  # labels: the reference's
    assert mask.file_format == "nifti" and mask.label_map == {"left amygdala": 1, "right amygdala": 2}
    assert mask.shape == [10, 8, 4] and mask.spacing == [0.5, 0.5, 2.0]
    assert_shifted_metrics(mask)
    assert all(o.reference == reference for o in mask.overlaps.all())


def test_a_dicom_seg_without_its_empty_frames_is_placed_on_the_reference_grid(
    cases, conditions, reference, import_mask
):
    segments = {"left amygdala": SHIFTED == 1, "right amygdala": SHIFTED == 2}
    mask = import_mask(cases["C1"], conditions["syn7T"], mk.seg_bytes(segments), name="C1-syn7T.dcm")
    assert mask.file_format == "dicom-seg"
    assert mask.shape == [10, 8, 2]  # only the two slices with a segment
    assert mask.labels == [{"name": "left amygdala", "value": 1}, {"name": "right amygdala", "value": 2}]
    assert_shifted_metrics(mask)


@pytest.mark.parametrize("kind", ["BINARY", "LABELMAP"])
def test_a_dicom_seg_reference_names_the_labels_a_nifti_mask_takes(cases, conditions, import_mask, kind):
    segments = {"left amygdala": REFERENCE == 1, "right amygdala": REFERENCE == 2}
    import_mask(cases["C1"], None, mk.seg_bytes(segments, kind=kind), name="manual.dcm")
    mask = import_mask(cases["C1"], conditions["7T"], mk.nifti_bytes(SHIFTED, gzip=True))
    assert_shifted_metrics(mask)


def test_a_mask_stored_in_another_axis_order_is_turned_onto_the_reference_s(
    cases, conditions, reference, import_mask
):
    """Columns, rows, slices with the rows flipped (as a NIfTI from dcm2niix may be): the same
    voxels in space, so the same metrics."""
    data, affine = mk.reoriented(SHIFTED, mk.LPS_AFFINE, order=(2, 1, 0), flip=(1,))
    assert data.shape == (10, 8, 4) and not np.array_equal(affine, mk.LPS_AFFINE)
    mask = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(data, affine))
    assert mask.shape == [10, 8, 4]
    assert_shifted_metrics(mask)


def test_labels_are_matched_by_name_whatever_their_values(cases, conditions, reference, import_mask):
    swapped = np.where(SHIFTED == 1, 5, np.where(SHIFTED == 2, 9, 0)).astype(np.uint8)
    mask = import_mask(
        cases["C1"], conditions["3T"], mk.nifti_bytes(swapped), "9=right amygdala, 5=left amygdala"
    )
    assert_shifted_metrics(mask)


def test_empty_labels_are_stored_undefined_with_the_reason(cases, conditions, import_mask):
    import_mask(cases["C2"], None, mk.nifti_bytes(REFERENCE), LABELS + "; 3=hippocampus")
    only_left = np.where(SHIFTED == 1, 1, 0).astype(np.uint8)
    m = metrics(import_mask(cases["C2"], conditions["3T"], mk.nifti_bytes(only_left)))
    assert m["hippocampus"]["dice"] is None and m["hippocampus"]["hd95_mm"] is None
    assert m["hippocampus"]["note"] == BOTH_EMPTY and m["hippocampus"]["volume_ml"] == 0.0
    assert m["right amygdala"]["dice"] == 0.0 and m["right amygdala"]["hd95_mm"] is None
    assert m["right amygdala"]["relative_volume_difference_percent"] == -100.0
    assert m["right amygdala"]["note"] == TEST_EMPTY


def test_importing_again_replaces_the_mask_and_its_metrics(
    cases, conditions, reference, import_mask, django_capture_on_commit_callbacks
):
    first = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))
    assert default_storage.exists(first.voxels.name)
    with django_capture_on_commit_callbacks(execute=True):
        again = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(REFERENCE))
    assert again.pk == first.pk and SegmentationMask.objects.filter(condition=conditions["3T"]).count() == 1
    assert {o.label: o.dice for o in again.overlaps.all()} == {"left amygdala": 1.0, "right amygdala": 1.0}
    assert again.voxels.name != first.voxels.name
    assert default_storage.exists(again.voxels.name) and not default_storage.exists(first.voxels.name)


def test_a_new_reference_compares_every_condition_mask_again(cases, conditions, reference, import_mask):
    mask = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))
    import_mask(cases["C1"], None, mk.nifti_bytes(SHIFTED), LABELS)
    assert {o.label: o.dice for o in mask.overlaps.all()} == {"left amygdala": 1.0, "right amygdala": 1.0}
    assert SegmentationMask.objects.filter(case=cases["C1"], condition__isnull=True).count() == 1


def test_a_new_reference_that_a_condition_mask_does_not_fit_is_refused(
    cases, conditions, reference, import_mask
):
    mask = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))
    other_grid = mk.LPS_AFFINE.copy()
    other_grid[:3, 3] = [0.25, 0.0, 0.0]  # half a voxel over
    with pytest.raises(SegmentationRefused, match="the 3T mask of case C1 does not fit this reference"):
        import_mask(cases["C1"], None, mk.nifti_bytes(REFERENCE, other_grid), LABELS)
    reference.refresh_from_db()
    assert reference.affine == [[0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 1]]
    assert metrics(mask)["left amygdala"]["dice"] == 0.75


# ----------------------------------------------------------------------------- refusals


def _refused(import_mask, case, condition, data, labels="", match=""):
    masks, overlaps = SegmentationMask.objects.count(), OverlapMeasurement.objects.count()
    with pytest.raises(SegmentationRefused, match=match) as refused:
        import_mask(case, condition, data, labels)
    assert (SegmentationMask.objects.count(), OverlapMeasurement.objects.count()) == (masks, overlaps)
    assert AuditEvent.objects.filter(action=AuditAction.SEGMENTATION_MASK_IMPORT_FAILED).exists()
    return str(refused.value)


def test_a_condition_mask_before_the_reference_is_refused(cases, conditions, import_mask):
    message = _refused(
        import_mask, cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED), match="no reference"
    )
    assert message.startswith(
        "The 3T mask of case C1 was not imported: mask.nii.gz: case C1 has no reference mask"
    )


@pytest.mark.parametrize(
    ("affine_change", "match"),
    [
        (
            lambda a: a.__setitem__((0, 2), 1.0),
            "not on the reference mask's voxel grid.*spacing 1 x 0.5 x 2 mm",
        ),
        (lambda a: a.__setitem__((0, 3), 0.25), "a voxel lies 0.25 mm off the reference's grid"),
        (lambda a: a.__setitem__((2, 3), 40.0), "does not overlap the reference mask's"),
    ],
    ids=["other spacing", "half a voxel over", "elsewhere"],
)
def test_a_mask_off_the_reference_grid_is_refused(
    cases, conditions, reference, import_mask, affine_change, match
):
    affine = mk.LPS_AFFINE.copy()
    affine_change(affine)
    _refused(import_mask, cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED, affine), match=match)


def test_a_mask_with_other_labels_is_refused(cases, conditions, reference, import_mask):
    only_left = np.where(SHIFTED == 1, 1, 0).astype(np.uint8)
    _refused(
        import_mask,
        cases["C1"],
        conditions["3T"],
        mk.nifti_bytes(only_left),
        "1=left amygdala",
        match="labels differ from the reference's: it lacks right amygdala",
    )
    segments = {"left amygdala": SHIFTED == 1, "right amygdala": SHIFTED == 2, "hippocampus": SHIFTED == 2}
    _refused(
        import_mask,
        cases["C1"],
        conditions["3T"],
        mk.seg_bytes(segments),
        match="the reference has no hippocampus",
    )
    _refused(
        import_mask,
        cases["C1"],
        conditions["3T"],
        mk.nifti_bytes(SHIFTED),
        "1=left amygdala",
        match=r"holds the value\(s\) 2, which no label names",
    )


def _huge_header() -> bytes:
    header = nib.Nifti1Header()
    header.set_data_shape((2048, 2048, 2048))
    header.set_data_dtype(np.uint8)
    header.set_sform(np.eye(4), code=1)
    return header.binaryblock + b"\0" * 4 + b"\1" * 64


def _dicm_garbage() -> bytes:
    return b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\xff\xff\xff\x7f" + b"x" * 100


@pytest.mark.parametrize(
    ("data", "labels", "match"),
    [
        (b"\x00\x01\x02 not a mask at all" * 40, "", "neither a NIfTI image"),
        (b"", "", "the file is empty"),
        (mk.nifti_bytes(REFERENCE)[:420], LABELS, "not a readable NIfTI file"),
        (b"\x1f\x8b" + b"broken gzip" * 20, "", "damaged gzip file"),
        (_huge_header(), "", "8,589,934,592 voxels; at most 268,435,456"),
        (mk.nifti_bytes(REFERENCE.astype(np.float32) * 0.5), "", "fractional values"),
        (mk.nifti_bytes(np.full(mk.SHAPE, np.nan, dtype=np.float32)), "", "not finite numbers"),
        (mk.nifti_bytes(np.zeros((4, 8, 10, 2), dtype=np.uint8), np.eye(4)), "", "one 3D volume"),
        (mk.mr_image_bytes(), "", "DICOM file but not a segmentation"),
        (_dicm_garbage(), "", "not a readable DICOM file: invalid File Meta Information Group Length"),
        (mk.seg_bytes({"left": REFERENCE == 1}, kind="FRACTIONAL"), "", "FRACTIONAL segmentation"),
        (mk.seg_bytes({"left": REFERENCE == 1}), "1=left", "a DICOM SEG names its own segments"),
        (mk.nifti_bytes(REFERENCE), "1=left amygdala; two", '"two" is not a label'),
    ],
    ids=[
        "random bytes",
        "empty",
        "truncated NIfTI",
        "broken gzip",
        "voxel cap",
        "fractional",
        "NaN",
        "4D",
        "MR image",
        "damaged DICOM",
        "fractional SEG",
        "SEG with labels",
        "bad labels",
    ],
)
def test_a_hostile_or_corrupt_file_is_refused_and_stores_nothing(cases, data, labels, match, import_mask):
    _refused(import_mask, cases["C1"], None, data, labels, match=match)


def test_a_file_over_the_size_cap_is_refused(settings, cases, import_mask):
    settings.READERSTUDY_MAX_IMPORT_MEMBER = 500
    _refused(
        import_mask,
        cases["C1"],
        None,
        mk.nifti_bytes(REFERENCE),
        LABELS,
        match="the file has 672 bytes; at most 500 are accepted",
    )


# ----------------------------------------------------------------------------- delete


def test_delete_a_condition_mask_then_the_reference(
    cases, conditions, reference, import_mask, coordinator, django_capture_on_commit_callbacks
):
    mask = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))
    with pytest.raises(SegmentationRefused, match="delete those first"):
        segmentation_mask_delete(mask=reference, actor=coordinator)
    stored = mask.voxels.name
    with django_capture_on_commit_callbacks(execute=True):
        segmentation_mask_delete(mask=mask, actor=coordinator)
    assert not OverlapMeasurement.objects.exists() and not default_storage.exists(stored)
    segmentation_mask_delete(mask=reference, actor=coordinator)
    assert not SegmentationMask.objects.exists()


# ----------------------------------------------------------------------------- the study record


def test_the_study_record_carries_one_row_per_case_condition_and_label(
    study, cases, conditions, reference, import_mask
):
    import_mask(cases["C1"], conditions["syn7T"], mk.nifti_bytes(REFERENCE))
    import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))
    rows = overlap_rows(study)
    assert [(r["case"], r["condition"], r["label"]) for r in rows] == [
        ("C1", "3T", "left amygdala"),
        ("C1", "3T", "right amygdala"),
        ("C1", "syn7T", "left amygdala"),
        ("C1", "syn7T", "right amygdala"),
    ]
    assert rows[0]["dice"] == 0.75 and rows[0]["hd95_mm"] == 0.5
    record = study_record(study, [])
    assert record.overlap == rows
    summary = analyse_study(record).tables["overlap"].as_dicts()
    assert {(r["label"], r["metric"], r["condition"]): r["mean"] for r in summary}[
        ("left amygdala", "dice", "3T")
    ] == 0.75


# ----------------------------------------------------------------------------- the page


def _page(client):
    return client.get(reverse("readerstudy:segmentation_index", args=[client.study.slug]))


@pytest.fixture
def coordinator_client(client, coordinator, study):
    client.force_login(coordinator)
    client.study = study
    return client


def _upload(client, case, target, data: bytes, name: str, labels: str = ""):
    return client.post(
        reverse("readerstudy:segmentation_index", args=[client.study.slug]),
        {"case": case.pk, "target": target, "labels": labels, "file": SimpleUploadedFile(name, data)},
    )


def test_only_the_study_s_coordinators_who_do_not_read_in_it_reach_the_page(
    client, study, statistician, cases
):
    url = reverse("readerstudy:segmentation_index", args=[study.slug])
    assert client.get(url).status_code == 302  # to the login page
    other = f.UserFactory(username="other-coord", roles=["coordinator"])
    f.StudyFactory(coordinators=[other])
    reading_coordinator = f.UserFactory(username="coord-reader", roles=["coordinator", "reader"])
    study.coordinators.add(reading_coordinator)
    f.ReaderParticipationFactory(study=study, user=reading_coordinator)
    for user in (statistician, other, reading_coordinator):
        client.force_login(user)
        assert client.get(url).status_code == 403, user
        upload = {"case": cases["C1"].pk, "target": "reference", "file": SimpleUploadedFile("m.nii", b"x")}
        assert client.post(url, upload).status_code == 403
        delete = reverse("readerstudy:segmentation_delete", args=[study.slug])
        assert client.post(delete, {"mask": "1"}).status_code == 403
    assert not SegmentationMask.objects.exists()


def test_the_coordinator_imports_nifti_masks_and_sees_the_metrics(coordinator_client, cases, conditions):
    response = _upload(
        coordinator_client,
        cases["C1"],
        "reference",
        mk.nifti_bytes(REFERENCE, gzip=True),
        "manual.nii.gz",
        LABELS,
    )
    assert response.status_code == 302
    response = _upload(
        coordinator_client, cases["C1"], conditions["3T"].pk, mk.nifti_bytes(SHIFTED), "auto-3T.nii"
    )
    assert response.status_code == 302
    page = _page(coordinator_client)
    html = page.content.decode()
    assert page.status_code == 200
    assert "manual.nii.gz" in html and "auto-3T.nii" in html and "1=left amygdala; 2=right amygdala" in html
    (left,) = [o for o in page.context["cases"][0].overlaps if o.label == "left amygdala"]
    assert (left.dice, left.hd95_mm) == (0.75, 0.5)
    assert '<td class="dice">0.7500</td>' in html and '<td class="hd95">0.50</td>' in html


def test_the_coordinator_imports_a_dicom_seg(coordinator_client, cases, conditions, reference):
    segments = {"left amygdala": SHIFTED == 1, "right amygdala": SHIFTED == 2}
    response = _upload(
        coordinator_client, cases["C1"], conditions["syn7T"].pk, mk.seg_bytes(segments), "seg.dcm"
    )
    assert response.status_code == 302
    follow = _page(coordinator_client)
    assert "DICOM SEG" in follow.content.decode()
    assert_shifted_metrics(SegmentationMask.objects.get(condition=conditions["syn7T"]))


def test_a_corrupt_file_shows_the_reason_on_the_form_and_stores_nothing(
    coordinator_client, cases, conditions
):
    response = _upload(coordinator_client, cases["C1"], "reference", b"GIF89a not a mask" * 30, "mask.nii.gz")
    assert response.status_code == 400
    html = response.content.decode()
    assert "The reference mask of case C1 was not imported: mask.nii.gz: it is neither a NIfTI image" in html
    assert not SegmentationMask.objects.exists()
    missing = coordinator_client.post(
        reverse("readerstudy:segmentation_index", args=[coordinator_client.study.slug]),
        {"case": cases["C1"].pk},
    )
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()


def test_the_coordinator_deletes_a_mask_from_the_page(
    coordinator_client, cases, conditions, reference, import_mask
):
    mask = import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))
    url = reverse("readerstudy:segmentation_delete", args=[coordinator_client.study.slug])
    refused = coordinator_client.post(url, {"mask": reference.pk}, follow=True)
    assert "delete those first" in refused.content.decode()
    assert coordinator_client.post(url, {"mask": mask.pk}).status_code == 302
    assert list(SegmentationMask.objects.all()) == [reference]
    elsewhere = import_mask(f.CaseFactory(study=f.StudyFactory()), None, mk.nifti_bytes(REFERENCE), LABELS)
    coordinator_client.post(url, {"mask": elsewhere.pk})
    assert SegmentationMask.objects.filter(pk=elsewhere.pk).exists()  # not this study's


def test_the_study_page_links_to_the_segmentation_page(coordinator_client):
    page = coordinator_client.get(reverse("readerstudy:study_detail", args=[coordinator_client.study.slug]))
    assert (
        reverse("readerstudy:segmentation_index", args=[coordinator_client.study.slug])
        in page.content.decode()
    )


# ----------------------------------------------------------------------------- exports


def test_the_statistician_s_exports_carry_the_overlap(
    client, study, statistician, cases, conditions, reference, import_mask
):
    import_mask(cases["C1"], conditions["3T"], mk.nifti_bytes(SHIFTED))
    import_mask(cases["C1"], conditions["syn7T"], mk.nifti_bytes(REFERENCE))
    client.login(username=statistician.username, password=PASSWORD)
    export = reverse("readerstudy:study_export", args=[study.slug, "bundle.zip"])
    response = client.post(export, {"interim_reason": "segmentation check"})
    assert response.status_code == 200
    bundle = io.BytesIO(response.content)
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    assert {"record/overlap.csv", "tables/overlap.csv"} <= names
    record = read_bundle_bytes(response.content)
    assert len(record.overlap) == 4 and record.overlap[0]["dice"] == 0.75
    xlsx = client.post(
        reverse("readerstudy:study_export", args=[study.slug, "tables.xlsx"]),
        {"interim_reason": "segmentation check"},
    )
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert "overlap" in workbook.sheetnames
    page = client.post(reverse("readerstudy:study_analysis", args=[study.slug]), {"interim_reason": "check"})
    assert page.status_code == 200 and "Segmentation overlap" in page.content.decode()
    shown = page.context["analysis"].tables["overlap"].as_dicts()
    assert {r["condition"] for r in shown} == {"3T", "syn7T"}
    assert page.context["analysis"].tables["overlap_tests"].rows == ()  # one case: nothing to pair


def read_bundle_bytes(data: bytes):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.zip"
        path.write_bytes(data)
        return read_bundle(path)
