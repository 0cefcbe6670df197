"""One entry point to read and write volumes, whatever the format: DICOM or NIfTI, chosen by the path.

* reading: a folder (or several) of DICOM files, a single (multi-frame) DICOM file, or
  a ``.nii``/``.nii.gz`` file (several NIfTI paths are stacked as echoes);
* writing: a name ending in ``.nii``/``.nii.gz`` writes NIfTI, anything else is a folder
  that receives a DICOM series.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dicom_series import SeriesInfo, VolumeError, read_dicom_series, write_dicom_series
from .nifti_io import is_nifti_path, read_nifti, write_nifti
from .volume import Volume

__all__ = ["VolumeError", "read_volume", "stack_echoes", "write_volume"]

PathArg = str | Path


def stack_echoes(volumes: Sequence[Volume]) -> Volume:
    """One multi-channel volume from one-channel volumes on the same grid, ordered by echo time.

    The acquisition record is the first echo's, with ``echo_times_ms`` of all.
    """
    if not volumes:
        raise ValueError("No volumes to stack.")
    channels = [volume.channel(i) for volume in volumes for i in range(volume.n_channels)]
    reference = channels[0]
    for channel in channels[1:]:
        if channel.shape != reference.shape or not np.allclose(channel.affine, reference.affine, atol=1e-3):
            raise VolumeError(
                f"The echoes are not on one grid: shape {channel.shape} vs {reference.shape}, or a "
                f"different position or spacing."
            )
    times = [channel.acquisition.get("echo_times_ms", (None,))[0] for channel in channels]
    if all(t is not None for t in times):
        order = sorted(range(len(channels)), key=lambda i: times[i])
        if len({round(t, 4) for t in times}) != len(times):
            raise VolumeError(f"Two of the volumes have the same echo time ({sorted(times)} ms).")
    else:
        order = list(range(len(channels)))
    first = channels[order[0]]
    data = np.stack([channels[i].data for i in order])
    acquisition: dict[str, Any] = dict(first.acquisition)
    if all(t is not None for t in times):
        acquisition["echo_times_ms"] = tuple(float(times[i]) for i in order)
    else:
        acquisition.pop("echo_times_ms", None)
    return Volume(data, first.affine, acquisition)


def read_volume(path: PathArg | Sequence[PathArg], *, series_instance_uid: str | None = None) -> Volume:
    """Read a DICOM folder or file, a NIfTI file, or several of one kind as the echoes of one volume.

    ``series_instance_uid`` picks one series from a DICOM folder that holds several.
    Raises :class:`VolumeError` for what is not one volume and :class:`FileNotFoundError`
    for a missing path.
    """
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    if not paths:
        raise ValueError("No path to read.")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"No such file or folder: {p}")
    nifti = [is_nifti_path(p) for p in paths]
    if all(nifti):
        volumes = [read_nifti(p) for p in paths]
        return volumes[0] if len(volumes) == 1 else stack_echoes(volumes)
    if any(nifti):
        raise VolumeError("Give either NIfTI files or DICOM folders/files, not both.")
    return read_dicom_series(paths if len(paths) > 1 else paths[0], series_instance_uid=series_instance_uid)


def write_volume(
    volume: Volume,
    path: PathArg,
    *,
    info: SeriesInfo | None = None,
    provenance: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``volume`` as NIfTI (a ``.nii``/``.nii.gz`` name) or as a DICOM series in folder ``path``.

    ``info`` identifies a DICOM series (a fresh anonymous patient and study when None);
    the provenance record (``provenance`` or ``acquisition["provenance"]``) is stored in
    either format. Returns the files written.
    """
    path = Path(path)
    if is_nifti_path(path):
        return [write_nifti(volume, path, provenance=provenance)]
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file; a DICOM series goes into a folder (or name a .nii.gz file).")
    if info is None:
        record = provenance if provenance is not None else volume.acquisition.get("provenance")
        description = f"sr_engine {record.get('method', 'derived')}" if record else "sr_engine volume"
        info = SeriesInfo(patient_name="ANONYMOUS", patient_id="ANONYMOUS", series_description=description)
    return write_dicom_series(volume, path, info, provenance=provenance)
