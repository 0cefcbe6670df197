"""The Volume type: a 3D image whose affine places every voxel in patient space.

Conventions (those of DICOM, so that series round-trip without surprises):

* ``data`` has shape ``(slices, rows, columns)``.
* ``affine`` is 4x4 and maps the homogeneous index ``(column, row, slice, 1)`` to
  patient coordinates in mm, LPS (x towards the patient's left, y towards posterior,
  z towards head), as DICOM PS3.3 C.7.6.2.1.1 defines ImagePositionPatient and
  ImageOrientationPatient. Its first column is the row direction times the column
  spacing, the second the column direction times the row spacing, the third the
  slice normal times the slice spacing, the fourth the centre of the first voxel.
"""

from dataclasses import dataclass

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
    """Voxels ``data[slice, row, column]`` and the ``affine`` that places them (LPS, mm)."""

    data: np.ndarray
    affine: np.ndarray

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"A volume is 3D; got an array of shape {self.data.shape}.")
        if self.affine.shape != (4, 4):
            raise ValueError("The affine must be a 4x4 matrix.")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """(column spacing, row spacing, slice spacing) in mm."""
        return tuple(float(np.linalg.norm(self.affine[:3, axis])) for axis in range(3))  # type: ignore[return-value]

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
