"""Rendering a stored DICOM slice as an 8-bit PNG for the browser.

The PNG carries pixels only (no DICOM header), so nothing about the series'
origin reaches the reader through it.
"""

import io
from dataclasses import dataclass

import numpy as np
import pydicom
from PIL import Image


@dataclass(frozen=True)
class Window:
    """A display window: values ``center ± width/2`` map to black..white (DICOM PS3.3 C.11.2.1.2)."""

    center: float
    width: float


def slice_pixels(path: str) -> tuple[np.ndarray, Window]:
    """The slice's modality values (rescale applied) and its default window.

    The default is the file's first WindowCenter/WindowWidth, or else the 0.5 to 99.5
    percentile range of the slice.
    """
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.astype(np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    pixels = pixels * slope + intercept
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        window = Window(_first(center), max(_first(width), 1.0))
    else:
        low, high = np.percentile(pixels, [0.5, 99.5])
        window = Window((low + high) / 2, max(float(high - low), 1.0))
    return pixels, window


def _first(value: object) -> float:
    """The first of a possibly multi-valued DICOM number."""
    if isinstance(value, pydicom.multival.MultiValue):
        return float(value[0])
    return float(value)


def render_png(pixels: np.ndarray, window: Window) -> bytes:
    """Apply the linear window of DICOM PS3.3 C.11.2.1.2 and encode as an 8-bit grey PNG."""
    low = window.center - 0.5 - (window.width - 1) / 2
    scaled = (pixels - low) / max(window.width - 1, 1e-9) * 255.0
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
