"""De-identification of single datasets (DICOM PS3.15 Basic Profile)."""

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import MRImageStorage, generate_uid

from readerstudy.imaging.deidentify import PROFILE_ACTIONS, dataset_deidentify, uid_pseudonymize
from tests import dicom_files as dcm

SALT = "0123456789abcdef0123456789abcdef"


def make_dataset() -> Dataset:
    ds = dcm.mr_slice(
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        frame_uid=generate_uid(),
        position=(1.0, 2.0, 3.0),
        instance_number=4,
    )
    ds.add_new(0x60000010, "US", 32)  # OverlayRows
    ds.add_new(0x60003000, "OW", b"\0" * 128)  # OverlayData
    person = Dataset()
    person.PersonName = "Nurse^Nina"
    person.InstitutionName = "Nested Hospital"
    person.add_new(0x00091010, "LO", "nested private")  # private group in a sequence item
    ds.ContentSequence = Sequence([person])
    ds.PerformedProcedureStepStartDate = "20240102"
    ds.DateOfLastCalibration = "20231201"  # a date the table does not list
    return ds


def test_table_keywords_are_dicom_keywords():
    unknown = [keyword for keyword, _ in PROFILE_ACTIONS if tag_for_keyword(keyword) is None]
    assert unknown == []
    keywords = [keyword for keyword, _ in PROFILE_ACTIONS]
    assert len(keywords) == len(set(keywords))


def test_identifying_attributes_are_removed_or_emptied():
    ds = dataset_deidentify(make_dataset(), case_code="K007", uid_salt=SALT)

    assert str(ds.PatientName) == "K007"
    assert ds.PatientID == "K007"
    for emptied in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyDate", "StudyTime"):
        assert emptied in ds and ds[emptied].value in (None, ""), emptied
    assert ds.ReferringPhysicianName in (None, "")
    for removed in (
        "PatientAge",
        "OtherPatientIDs",
        "InstitutionName",
        "InstitutionAddress",
        "OperatorsName",
        "StationName",
        "DeviceSerialNumber",
        "SeriesDate",
        "AcquisitionDate",
        "StudyDescription",
        "SeriesDescription",
        "ImageComments",
        "ContentSequence",
        "PerformedProcedureStepStartDate",
        "DateOfLastCalibration",
    ):
        assert removed not in ds, removed


def test_private_tags_and_overlays_are_removed():
    ds = dataset_deidentify(make_dataset(), case_code="K007", uid_salt=SALT)
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert not any(0x6000 <= elem.tag.group <= 0x60FF for elem in ds)


def test_marks_the_dataset_as_deidentified():
    ds = dataset_deidentify(make_dataset(), case_code="K007", uid_salt=SALT)
    assert ds.PatientIdentityRemoved == "YES"
    assert "Basic Application Confidentiality Profile" in ds.DeidentificationMethod
    code = ds.DeidentificationMethodCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("113100", "DCM")
    assert code.CodeMeaning == "Basic Application Confidentiality Profile"


def test_uids_are_replaced_deterministically_and_references_follow():
    original = make_dataset()
    old = {
        "study": original.StudyInstanceUID,
        "series": original.SeriesInstanceUID,
        "sop": original.SOPInstanceUID,
        "frame": original.FrameOfReferenceUID,
        "ref": original.ReferencedImageSequence[0].ReferencedSOPInstanceUID,
    }
    ds = dataset_deidentify(original, case_code="K007", uid_salt=SALT)

    assert ds.StudyInstanceUID == uid_pseudonymize(old["study"], salt=SALT)
    assert ds.SeriesInstanceUID == uid_pseudonymize(old["series"], salt=SALT)
    assert ds.SOPInstanceUID == uid_pseudonymize(old["sop"], salt=SALT)
    assert ds.FrameOfReferenceUID == uid_pseudonymize(old["frame"], salt=SALT)
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == uid_pseudonymize(old["ref"], salt=SALT)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    for value in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID):
        assert value.startswith("2.25.") and len(value) <= 64
    assert not set(old.values()) & {elem.value for elem in ds.iterall() if elem.VR == "UI"}
    # DICOM-defined UIDs identify nothing and stay.
    assert ds.SOPClassUID == MRImageStorage
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == MRImageStorage


def test_uid_pseudonym_depends_on_salt():
    uid = "1.2.3.4.5"
    assert uid_pseudonymize(uid, salt=SALT) == uid_pseudonymize(uid, salt=SALT)
    assert uid_pseudonymize(uid, salt=SALT) != uid_pseudonymize(uid, salt="another-salt")
    assert uid_pseudonymize(uid, salt=SALT) != uid_pseudonymize("1.2.3.4.6", salt=SALT)


def test_geometry_and_pixels_are_kept():
    original = make_dataset()
    pixels = original.pixel_array.copy()
    ds = dataset_deidentify(original, case_code="K007", uid_salt=SALT)
    assert [float(v) for v in ds.ImagePositionPatient] == [1.0, 2.0, 3.0]
    assert [float(v) for v in ds.ImageOrientationPatient] == list(dcm.AXIAL)
    assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.5]
    assert float(ds.SliceThickness) == 2.0
    assert (ds.Rows, ds.Columns, ds.Modality, ds.Manufacturer) == (32, 32, "MR", "Example Medical")
    assert float(ds.RepetitionTime) == 3000.0
    assert np.array_equal(ds.pixel_array, pixels)
