"""Importing projection images (DX, CR, MG and single 2D images without patient geometry).

A radiograph has no ImageOrientationPatient or ImagePositionPatient: the import places it in
its own image plane, takes its pixel spacing from PixelSpacing or ImagerPixelSpacing
(corrected by EstimatedRadiographicMagnificationFactor) and says which on the series. Several
images, or a multi-frame image, without geometry are refused with the reason; so are spacings
and factors that make no sense. What a reader receives of it is blinded like every series and
carries the plane the import chose.
"""

import io
import json

import pydicom
import pytest
from django.urls import reverse
from pydicom.uid import generate_uid

from readerstudy.imaging import blinding
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.models import ImageSeries, SourceIdentity
from readerstudy.reading.services import viewer_patient_position
from tests import dicom_files as dcm
from tests import factories as f


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def conditions(study):
    return {label: f.ConditionFactory(study=study, label=label) for label in ("LR", "HR")}


def import_one(study, folder, case="K1", condition="HR"):
    return dicom_import(
        study=study, source=folder, manifest=[{"case": case, "condition": condition, "folder": "."}]
    )


def imported_series(report) -> ImageSeries:
    assert report.ok, report.lines()
    [item] = report.imported
    return item.series


# --------------------------------------------------------------------------- spacing sources


def test_a_dx_image_with_imager_pixel_spacing_imports_in_its_image_plane(study, conditions, tmp_path):
    dcm.write_dx(tmp_path / "src", imager_pixel_spacing=(0.4, 0.3), rows=64, columns=48)

    series = imported_series(import_one(study, tmp_path / "src"))

    assert (series.modality, series.rows, series.columns, series.num_slices) == ("DX", 64, 48, 1)
    assert series.projection is True
    assert series.pixel_spacing == [0.4, 0.3]
    assert series.pixel_spacing_source == "ImagerPixelSpacing"
    assert series.orientation == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert series.origin == [0.15, 0.2, 0.0]  # the top-left pixel's centre, in mm from the corner
    assert series.slice_spacing is None and series.slice_thickness is None
    # The workstation's image point (x, y) from the corner is at (x * column, y * row) mm, z = 0.
    assert viewer_patient_position(series, 0, 10.0, 20.0) == pytest.approx((3.0, 8.0, 0.0))
    assert viewer_patient_position(series, 0, 0.5, 0.5) == pytest.approx((0.15, 0.2, 0.0))


def test_the_magnification_factor_corrects_the_imager_pixel_spacing(study, conditions, tmp_path):
    dcm.write_dx(tmp_path / "src", imager_pixel_spacing=(0.4, 0.4), magnification=1.25, rows=32, columns=32)

    series = imported_series(import_one(study, tmp_path / "src"))

    assert series.pixel_spacing == pytest.approx([0.32, 0.32])
    assert series.pixel_spacing_source == "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
    assert viewer_patient_position(series, 0, 25.0, 5.0) == pytest.approx((8.0, 1.6, 0.0))


def test_pixel_spacing_wins_over_the_imager_pixel_spacing_and_is_not_corrected(study, conditions, tmp_path):
    dcm.write_dx(
        tmp_path / "src",
        imager_pixel_spacing=(0.4, 0.4),
        pixel_spacing=(0.35, 0.35),
        magnification=1.25,
        rows=32,
        columns=32,
    )

    series = imported_series(import_one(study, tmp_path / "src"))

    assert series.pixel_spacing == [0.35, 0.35]
    assert series.pixel_spacing_source == "PixelSpacing"


@pytest.mark.parametrize("modality", ["CR", "MG"])
def test_cr_and_mg_are_projection_images_even_with_patient_geometry_in_the_header(
    study, conditions, tmp_path, modality
):
    ds = dcm.dx_image(modality=modality, rows=32, columns=32, imager_pixel_spacing=(0.1, 0.1))
    ds.ImageOrientationPatient = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
    ds.ImagePositionPatient = [100.0, -50.0, 30.0]
    dcm.write(ds, tmp_path / "src" / "IM.dcm")

    series = imported_series(import_one(study, tmp_path / "src"))

    assert series.projection and series.orientation == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert series.origin == [0.05, 0.05, 0.0]


def test_a_single_mr_image_without_orientation_and_position_is_a_2d_image(study, conditions, tmp_path):
    ds = dcm.mr_slice(
        study_uid=generate_uid(), series_uid=generate_uid(), frame_uid=generate_uid(), position=(0, 0, 0),
        instance_number=1, pixel_spacing=(0.7, 0.6),
    )  # fmt: skip
    del ds.ImageOrientationPatient, ds.ImagePositionPatient
    dcm.write(ds, tmp_path / "src" / "IM.dcm")

    series = imported_series(import_one(study, tmp_path / "src"))

    assert series.projection and series.modality == "MR"
    assert (series.pixel_spacing, series.pixel_spacing_source) == ([0.7, 0.6], "PixelSpacing")


def test_an_mr_series_keeps_its_patient_geometry_and_says_pixel_spacing(study, conditions, tmp_path):
    dcm.write_series(tmp_path / "src", slices=3, rows=16, columns=16)

    series = imported_series(import_one(study, tmp_path / "src"))

    assert not series.projection
    assert series.pixel_spacing_source == "PixelSpacing"


# --------------------------------------------------------------------------- refusals


def test_several_images_without_geometry_in_one_series_are_refused(study, conditions, tmp_path):
    series_uid, study_uid = generate_uid(), generate_uid()
    for number in (1, 2):
        dcm.write_dx(
            tmp_path / "src",
            name=f"DX{number}.dcm",
            series_uid=series_uid,
            study_uid=study_uid,
            rows=32,
            columns=32,
        )

    report = import_one(study, tmp_path / "src")

    assert report.imported == []
    [rejected] = report.rejected_series
    assert "2 images without patient geometry" in rejected.reason
    assert "import each image as a series of its own" in rejected.reason
    assert sorted(r.path for r in report.rejected) == ["DX1.dcm", "DX2.dcm"]
    assert not ImageSeries.objects.exists()


def test_a_multi_frame_image_without_geometry_is_refused_clearly(study, conditions, tmp_path):
    ds = dcm.dx_image(rows=16, columns=16)
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    dcm.write(ds, tmp_path / "src" / "MF.dcm")

    report = import_one(study, tmp_path / "src")

    [rejected] = report.rejected
    assert rejected.reason.startswith("multi-frame image (2 frames) without patient geometry")
    assert report.imported == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda ds: delattr(ds, "ImagerPixelSpacing"), "missing pixel spacing: a projection image needs"),
        (lambda ds: setattr(ds, "ImagerPixelSpacing", [0.0, 0.4]), "invalid ImagerPixelSpacing [0.0, 0.4]"),
        (
            lambda ds: setattr(ds, "ImagerPixelSpacing", [0.4]),
            "invalid ImagerPixelSpacing: expected 2 numbers",
        ),
        (lambda ds: setattr(ds, "PixelSpacing", [-1.0, 0.4]), "invalid PixelSpacing [-1.0, 0.4]"),
        (
            lambda ds: setattr(ds, "EstimatedRadiographicMagnificationFactor", 0.0),
            "invalid EstimatedRadiographicMagnificationFactor 0.0 (expected a number from 0.1 to 10)",
        ),
        (
            lambda ds: setattr(ds, "EstimatedRadiographicMagnificationFactor", 1e6),
            "invalid EstimatedRadiographicMagnificationFactor",
        ),
    ],
    ids=["no-spacing", "zero-spacing", "one-number", "negative-pixel-spacing", "zero-factor", "huge-factor"],
)
def test_a_radiograph_with_an_unusable_spacing_is_refused_with_the_reason(
    study, conditions, tmp_path, change, reason
):
    ds = dcm.dx_image(rows=16, columns=16)
    change(ds)
    dcm.write(ds, tmp_path / "src" / "DX.dcm")

    report = import_one(study, tmp_path / "src")

    [rejected] = report.rejected
    assert rejected.reason.startswith(reason), rejected.reason
    assert report.imported == []


def test_a_factor_that_is_not_a_number_is_refused(study, conditions, tmp_path):
    ds = dcm.dx_image(rows=16, columns=16)
    ds.EstimatedRadiographicMagnificationFactor = "1.25"
    data = bytearray(dcm.to_bytes(ds))
    tag = b"\x18\x00\x14\x11"  # (0018,1114) EstimatedRadiographicMagnificationFactor, explicit VR DS
    at = bytes(data).index(tag)
    data[at + 8 : at + 12] = b"abcd"  # same length, not a number
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "DX.dcm").write_bytes(bytes(data))

    report = import_one(study, tmp_path / "src")

    [rejected] = report.rejected
    assert "EstimatedRadiographicMagnificationFactor" in rejected.reason
    assert report.imported == []


def test_a_single_image_with_only_one_of_orientation_and_position_is_still_refused(
    study, conditions, tmp_path
):
    ds = dcm.mr_slice(
        study_uid=generate_uid(), series_uid=generate_uid(), frame_uid=generate_uid(), position=(0, 0, 0),
        instance_number=1,
    )  # fmt: skip
    del ds.ImageOrientationPatient
    dcm.write(ds, tmp_path / "src" / "IM.dcm")

    report = import_one(study, tmp_path / "src")

    assert [r.reason for r in report.rejected] == ["missing geometry: ImageOrientationPatient"]


# --------------------------------------------------------------------------- blinding


SECRETS = [
    dcm.PATIENT_NAME,
    dcm.PATIENT_ID,
    dcm.INSTITUTION,
    dcm.ACCESSION,
    dcm.PRIVATE_VALUE,
    "DET-4471",
    "PLATE-12",
    "SN-DX-9911",
    "DR-ROOM-2",
    "19700101",
    "20240103",
    "Knee AP",
    "processing revealing",
    "Example Radiography",
    "PROC-SR-7",
    "Flat panel v2",
    "SCINTILLATOR",
]


@pytest.fixture
def dx_reading(study, conditions, tmp_path):
    """A DX image imported under HR and a reader's open reading of it."""
    series_uid, path = dcm.write_dx(tmp_path / "src", imager_pixel_spacing=(0.4, 0.4), magnification=1.25)
    report = import_one(study, tmp_path / "src", case="KNEE-0042")
    series = imported_series(report)
    participation = f.ReaderParticipationFactory(study=study, user__username="dxreader")
    session = f.ReadingSessionFactory(participation=participation, number=1)
    reading = f.ReadingFactory(session=session, series=series, position=1)
    return reading, series_uid, pydicom.dcmread(path)


def test_the_stored_radiograph_is_deidentified(dx_reading):
    reading, series_uid, original = dx_reading
    [instance] = reading.series.instances.all()
    raw = instance.file.read()
    instance.file.close()
    for secret in [
        dcm.PATIENT_NAME,
        dcm.PATIENT_ID,
        dcm.INSTITUTION,
        dcm.ACCESSION,
        dcm.PRIVATE_VALUE,
        series_uid,
    ]:
        assert secret.encode() not in raw, secret
    for secret in ("DET-4471", "PLATE-12", "SN-DX-9911", "DR-ROOM-2"):
        assert secret.encode() not in raw, secret
    ds = pydicom.dcmread(io.BytesIO(raw))
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.4, 0.4]  # the image is described as it was
    assert "ImageOrientationPatient" not in ds and "PixelSpacing" not in ds
    assert (ds.pixel_array == original.pixel_array).all()
    assert SourceIdentity.objects.get(series=reading.series).patient_id == dcm.PATIENT_ID


def test_the_reader_gets_blinded_metadata_and_instance_in_the_image_plane(client, dx_reading):
    reading, series_uid, original = dx_reading
    client.force_login(reading.session.participation.user)
    study_uid = blinding.reading_uid(reading, reading.series.study_instance_uid)
    served_series = blinding.reading_uid(reading, reading.series.series_instance_uid)
    base = f"/dicomweb/r/{reading.public_id}/studies/{study_uid}/series/{served_series}"

    response = client.get(f"{base}/metadata")
    assert response.status_code == 200
    text = response.content.decode()
    for secret in [*SECRETS, series_uid, reading.series.case.code]:
        assert secret not in text, secret
    [item] = json.loads(text)
    ds = pydicom.dataset.Dataset.from_json(item)
    assert ds.Modality == "DX"
    assert [float(v) for v in ds.ImageOrientationPatient] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx([0.16, 0.16, 0.0])
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([0.32, 0.32])
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.4, 0.4]
    assert float(ds.EstimatedRadiographicMagnificationFactor) == 1.25
    assert str(ds.PatientName).startswith("R-")

    sop = ds.SOPInstanceUID
    whole = client.get(f"{base}/instances/{sop}", HTTP_ACCEPT='multipart/related; type="application/dicom"')
    assert whole.status_code == 200
    content = whole.content
    for secret in [*SECRETS, series_uid]:
        assert secret.encode() not in content, secret
    start = content.index(b"DICM") - 128
    served = pydicom.dcmread(io.BytesIO(content[start:]))
    assert [float(v) for v in served.PixelSpacing] == pytest.approx([0.32, 0.32])
    assert (served.pixel_array == original.pixel_array).all()


def test_the_coordinator_sees_the_spacing_source_of_the_series(client, study, coordinator, dx_reading):
    client.force_login(coordinator)
    page = client.get(reverse("readerstudy:study_detail", args=[study.slug])).content.decode()
    assert "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor" in page
    assert "0.32" in page


def test_the_radiograph_is_read_as_one_image_without_slice_or_plane_controls(client, dx_reading):
    reading, _, _ = dx_reading
    client.force_login(reading.session.participation.user)
    response = client.get(reverse("readerstudy:reading_detail", args=[reading.public_id]))
    assert response.status_code == 200, response.content[:500]
    page = response.content.decode()
    assert '<div class="ws-slider" hidden>' in page
    assert 'data-plane="coronal"' not in page and "wheel to scroll" not in page
