"""What a reader's browser receives of an image: a neutral, reading-specific DICOM instance.

Stored instances are already de-identified (PS3.15 basic profile, at import). Before an
instance is served to a reader it is blinded further, so that nothing in it tells the
condition or links two conditions of the same case:

* every UID (study, series, instance, frame of reference, references) is remapped with
  a salt that is secret to the study *and* specific to the reading, so the same case
  read under two conditions carries unrelated UIDs;
* patient name and ID become a reading-specific pseudonym (the stored case code would
  link conditions);
* attributes that can reveal how an image was made are removed or neutralised
  (``CONDITION_REVEALING``), together with private tags, dates and times;
* ImageType is set to ORIGINAL\\PRIMARY for every condition.
"""

import hashlib
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset

from .models import DicomInstance, Reading
from .services.deidentify import dataset_deidentify, uid_pseudonymize

#: Attributes removed from every served instance because they can reveal the condition.
CONDITION_REVEALING = (
    "SeriesDescription",
    "StudyDescription",
    "ProtocolName",
    "SequenceName",
    "DerivationDescription",
    "DerivationCodeSequence",
    "SourceImageSequence",
    "ReferencedImageSequence",
    "ReferencedSeriesSequence",
    "ContributingEquipmentSequence",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "DeviceSerialNumber",
    "StationName",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ImageComments",
    "SeriesNumber",
    "AcquisitionNumber",
    "ConvolutionKernel",
    "ReconstructionMethod",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
    "BurnedInAnnotation",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
)


def reading_salt(reading: Reading) -> str:
    """The UID salt of one reading: secret to the study, different for every reading."""
    return f"{reading.series.case.study.uid_salt}|reading|{reading.public_id}"


def reading_pseudonym(reading: Reading) -> str:
    """A patient name/ID for the reading that links to nothing else."""
    return "R-" + hashlib.sha256(reading_salt(reading).encode()).hexdigest()[:10].upper()


def reading_uid(reading: Reading, stored_uid: str) -> str:
    """The UID the reader sees for a stored (de-identified) UID."""
    return uid_pseudonymize(stored_uid, salt=reading_salt(reading))


def blind_dataset(ds: Dataset, reading: Reading) -> Dataset:
    """Blind ``ds`` (a stored instance of the reading's series) in place and return it."""
    dataset_deidentify(ds, case_code=reading_pseudonym(reading), uid_salt=reading_salt(reading))
    for keyword in CONDITION_REVEALING:
        if keyword in ds:
            delattr(ds, keyword)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SeriesNumber = 1
    return ds


def blinded_instance_bytes(instance: DicomInstance, reading: Reading) -> bytes:
    """The instance as the reader receives it: a DICOM Part 10 file, blinded."""
    with instance.file.open("rb") as handle:
        ds = pydicom.dcmread(handle)
    blind_dataset(ds, reading)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
