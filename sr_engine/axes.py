"""Which axis of a volume a method upscales, found from its geometry, whatever order its voxels
are stored in.

A volume's data axes are ``(slice, row, column)`` (:mod:`sr_engine.volume`); for a DICOM
series the first is the stacking axis along the slice normal, but a NIfTI file may store
its thick axis anywhere (``data[i, j, k]`` with ``i`` the 5 mm axis is common after a
reorientation). So the axis is taken from the voxel spacing, never from the storage order:

* **through-plane** methods (upscaling one axis: ``tci``, ``selfsr``, ``resnet3d``, ...)
  upscale the *thick axis*, the one whose spacing is the coarsest. Spacings within
  :data:`SPACING_TOLERANCE` (relative) of each other are equally coarse: when two or three
  axes share the coarsest spacing there is no thick axis, and the volume is refused unless
  the caller names the axis (``axis="slice"|"row"|"column"``, the data axes); a named axis
  finer than another is refused too (through-plane SR of the fine axis of an anisotropic
  volume is always a mistake);
* **in-plane** methods (``axis="inplane"``, ``resnet2d``) upscale the two axes of the image
  plane: the two equally spaced axes when exactly two spacings agree (3 x 0.8 x 0.8 mm:
  the 0.8 mm plane; 1 x 4 x 4 mm: the 4 mm plane), the two other than the coarsest when
  all three differ, and the stored rows and columns of an isotropic volume (there the
  stacking axis of the slices is the only clue left).

:func:`to_front` moves the chosen axis to data axis 0 (the axis every method works along)
and :func:`restore` puts the result back into the input's storage order, so the output
keeps the input's layout and its affine stays exact (:meth:`Volume.permute_axes`).
"""

from dataclasses import dataclass

from .volume import Volume

#: The data axes by name, in data order.
AXIS_NAMES = ("slice", "row", "column")
#: Two spacings whose relative difference is below this are taken as equal (1 %).
SPACING_TOLERANCE = 0.01


class AxisError(ValueError):
    """The axis to upscale cannot be told from the volume's geometry, or the one named disagrees."""


def _describe(spacing: tuple[float, float, float]) -> str:
    return ", ".join(f"{name} {mm:g} mm" for name, mm in zip(AXIS_NAMES, spacing, strict=True))


def _coarsest(spacing: tuple[float, float, float]) -> list[int]:
    top = max(spacing)
    return [a for a in range(3) if spacing[a] >= top * (1 - SPACING_TOLERANCE)]


def through_plane_axis(volume: Volume, requested: str = "auto") -> int:
    """The data axis a through-plane method upscales (see the module docstring)."""
    spacing = volume.axis_spacing
    tied = _coarsest(spacing)
    if requested == "auto":
        if len(tied) == 1:
            return tied[0]
        names = " and ".join(AXIS_NAMES[a] for a in tied)
        raise AxisError(
            f"The volume has no single thick axis to upscale: its spacing is {_describe(spacing)} "
            f"({names} equally coarse). Name the axis to upscale: axis=slice|row|column "
            "(--axis on the command line)."
        )
    if requested not in AXIS_NAMES:
        raise AxisError(f"axis must be auto, {', '.join(AXIS_NAMES)} or inplane; got {requested!r}.")
    a = AXIS_NAMES.index(requested)
    if a not in tied:
        thick = AXIS_NAMES[tied[0]] if len(tied) == 1 else " and ".join(AXIS_NAMES[t] for t in tied)
        raise AxisError(
            f"axis={requested} disagrees with the volume's spacing ({_describe(spacing)}): the "
            f"{requested} axis is finer than {thick}. Through-plane SR upscales the thick axis; "
            "leave the axis out to take it from the spacing."
        )
    return a


def inplane_axes(volume: Volume) -> tuple[int, int]:
    """The two data axes of the image plane an in-plane method upscales (see the module docstring)."""
    spacing = volume.axis_spacing

    def equal(a: int, b: int) -> bool:
        return abs(spacing[a] - spacing[b]) <= SPACING_TOLERANCE * max(spacing[a], spacing[b])

    pairs = [(a, b) for a, b in ((1, 2), (0, 2), (0, 1)) if equal(a, b)]
    if len(pairs) == 3 or not pairs:  # isotropic: the stored image plane; all differ: not the coarsest
        if pairs:
            return 1, 2
        thick = max(range(3), key=lambda a: spacing[a])
        first, second = (a for a in range(3) if a != thick)
        return first, second
    if len(pairs) > 1:  # two pairs equal but not all three: spacings within tolerance chains
        raise AxisError(
            f"The image plane cannot be told from the spacing {_describe(spacing)}; resample the "
            "volume so two axes share one spacing."
        )
    return pairs[0]


@dataclass(frozen=True)
class AxisChoice:
    """The data axes the method upscales, and the order that brings the first of them to the front."""

    kind: str  # "slice" (one axis) or "inplane" (two)
    axes: tuple[int, ...]  # the data axes of the input upscaled: one, or the two of the plane
    order: tuple[int, int, int]  # input data axes in the order the method sees them

    @property
    def names(self) -> tuple[str, ...]:
        """The upscaled axes' names in the input's storage order, e.g. ``("column",)``."""
        return tuple(AXIS_NAMES[a] for a in self.axes)

    @property
    def label(self) -> str:
        """``slice``/``row``/``column`` for one axis; ``inplane`` for the stored rows and columns,
        else e.g. ``slice+row``."""
        if self.kind == "inplane":
            return "inplane" if self.axes == (1, 2) else "+".join(self.names)
        return self.names[0]


def choose_axes(volume: Volume, requested: str = "auto", *, inplane: bool = False) -> AxisChoice:
    """The axes to upscale: in-plane (``inplane`` or ``requested == "inplane"``) or through-plane."""
    if inplane or requested == "inplane":
        if requested not in ("auto", "inplane"):
            raise AxisError(f"An in-plane method upscales the image plane; axis={requested} is not one.")
        first, second = inplane_axes(volume)
        normal = next(a for a in range(3) if a not in (first, second))
        return AxisChoice(kind="inplane", axes=(first, second), order=(normal, first, second))
    a = through_plane_axis(volume, requested)
    rest = tuple(x for x in range(3) if x != a)
    return AxisChoice(kind="slice", axes=(a,), order=(a, rest[0], rest[1]))


def to_front(volume: Volume, choice: AxisChoice) -> Volume:
    """The volume with its axes in ``choice.order``: the method's slice axis first."""
    return volume if choice.order == (0, 1, 2) else volume.permute_axes(choice.order)


def restore(volume: Volume, choice: AxisChoice) -> Volume:
    """The inverse of :func:`to_front`: the input's storage order again."""
    if choice.order == (0, 1, 2):
        return volume
    inverse = tuple(choice.order.index(a) for a in range(3))
    return volume.permute_axes((inverse[0], inverse[1], inverse[2]))
