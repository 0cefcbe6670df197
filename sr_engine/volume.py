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

Index order: the data is indexed ``(slice, row, column)`` (*data order*, that of
``Volume.shape`` and of numpy), the affine takes the reverse ``(column, row, slice)``
(the order DICOM and NIfTI write it in). This module is the only place that reverses
one into the other. Everything else works in data order through these accessors:

* :meth:`Volume.index_to_patient` and :meth:`Volume.patient_to_index` (and the
  module functions :func:`index_to_patient`, :func:`patient_to_index` for a bare
  affine): data-order indices, one ``(3,)`` vector or ``(..., 3)`` arrays, to LPS mm and back;
* :attr:`Volume.axis_steps` / :func:`index_steps`: the patient-space step of one voxel
  along each data axis, and :func:`affine_from_steps` to build an affine from such
  steps and an origin; :attr:`Volume.axis_spacing` / :func:`index_spacing`: their lengths;
* :meth:`Volume.crop`: a sub-volume by data-order index ranges, with its origin moved;
* :meth:`Volume.from_affine_order` and :meth:`Volume.affine_order_data`: arrays laid
  out in the affine's order, ``[column, row, slice(, channel)]`` (NIfTI's ``[i, j, k(, t)]``).

:attr:`Volume.spacing` and :attr:`Volume.orientation` keep the DICOM order of their
attributes (column spacing first; row direction first), as the writers of DICOM
headers need them.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

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
    row_spacing, col_spacing = (float(v) for v in np.asarray(pixel_spacing, dtype=float).reshape(2))
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


# ----------------------------------------------------------------- data order <-> affine order
# The only code that knows the affine's index order (column, row, slice) is the reverse
# of the data's (slice, row, column): the reversals ``[::-1]`` / ``[2::-1]`` / ``.T`` below.


def index_steps(affine: ArrayLike) -> np.ndarray:
    """The 3x3 array whose row ``a`` is the step (LPS, mm) of one voxel along data axis ``a``.

    Rows in data order: slice step (the slice normal times the slice spacing), row step
    (the column direction times the row spacing), column step (the row direction times
    the column spacing). ``index_to_patient(affine, i) == i @ index_steps(affine) + origin``.
    """
    return np.array(np.asarray(affine, dtype=float)[:3, 2::-1].T)


def affine_from_steps(steps: ArrayLike, origin: ArrayLike) -> np.ndarray:
    """The 4x4 affine with the data-order ``steps`` of :func:`index_steps`, the first voxel at ``origin``."""
    steps = np.asarray(steps, dtype=float)
    if steps.shape != (3, 3):
        raise ValueError(f"steps are three step vectors (slice, row, column), got shape {steps.shape}.")
    affine = np.eye(4)
    affine[:3, 2::-1] = steps.T
    affine[:3, 3] = np.asarray(origin, dtype=float)
    return affine


def index_spacing(affine: ArrayLike) -> tuple[float, float, float]:
    """The voxel spacing (mm) along the data axes: (slice spacing, row spacing, column spacing)."""
    slice_mm, row_mm, column_mm = (float(np.linalg.norm(step)) for step in index_steps(affine))
    return slice_mm, row_mm, column_mm


def index_to_patient(affine: ArrayLike, indices: ArrayLike) -> np.ndarray:
    """Patient coordinates (LPS, mm) of data-order ``indices`` ``(slice, row, column)``, possibly fractional.

    ``indices`` is one index ``(3,)`` or an array ``(..., 3)``; the result has its shape.
    """
    reordered = np.asarray(indices, dtype=float)[..., ::-1]  # -> (column, row, slice)
    homogeneous = np.concatenate([reordered, np.ones((*reordered.shape[:-1], 1))], axis=-1)
    return (homogeneous @ np.asarray(affine, dtype=float).T)[..., :3]


def patient_to_index(affine: ArrayLike, points: ArrayLike) -> np.ndarray:
    """The inverse of :func:`index_to_patient`: fractional data-order indices of LPS ``points`` (mm).

    ``points`` is one point ``(3,)`` or an array ``(..., 3)``; the result has its shape.
    """
    points = np.asarray(points, dtype=float)
    homogeneous = np.concatenate([points, np.ones((*points.shape[:-1], 1))], axis=-1)
    inverse = np.linalg.inv(np.asarray(affine, dtype=float))
    reordered = (homogeneous @ inverse.T)[..., :3]  # (column, row, slice)
    return np.array(reordered[..., ::-1])


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
        slices, rows, columns = (int(n) for n in self.data.shape[-3:])
        return slices, rows, columns

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
        """(column, row, slice) spacing in mm: DICOM's order, :attr:`axis_spacing` reversed."""
        slice_mm, row_mm, column_mm = self.axis_spacing
        return column_mm, row_mm, slice_mm

    @property
    def axis_spacing(self) -> tuple[float, float, float]:
        """The spacing in mm along the data axes: (slice spacing, row spacing, column spacing)."""
        return index_spacing(self.affine)

    @property
    def axis_steps(self) -> np.ndarray:
        """The step (LPS, mm) of one voxel along each data axis, one row per axis (:func:`index_steps`)."""
        return index_steps(self.affine)

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

    def slice_position(self, index: float) -> np.ndarray:
        """ImagePositionPatient of slice ``index``: the centre of its first voxel, mm."""
        return self.affine[:3, 3] + index * self.affine[:3, 2]

    def index_to_patient(self, indices: ArrayLike) -> np.ndarray:
        """Patient coordinates (LPS, mm) of data-order voxel indices ``(slice, row, column)``.

        ``indices`` may be fractional, one index ``(3,)`` or an array ``(..., 3)`` of them.
        """
        return index_to_patient(self.affine, indices)

    def patient_to_index(self, points: ArrayLike) -> np.ndarray:
        """Fractional data-order indices ``(slice, row, column)`` of LPS points, ``(3,)`` or ``(..., 3)``."""
        return patient_to_index(self.affine, points)

    def crop(self, box: tuple[slice, ...] | slice) -> Self:
        """The sub-volume ``data[(channel,) box]`` (spatial slices in data order), its origin moved to match.

        ``box`` holds up to three slices (slice, row, column) with steps of 1 or more; a
        step ``k`` makes that axis' voxel step ``k`` times longer. Channels are all kept.
        """
        box = box if isinstance(box, tuple) else (box,)
        if len(box) > 3:
            raise ValueError(f"A crop box has at most three slices (slice, row, column), got {len(box)}.")
        full = (*box, *(slice(None),) * (3 - len(box)))
        ranges = [axis.indices(n) for axis, n in zip(full, self.shape, strict=True)]
        if any(step < 1 for _, _, step in ranges):
            raise ValueError("A crop box takes steps of 1 or more.")
        start = [first for first, _, _ in ranges]
        steps = self.axis_steps * np.array([step for _, _, step in ranges], dtype=float)[:, None]
        affine = affine_from_steps(steps, self.index_to_patient(start))
        index: tuple[Any, ...] = (Ellipsis, *full)  # every channel, then the spatial box
        return replace(self, data=self.data[index], affine=affine)

    def permute_axes(self, order: tuple[int, int, int]) -> Self:
        """The same voxels in patient space with the spatial data axes reordered: new axis ``n``
        is old axis ``order[n]`` (channels stay first). Every voxel keeps its patient position:
        the affine's steps are reordered with the data, the first voxel does not move."""
        if sorted(order) != [0, 1, 2]:
            raise ValueError(f"order must be a permutation of (0, 1, 2), got {order!r}.")
        spatial = tuple(int(a) for a in order)
        axes = spatial if self.data.ndim == 3 else (0, *(a + 1 for a in spatial))
        affine = affine_from_steps(self.axis_steps[list(spatial)], self.affine[:3, 3])
        return replace(self, data=np.ascontiguousarray(np.transpose(self.data, axes)), affine=affine)

    @classmethod
    def from_affine_order(
        cls, array: np.ndarray, affine: np.ndarray, acquisition: Mapping[str, Any] | None = None
    ) -> Self:
        """A volume from voxels laid out in the affine's order, ``array[column, row, slice(, channel)]``.

        That is NIfTI's layout ``[i, j, k(, t)]``: the axes are reversed into data order
        (a contiguous copy).
        """
        return cls(np.ascontiguousarray(np.transpose(array)), affine, dict(acquisition or {}))

    def affine_order_data(self) -> np.ndarray:
        """The voxels laid out in the affine's order, ``[column, row, slice(, channel)]`` (a view).

        The inverse of :meth:`from_affine_order`: NIfTI's ``[i, j, k(, t)]``.
        """
        return np.transpose(self.data)
