"""The sealed provenance record of a derived DICOM series: how it was made, and proof it is unchanged.

A derived volume (``upscale``, acquisition simulation) carries in
``acquisition["provenance"]`` a JSON-able record: method, factor, seed, options,
weights, code version, input hash. When such a series is written, every file gets

* the record, sealed, as JSON in a private block of group 0x0071 whose private creator
  is :data:`PRIVATE_CREATOR` (PS3.5 §7.8.1 private data elements), element
  ``(0071,xx01)``, value representation UT;
* a one-line human summary (:func:`summary`) in DerivationDescription (0008,2111),
  unless the writer was given its own description.

The same private block holds, in ``(0071,xx02)``, the acquisition record's keys that
DICOM has no attribute for (e.g. ``slice_profile``), unsealed, so that they survive a
write and read (see :mod:`sr_engine.dicom_series`).

"Sealed" means tamper-evident, not signed: the stored JSON holds ``pixel_sha256``, the
SHA-256 (FIPS 180-4) of the series' image content (see :func:`pixel_sha256`), and
``record_sha256``, the SHA-256 of the canonical JSON of the record together with that
pixel hash. :func:`provenance_verify` recomputes both and tells an intact series from
one whose pixels (or slices, or their geometry) changed after writing and from one whose
record was edited. Anyone can recompute the hashes after a deliberate change, so the
seal detects accidents and careless edits (re-windowed, re-processed or re-assembled
series, hand-edited records); it proves nothing about who wrote the series.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

PRIVATE_GROUP = 0x0071
PRIVATE_CREATOR = "SR_ENGINE PROVENANCE 1"
_RECORD_ELEMENT = 0x01
#: The element (in the same private block) of the acquisition keys DICOM has no attribute for.
ACQUISITION_ELEMENT = 0x02
#: The version of the sealed JSON's layout.
SEAL_FORMAT = 1

INTACT = "intact"
PIXELS_MODIFIED = "pixels modified"
RECORD_MODIFIED = "record modified"
NOT_SEALED = "not sealed"


def jsonable(value: Any) -> Any:
    """``value`` with tuples, numpy scalars and arrays turned into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of ``value``: sorted keys, no spaces, UTF-8 (what is hashed)."""
    value = jsonable(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _number_text(value: Any) -> str:
    return "" if value is None or value == "" else f"{float(value):.6f}"


def _order_key(ds: Dataset) -> tuple[float, float, float]:
    """Echo, then position along the slice normal: the order in which the content is hashed."""
    echo_numbers = ds.get("EchoNumbers")
    if isinstance(echo_numbers, MultiValue):
        echo_numbers = echo_numbers[0] if len(echo_numbers) else None
    echo = float(echo_numbers or 0)
    if "ImageOrientationPatient" in ds and "ImagePositionPatient" in ds:
        orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
        normal = np.cross(orientation[:3], orientation[3:])
        distance = float(np.dot(normal, [float(v) for v in ds.ImagePositionPatient]))
    else:
        distance = 0.0
    return echo, distance, float(ds.get("InstanceNumber") or 0)


def pixel_sha256(datasets: Iterable[Dataset]) -> str:
    """SHA-256 of a series' image content, slices ordered by echo then position along the normal.

    For every slice it hashes the decoded stored pixel values (little-endian, so the same
    image hashes the same under any lossless transfer syntax) and the values that give
    them meaning: ImagePositionPatient, ImageOrientationPatient, PixelSpacing,
    RescaleSlope, RescaleIntercept and EchoTime (as numbers to 6 decimals).
    """
    digest = hashlib.sha256()
    for ds in sorted(datasets, key=_order_key):
        pixels = np.ascontiguousarray(ds.pixel_array)
        digest.update(pixels.astype(pixels.dtype.newbyteorder("<")).tobytes())
        header = [
            *(_number_text(v) for v in ds.get("ImagePositionPatient", [])),
            *(_number_text(v) for v in ds.get("ImageOrientationPatient", [])),
            *(_number_text(v) for v in ds.get("PixelSpacing", [])),
            _number_text(ds.get("RescaleSlope")),
            _number_text(ds.get("RescaleIntercept")),
            _number_text(ds.get("EchoTime")),
        ]
        digest.update(("|".join(header) + "\n").encode("ascii"))
    return digest.hexdigest()


def _record_sha256(record: Mapping[str, Any], pixels: str) -> str:
    return hashlib.sha256(canonical_json({"record": record, "pixel_sha256": pixels})).hexdigest()


def summary(record: Mapping[str, Any]) -> str:
    """A one-line human summary of a provenance record (for DerivationDescription)."""
    if not record:
        return "Derived by sr_engine"
    if record.get("method"):
        parts = [str(record["method"])]
    elif isinstance(record.get("simulation"), list):
        steps = [
            f"{step.get('operation', 'step')}("
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in step.items()
                if k != "operation" and v is not None
            )
            + ")"
            for step in record["simulation"]
            if isinstance(step, Mapping)
        ]
        parts = ["simulated " + " then ".join(steps)]
    else:
        parts = ["derived"]
    if record.get("factor") is not None:
        parts.append(f"x{record['factor']}")
    if record.get("seed") is not None:
        parts.append(f"seed {record['seed']}")
    weights = record.get("weights")
    if isinstance(weights, Mapping) and weights.get("sha256"):
        parts.append(
            f"weights {weights.get('name') or weights.get('path') or ''} sha256 {weights['sha256'][:12]}"
        )
    if record.get("sr_engine_version"):
        parts.append(f"sr_engine {record['sr_engine_version']}")
    if record.get("input_sha256"):
        parts.append(f"input sha256 {str(record['input_sha256'])[:12]}")
    return "sr_engine: " + ", ".join(parts) + " (sealed record in private group 0071)"


def seal_datasets(datasets: Sequence[Dataset], record: Mapping[str, Any]) -> dict[str, Any]:
    """Write the sealed ``record`` into every dataset of a series (in memory); return the seal.

    The datasets must hold their final pixel data and geometry: the seal hashes them.
    """
    record = json.loads(canonical_json(record))  # JSON-able or a clear error, and a private copy
    pixels = pixel_sha256(datasets)
    sealed = {
        "format": SEAL_FORMAT,
        "record": record,
        "pixel_sha256": pixels,
        "record_sha256": _record_sha256(record, pixels),
        "n_images": len(datasets),
    }
    text = canonical_json(sealed).decode("utf-8")
    for ds in datasets:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
        block.add_new(_RECORD_ELEMENT, "UT", text)
    return sealed


def read_sealed(ds: Dataset) -> dict[str, Any] | None:
    """The sealed JSON stored in one dataset, or None when it has none."""
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        element = block[_RECORD_ELEMENT]
    except KeyError:
        return None
    value = element.value
    if isinstance(value, bytes):  # read without a dictionary entry for the private tag
        value = value.decode("utf-8")
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return {"unreadable": str(value)[:200]}


@dataclass(frozen=True)
class ProvenanceCheck:
    """What :func:`provenance_verify` found: ``status`` is one of the module's four statuses."""

    status: str
    message: str
    record: dict[str, Any] | None = None

    @property
    def intact(self) -> bool:
        return self.status == INTACT


def _datasets(source: str | Path | Iterable[Dataset]) -> list[Dataset]:
    if isinstance(source, str | Path):
        root = Path(source)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        if not root.exists():
            raise FileNotFoundError(f"No such file or folder: {root}")
        return [pydicom.dcmread(p) for p in files if pydicom.misc.is_dicom(p)]
    return list(source)


def read_provenance(source: str | Path | Iterable[Dataset]) -> dict[str, Any] | None:
    """The provenance record of a written series (a folder or datasets), unverified; None if none."""
    for ds in _datasets(source):
        sealed = read_sealed(ds)
        if sealed is not None:
            return sealed.get("record")
    return None


def provenance_verify(source: str | Path | Iterable[Dataset]) -> ProvenanceCheck:
    """Check a series' sealed provenance: intact, pixels modified, record modified, or not sealed.

    ``source`` is a folder of one series (or a file) or the series' datasets.
    """
    datasets = _datasets(source)
    seals = [read_sealed(ds) for ds in datasets]
    if not datasets or all(s is None for s in seals):
        return ProvenanceCheck(NOT_SEALED, "The series carries no sealed provenance record.")
    texts = {None if s is None else canonical_json(s) for s in seals}
    if len(texts) > 1:
        return ProvenanceCheck(
            RECORD_MODIFIED, "The images of the series carry different provenance records (or some none)."
        )
    sealed = seals[0]
    assert sealed is not None
    record = sealed.get("record")
    if (
        not isinstance(record, dict)
        or sealed.get("format") != SEAL_FORMAT
        or sealed.get("record_sha256") != _record_sha256(record, str(sealed.get("pixel_sha256")))
    ):
        return ProvenanceCheck(
            RECORD_MODIFIED, "The provenance record does not match its seal: it was edited."
        )
    if sealed.get("n_images") != len(datasets):
        return ProvenanceCheck(
            PIXELS_MODIFIED,
            f"The series was sealed with {sealed.get('n_images')} images but has {len(datasets)}.",
            record,
        )
    if pixel_sha256(datasets) != sealed["pixel_sha256"]:
        return ProvenanceCheck(
            PIXELS_MODIFIED, "The pixel data (or slice geometry or rescale) changed after sealing.", record
        )
    return ProvenanceCheck(INTACT, "The pixel data and the provenance record are as sealed.", record)
