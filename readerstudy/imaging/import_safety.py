"""Reading untrusted import sources in bounded time and memory.

Two parts, neither touching the database:

* **Zip members** are streamed to disk in chunks, counting the bytes as they are
  decompressed: a member larger than its cap, or expanding more than
  ``MAX_COMPRESSION_RATIO`` times its compressed size, is refused (``MemberRefused``);
  an archive whose content exceeds the total cap, or expands more than that ratio
  times the archive's real size on disk, is refused as a whole (``ArchiveRefused``).
  The sizes declared in the zip's headers are checked first but never trusted alone.
* **DICOM files** are read in two passes. ``dicom_header_read`` checks the preamble
  and the file meta group by hand (a file that cannot be DICOM is refused after a few
  bytes), then parses the header up to the pixel data with every top-level element's
  declared length checked against the bytes left in the file, large values left
  unread and at most ``MAX_HEADER_BYTES`` read. ``dicom_read`` reads the whole file,
  stopping after the pixel data, once the header has passed.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from pydicom.dataset import FileDataset
from pydicom.filereader import read_dataset, read_partial
from pydicom.uid import DeflatedExplicitVRLittleEndian

#: Bytes read (and written) per step while extracting a zip member.
CHUNK_SIZE = 1024 * 1024
#: Real DICOM compresses far less than this; zip bombs compress far more.
MAX_COMPRESSION_RATIO = 100
#: The ratio is checked once a member, or the whole archive, has expanded beyond these.
MEMBER_RATIO_FLOOR = 64 * 1024**2
ARCHIVE_RATIO_FLOOR = 256 * 1024**2
#: Bytes the header pass may read (large values are skipped, not read).
MAX_HEADER_BYTES = 4 * 1024**2
#: Top-level data elements a header may have (real ones have a few hundred).
MAX_TOP_LEVEL_ELEMENTS = 10_000
#: Values larger than this are not read in the header pass.
DEFER_SIZE = 64 * 1024
#: The largest File Meta Information group accepted (real ones are a few hundred bytes).
MAX_FILE_META_BYTES = 64 * 1024
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})  # float, double float, pixel data
_PREAMBLE_AND_PREFIX = 132
_GROUP_LENGTH_ELEMENT = 12  # (0002,0000) UL: tag, VR, 2-byte length, 4-byte value
NOT_DICOM = "not a DICOM file (no 128-byte preamble with the 'DICM' prefix)"


class DicomFileRejected(ValueError):
    """A file that cannot be imported; the message is the reason, for the report."""


class MemberRefused(ValueError):
    """One archive member is not extracted; the message says why."""


class ArchiveRefused(ValueError):
    """The archive as a whole is refused (a zip bomb, or over the total cap)."""


@dataclass(frozen=True)
class ExtractLimits:
    """Caps on what an archive may expand to (bytes)."""

    member: int
    total: int
    ratio: int = MAX_COMPRESSION_RATIO


def zip_member_extract(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    *,
    limits: ExtractLimits,
    archive_size: int,
    extracted: int,
) -> int:
    """Stream one member of ``zf`` to ``target``; return its size in bytes.

    ``extracted`` is what the archive's earlier members expanded to. Raises
    ``MemberRefused`` (nothing left at ``target``) or ``ArchiveRefused``.
    """
    if info.file_size > limits.member:
        raise MemberRefused(f"archive member larger than {limits.member} bytes; not extracted")
    member_cap = max(MEMBER_RATIO_FLOOR, limits.ratio * max(info.compress_size, 1))
    archive_cap = max(ARCHIVE_RATIO_FLOOR, limits.ratio * archive_size)
    written = 0
    try:
        with _member_open(zf, info) as src, target.open("wb") as dst:
            while chunk := _member_chunk(src):
                written += len(chunk)
                total = extracted + written
                if written > limits.member:
                    raise MemberRefused(f"archive member expands to more than {limits.member} bytes")
                if written > member_cap:
                    raise MemberRefused(
                        f"archive member expands more than {limits.ratio} times its compressed size "
                        "(a zip bomb?); not extracted"
                    )
                if total > limits.total:
                    raise ArchiveRefused(f"The archive expands to more than {limits.total} bytes.")
                if total > archive_cap:
                    raise ArchiveRefused(
                        f"The archive expands more than {limits.ratio} times its size: refused as a "
                        "likely zip bomb."
                    )
                dst.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return written


def _member_open(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    try:
        return zf.open(info)
    except NotImplementedError as exc:  # e.g. a compression method zipfile lacks
        raise MemberRefused(f"archive member cannot be extracted: {exc}") from exc
    except Exception as exc:  # a damaged local header, as several kinds of error
        raise MemberRefused(f"corrupt archive member: {exc}") from exc


def _member_chunk(src: IO[bytes]) -> bytes:
    """The next decompressed chunk of a member; damage becomes ``MemberRefused``."""
    try:
        return src.read(CHUNK_SIZE)
    except Exception as exc:  # CRC, zlib, bz2 and lzma errors, a truncated stream
        raise MemberRefused(f"corrupt archive member: {exc}") from exc


@dataclass(frozen=True)
class PixelDataInfo:
    """Where a file's pixel data element is and how long it says it is."""

    tag: int
    offset: int
    length: int

    @property
    def encapsulated(self) -> bool:
        return self.length == UNDEFINED_LENGTH


class _BoundedFile:
    """A read-only view of a file: reads end at its size and count against a byte budget."""

    def __init__(self, handle: BinaryIO, *, size: int, budget: int, name: str) -> None:
        self._handle = handle
        self._size = size
        self._budget = budget
        self._read = 0
        self.name = name

    def read(self, size: int | None = -1) -> bytes:
        left = max(self._size - self._handle.tell(), 0)
        size = left if size is None or size < 0 else min(size, left)
        self._read += size
        if self._read > self._budget:
            raise DicomFileRejected(f"DICOM header larger than {MAX_HEADER_BYTES} bytes: corrupt file")
        return self._handle.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


class _ElementGuard:
    """pydicom's ``stop_when`` callback for the top-level dataset.

    Refuses command elements, too many elements and values longer than the rest of the
    file; records the pixel data element and stops at it (``stop_at_pixels``) or at the
    element after it.
    """

    def __init__(self, fp: _BoundedFile, size: int, *, stop_at_pixels: bool) -> None:
        self._fp = fp
        self._size = size
        self._stop_at_pixels = stop_at_pixels
        self._count = 0
        self._past_pixels = False
        self.pixels: PixelDataInfo | None = None

    def __call__(self, tag: int, vr: str | None, length: int) -> bool:
        if self._past_pixels:
            return True
        tag = int(tag)
        if tag >> 16 == 0:
            raise DicomFileRejected("command elements (group 0000) in the dataset: corrupt file")
        self._count += 1
        if self._count > MAX_TOP_LEVEL_ELEMENTS:
            raise DicomFileRejected(f"more than {MAX_TOP_LEVEL_ELEMENTS} data elements: corrupt file")
        position = self._fp.tell()
        if length != UNDEFINED_LENGTH and position + length > self._size:
            raise DicomFileRejected(
                f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} bytes but the file "
                f"ends {self._size - position} bytes later (truncated or corrupt)"
            )
        if tag in _PIXEL_TAGS:
            self.pixels = PixelDataInfo(tag=tag, offset=position, length=length)
            if self._stop_at_pixels:
                return True
            self._past_pixels = True
        return False


def dicom_header_read(path: Path, *, max_size: int) -> tuple[FileDataset, PixelDataInfo | None]:
    """The header of the DICOM file at ``path`` (no pixel data) and where its pixel data is.

    Raises ``DicomFileRejected`` with the reason: not DICOM, over ``max_size`` bytes, a
    malformed file meta group, a value longer than the file, an oversized header.
    """
    return _read(path, max_size=max_size, stop_at_pixels=True)


def dicom_read(path: Path, *, max_size: int) -> FileDataset:
    """The whole DICOM file at ``path`` up to and including its pixel data (checked as above)."""
    return _read(path, max_size=max_size, stop_at_pixels=False)[0]


def _read(path: Path, *, max_size: int, stop_at_pixels: bool) -> tuple[FileDataset, PixelDataInfo | None]:
    with path.open("rb") as handle:
        size = _file_size(handle, max_size)
        _file_meta_check(handle, size)
        handle.seek(0)
        budget = (
            MAX_HEADER_BYTES if stop_at_pixels else MAX_HEADER_BYTES + size
        )  # (pydicom re-reads a little)
        fp = _BoundedFile(handle, size=size, budget=budget, name=str(path))
        guard = _ElementGuard(fp, size, stop_at_pixels=stop_at_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # pydicom hints fileobj as BinaryIO but only reads, seeks and tells on it.
            ds = read_partial(
                fp,  # type: ignore[arg-type]
                stop_when=guard,
                defer_size=DEFER_SIZE if stop_at_pixels else None,
            )
    if not ds.file_meta.get("TransferSyntaxUID"):  # the group read by pydicom ended early
        raise DicomFileRejected("no TransferSyntaxUID in the file meta information")
    return ds, guard.pixels


def _file_size(handle: BinaryIO, max_size: int) -> int:
    size = handle.seek(0, 2)
    if size > max_size:
        raise DicomFileRejected(f"file larger than {max_size} bytes")
    handle.seek(0)
    return size


def _file_meta_check(handle: BinaryIO, size: int) -> None:
    """Refuse, from a few bytes, what cannot be a DICOM Part 10 file.

    The 'DICM' prefix must follow the preamble, then (0002,0000) File Meta Information
    Group Length; the group (at most ``MAX_FILE_META_BYTES``) must name a transfer syntax
    other than deflate (which pydicom would inflate whole in memory), and the dataset after
    it must not start with command elements.
    """
    head = handle.read(_PREAMBLE_AND_PREFIX + _GROUP_LENGTH_ELEMENT)
    if head[128:_PREAMBLE_AND_PREFIX] != b"DICM":
        raise DicomFileRejected(NOT_DICOM)
    if len(head) < _PREAMBLE_AND_PREFIX + _GROUP_LENGTH_ELEMENT:
        raise DicomFileRejected("truncated file meta information")
    group, element, vr, length, group_length = struct.unpack("<HH2sHI", head[_PREAMBLE_AND_PREFIX:])
    if (group, element, vr, length) != (0x0002, 0x0000, b"UL", 4):
        raise DicomFileRejected("no File Meta Information Group Length after 'DICM': not a DICOM file")
    dataset_start = len(head) + group_length
    if group_length > MAX_FILE_META_BYTES or dataset_start > size:
        raise DicomFileRejected(f"invalid File Meta Information Group Length {group_length}")
    meta = read_dataset(io.BytesIO(handle.read(group_length)), is_implicit_VR=False, is_little_endian=True)
    syntax = str(meta.get("TransferSyntaxUID", "") or "").strip()
    if not syntax:
        raise DicomFileRejected("no TransferSyntaxUID in the file meta information")
    if syntax == DeflatedExplicitVRLittleEndian:  # pydicom would inflate it whole, unbounded
        raise DicomFileRejected("deflated transfer syntax is not supported")
    if handle.read(2) == b"\0\0":
        raise DicomFileRejected("command elements (group 0000) in the dataset: corrupt file")
