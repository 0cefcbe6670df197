"""The Volume type: a 3D image whose affine places every voxel in patient space.

Conventions (those of DICOM, so that series round-trip without surprises):

* ``data`` has shape ``(slices, rows, columns)``, or ``(channels, slices, rows, columns)``
  for multi-channel volumes (the echoes of a multi-echo series, e.g. dual-echo DESS);
  every channel shares the one geometry.
* ``affine`` is 4x4 and maps the homogeneous index ``(column, row, slice, 1)`` to
  patient coordinates in mm, LPS (x towards the patient's left, y towards posterior,
  z towards head), as DICOM PS3.3 C.7.6.2.1.1 defines ImagePositionPatient and
  ImageOrientationPatient. Its first column is the row direction times the column
  spacing, the second the column direction times the row spacing, the third the
  slice normal times the slice spacing, the fourth the centre of the first voxel.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def dicom_affine(
    orientation: ArrayLike, pixel_spacing: ArrayLike, slice_vector: ArrayLike, origin: ArrayLike
) -> np.ndarray:
    """The affine of the module docstring from DICOM geometry (PS3.3 C.7.6.2.1.1).

    ``orientation`` is ImageOrientationPatient (row direction, then column direction),
    ``pixel_spacing`` is PixelSpacing (row spacing, column spacing), ``slice_vector`` the
    step from one slice centre to the next (mm, LPS), ``origin`` the first slice's
    ImagePositionPatient.
    """
    orientation = np.asarray(orientation, dtype=float)
    row_spacing, col_spacing = (float(v) for v in pixel_spacing)
    affine = np.eye(4)
    affine[:3, 0] = orientation[:3] * col_spacing
    affine[:3, 1] = orientation[3:] * row_spacing
    affine[:3, 2] = np.asarray(slice_vector, dtype=float)
    affine[:3, 3] = np.asarray(origin, dtype=float)
    return affine


def slice_normal(orientation: ArrayLike) -> np.ndarray:
    """The unit normal of the image plane: row direction x column direction."""
    orientation = np.asarray(orientation, dtype=float)
    return np.cross(orientation[:3], orientation[3:])


@dataclass(frozen=True)
class Volume:
    """Voxels ``data[(channel,) slice, row, column]`` and the ``affine`` that places them (LPS, mm).

    ``acquisition`` holds what the scanner recorded that processing must keep, with
    these keys when known: ``echo_times_ms`` (one per channel), ``repetition_time_ms``,
    ``flip_angle_deg``, ``slice_thickness_mm`` (may differ from the slice spacing: a
    gap or an overlap), ``magnetic_field_t``, ``modality``. It is a private copy: to
    change it, make a new volume with :meth:`with_data`.
    """

    data: np.ndarray
    affine: np.ndarray
    acquisition: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim not in (3, 4):
            raise ValueError(
                f"A volume is 3D (slices, rows, columns) or 4D (channels, slices, rows, columns); "
                f"got an array of shape {self.data.shape}."
            )
        if self.affine.shape != (4, 4):
            raise ValueError("The affine must be a 4x4 matrix.")
        object.__setattr__(self, "acquisition", dict(self.acquisition))  # a private copy

    @property
    def shape(self) -> tuple[int, int, int]:
        """The spatial shape (slices, rows, columns), whatever the number of channels."""
        return tuple(int(n) for n in self.data.shape[-3:])  # type: ignore[return-value]

    @property
    def n_channels(self) -> int:
        """1 for a 3D volume, the length of the first axis for a 4D one."""
        return 1 if self.data.ndim == 3 else int(self.data.shape[0])

    def channels(self) -> Iterator[np.ndarray]:
        """Each channel's 3D array (the volume itself when it has one channel)."""
        if self.data.ndim == 3:
            yield self.data
        else:
            yield from self.data

    def channel(self, index: int) -> "Volume":
        """Channel ``index`` as a 3D volume with the same geometry (its echo time kept)."""
        if self.data.ndim == 3:
            if index != 0:
                raise IndexError(f"A one-channel volume has no channel {index}.")
            return self
        acquisition = dict(self.acquisition)
        echo_times = acquisition.get("echo_times_ms")
        if echo_times is not None and len(echo_times) == self.n_channels:
            acquisition["echo_times_ms"] = (echo_times[index],)
        return Volume(self.data[index], self.affine, acquisition)

    def with_data(self, data: np.ndarray, affine: np.ndarray | None = None, **acquisition: Any) -> "Volume":
        """A volume with new voxels (and optionally a new affine), the acquisition record kept.

        Keyword arguments update the acquisition record (e.g. ``slice_thickness_mm=3.0``).
        """
        merged = {**self.acquisition, **acquisition}
        return replace(self, data=data, affine=self.affine if affine is None else affine, acquisition=merged)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """(column spacing, row spacing, slice spacing) in mm."""
        return tuple(float(np.linalg.norm(self.affine[:3, axis])) for axis in range(3))  # type: ignore[return-value]

    @property
    def slice_thickness(self) -> float:
        """The recorded slice thickness in mm, or the slice spacing when none was recorded."""
        thickness = self.acquisition.get("slice_thickness_mm")
        return float(thickness) if thickness else self.spacing[2]

    @property
    def orientation(self) -> tuple[float, ...]:
        """ImageOrientationPatient: the row direction then the column direction (unit vectors)."""
        col_spacing, row_spacing, _ = self.spacing
        row_dir = self.affine[:3, 0] / col_spacing
        col_dir = self.affine[:3, 1] / row_spacing
        return tuple(float(v) for v in (*row_dir, *col_dir))

    def slice_position(self, index: int) -> np.ndarray:
        """ImagePositionPatient of slice ``index``: the centre of its first voxel, mm."""
        return self.affine[:3, 3] + index * self.affine[:3, 2]

    def index_to_patient(self, column: float, row: float, slice_: float) -> np.ndarray:
        """Patient coordinates (LPS, mm) of a (possibly fractional) voxel index."""
        return (self.affine @ np.array([column, row, slice_, 1.0]))[:3]
