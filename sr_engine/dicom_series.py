"""Writing a Volume as a DICOM series and reading DICOM series (single- or multi-frame) into one.

Geometry follows DICOM PS3.3 C.7.6.2 (Image Plane Module): ImagePositionPatient
is the centre of the first voxel of each slice, ImageOrientationPatient the row and
column directions, PixelSpacing is (row spacing, column spacing) and
SpacingBetweenSlices the distance between slice centres. Enhanced (multi-frame) MR
images carry the same attributes per frame in functional groups (PS3.3 C.7.6.16:
PlanePositionSequence, PlaneOrientationSequence, PixelMeasuresSequence,
MREchoSequence, PixelValueTransformationSequence).

Reading sorts slices along the slice normal (never by InstanceNumber), takes the slice
spacing from the positions and keeps SliceThickness separately (a gap or an overlap is
spacing ≠ thickness). Images at the same position with different echo times are the
echoes of a multi-echo series and become channels, ordered by echo time. Anything that
is not one regular volume raises :class:`VolumeError` with a message that says what is
wrong and where.

Writing stores voxel values as unsigned 16-bit integers. Data that are already
integers in 0..65535, or non-negative values up to 65535 with a range of at least
1000 (rounding then costs at most 0.05 % of the range), are rounded and stored as they
are (RescaleSlope 1), the way scanners store magnitude images. Anything else (negative
values, values above 65535, a small fractional range) is stored with a linear
RescaleSlope/RescaleIntercept that maps the volume's range onto 0..65535, so values
survive to within half a slope. ``scaling="integer"`` forces the first rule (negative
values clip to 0), ``scaling="rescale"`` the second.
"""

import json
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage, MRImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds

from .provenance import (
    ACQUISITION_ELEMENT,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    jsonable,
    provenance_verify,
    read_sealed,
    seal_datasets,
    summary,
)
from .volume import Volume, dicom_affine, slice_normal

#: Positions (mm) closer than this along the slice normal are the same position.
POSITION_TOLERANCE_MM = 1e-3
#: Non-integer data with a smaller range are stored with a rescale slope, not rounded.
_MIN_RANGE_FOR_INTEGERS = 1000.0

PathArg = str | Path

#: Acquisition keys written as (or read from) standard DICOM attributes; the others go
#: into the private block of :mod:`sr_engine.provenance` (element ACQUISITION_ELEMENT).
_DICOM_ACQUISITION_KEYS = frozenset(
    {
        "echo_times_ms",
        "repetition_time_ms",
        "flip_angle_deg",
        "slice_thickness_mm",
        "magnetic_field_t",
        "modality",
        "provenance",
        "source_series_instance_uid",
        "source_study_instance_uid",
    }
)


class VolumeError(ValueError):
    """The files are not one regular volume (mixed series, missing slices, not an image...)."""


@dataclass(frozen=True)
class SeriesInfo:
    """What identifies a written series: patient, study, series and frame of reference."""

    patient_name: str
    patient_id: str
    series_description: str
    series_number: int = 1
    study_description: str = ""
    study_instance_uid: str = field(default_factory=generate_uid)
    series_instance_uid: str = field(default_factory=generate_uid)
    frame_of_reference_uid: str = field(default_factory=generate_uid)
    slice_thickness: float | None = None
    derivation: str = ""


# --------------------------------------------------------------------------- writing


def _ds(value: float) -> str:
    """A float as a valid DICOM decimal string (at most 16 characters, full precision)."""
    return format_number_as_ds(float(value))


def _window(values: np.ndarray) -> tuple[float, float]:
    """A display window spanning the 1st to 99.8th percentile of the positive voxels."""
    values = values[values > 0]
    if values.size == 0:
        return 0.5, 1.0
    low, high = np.percentile(values, [1.0, 99.8])
    return float((low + high) / 2), float(max(high - low, 1.0))


def image_pixel_module_set(ds: Dataset, rows: int, columns: int, slope: float, intercept: float) -> None:
    """The Image Pixel attributes of an unsigned 16-bit greyscale frame (PS3.3 C.7.6.3), and the
    Modality LUT's rescale (C.11.1) when it is not the identity (see ``stored_values``)."""
    ds.Rows, ds.Columns = int(rows), int(columns)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if (slope, intercept) != (1.0, 0.0):
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(intercept)


def stored_values(
    data: np.ndarray, scaling: Literal["auto", "integer", "rescale"] = "auto"
) -> tuple[np.ndarray, float, float]:
    """The uint16 values to store for ``data`` and the (slope, intercept) that give the data back.

    The rule is the module docstring's: integers as they are when they fit, otherwise a
    linear rescale of the data's range onto 0..65535 (DICOM PS3.3 C.7.6.3.1.4: value =
    stored x RescaleSlope + RescaleIntercept).
    """
    if scaling not in ("auto", "integer", "rescale"):
        raise ValueError(f"scaling must be 'auto', 'integer' or 'rescale', not {scaling!r}.")
    data = np.asarray(data)
    if not np.all(np.isfinite(data)):
        raise ValueError("The volume holds NaN or infinite values; DICOM cannot store them.")
    low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    fits = low >= 0 and high <= 65535
    integral = bool(np.all(data == np.rint(data)))
    if scaling == "integer" or (
        scaling == "auto" and fits and (integral or high - low >= _MIN_RANGE_FOR_INTEGERS)
    ):
        return np.clip(np.rint(data), 0, 65535).astype(np.uint16), 1.0, 0.0
    slope = float(_ds((high - low) / 65535)) if high > low else 1.0
    intercept = float(_ds(low))
    stored = np.clip(np.rint((data.astype(np.float64) - intercept) / slope), 0, 65535)
    return stored.astype(np.uint16), slope, intercept


def _new_dataset(info: SeriesInfo, now: datetime) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = info.study_instance_uid
    ds.SeriesInstanceUID = info.series_instance_uid
    ds.FrameOfReferenceUID = info.frame_of_reference_uid
    ds.Modality = "MR"
    ds.PatientName = info.patient_name
    ds.PatientID = info.patient_id
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.StudyDescription = info.study_description
    ds.SeriesDescription = info.series_description
    ds.SeriesNumber = info.series_number
    return ds


def write_dicom_series(
    volume: Volume,
    out_dir: PathArg,
    info: SeriesInfo,
    *,
    provenance: dict[str, Any] | None = None,
    scaling: Literal["auto", "integer", "rescale"] = "auto",
) -> list[Path]:
    """Write one single-frame MR Image Storage file per slice (and per echo); return the paths.

    A multi-channel volume is one series with one file per slice per echo (EchoNumbers
    1..n, EchoTime from ``acquisition["echo_times_ms"]``), echo after echo. Voxel values
    are stored as the module docstring says. RepetitionTime, FlipAngle,
    MagneticFieldStrength and SliceThickness come from the acquisition record when it
    has them (``info.slice_thickness`` wins for the thickness). A derived series
    (``info.derivation``, or a provenance record: ``provenance`` or
    ``acquisition["provenance"]``) is typed DERIVED\\SECONDARY, references its source
    series (``acquisition["source_series_instance_uid"]``) and carries the sealed
    provenance record of :mod:`sr_engine.provenance`. Acquisition keys that DICOM has no
    attribute for (e.g. ``slice_profile``) are kept as JSON in the same private block.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    acquisition = volume.acquisition
    record = provenance if provenance is not None else acquisition.get("provenance")
    derived = bool(info.derivation or record)
    data = volume.data if volume.data.ndim == 4 else volume.data[None]
    pixels, slope, intercept = stored_values(data, scaling)
    col_spacing, row_spacing, slice_spacing = volume.spacing
    normal = slice_normal(volume.orientation)
    if info.slice_thickness is not None:
        thickness = info.slice_thickness
    else:
        thickness = acquisition.get("slice_thickness_mm") or slice_spacing
    echo_times = acquisition.get("echo_times_ms")
    if echo_times is not None and len(echo_times) != len(data):
        raise ValueError(f"The volume has {len(data)} channels but {len(echo_times)} echo times.")
    extras = {k: v for k, v in acquisition.items() if k not in _DICOM_ACQUISITION_KEYS}
    extras_text = json.dumps(jsonable(extras), sort_keys=True, allow_nan=False) if extras else None
    now = datetime.now()
    datasets = []
    for channel, channel_pixels in enumerate(pixels):
        center, width = _window(channel_pixels * slope + intercept)
        for index in range(volume.shape[0]):
            ds = _new_dataset(info, now)
            ds.InstanceNumber = channel * volume.shape[0] + index + 1
            ds.ImageType = ["DERIVED", "SECONDARY"] if derived else ["ORIGINAL", "PRIMARY"]
            if derived:
                ds.DerivationDescription = (info.derivation or summary(record or {}))[:1024]
            ds.ImagePositionPatient = [_ds(v) for v in volume.slice_position(index)]
            ds.ImageOrientationPatient = [_ds(v) for v in volume.orientation]
            ds.PixelSpacing = [_ds(row_spacing), _ds(col_spacing)]
            ds.SliceThickness = _ds(thickness)
            ds.SpacingBetweenSlices = _ds(slice_spacing)
            ds.SliceLocation = _ds(np.dot(volume.slice_position(index), normal))
            if echo_times is not None:
                ds.EchoTime = _ds(echo_times[channel])
            if echo_times is not None or len(data) > 1:
                ds.EchoNumbers = channel + 1
            for keyword, key in (
                ("RepetitionTime", "repetition_time_ms"),
                ("FlipAngle", "flip_angle_deg"),
                ("MagneticFieldStrength", "magnetic_field_t"),
            ):
                if acquisition.get(key) is not None:
                    setattr(ds, keyword, _ds(acquisition[key]))
            image_pixel_module_set(ds, pixels.shape[2], pixels.shape[3], slope, intercept)
            if (slope, intercept) != (1.0, 0.0):
                ds.RescaleType = "US"
            ds.WindowCenter = _ds(round(center, 2))
            ds.WindowWidth = _ds(round(width, 2))
            ds.PixelData = channel_pixels[index].tobytes()
            if derived and acquisition.get("source_series_instance_uid"):
                reference = Dataset()
                reference.SeriesInstanceUID = acquisition["source_series_instance_uid"]
                if acquisition.get("source_study_instance_uid"):
                    reference.StudyInstanceUID = acquisition["source_study_instance_uid"]
                ds.ReferencedSeriesSequence = [reference]
            if extras_text:
                block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
                block.add_new(ACQUISITION_ELEMENT, "UT", extras_text)
            datasets.append(ds)
    if record:
        seal_datasets(datasets, record)
    paths = []
    for ds in datasets:
        path = out_dir / f"IM{ds.InstanceNumber:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def series_info_from_source(
    source: PathArg | Sequence[PathArg], series_description: str, *, series_number: int | None = None
) -> SeriesInfo:
    """A SeriesInfo for a series derived from the DICOM series at ``source``.

    Patient, study and frame of reference are the source's (so that the derived series
    sits in the same exam and patient space); the series gets a new UID. The series
    number defaults to the source's plus 100.
    """
    first = next(iter(_candidate_files([Path(p) for p in _as_list(source)])), None)
    ds = _read_header(first) if first is not None else None
    if ds is None:
        raise VolumeError(f"No DICOM file in {source}.")
    number = series_number if series_number is not None else int(ds.get("SeriesNumber") or 0) + 100
    return SeriesInfo(
        patient_name=str(ds.get("PatientName") or "ANONYMOUS"),
        patient_id=str(ds.get("PatientID") or "ANONYMOUS"),
        series_description=series_description,
        series_number=number,
        study_description=str(ds.get("StudyDescription") or ""),
        study_instance_uid=str(ds.get("StudyInstanceUID") or generate_uid()),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID") or generate_uid()),
    )


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Frame:
    """One 2D image (a single-frame file or one frame of a multi-frame file) and its geometry."""

    source: str
    dataset: Dataset
    frame_index: int | None
    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: tuple[float, float]
    shape: tuple[int, int]
    echo_time: float | None
    echo_number: int | None
    thickness: float | None
    slope: float
    intercept: float

    def pixels(self) -> np.ndarray:
        """The frame's values after the rescale (float32)."""
        try:
            array = self.dataset.pixel_array  # pydicom caches the decoded array
        except Exception as error:  # any decoding failure means a broken file
            raise VolumeError(f"The pixel data of {self.source} cannot be decoded: {error}") from error
        if self.frame_index is not None:
            array = array[self.frame_index]
        if array.ndim != 2:
            raise VolumeError(f"{self.source} is not a greyscale image (pixel array of shape {array.shape}).")
        return (array.astype(np.float32) * np.float32(self.slope) + np.float32(self.intercept)).astype(
            np.float32
        )


def _as_list(paths: PathArg | Sequence[PathArg]) -> list[PathArg]:
    return [paths] if isinstance(paths, str | Path) else list(paths)


def _candidate_files(paths: Iterable[Path]) -> list[Path]:
    """Every file under the given folders (recursively) and the given files, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    return files


def _read_header(path: Path) -> Dataset | None:
    """The dataset in ``path``; None for a file that is not DICOM (a readme, a thumbnail).

    A file with the DICOM preamble, or named ``*.dcm``, claims to be DICOM: if it cannot
    be read, that is a :class:`VolumeError` naming it.
    """
    marked = pydicom.misc.is_dicom(path)
    claims = marked or path.suffix.lower() == ".dcm"
    try:
        ds = pydicom.dcmread(path, force=claims and not marked)
    except InvalidDicomError:
        if claims:
            raise VolumeError(
                f"{path} is named or marked as DICOM but is not a readable DICOM file."
            ) from None
        return None
    except Exception as error:  # a truncated or corrupt file fails in many ways
        if claims:
            raise VolumeError(f"{path} is a corrupt DICOM file: {error}") from error
        return None
    if "SOPClassUID" not in ds and "PixelData" not in ds and "MediaStorageSOPClassUID" not in ds.file_meta:
        if claims:
            raise VolumeError(f"{path} is a corrupt DICOM file: no DICOM object could be read from it.")
        return None
    if claims and _image_storage(ds) and not any(k in ds for k in ("PixelData", "FloatPixelData")):
        # pydicom stops quietly at the end of a file cut off inside its header
        missing = "its series UID and pixel data" if "SeriesInstanceUID" not in ds else "its pixel data"
        raise VolumeError(
            f"{path} is a corrupt DICOM file: an image whose {missing} cannot be read "
            "(the file ends inside its header: cut off while copying?)."
        )
    return ds


def _image_storage(ds: Dataset) -> bool:
    """True for an object of an image storage SOP class (whose Pixel Data is Type 1)."""
    uid = ds.file_meta.get("MediaStorageSOPClassUID") or ds.get("SOPClassUID")
    return bool(uid) and str(getattr(uid, "name", "")).endswith("Image Storage")


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
    return getattr(uid, "name", str(uid)) if uid else "unknown object"


def _floats(value: Any) -> np.ndarray:
    return np.array([float(v) for v in value], dtype=float)


def _pixel_spacing(value: Any) -> tuple[float, float]:
    """PixelSpacing as (row spacing, column spacing); a ValueError unless it has two values."""
    row_spacing, column_spacing = (float(v) for v in value)
    return row_spacing, column_spacing


def _item(container: Dataset | None, sequence: str) -> Dataset | None:
    """The first item of ``sequence`` in ``container``, or None."""
    if container is None or sequence not in container or not container[sequence].value:
        return None
    return container[sequence].value[0]


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    return None if value is None else float(value)


def _frames_of(ds: Dataset, source: str) -> list[_Frame]:
    """The frames of a dataset: one for a classic image, NumberOfFrames for an enhanced one."""
    if "PerFrameFunctionalGroupsSequence" in ds:
        return _enhanced_frames(ds, source)
    missing = [k for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing") if k not in ds]
    if missing:
        raise VolumeError(
            f"{source} has no {', '.join(missing)}: it is not a cross-sectional image with a "
            f"position in patient space (e.g. a screenshot or a projection image)."
        )
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames != 1:
        raise VolumeError(
            f"{source} holds {frames} frames without per-frame geometry; it is not a volume slice."
        )
    echo_number = _number(ds.get("EchoNumbers"))
    return [
        _Frame(
            source=source,
            dataset=ds,
            frame_index=None,
            position=_floats(ds.ImagePositionPatient),
            orientation=_floats(ds.ImageOrientationPatient),
            pixel_spacing=_pixel_spacing(ds.PixelSpacing),
            shape=(int(ds.Rows), int(ds.Columns)),
            echo_time=_number(ds.get("EchoTime")),
            echo_number=None if echo_number is None else int(echo_number),
            thickness=_number(ds.get("SliceThickness")),
            slope=_number(ds.get("RescaleSlope")) or 1.0,
            intercept=_number(ds.get("RescaleIntercept")) or 0.0,
        )
    ]


def _enhanced_frames(ds: Dataset, source: str) -> list[_Frame]:
    """Frames of an enhanced multi-frame image: per-frame groups first, then shared ones."""
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    frames = []
    for index, per_frame in enumerate(ds.PerFrameFunctionalGroupsSequence):

        def group(sequence: str, per_frame: Dataset = per_frame) -> Dataset | None:
            return _item(per_frame, sequence) or _item(shared, sequence)

        plane_position = group("PlanePositionSequence")
        plane_orientation = group("PlaneOrientationSequence")
        measures = group("PixelMeasuresSequence")
        if plane_position is None or plane_orientation is None or measures is None:
            raise VolumeError(
                f"Frame {index + 1} of {source} lacks its plane position, orientation or pixel "
                f"measures; it cannot be placed in patient space."
            )
        echo = group("MREchoSequence")
        transform = group("PixelValueTransformationSequence")
        rescale = transform if transform is not None else ds
        frames.append(
            _Frame(
                source=f"{source} (frame {index + 1})",
                dataset=ds,
                frame_index=index,
                position=_floats(plane_position.ImagePositionPatient),
                orientation=_floats(plane_orientation.ImageOrientationPatient),
                pixel_spacing=_pixel_spacing(measures.PixelSpacing),
                shape=(int(ds.Rows), int(ds.Columns)),
                echo_time=_number(echo.get("EffectiveEchoTime")) if echo is not None else None,
                echo_number=None,
                thickness=_number(measures.get("SliceThickness")),
                slope=_number(rescale.get("RescaleSlope")) or 1.0,
                intercept=_number(rescale.get("RescaleIntercept")) or 0.0,
            )
        )
    return frames


def _private_acquisition(ds: Dataset) -> dict[str, Any]:
    """The acquisition keys :func:`write_dicom_series` kept in its private block, if any."""
    try:
        value = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[ACQUISITION_ELEMENT].value
        extras = json.loads(value.decode("utf-8") if isinstance(value, bytes) else value)
    except (KeyError, ValueError):
        return {}
    if not isinstance(extras, dict):
        return {}
    return {k: v for k, v in extras.items() if k not in _DICOM_ACQUISITION_KEYS}


def _acquisition_of(frame: _Frame) -> dict[str, Any]:
    """The acquisition record (volume.py's keys) from the header of a volume's first frame."""
    ds = frame.dataset
    timing = _item(_item(ds, "SharedFunctionalGroupsSequence"), "MRTimingAndRelatedParametersSequence")
    acquisition: dict[str, Any] = _private_acquisition(ds)
    for key, keyword, fallback in (
        ("repetition_time_ms", "RepetitionTime", timing),
        ("flip_angle_deg", "FlipAngle", timing),
        ("magnetic_field_t", "MagneticFieldStrength", None),
    ):
        value = _number(ds.get(keyword))
        if value is None and fallback is not None:
            value = _number(fallback.get(keyword))
        if value is not None:
            acquisition[key] = value
    if frame.thickness:
        acquisition["slice_thickness_mm"] = frame.thickness
    if ds.get("Modality"):
        acquisition["modality"] = str(ds.Modality)
    if ds.get("SeriesInstanceUID"):
        acquisition["source_series_instance_uid"] = str(ds.SeriesInstanceUID)
    if ds.get("StudyInstanceUID"):
        acquisition["source_study_instance_uid"] = str(ds.StudyInstanceUID)
    return acquisition


def _describe_series(uid: str, datasets: list[tuple[Path, Dataset]]) -> str:
    ds = datasets[0][1]
    what = f"series {uid}"
    if ds.get("SeriesNumber") is not None:
        what += f" (number {ds.SeriesNumber}"
        what += f", '{ds.SeriesDescription}')" if ds.get("SeriesDescription") else ")"
    return f"{what}: {len(datasets)} file(s)"


def _select_series(
    per_path: list[tuple[Path, list[tuple[Path, Dataset]]]], series_instance_uid: str | None
) -> list[tuple[Path, Dataset]]:
    """The files of the one series to read (or of one series per path, merged as echoes)."""
    everything = [item for _, items in per_path for item in items]
    if series_instance_uid is not None:
        chosen = [
            (p, ds) for p, ds in everything if str(ds.get("SeriesInstanceUID", "")) == series_instance_uid
        ]
        if not chosen:
            raise VolumeError(
                f"No file of series {series_instance_uid} in {', '.join(str(p) for p, _ in per_path)}."
            )
        return chosen
    by_series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in everything:
        by_series[str(ds.get("SeriesInstanceUID", "<no SeriesInstanceUID>"))].append((path, ds))
    if len(by_series) == 1:
        return everything
    per_path_series = [{str(ds.get("SeriesInstanceUID", "")) for _, ds in items} for _, items in per_path]
    if len(per_path) > 1 and all(len(s) == 1 for s in per_path_series) and len(by_series) == len(per_path):
        return everything  # one series per path: the echoes of one acquisition, stored apart
    where = ", ".join(str(p) for p, _ in per_path)
    listing = "; ".join(_describe_series(uid, items) for uid, items in by_series.items())
    raise VolumeError(
        f"{where} holds {len(by_series)} series, not one: {listing}. Pick one series "
        f"(series_instance_uid=..., or --series UID on the command line), or put each series in its "
        f"own folder (the folders of the echoes of one acquisition can then be read together)."
    )


def _echo_groups(frames: list[_Frame]) -> list[tuple[float | None, list[_Frame]]]:
    """Frames grouped by echo, ordered by echo time: [(echo time or None, frames)]."""
    times = {None if f.echo_time is None else round(f.echo_time, 4) for f in frames}
    numbers = {f.echo_number for f in frames}
    if len(times) > 1 and None not in times:
        groups: dict[Any, list[_Frame]] = defaultdict(list)
        for frame in frames:
            if frame.echo_time is not None:  # every frame has one here: times holds no None
                groups[round(frame.echo_time, 4)].append(frame)
        return [(key, groups[key]) for key in sorted(groups)]
    if len(numbers) > 1 and None not in numbers:
        groups = defaultdict(list)
        for frame in frames:
            groups[frame.echo_number].append(frame)
        return [(groups[key][0].echo_time, groups[key]) for key in sorted(groups)]
    only = next(iter(times)) if len(times) == 1 else None
    return [(only, frames)]


def _distinct(values: list[np.ndarray], tolerance: float) -> list[tuple[np.ndarray, int]]:
    """The distinct vectors among ``values`` (within ``tolerance``) with how often each occurs."""
    found: list[list[Any]] = []
    for value in values:
        for entry in found:
            if np.allclose(entry[0], value, atol=tolerance):
                entry[1] += 1
                break
        else:
            found.append([value, 1])
    return [(v, n) for v, n in found]


def _check_common(frames: list[_Frame], name: str) -> None:
    """One orientation, one matrix size and one pixel spacing, or a VolumeError saying otherwise."""
    orientations = _distinct([f.orientation for f in frames], 1e-4)
    if len(orientations) > 1:
        listing = ", ".join(f"{n} with ({', '.join(f'{v:.4g}' for v in o)})" for o, n in orientations)
        raise VolumeError(f"{name} mixes image orientations: {listing}. A volume has one orientation.")
    sizes = Counter(f.shape for f in frames)
    if len(sizes) > 1:
        listing = ", ".join(f"{n} of {r}x{c}" for (r, c), n in sizes.items())
        raise VolumeError(f"{name} mixes image sizes (rowsxcolumns): {listing}.")
    spacings = _distinct([np.array(f.pixel_spacing) for f in frames], 1e-4)
    if len(spacings) > 1:
        listing = ", ".join(f"{n} with {s[0]:g}x{s[1]:g} mm" for s, n in spacings)
        raise VolumeError(f"{name} mixes pixel spacings: {listing}.")


def _check_spacing(distances: np.ndarray, frames: list[_Frame], name: str) -> None:
    """Slices must be evenly spaced along the normal: say where slices are missing if not."""
    steps = np.diff(distances)
    for i, step in enumerate(steps):
        if step < POSITION_TOLERANCE_MM:
            raise VolumeError(
                f"{name} has two slices at the same position ({distances[i]:.3f} mm along the slice "
                f"normal, echo time {frames[i].echo_time} ms): {frames[i].source} and "
                f"{frames[i + 1].source}. Remove the duplicates or read one acquisition at a time."
            )
    if len(steps) == 0:
        return
    spacing = float(np.median(steps))
    uneven = ~np.isclose(steps, spacing, rtol=1e-3, atol=POSITION_TOLERANCE_MM)
    if not uneven.any():
        return
    gaps = []
    for j in (int(k) for k in np.flatnonzero(uneven)):
        ratio = steps[j] / spacing
        if round(ratio) >= 2 and abs(ratio - round(ratio)) < 0.05:
            gaps.append(
                f"{round(ratio) - 1} slice(s) missing between "
                f"{distances[j]:.3f} and {distances[j + 1]:.3f} mm"
            )
        else:
            raise VolumeError(
                f"Slices of {name} are not evenly spaced: the step between slice centres is "
                f"{spacing:.4g} mm mostly but {steps[j]:.4g} mm between {distances[j]:.3f} and "
                f"{distances[j + 1]:.3f} mm along the slice normal "
                f"({frames[j].source}, {frames[j + 1].source})."
            )
    raise VolumeError(
        f"Slices of {name} are not evenly spaced: {'; '.join(gaps)} along the slice normal "
        f"(slice spacing {spacing:.4g} mm, {len(distances)} slices read). Add the missing files."
    )


def _assemble(frames: list[_Frame], name: str) -> tuple[np.ndarray, np.ndarray, list[float | None], _Frame]:
    """Data (channels, slices, rows, columns), affine, echo times and first frame of a set of frames."""
    _check_common(frames, name)
    orientation = frames[0].orientation
    normal = slice_normal(orientation)
    echoes = _echo_groups(frames)
    stacks, reference = [], None
    for echo_time, group in echoes:
        group = sorted(group, key=lambda f: float(np.dot(normal, f.position)))
        distances = np.array([float(np.dot(normal, f.position)) for f in group])
        _check_spacing(distances, group, name)
        if reference is None:
            reference = (group, distances)
        elif len(distances) != len(reference[1]) or not np.allclose(
            distances, reference[1], atol=POSITION_TOLERANCE_MM
        ):
            raise VolumeError(
                f"The echoes of {name} cover different slices: echo time {echoes[0][0]} ms has "
                f"{len(reference[1])} slices from {reference[1][0]:.3f} mm, echo time {echo_time} ms has "
                f"{len(distances)} from {distances[0]:.3f} mm."
            )
        stacks.append(group)
    if reference is None:
        raise VolumeError(f"{name} has no slices.")
    first = reference[0]
    positions = np.array([f.position for f in first])
    if len(first) > 1:
        slice_vector = (positions[-1] - positions[0]) / (len(first) - 1)
        expected = positions[0] + np.arange(len(first))[:, None] * slice_vector
        off = np.linalg.norm(positions - expected, axis=1)
        if off.max() > 0.01 + 1e-3 * np.linalg.norm(slice_vector):
            worst = int(np.argmax(off))
            raise VolumeError(
                f"The slice positions of {name} do not lie on one line: {first[worst].source} is "
                f"{off[worst]:.3f} mm off the line through the first and last slice."
            )
    else:
        ds = first[0].dataset
        step = _number(ds.get("SpacingBetweenSlices")) or first[0].thickness or 1.0
        slice_vector = normal * step
    affine = dicom_affine(orientation, first[0].pixel_spacing, slice_vector, positions[0])
    data = np.stack([np.stack([f.pixels() for f in group]) for group in stacks])
    return data, affine, [echo_time for echo_time, _ in echoes], first[0]


def _verified_provenance(datasets: list[Dataset], name: str) -> dict[str, Any] | None:
    """The sealed provenance record of one derived series, if its seal shows it intact.

    A record whose seal is broken is not kept (a warning says so): it no longer
    describes the pixels, and writing the volume again would seal it anew.
    """
    if read_sealed(datasets[0]) is None or len({str(ds.get("SeriesInstanceUID")) for ds in datasets}) != 1:
        return None
    check = provenance_verify(datasets)
    if not check.intact:
        warnings.warn(f"The provenance record of {name} is not kept: {check.message}", stacklevel=3)
        return None
    return check.record


def read_dicom_series(
    folder: PathArg | Sequence[PathArg], *, series_instance_uid: str | None = None
) -> Volume:
    """Read one DICOM series (a folder, a multi-frame file, or several paths) into a Volume.

    Every file under a folder is tried (DICOM files often have no suffix); files that
    are not DICOM (a readme, a DICOMDIR index) are skipped. Several paths holding one
    series each (e.g. the echo-1 and echo-2 folders of a DESS exam) are read as the
    echoes of one volume. ``series_instance_uid`` picks one series from a folder that
    holds several. Single-slice series give a one-slice volume. The acquisition record
    gets the echo times, TR, flip angle, field strength, modality, slice thickness and
    the source series' and study's UIDs (``source_series_instance_uid``,
    ``source_study_instance_uid``) and, for a series written with a sealed provenance
    record that is intact, that record (``provenance``). Raises :class:`VolumeError` for anything that is not
    one regular volume, :class:`FileNotFoundError` for a path that does not exist.
    """
    paths = [Path(p) for p in _as_list(folder)]
    name = ", ".join(str(p) for p in paths)
    per_path = []
    for path in paths:
        items = []
        for file in _candidate_files([path]):
            ds = _read_header(file)
            if ds is None or ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
                continue
            items.append((file, ds))
        per_path.append((path, items))
    if not any(items for _, items in per_path):
        raise VolumeError(f"No DICOM files in {name}.")
    chosen = _select_series(per_path, series_instance_uid)
    images = [(p, ds) for p, ds in chosen if any(k in ds for k in ("PixelData", "FloatPixelData"))]
    if not images:
        kinds = Counter(_sop_class_name(ds) for _, ds in chosen)
        listing = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        raise VolumeError(f"{name} holds no image with pixel data ({listing}); it is not an image series.")
    if len(images) < len(chosen):
        other, ds = next(
            (p, ds) for p, ds in chosen if not any(k in ds for k in ("PixelData", "FloatPixelData"))
        )
        raise VolumeError(f"{other} belongs to the series but has no pixel data ({_sop_class_name(ds)}).")
    frames = [frame for path, ds in images for frame in _frames_of(ds, str(path))]
    data, affine, echo_times, first = _assemble(frames, name)
    acquisition = _acquisition_of(first)
    if any(t is not None for t in echo_times):
        acquisition["echo_times_ms"] = tuple(None if t is None else float(t) for t in echo_times)
    record = _verified_provenance([ds for _, ds in images], name)
    if record is not None:
        acquisition["provenance"] = record
    return Volume(data[0] if len(data) == 1 else data, affine, acquisition)
