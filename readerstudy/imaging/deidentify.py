"""De-identification of DICOM datasets on import.

Follows the Basic Application Level Confidentiality Profile of DICOM PS3.15,
Annex E (Table E.1-1, "Basic Prof." column), without the Retain options: the
attributes of ``PROFILE_ACTIONS`` are removed (X), emptied (Z) or get a new UID
(U); patient name and ID get the case code as dummy value (D). Where the profile
leaves a choice (X/Z, X/D, Z/D ...) we remove the attribute, or empty it when
image IODs require it to be present (type 2).

On top of the table, and stricter than it, every dataset (sequence items included)
loses:

* all private attributes (PS3.15 E.1.1: private attributes are removed unless the
  Retain Safe Private option is used);
* overlays (groups 60xx) and curves (groups 50xx), which may hold burned-in text;
* every remaining person name (PN) and date/time (DA, DT, TM) attribute;

and every remaining UID that is not a DICOM-defined one (root ``1.2.840.10008``)
is replaced, so references inside sequences stay consistent.

New UIDs are derived deterministically from the study's secret salt and the
original UID: ``2.25.`` followed by the integer of a name-based (version 5) UUID
of both (PS3.5 B.2), so importing the same file twice gives the same UIDs, and
the same original UID maps to different UIDs in different studies. (pydicom's
``generate_uid(prefix=None, entropy_srcs=...)`` ignores the entropy and returns a
random UUID, so it cannot be used for this.)

Everything describing the image (geometry, pixel module, acquisition
parameters, manufacturer and model) is kept.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

DICOM_UID_ROOT = "1.2.840.10008."
#: Namespace of the name-based UUIDs behind the new UIDs (fixed: changing it changes every UID).
_UID_NAMESPACE = uuid.UUID("6f1c0a52-3d0e-5b8e-9a57-1c2d0f6b4e21")
#: Code of the method used, DICOM CID 7050 "De-identification Method".
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
DEIDENTIFICATION_METHOD = "DICOM PS3.15 E.1 Basic Application Confidentiality Profile"


class Action(StrEnum):
    """Actions of PS3.15 Table E.1-1 as applied here."""

    REMOVE = "X"
    EMPTY = "Z"
    DUMMY = "D"
    NEW_UID = "U"


X, Z, D, U = Action.REMOVE, Action.EMPTY, Action.DUMMY, Action.NEW_UID


#: PS3.15 Table E.1-1, Basic Profile column: (attribute keyword, action applied).
#: The comment gives the profile's action where it allows a choice.
PROFILE_ACTIONS: tuple[tuple[str, Action], ...] = (
    # Patient
    ("PatientName", D),  # Z; dummy value = case code
    ("PatientID", D),  # Z; dummy value = case code
    ("PatientBirthDate", Z),
    ("PatientBirthTime", X),
    ("PatientBirthName", X),
    ("PatientSex", Z),
    ("PatientAge", X),
    ("PatientSize", X),
    ("PatientWeight", X),
    ("PatientAddress", X),
    ("PatientMotherBirthName", X),
    ("PatientTelephoneNumbers", X),
    ("PatientComments", X),
    ("PatientReligiousPreference", X),
    ("PatientSexNeutered", X),  # X/Z
    ("PatientState", X),
    ("PatientTransportArrangements", X),
    ("PatientInsurancePlanCodeSequence", X),
    ("PatientPrimaryLanguageCodeSequence", X),
    ("IssuerOfPatientID", X),
    ("OtherPatientIDs", X),
    ("OtherPatientIDsSequence", X),
    ("OtherPatientNames", X),
    ("ReferencedPatientSequence", X),
    ("ReferencedPatientAliasSequence", X),
    ("MedicalRecordLocator", X),
    ("MedicalAlerts", X),
    ("Allergies", X),
    ("AdditionalPatientHistory", X),
    ("PregnancyStatus", X),
    ("LastMenstrualDate", X),
    ("SmokingStatus", X),
    ("EthnicGroup", X),
    ("Occupation", X),
    ("MilitaryRank", X),
    ("BranchOfService", X),
    ("CountryOfResidence", X),
    ("RegionOfResidence", X),
    ("InsurancePlanIdentification", X),
    ("ResponsiblePerson", X),
    ("ResponsibleOrganization", X),
    ("SpecialNeeds", X),
    # Visit and admission
    ("AdmissionID", X),
    ("IssuerOfAdmissionID", X),
    ("AdmittingDate", X),
    ("AdmittingTime", X),
    ("AdmittingDiagnosesDescription", X),
    ("AdmittingDiagnosesCodeSequence", X),
    ("DischargeDiagnosisDescription", X),
    ("CurrentPatientLocation", X),
    ("ScheduledPatientInstitutionResidence", X),
    ("ServiceEpisodeID", X),
    ("ServiceEpisodeDescription", X),
    ("IssuerOfServiceEpisodeID", X),
    ("VisitComments", X),
    # Study
    ("StudyInstanceUID", U),
    ("StudyID", Z),
    ("StudyIDIssuer", X),
    ("StudyDate", Z),
    ("StudyTime", Z),
    ("StudyDescription", X),
    ("StudyComments", X),
    ("AccessionNumber", Z),
    ("ReferringPhysicianName", Z),
    ("ReferringPhysicianAddress", X),
    ("ReferringPhysicianTelephoneNumbers", X),
    ("ReferringPhysicianIdentificationSequence", X),
    ("PhysiciansOfRecord", X),
    ("PhysiciansOfRecordIdentificationSequence", X),
    ("NameOfPhysiciansReadingStudy", X),
    ("PhysiciansReadingStudyIdentificationSequence", X),
    ("RequestingPhysician", X),
    ("RequestingService", X),
    ("ReasonForStudy", X),
    ("ReasonForTheImagingServiceRequest", X),
    ("RequestedProcedureDescription", X),  # X/Z
    ("RequestedProcedureID", X),
    ("RequestedProcedureComments", X),
    ("RequestedProcedureLocation", X),
    ("RequestedContrastAgent", X),
    ("RequestAttributesSequence", X),
    ("ImagingServiceRequestComments", X),
    ("PlacerOrderNumberImagingServiceRequest", Z),
    ("FillerOrderNumberImagingServiceRequest", Z),
    ("OrderEnteredBy", X),
    ("OrderEntererLocation", X),
    ("OrderCallbackPhoneNumber", X),
    ("ReferencedStudySequence", X),  # X/Z
    ("ScheduledStudyLocation", X),
    ("ScheduledStudyLocationAETitle", X),
    # Series, equipment, procedure steps
    ("SeriesInstanceUID", U),
    ("SeriesDate", X),  # X/D
    ("SeriesTime", X),  # X/D
    ("SeriesDescription", X),
    ("ProtocolName", X),  # X/D
    ("OperatorsName", X),  # X/Z/D
    ("OperatorIdentificationSequence", X),  # X/D
    ("PerformingPhysicianName", X),
    ("PerformingPhysicianIdentificationSequence", X),
    ("InstitutionName", X),  # X/Z/D
    ("InstitutionAddress", X),
    ("InstitutionCodeSequence", X),  # X/Z/D
    ("InstitutionalDepartmentName", X),
    ("StationName", X),  # X/Z/D
    ("DeviceSerialNumber", X),  # X/Z/D
    ("DeviceUID", U),
    ("DetectorID", X),  # X/D
    ("GantryID", X),
    ("GeneratorID", X),
    ("CassetteID", X),
    ("PlateID", X),
    ("PerformedStationAETitle", X),
    ("PerformedStationName", X),
    ("PerformedStationNameCodeSequence", X),
    ("PerformedStationGeographicLocationCodeSequence", X),
    ("PerformedLocation", X),
    ("PerformedProcedureStepID", X),
    ("PerformedProcedureStepDescription", X),
    ("PerformedProcedureStepStartDate", X),
    ("PerformedProcedureStepStartTime", X),
    ("PerformedProcedureStepEndDate", X),
    ("PerformedProcedureStepEndTime", X),
    ("CommentsOnThePerformedProcedureStep", X),
    ("ReferencedPerformedProcedureStepSequence", X),  # X/Z/D
    ("ScheduledStationAETitle", X),
    ("ScheduledStationName", X),
    ("ScheduledStationNameCodeSequence", X),
    ("ScheduledStationGeographicLocationCodeSequence", X),
    ("ScheduledProcedureStepDescription", X),
    ("ScheduledProcedureStepLocation", X),
    ("ScheduledProcedureStepStartDate", X),
    ("ScheduledProcedureStepStartTime", X),
    ("ScheduledProcedureStepEndDate", X),
    ("ScheduledProcedureStepEndTime", X),
    ("ScheduledPerformingPhysicianName", X),
    ("ScheduledPerformingPhysicianIdentificationSequence", X),
    ("ScheduledHumanPerformersSequence", X),
    ("ActualHumanPerformersSequence", X),
    ("HumanPerformerName", X),
    ("HumanPerformerOrganization", X),
    ("PreMedication", X),
    # Image and instance
    ("SOPInstanceUID", U),
    ("FrameOfReferenceUID", U),
    ("SynchronizationFrameOfReferenceUID", U),
    ("ReferencedFrameOfReferenceUID", U),
    ("RelatedFrameOfReferenceUID", U),
    ("ReferencedSOPInstanceUID", U),
    ("ReferencedSOPInstanceUIDInFile", U),
    ("ConcatenationUID", U),
    ("DimensionOrganizationUID", U),
    ("IrradiationEventUID", U),
    ("InstanceCreatorUID", U),
    ("CreatorVersionUID", U),
    ("StorageMediaFileSetUID", U),
    ("LargePaletteColorLookupTableUID", U),
    ("FiducialUID", U),
    ("DoseReferenceUID", U),
    ("TransactionUID", U),
    ("UID", U),
    ("TemplateExtensionOrganizationUID", U),
    ("TemplateExtensionCreatorUID", U),
    ("ContextGroupExtensionCreatorUID", U),
    ("InstanceCreationDate", X),  # X/D
    ("InstanceCreationTime", X),  # X/Z/D
    ("InstanceCoercionDateTime", X),
    ("ContentDate", Z),  # Z/D
    ("ContentTime", Z),  # Z/D
    ("AcquisitionDate", X),  # X/Z
    ("AcquisitionTime", X),  # X/Z
    ("AcquisitionDateTime", X),  # X/D
    ("EndAcquisitionDateTime", X),  # X/D
    ("TimezoneOffsetFromUTC", X),
    ("OverlayDate", X),
    ("OverlayTime", X),
    ("CurveDate", X),
    ("CurveTime", X),
    ("AcquisitionComments", X),
    ("AcquisitionContextSequence", X),
    ("AcquisitionDeviceProcessingDescription", X),  # X/D
    ("AcquisitionProtocolDescription", X),
    ("ContrastBolusAgent", Z),  # Z/D
    ("DerivationDescription", X),
    ("ImageComments", X),
    ("FrameComments", X),
    ("ImagePresentationComments", X),
    ("IdentifyingComments", X),
    ("IconImageSequence", X),
    ("ModifiedImageDescription", X),
    ("ModifyingDeviceID", X),
    ("ModifyingDeviceManufacturer", X),
    ("ContributionDescription", X),
    ("ContentCreatorName", Z),
    ("ContentCreatorIdentificationCodeSequence", X),
    ("ContentSequence", X),
    ("GraphicAnnotationSequence", X),  # D
    ("TextString", X),
    ("TextComments", X),
    # People and organisations in structured content
    ("AuthorObserverSequence", X),
    ("ParticipantSequence", X),
    ("CustodialOrganizationSequence", X),
    ("PersonName", X),  # D
    ("PersonAddress", X),
    ("PersonTelephoneNumbers", X),
    ("PersonIdentificationCodeSequence", X),  # D
    ("VerifyingObserverName", X),  # D
    ("VerifyingObserverSequence", X),  # D
    ("VerifyingObserverIdentificationCodeSequence", X),  # Z
    ("VerifyingOrganization", X),
    ("ReviewerName", X),  # X/Z
    ("NamesOfIntendedRecipientsOfResults", X),
    ("IntendedRecipientsOfResultsIdentificationSequence", X),
    ("ConfidentialityConstraintOnPatientDataDescription", X),
    ("DistributionName", X),
    ("DistributionAddress", X),
    # Interpretations and results (retired, may still appear)
    ("InterpretationAuthor", X),
    ("InterpretationRecorder", X),
    ("InterpretationTranscriber", X),
    ("InterpretationText", X),
    ("InterpretationDiagnosisDescription", X),
    ("InterpretationIDIssuer", X),
    ("InterpretationApproverSequence", X),
    ("PhysicianApprovingInterpretation", X),
    ("Impressions", X),
    ("ResultsComments", X),
    ("ResultsIDIssuer", X),
    ("ResultsDistributionListSequence", X),
    ("TopicTitle", X),
    ("TopicSubject", X),
    ("TopicAuthor", X),
    ("TopicKeywords", X),
    # Signatures and audit trails of earlier changes
    ("DigitalSignaturesSequence", X),
    ("DigitalSignatureUID", X),
    ("MAC", X),
    ("ReferencedDigitalSignatureSequence", X),
    ("ReferencedSOPInstanceMACSequence", X),
    ("ModifiedAttributesSequence", X),
    ("OriginalAttributesSequence", X),
    ("DataSetTrailingPadding", X),
)


#: Keyword -> tag, built once; a wrong keyword fails at import time.
_ACTION_BY_TAG: dict[int, tuple[str, Action]] = {}


for _keyword, _action in PROFILE_ACTIONS:
    _tag = tag_for_keyword(_keyword)
    if _tag is None:  # pragma: no cover - guards the table itself
        raise LookupError(f"Unknown DICOM keyword in PROFILE_ACTIONS: {_keyword}")
    _ACTION_BY_TAG[_tag] = (_keyword, _action)


_DATE_TIME_VRS = {"DA", "DT", "TM"}


def uid_pseudonymize(uid: str, *, salt: str | None) -> str:
    """The de-identified replacement of ``uid``: the same for the same salt and UID.

    DICOM-defined UIDs (SOP classes, transfer syntaxes, coding schemes: root
    ``1.2.840.10008``) identify nothing and are returned unchanged. With ``salt=None``
    every UID is returned unchanged (for a caller that remaps UIDs itself, later).
    """
    uid = str(uid).strip()
    if salt is None or not uid or uid.startswith(DICOM_UID_ROOT):
        return uid
    name_based = uuid.uuid5(_UID_NAMESPACE, f"{salt}|{uid}")
    return f"2.25.{name_based.int}"


class DeidentificationError(ValueError):
    """A dataset that cannot be de-identified (e.g. without the UIDs its file meta needs)."""


def dataset_deidentify(ds: Dataset, *, case_code: str, uid_salt: str | None) -> Dataset:
    """De-identify ``ds`` in place (PS3.15 Annex E Basic Profile) and return it.

    Patient name and ID become ``case_code``; UIDs are replaced with
    :func:`uid_pseudonymize` (kept when ``uid_salt`` is None); the file meta
    information is rebuilt to match. Raises ``DeidentificationError`` for a dataset
    without SOPClassUID or SOPInstanceUID, before changing it.
    """
    missing = [keyword for keyword in ("SOPClassUID", "SOPInstanceUID") if not ds.get(keyword)]
    if missing:
        raise DeidentificationError(f"cannot de-identify a dataset without {' or '.join(missing)}")
    _clean(ds, case_code=case_code, uid_salt=uid_salt)
    for keyword in ("PatientName", "PatientID"):  # written anew: the file's VR may be wrong
        if keyword in ds:
            del ds[keyword]
    ds.PatientName = case_code
    ds.PatientID = case_code
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE_CODE
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    _rebuild_file_meta(ds)
    return ds


def _clean(ds: Dataset, *, case_code: str, uid_salt: str | None) -> None:
    """Apply the profile to one dataset and, recursively, to its sequence items."""
    ds.remove_private_tags()
    for elem in list(ds):
        tag = int(elem.tag)
        action = _ACTION_BY_TAG[tag][1] if tag in _ACTION_BY_TAG else None
        if action is Action.REMOVE or _is_overlay_or_curve(tag):
            del ds[tag]
        elif action is Action.EMPTY:
            elem.value = None
        elif action is Action.DUMMY:
            elem.value = case_code
        elif action is Action.NEW_UID or elem.VR == "UI":
            _replace_uids(elem, uid_salt=uid_salt)
        elif elem.VR == "SQ":
            for item in elem.value:
                _clean(item, case_code=case_code, uid_salt=uid_salt)
        elif elem.VR == "PN" or elem.VR in _DATE_TIME_VRS:
            del ds[tag]


def _is_overlay_or_curve(tag: int) -> bool:
    group = tag >> 16
    return 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF


def _replace_uids(elem: DataElement, *, uid_salt: str | None) -> None:
    if elem.value is None or elem.value == "":
        return
    if isinstance(elem.value, MultiValue | list):
        elem.value = [uid_pseudonymize(v, salt=uid_salt) for v in elem.value]
    else:
        elem.value = uid_pseudonymize(elem.value, salt=uid_salt)


def _rebuild_file_meta(ds: Dataset) -> None:
    """Fresh file meta: keep the transfer syntax and SOP class, point at the new SOP instance.

    Without a transfer syntax in the old file meta, the one the dataset was read with.
    """
    old = getattr(ds, "file_meta", None)
    syntax = old.get("TransferSyntaxUID") if old is not None else None
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(str(syntax)) if syntax else _syntax_read_with(ds)
    ds.file_meta = meta


def _syntax_read_with(ds: Dataset) -> UID:
    implicit, little_endian = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little_endian in (True, None) else ExplicitVRBigEndian
