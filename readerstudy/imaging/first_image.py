"""The first image of a reading, made at import: a lossless PNG of a series' start slice.

The reading page shows it in an ``<img>`` before any script has run, so the reader sees the
image without waiting for the page script, the metadata or a frame request; the viewer
replaces it once it shows the same slice.

The PNG is the start slice of a new reading (``start_slice``: ``num_slices // 2``) drawn with
the first-paint display rule of the page (``frontend/src/firstpaint.js`` ``greyLevels``),
which follows DICOM PS3.3: the Modality LUT (C.11.1, rescale slope and intercept), then the
linear VOI function of C.11.2.1.2.1 with the header's first window (or the slice's full range
when it has none), then the MONOCHROME1 inversion. Pixels that are not square (Pixel Spacing
rows != columns) are resampled (linear) to square ones of the finer spacing, so that the image
keeps the aspect ratio the viewer shows. The file holds only the IHDR, IDAT and IEND chunks:
nothing about how or where the image was made; its URL names only the reading.

Stored beside the series' instances (``first_image_path``) under a digest of this rule, so a
change of the rule makes a new one; made on first use for series imported before.
"""

import hashlib
import logging
import struct
import zlib

import numpy as np
import pydicom
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from pydicom.dataset import Dataset

from readerstudy.imaging.models import ImageSeries, series_folder

logger = logging.getLogger(__name__)

#: Version of the display rule above: part of the stored file's name.
RULE_VERSION = "fp1-modality-linear-voi-mono1"
RULE_DIGEST = hashlib.sha256(RULE_VERSION.encode()).hexdigest()[:12]


class FirstImageUnavailable(Exception):
    """The series' start slice is of a kind the first image does not draw (colour, compressed...)."""


def start_slice(series: ImageSeries) -> int:
    """The slice a new reading of ``series`` starts on (``reading.views.reading_detail``)."""
    return series.num_slices // 2


def first_image_path(series: ImageSeries) -> str:
    """Storage name of the series' first image for the current display rule."""
    return f"{series_folder(series)}/first-image-{RULE_DIGEST}.png"


def _first(ds: Dataset, keyword: str, default: float | None) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def stored_values(ds: Dataset) -> np.ndarray:
    """The slice's stored values (rows x columns), the stored bits kept and sign-extended."""
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise FirstImageUnavailable(f"{photometric or 'unknown'} images are left to the viewer")
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise FirstImageUnavailable("multi-frame instances are left to the viewer")
    try:
        array = ds.pixel_array
    except Exception as exc:
        raise FirstImageUnavailable(f"the pixel data cannot be decoded: {exc}") from exc
    return np.asarray(array)


def grey_levels(ds: Dataset, stored: np.ndarray) -> np.ndarray:
    """8-bit grey levels of the slice, as ``firstpaint.js`` ``greyLevels`` computes them."""
    slope = _first(ds, "RescaleSlope", 1.0) or 1.0
    intercept = _first(ds, "RescaleIntercept", 0.0) or 0.0
    center = _first(ds, "WindowCenter", None)
    width = _first(ds, "WindowWidth", None)
    # The page computes in float32 (a Float32Array of modality values).
    exact = stored.astype(np.float64) * slope + intercept
    # The page keeps the modality values in a Float32Array; its full range is of the exact ones.
    modality = exact.astype(np.float32).astype(np.float64)
    if center is None or width is None or not np.isfinite(center) or not np.isfinite(width) or width < 1:
        lo, hi = float(exact.min()), float(exact.max())
        center = (hi + lo) / 2
        width = max(hi - lo, 1.0)
    bottom = center - 0.5 - (width - 1) / 2
    top = center - 0.5 + (width - 1) / 2
    y = ((modality - (center - 0.5)) / max(width - 1, 1) + 0.5) * 255
    y = np.where(modality <= bottom, 0.0, np.where(modality > top, 255.0, y))
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        y = 255 - y
    # Uint8ClampedArray: clamp, then round half to even.
    return np.rint(np.clip(y, 0, 255)).astype(np.uint8)


def square_pixels(grey: np.ndarray, row_spacing: float, column_spacing: float) -> np.ndarray:
    """Resample ``grey`` (linear) so that its pixels are square, at the finer of the two spacings."""
    if not (row_spacing > 0 and column_spacing > 0) or abs(row_spacing - column_spacing) < 1e-6:
        return grey
    rows, columns = grey.shape
    fine = min(row_spacing, column_spacing)
    out_rows = max(1, round(rows * row_spacing / fine))
    out_columns = max(1, round(columns * column_spacing / fine))
    r = np.clip((np.arange(out_rows) + 0.5) * rows / out_rows - 0.5, 0, rows - 1)
    c = np.clip((np.arange(out_columns) + 0.5) * columns / out_columns - 0.5, 0, columns - 1)
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    r1, c1 = np.minimum(r0 + 1, rows - 1), np.minimum(c0 + 1, columns - 1)
    fr, fc = (r - r0)[:, None], (c - c0)[None, :]
    g = grey.astype(np.float64)
    top = g[r0][:, c0] * (1 - fc) + g[r0][:, c1] * fc
    bottom = g[r1][:, c0] * (1 - fc) + g[r1][:, c1] * fc
    return np.rint(top * (1 - fr) + bottom * fr).astype(np.uint8)


def png_bytes(grey: np.ndarray) -> bytes:
    """A greyscale 8-bit PNG of ``grey`` with only IHDR, IDAT and IEND (no metadata chunks)."""
    rows, columns = grey.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", columns, rows, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    # Filter type 1 (Sub) on every row: smooth images compress better than with no filter.
    rows_bytes = np.ascontiguousarray(grey, dtype=np.uint8)
    sub = rows_bytes.copy()
    sub[:, 1:] = rows_bytes[:, 1:] - rows_bytes[:, :-1]  # uint8 arithmetic wraps (mod 256)
    raw = np.concatenate([np.ones((rows, 1), dtype=np.uint8), sub], axis=1).tobytes()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def first_image_render(series: ImageSeries) -> bytes:
    """The PNG of the series' start slice (raises FirstImageUnavailable for what it cannot draw)."""
    instance = series.instances.filter(slice_index=start_slice(series)).first()
    if instance is None:
        raise FirstImageUnavailable("the series has no start slice")
    with instance.file.open("rb") as handle:
        ds = pydicom.dcmread(handle)
    grey = grey_levels(ds, stored_values(ds))
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if series.projection and series.pixel_spacing:
        spacing = series.pixel_spacing
    if spacing and len(spacing) == 2:
        grey = square_pixels(grey, float(spacing[0]), float(spacing[1]))
    return png_bytes(grey)


def first_image_png(series: ImageSeries) -> bytes | None:
    """The stored first image of ``series``; made and stored on first use; None when it has none."""
    name = first_image_path(series)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    try:
        png = first_image_render(series)
    except FirstImageUnavailable as exc:
        logger.info("Series %s has no first image: %s", series.public_id, exc)
        return None
    saved = default_storage.save(name, ContentFile(png))
    if saved != name:  # another request stored it meanwhile: keep theirs
        default_storage.delete(saved)
    return png


def first_image_available(series: ImageSeries) -> bool:
    """Whether ``series`` has a first image (made now if it is not stored yet)."""
    return default_storage.exists(first_image_path(series)) or first_image_png(series) is not None
