"""Segmentation masks of a study's cases and their overlap with each case's reference mask.

A coordinator imports, per case, one *reference* mask (e.g. the manual segmentation of the
amygdalae) and one mask per condition (e.g. the automated segmentation on synthetic and on
real 7T images). Each condition mask is compared with the reference label by label when it
is imported (``segmentation.services``, computed by ``stats.overlap``), and the metrics are
stored as ``OverlapMeasurement`` rows: one per mask x label, the rows the study record's
``overlap`` table carries.

Only the decoded masks are kept (``voxels``: one boolean array per label, on the mask's
canonical grid, as a compressed ``.npz``), never the uploaded file: a DICOM SEG carries the
patient's identifiers, which the platform does not keep beyond de-identified images.
"""

from django.conf import settings
from django.db import models

from readerstudy.studies.models import Case, Condition


def mask_upload_path(mask: "SegmentationMask", filename: str) -> str:
    return f"segmentation/{mask.case.study_id}/{mask.case_id}/{filename}"


class SegmentationMask(models.Model):
    """One label mask of a case: the reference (``condition`` empty) or a condition's.

    ``labels`` lists the labels as ``[{"name": ..., "value": ...}]`` (value: the NIfTI value
    or the SEG segment number); ``affine`` maps the stored arrays' (i, j, k) indices to
    patient coordinates (LPS, mm); ``sha256`` and ``file_name`` identify the uploaded file.
    """

    class Format(models.TextChoices):
        NIFTI = "nifti", "NIfTI"
        DICOM_SEG = "dicom-seg", "DICOM SEG"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="segmentation_masks")
    condition = models.ForeignKey(
        Condition,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty for the case's reference mask.",
    )
    file_format = models.CharField(max_length=10, choices=Format.choices)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the uploaded file.")
    size = models.PositiveBigIntegerField(help_text="Bytes of the uploaded file.")
    labels = models.JSONField(help_text='[{"name": ..., "value": ...}] in the file\'s order.')
    shape = models.JSONField(help_text="The stored arrays' shape (i, j, k).")
    affine = models.JSONField(help_text="4 x 4: array index (i, j, k) to LPS mm.")
    spacing = models.JSONField(help_text="Voxel spacing along i, j, k (mm).")
    voxels = models.FileField(upload_to=mask_upload_path, max_length=300)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "condition__order", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "condition"],
                condition=models.Q(condition__isnull=False),
                name="segmentation_mask_unique_condition",
            ),
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(condition__isnull=True),
                name="segmentation_mask_unique_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} {self.condition.label if self.condition else 'reference'} mask"

    @property
    def role(self) -> str:
        """The condition's label, or "reference" for the case's reference mask."""
        return self.condition.label if self.condition is not None else "reference"

    @property
    def is_reference(self) -> bool:
        return self.condition_id is None

    @property
    def label_map(self) -> dict[str, int]:
        """name -> value, in the file's order."""
        return {item["name"]: int(item["value"]) for item in self.labels}


class OverlapMeasurement(models.Model):
    """One label of a condition's mask against the same label of the case's reference mask.

    The metrics of ``stats.overlap.mask_overlap`` (Dice, Jaccard, HD95 in mm, volumes in mL);
    a value that is undefined there (an empty mask) is empty, with the reason in ``note``.
    """

    mask = models.ForeignKey(SegmentationMask, on_delete=models.CASCADE, related_name="overlaps")
    reference = models.ForeignKey(SegmentationMask, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=100)
    dice = models.FloatField(null=True, blank=True)
    jaccard = models.FloatField(null=True, blank=True)
    hd95_mm = models.FloatField(null=True, blank=True)
    volume_ml = models.FloatField()
    reference_volume_ml = models.FloatField()
    volume_difference_ml = models.FloatField()
    relative_volume_difference_percent = models.FloatField(null=True, blank=True)
    voxels = models.PositiveBigIntegerField()
    reference_voxels = models.PositiveBigIntegerField()
    note = models.CharField(max_length=200, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["mask", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["mask", "label"], name="overlap_unique_mask_label"),
        ]

    def __str__(self) -> str:
        return f"{self.mask} {self.label}: Dice {self.dice}"
