"""Reading and writing NIfTI volumes (nibabel) as Volumes, exactly converting the geometry.

A NIfTI affine maps the voxel index ``(i, j, k)`` of ``data[i, j, k]`` to RAS+ mm
(x increases to the patient's Right, y to Anterior, z to Superior; NIfTI-1 header
documentation, ``nifti1.h``, "qform/sform"). A Volume's affine maps ``(column, row, slice)``
of ``data[slice, row, column]`` to LPS mm (see :mod:`sr_engine.volume`). With
``i = column``, ``j = row``, ``k = slice`` the conversion is exact:

* data: the NIfTI array is laid out in the affine's order, so it goes in through
  :meth:`Volume.from_affine_order <sr_engine.volume.Volume.from_affine_order>` and out
  through :meth:`Volume.affine_order_data <sr_engine.volume.Volume.affine_order_data>`
  (the axes reversed; 4D: the fourth NIfTI dimension is the channels, e.g. echoes);
* affine: ``lps_affine = diag(-1, -1, 1, 1) @ ras_affine`` (LPS and RAS differ by the
  signs of x and y).

NIfTI headers have no place for echo times, TR, flip angle or a slice thickness that
differs from the spacing. :func:`write_nifti` stores the acquisition record as JSON in
a header extension (code 6, "comment") beginning with ``{"sr_engine":``, together with
the affine in float64 (the header's sform is float32), so a round trip keeps world
coordinates exactly, and the provenance record of a derived volume with the SHA-256 of
its float32 voxels: reading keeps the record only while the voxels still match.
:func:`read_nifti` reads that extension, or else a BIDS sidecar
(``name.json`` beside ``name.nii.gz``, as dcm2niix writes: EchoTime and RepetitionTime
in seconds, FlipAngle, SliceThickness, MagneticFieldStrength), and otherwise takes the
slice thickness from pixdim: the spacing of the thick axis (the coarsest, whichever of
``i, j, k`` stores it; :mod:`sr_engine.axes`), or of ``k`` when no axis is coarsest.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from .dicom_series import VolumeError
from .provenance import jsonable
from .volume import Volume, index_to_patient

#: RAS <-> LPS: the signs of x and y flip (the same matrix both ways).
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_EXTENSION_CODE = 6  # "comment"
_EXTENSION_KEY = "sr_engine"
#: The float64 affine stored in the extension is used when it agrees with the header's to this (mm).
_AFFINE_AGREEMENT_MM = 1e-3

PathArg = str | Path


def is_nifti_path(path: PathArg) -> bool:
    """True for a ``.nii`` or ``.nii.gz`` name."""
    name = Path(path).name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _stem(path: Path) -> Path:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path.with_suffix("")


def _extension(image: nib.Nifti1Image) -> dict[str, Any] | None:
    """The sr_engine JSON extension of an image, or None."""
    for extension in image.header.extensions:
        if extension.get_code() != _EXTENSION_CODE:
            continue
        text = bytes(extension.content).decode("utf-8", "replace")
        if not text.lstrip().startswith('{"' + _EXTENSION_KEY):
            continue
        try:
            return json.loads(text.rstrip("\x00"))[_EXTENSION_KEY]
        except (json.JSONDecodeError, KeyError, TypeError):
            return None
    return None


def _sidecar_acquisition(path: Path) -> dict[str, Any]:
    """The acquisition record from a BIDS sidecar JSON beside the image, if there is one."""
    sidecar = _stem(path).with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise VolumeError(f"The sidecar {sidecar} is not readable JSON: {error}") from error
    acquisition: dict[str, Any] = {}
    if isinstance(meta.get("EchoTime"), int | float):
        acquisition["echo_times_ms"] = (float(meta["EchoTime"]) * 1000.0,)
    elif isinstance(meta.get("EchoTime"), list):
        acquisition["echo_times_ms"] = tuple(float(t) * 1000.0 for t in meta["EchoTime"])
    for key, field, scale in (
        ("repetition_time_ms", "RepetitionTime", 1000.0),
        ("flip_angle_deg", "FlipAngle", 1.0),
        ("slice_thickness_mm", "SliceThickness", 1.0),
        ("magnetic_field_t", "MagneticFieldStrength", 1.0),
    ):
        if isinstance(meta.get(field), int | float):
            acquisition[key] = float(meta[field]) * scale
    if isinstance(meta.get("Modality"), str):
        acquisition["modality"] = meta["Modality"]
    return acquisition


def _data_sha256(data: np.ndarray) -> str:
    """SHA-256 of float32 voxels in the Volume's order (what ties a provenance record to them)."""
    return hashlib.sha256(np.ascontiguousarray(data, dtype=np.float32).tobytes()).hexdigest()


def _header_thickness(volume: Volume) -> float:
    """The slice thickness a bare header implies: the spacing of the thick axis (the one
    coarsest spacing, wherever it is stored), else of the stored third axis ``k``."""
    from .axes import AxisError, through_plane_axis

    try:
        return float(volume.axis_spacing[through_plane_axis(volume)])
    except AxisError:
        return float(volume.axis_spacing[0])  # data axis 0 is NIfTI's k


def read_nifti(path: PathArg) -> Volume:
    """Read a 3D or 4D NIfTI file into a Volume (4D: the fourth dimension is the channels).

    Values are scaled by the header's scl_slope/scl_inter and returned as float32. The
    acquisition record and provenance come as the module docstring says.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    try:
        image = nib.load(str(path))
    except Exception as error:  # nibabel raises several kinds for a damaged file
        raise VolumeError(f"{path} is not a readable NIfTI file: {error}") from error
    if not isinstance(image, nib.Nifti1Image):  # NIfTI-2 images are a subclass
        raise VolumeError(f"{path} is not a NIfTI image (nibabel read it as {type(image).__name__}).")
    if image.ndim == 5 and image.shape[3] == 1:  # x, y, z, (time = 1), vector components
        image = image.slicer[:, :, :, 0]
    if image.ndim not in (3, 4):
        raise VolumeError(
            f"{path} has {image.ndim} dimensions {image.shape}; a volume has 3, or 4 with channels."
        )
    grid = Volume.from_affine_order(np.asarray(image.get_fdata(dtype=np.float32)), RAS_TO_LPS @ image.affine)
    affine = grid.affine
    stored = _extension(image) or {}
    if "affine_lps" in stored:
        exact = np.array(stored["affine_lps"], dtype=float)
        corners = np.array([(0, 0, 0), np.array(grid.shape) - 1], dtype=float)
        if (
            exact.shape == (4, 4)
            and np.abs(index_to_patient(exact, corners) - grid.index_to_patient(corners)).max()
            < _AFFINE_AGREEMENT_MM
        ):
            affine = exact
    acquisition: dict[str, Any] = {"slice_thickness_mm": _header_thickness(grid)}
    acquisition.update(_sidecar_acquisition(path))
    acquisition.update(stored.get("acquisition", {}))
    if stored.get("provenance") and stored.get("data_sha256") == _data_sha256(grid.data):
        acquisition["provenance"] = stored["provenance"]
    if acquisition.get("echo_times_ms") is not None:
        acquisition["echo_times_ms"] = tuple(acquisition["echo_times_ms"])
    return Volume(grid.data, affine, acquisition)


def nifti_provenance(path: PathArg) -> dict[str, Any] | None:
    """The provenance record :func:`write_nifti` stored with a derived volume, or None."""
    image = nib.load(str(path))
    if not isinstance(image, nib.Nifti1Image):  # NIfTI-2 images are a subclass
        return None
    return (_extension(image) or {}).get("provenance")


def write_nifti(volume: Volume, path: PathArg, *, provenance: dict[str, Any] | None = None) -> Path:
    """Write a Volume as NIfTI-1 (``.nii`` or ``.nii.gz``, float32); return the path.

    The sform and qform are the volume's affine in RAS (code 1, scanner coordinates);
    the acquisition record, the exact affine and the provenance record (``provenance`` or
    ``acquisition["provenance"]``) go into the JSON extension of the module docstring.
    """
    path = Path(path)
    if not is_nifti_path(path):
        raise ValueError(f"A NIfTI file name ends in .nii or .nii.gz, not {path.name}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = volume.affine_order_data().astype(np.float32)  # NIfTI's [i, j, k(, t)]
    ras_affine = RAS_TO_LPS @ volume.affine
    image = nib.Nifti1Image(np.ascontiguousarray(data), ras_affine)
    image.set_sform(ras_affine, code=1)
    image.set_qform(ras_affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    acquisition = {k: v for k, v in volume.acquisition.items() if k != "provenance"}
    record = provenance if provenance is not None else volume.acquisition.get("provenance")
    content = {"acquisition": acquisition, "affine_lps": volume.affine}
    if record:
        content["provenance"] = record
        content["data_sha256"] = _data_sha256(volume.data.astype(np.float32))
    text = json.dumps({_EXTENSION_KEY: jsonable(content)}, allow_nan=False)
    image.header.extensions.append(nib.nifti1.Nifti1Extension(_EXTENSION_CODE, text.encode("utf-8")))
    nib.save(image, str(path))
    return path
