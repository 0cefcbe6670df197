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
* ImageType is set to ORIGINAL\\PRIMARY for every condition;
* a projection image (a radiograph, ``ImageSeries.projection``) is served with the image
  plane the import gave it (``image_plane_set``: ImageOrientationPatient, ImagePositionPatient
  and the PixelSpacing the import chose, ImagerPixelSpacing corrected by the magnification
  factor), so that the viewer measures in the same image millimetres as the server.

The WADO-RS metadata of a series is blinded in two steps, because reading and
blinding every header on each request is slow (about 3 ms per instance): the
reading-independent part (everything but UIDs and patient name/ID) is computed once
per series and stored beside its instances (``series_metadata_neutral``); each request
then only remaps the UIDs and sets the pseudonym (``series_metadata_blinded``). The
stored file's name carries a digest of the blinding rules, so changing the rules
makes a new one.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Protocol

import pydicom
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from pydicom.dataset import Dataset

from readerstudy.imaging.deidentify import PROFILE_ACTIONS, dataset_deidentify, uid_pseudonymize
from readerstudy.imaging.models import ImageSeries, series_folder

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
    # Radiographs: the detector and its processing
    "AcquisitionDeviceProcessingCode",
    "DetectorDescription",
    "DetectorManufacturerName",
    "DetectorManufacturerModelName",
    "DetectorType",
    "DetectorConfiguration",
    "DateOfLastDetectorCalibration",
    "PixelSpacingCalibrationDescription",
)


class BlindedViewing(Protocol):
    """What the blinding uses of a reading: its public id and its series.

    Reference drafts (``references.models.ReferenceStandard``, whose series is nullable, but
    a draft is only served once it has one) and series on the measuring page
    (``measurements.policy.MeasurementViewing``) have them too, so the same functions serve them.
    """

    @property
    def public_id(self) -> uuid.UUID: ...

    @property
    def series(self) -> ImageSeries | None: ...

    @property
    def series_id(self) -> int | None: ...


def _viewed_series(reading: BlindedViewing) -> ImageSeries:
    """The series of ``reading``; every DICOMweb root has one (its policy refuses the others)."""
    series = reading.series
    if series is None:
        raise ValueError(f"{reading.public_id} has no series to blind.")
    return series


def reading_salt(reading: BlindedViewing) -> str:
    """The UID salt of one reading: secret to the study, different for every reading."""
    return f"{_viewed_series(reading).case.study.uid_salt}|reading|{reading.public_id}"


def reading_pseudonym(reading: BlindedViewing) -> str:
    """A patient name/ID for the reading that links to nothing else."""
    return "R-" + hashlib.sha256(reading_salt(reading).encode()).hexdigest()[:10].upper()


def reading_uid(reading: BlindedViewing, stored_uid: str) -> str:
    """The UID the reader sees for a stored (de-identified) UID."""
    return uid_pseudonymize(stored_uid, salt=reading_salt(reading))


def blind_dataset(ds: Dataset, reading: BlindedViewing) -> Dataset:
    """Blind ``ds`` (a stored instance of the reading's series) in place and return it."""
    return _blind(ds, pseudonym=reading_pseudonym(reading), uid_salt=reading_salt(reading))


def _blind(ds: Dataset, *, pseudonym: str, uid_salt: str | None) -> Dataset:
    dataset_deidentify(ds, case_code=pseudonym, uid_salt=uid_salt)
    for keyword in CONDITION_REVEALING:
        if keyword in ds:
            delattr(ds, keyword)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SeriesNumber = 1
    return ds


def image_plane_set(ds: Dataset, series: ImageSeries) -> Dataset:
    """Give an instance of a projection series the image plane of its series, in place.

    A radiograph has no patient-space geometry; the import placed it in its own image plane
    (``dicom_import.image_plane_geometry``) with the pixel spacing it chose
    (``dicom_import.projection_spacing``). The viewer reads geometry from the header, so the
    served header carries that plane (ImageOrientationPatient, ImagePositionPatient) and that
    spacing as PixelSpacing; ImagerPixelSpacing and the magnification factor stay as they
    were. Instances of other series are returned unchanged.
    """
    if series.projection:
        ds.ImageOrientationPatient = [float(v) for v in series.orientation]
        ds.ImagePositionPatient = [float(v) for v in series.origin]
        ds.PixelSpacing = [float(v) for v in series.pixel_spacing]
    return ds


def reading_instance_files(reading: BlindedViewing) -> dict[str, str]:
    """Reading-specific SOP instance UID -> storage name of the stored file, in slice order.

    Cached (``django.core.cache``) per reading: a series' instances never change after
    import, and hashing every UID of the series on each frame request is slow.
    """
    key = f"readerstudy:instance-files:{reading.public_id}:{reading.series_id}"
    files = cache.get(key)
    if files is None:
        instances = _viewed_series(reading).instances.order_by("slice_index").only("sop_instance_uid", "file")
        files = {reading_uid(reading, i.sop_instance_uid): i.file.name for i in instances}
        cache.set(key, files, timeout=24 * 3600)
    return files


@dataclass(frozen=True)
class FrameSpan:
    """Where one instance of a reading's series lies: its reading-specific UID, file, pixel data."""

    sop_uid: str
    name: str
    offset: int | None
    length: int | None


def reading_frame_spans(reading: BlindedViewing) -> list[FrameSpan]:
    """Every instance of the reading's series in slice order, with its stored pixel data offset.

    Cached per reading like ``reading_instance_files``.
    """
    key = f"readerstudy:frame-spans:{reading.public_id}:{reading.series_id}"
    spans = cache.get(key)
    if spans is None:
        instances = (
            _viewed_series(reading)
            .instances.order_by("slice_index")
            .only("sop_instance_uid", "file", "pixel_offset", "pixel_length")
        )
        spans = [
            FrameSpan(
                reading_uid(reading, i.sop_instance_uid), str(i.file.name), i.pixel_offset, i.pixel_length
            )
            for i in instances
        ]
        cache.set(key, spans, timeout=24 * 3600)
    return spans


def blinded_instance_bytes(name: str, reading: BlindedViewing) -> bytes:
    """The stored instance ``name`` as the reader receives it: a DICOM Part 10 file, blinded."""
    with default_storage.open(name, "rb") as handle:
        ds = pydicom.dcmread(handle)
    blind_dataset(ds, reading)
    image_plane_set(ds, _viewed_series(reading))
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- series metadata


#: Digest of the rules above: part of the stored metadata's file name.
RULES_DIGEST = hashlib.sha256(repr((CONDITION_REVEALING, PROFILE_ACTIONS)).encode()).hexdigest()[:12]


_PATIENT_NAME, _PATIENT_ID = "00100010", "00100020"


#: Stands in for the pseudonym in the stored, reading-independent metadata.
_PLACEHOLDER = "R-PSEUDONYM"


def series_metadata_path(series: ImageSeries) -> str:
    """Storage name of the series' reading-independent metadata for the current rules."""
    return f"{series_folder(series)}/metadata-{RULES_DIGEST}.json"


def series_metadata_neutral(series: ImageSeries) -> list[dict[str, Any]]:
    """Every instance's header (DICOM JSON, PS3.18 F.2), blinded except UIDs and patient name/ID.

    Read from storage; made and stored on first use (at import, or on the first request
    after the blinding rules changed).
    """
    name = series_metadata_path(series)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return json.load(handle)
    metadata = []
    for instance in series.instances.order_by("slice_index"):
        with instance.file.open("rb") as handle:
            ds = pydicom.dcmread(handle, stop_before_pixels=True)
        blinded = image_plane_set(_blind(ds, pseudonym=_PLACEHOLDER, uid_salt=None), series)
        metadata.append(blinded.to_json_dict())
    saved = default_storage.save(name, ContentFile(json.dumps(metadata).encode()))
    if saved != name:  # another request stored it meanwhile: keep theirs
        default_storage.delete(saved)
    return metadata


def series_metadata_blinded(reading: BlindedViewing) -> list[dict[str, Any]]:
    """The WADO-RS metadata the reader receives: the same as ``blind_dataset`` on every header."""
    salt, pseudonym = reading_salt(reading), reading_pseudonym(reading)
    metadata = series_metadata_neutral(_viewed_series(reading))
    for instance in metadata:
        _personalize(instance, salt=salt, pseudonym=pseudonym)
    return metadata


def series_metadata_json(reading: BlindedViewing) -> str:
    """``series_metadata_blinded`` as JSON text, computed once per reading and blinding rules.

    Cached (``django.core.cache``, keyed by the reading, its series and ``RULES_DIGEST``): the
    metadata endpoint and the reading page (which inlines it) serve the same text. ``<``, ``>``
    and ``&`` are escaped as in Django's ``json_script``, so the text can sit in a page's
    ``<script type="application/json">`` and is still the same JSON.
    """
    key = metadata_json_cache_key(reading.public_id, reading.series_id)
    text = cache.get(key)
    if text is None:
        text = json.dumps(series_metadata_blinded(reading), separators=(",", ":"))
        text = text.translate(_JSON_SCRIPT_ESCAPES)
        cache.set(key, text, timeout=24 * 3600)
    return text


def metadata_json_cache_key(public_id: uuid.UUID, series_id: int | None) -> str:
    """The cache key of ``series_metadata_json`` for one viewing of one series."""
    return f"readerstudy:metadata-json:{public_id}:{series_id}:{RULES_DIGEST}"


_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def _personalize(item: dict[str, Any], *, salt: str, pseudonym: str) -> None:
    """Remap the UIDs of one DICOM JSON dataset (and its sequences) and set the pseudonym."""
    for tag, element in item.items():
        vr = element.get("vr")
        if tag == _PATIENT_NAME:
            element["Value"] = [{"Alphabetic": pseudonym}]
        elif tag == _PATIENT_ID:
            element["Value"] = [pseudonym]
        elif vr == "UI" and "Value" in element:
            element["Value"] = [uid_pseudonymize(uid, salt=salt) if uid else uid for uid in element["Value"]]
        elif vr == "SQ":
            for child in element.get("Value", []):
                _personalize(child, salt=salt, pseudonym=pseudonym)
