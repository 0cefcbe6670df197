"""Where a stored instance's pixel data lies in its file, so frames are served without parsing.

At import (``dicom_import``) each instance's Pixel Data value offset and length are stored on
its row (``DicomInstance.pixel_offset``/``pixel_length``); the WADO-RS frame and bulk
endpoints read those bytes straight from the file. Only native (uncompressed) little-endian
pixel data of one frame qualifies; other instances keep None and are parsed per request.
``manage.py instance_pixel_offsets`` fills the fields for instances imported before.
"""

from io import BytesIO
from typing import IO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.uid import UID

from readerstudy.imaging.models import DicomInstance

_PIXEL_DATA = 0x7FE00010


def pixel_data_span(handle: IO[bytes]) -> tuple[int, int] | None:
    """(offset, length) in bytes of the Pixel Data value of the file ``handle``; None when not native LE."""
    ds = pydicom.dcmread(handle, defer_size=1024)
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    if not syntax.is_transfer_syntax or syntax.is_compressed or not syntax.is_little_endian:
        return None
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return None
    raw = ds.get_item(_PIXEL_DATA)
    if not isinstance(raw, RawDataElement) or raw.length in (0, 0xFFFFFFFF) or raw.value_tell is None:
        return None
    rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    samples, bits = int(ds.get("SamplesPerPixel", 1) or 1), int(ds.get("BitsAllocated", 0))
    expected = rows * columns * samples * bits // 8
    if bits % 8 or expected <= 0 or raw.length < expected:
        return None
    return raw.value_tell, expected


def pixel_data_span_of_bytes(payload: bytes) -> tuple[int, int] | None:
    """``pixel_data_span`` of a file held in memory."""
    return pixel_data_span(BytesIO(payload))


def instance_pixel_span_store(instance: DicomInstance) -> tuple[int, int] | None:
    """Compute and save ``instance``'s pixel data offset and length (an instance imported before)."""
    with instance.file.open("rb") as handle:
        span = pixel_data_span(handle.file)
    if span is not None:
        instance.pixel_offset, instance.pixel_length = span
        instance.save(update_fields=["pixel_offset", "pixel_length"])
    return span
