"""Images: a case under one condition (ImageSeries) and its de-identified DICOM instances."""

import uuid
from typing import Any

import numpy as np
from django.conf import settings
from django.db import models

from readerstudy.studies.models import Case, Condition, Study


def series_folder(series: "ImageSeries") -> str:
    """Storage folder of a series' files (its instances and their blinded metadata)."""
    return f"dicom/study-{series.case.study_id}/series-{series.public_id}"


def instance_upload_path(instance: "DicomInstance", filename: str) -> str:
    return f"{series_folder(instance.series)}/{filename}"


class ImageSeries(models.Model):
    """One case shown under one condition: a stack of DICOM instances with its geometry.

    Geometry follows DICOM: ``pixel_spacing`` is (row spacing, column spacing) in mm,
    ``orientation`` the six direction cosines of ImageOrientationPatient,
    ``origin`` the ImagePositionPatient of the first slice, ``slice_spacing`` the
    distance between slice centres along the slice normal.

    A ``projection`` series (a radiograph: DX, CR, MG, or a single 2D image without patient
    geometry) is one image whose frame is the image plane itself: ``orientation`` is
    (1, 0, 0, 0, 1, 0) and ``origin`` the top-left pixel's centre at (column spacing / 2,
    row spacing / 2, 0), so its "patient" coordinates are image millimetres from the
    image's corner (x along the rows, y down the columns, z = 0).
    ``pixel_spacing_source`` says which attributes gave ``pixel_spacing``.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="series")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="series")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    series_instance_uid = models.CharField(max_length=64, unique=True)
    study_instance_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    description = models.CharField(
        max_length=200, blank=True, help_text="Original series description (coordinators only)."
    )
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    num_slices = models.PositiveIntegerField()
    pixel_spacing = models.JSONField(help_text="[row spacing, column spacing] in mm.")
    slice_spacing = models.FloatField(null=True, blank=True)
    slice_thickness = models.FloatField(null=True, blank=True)
    orientation = models.JSONField(help_text="ImageOrientationPatient, six direction cosines.")
    origin = models.JSONField(help_text="ImagePositionPatient of the first slice, mm.")
    projection = models.BooleanField(
        default=False,
        help_text="A projection image (DX, CR, MG, or one 2D image without patient geometry): "
        "orientation and origin are the image plane's own frame, in mm from the image's corner.",
    )
    pixel_spacing_source = models.CharField(
        max_length=80,
        default="PixelSpacing",
        help_text="The attribute(s) the pixel spacing came from: PixelSpacing, ImagerPixelSpacing, or "
        "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor (divided by the factor).",
    )
    display_grid = models.JSONField(
        default=dict,
        blank=True,
        help_text="The common display grid (readerstudy.imaging.display_grid): empty for a series shown "
        "as imported; else the grid it was checked or resampled onto, the source and target geometry, "
        "the interpolation, the software and, when resampled, the original instances (kept).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "condition"]
        verbose_name_plural = "image series"
        constraints = [
            models.UniqueConstraint(fields=["case", "condition"], name="series_unique_case_condition"),
        ]

    def __str__(self) -> str:
        return f"{self.case} / {self.condition.label}"


class DicomInstance(models.Model):
    """One de-identified DICOM file of a series, stored on disk with its checksum."""

    series = models.ForeignKey(ImageSeries, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    slice_index = models.PositiveIntegerField(help_text="0-based position along the slice normal.")
    instance_number = models.IntegerField(null=True, blank=True)
    image_position = models.JSONField(help_text="ImagePositionPatient, mm.")
    file = models.FileField(upload_to=instance_upload_path, max_length=300)
    sha256 = models.CharField(max_length=64, help_text="Checksum of the stored, de-identified file.")
    source_sha256 = models.CharField(max_length=64, help_text="Checksum of the file as it was imported.")
    size = models.PositiveBigIntegerField()
    pixel_offset = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Byte offset of the native pixel data in the file (None: parse it)."
    )
    pixel_length = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Length in bytes of the frame's native pixel data."
    )

    class Meta:
        ordering = ["series", "slice_index"]
        constraints = [
            models.UniqueConstraint(fields=["series", "slice_index"], name="instance_unique_slice"),
        ]

    def __str__(self) -> str:
        return f"{self.series} #{self.slice_index}"


class SourceIdentity(models.Model):
    """The private mapping from a de-identified series to the identifiers it was imported with.

    Only coordinators of the study may see it (DICOM PS3.15 keeps such a mapping
    with the party that de-identified the data).
    """

    series = models.OneToOneField(ImageSeries, on_delete=models.CASCADE, related_name="source")
    patient_id = models.CharField(max_length=128, blank=True)
    patient_name = models.CharField(max_length=256, blank=True)
    patient_birth_date = models.CharField(max_length=16, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    study_date = models.CharField(max_length=16, blank=True)
    institution_name = models.CharField(max_length=128, blank=True)
    study_instance_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64)
    frame_of_reference_uid = models.CharField(
        max_length=64, blank=True, help_text="Original FrameOfReferenceUID (derived series share it)."
    )

    class Meta:
        verbose_name_plural = "source identities"

    def __str__(self) -> str:
        return f"source of {self.series}"


class ImportJob(models.Model):
    """One import into a study: queued, running (with progress), then done, failed or cancelled.

    An uploaded archive waits in the job's temporary folder under ``MEDIA_ROOT``
    (``import-tmp/<id>/``), which also holds the extraction and is removed when the job
    ends. ``runner`` names the process that holds the job (``host:pid:nonce``), so
    that a job whose process died is found and cleaned up at the next start.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_name = models.CharField(max_length=255, help_text="The uploaded file's name, or the path given.")
    source_path = models.CharField(
        max_length=1024,
        blank=True,
        help_text="A folder or zip on the server (the import_dicom command); empty for an upload.",
    )
    manifest_text = models.TextField(help_text="The manifest (CSV).")
    manifest_path = models.CharField(
        max_length=1024,
        blank=True,
        help_text="The manifest file on the server, not imported if in the source.",
    )
    acknowledge_design_change = models.BooleanField(
        default=False, help_text="The coordinator accepted series the active schedule does not cover."
    )
    pacs_server = models.CharField(
        max_length=1024,
        blank=True,
        help_text="An import from a PACS: the DICOMweb server's name in settings (or the URL the "
        "import_dicomweb command was given); never its credentials. Empty for a file import.",
    )
    pacs_series = models.JSONField(
        default=list,
        blank=True,
        help_text="An import from a PACS: the [study UID, series UID] pairs to retrieve.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(
        max_length=20, blank=True, help_text="retrieving, extracting, reading or importing."
    )
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0..1.")
    cancel_requested = models.BooleanField(default=False)
    runner = models.CharField(
        max_length=200, blank=True, help_text="host:pid:nonce of the process holding it."
    )
    report = models.JSONField(default=dict, blank=True, help_text="ImportReport.as_dict() once it ran.")
    error = models.TextField(blank=True, help_text="Why the import failed or was refused (no traceback).")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(
        auto_now=True, help_text="Last change or progress report; a running job silent for long is lost."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.study.slug}: import {self.pk} of {self.source_name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_IMPORT_STATUSES


#: Statuses of a job that has not finished (queued, or running on a worker).
ACTIVE_IMPORT_STATUSES = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
FINISHED_IMPORT_STATUSES = (ImportJob.Status.DONE, ImportJob.Status.FAILED, ImportJob.Status.CANCELLED)


# ----------------------------------------------------------------------------- geometry
# One rule of "the same voxel grid", for the display grid (imaging.display_grid), the
# schedule's readiness (design.services) and the objective measurements (measurements).

#: Geometry tolerance (mm, cosines) of "on the same grid".
GRID_TOLERANCE = 1e-3


def series_geometry(series: ImageSeries) -> dict[str, Any]:
    """The stored geometry of ``series`` (what the grid compares and records)."""
    return {
        "rows": int(series.rows),
        "columns": int(series.columns),
        "num_slices": int(series.num_slices),
        "pixel_spacing": [float(v) for v in series.pixel_spacing],
        "slice_spacing": None if series.slice_spacing is None else float(series.slice_spacing),
        "slice_thickness": None if series.slice_thickness is None else float(series.slice_thickness),
        "orientation": [float(v) for v in series.orientation],
        "origin": [float(v) for v in series.origin],
    }


def geometry_shape(geometry: dict[str, Any]) -> tuple[int, int, int]:
    return int(geometry["num_slices"]), int(geometry["rows"]), int(geometry["columns"])


def geometries_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same matrix, slice count, spacing, orientation and origin (within ``GRID_TOLERANCE``)."""
    if geometry_shape(a) != geometry_shape(b):
        return False
    pairs = [
        (a["pixel_spacing"], b["pixel_spacing"]),
        (a["orientation"], b["orientation"]),
        (a["origin"], b["origin"]),
        ([a["slice_spacing"] or 0.0], [b["slice_spacing"] or 0.0]),
    ]
    return all(np.allclose(np.asarray(x, float), np.asarray(y, float), atol=GRID_TOLERANCE) for x, y in pairs)


def series_on_same_grid(a: ImageSeries, b: ImageSeries) -> bool:
    """Whether two series have one voxel grid (``geometries_equal`` of their stored geometry)."""
    return geometries_equal(series_geometry(a), series_geometry(b))
