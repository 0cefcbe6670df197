"""Objective image-quality measurements: ROIs drawn by a coordinator on a case, the values
computed from the stored pixels of every condition's series, and image fidelity against a
reference condition.

An ROI lives in patient coordinates (LPS, mm), so the one ROI applies to every series of
the case whatever its slice count or matrix: each series gets the ROI on its nearest
slice (``measurements.services``). Values are computed on the server from the stored
DICOM files (after RescaleSlope/Intercept) by ``sr_engine.roi``.
"""

from django.conf import settings
from django.db import models

from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Case, Condition, Study


class MeasurementROI(models.Model):
    """A line or circle a coordinator drew on one series of a case, kept in patient space.

    ``points_mm`` holds the two clicks that drew it in patient coordinates (LPS, mm): the
    ends of a line, or the centre of a circle and a point on its edge; ``radius_mm`` is a
    circle's radius (their distance). Where it was drawn (``drawn_on``, ``drawn_slice``,
    ``drawn_points``: the clicks in that series' pixels, column x and row y with pixel
    centres at whole numbers) is kept as its provenance.
    """

    class Kind(models.TextChoices):
        LINE = "line", "Line (profile: FWHM, edge rise)"
        CIRCLE = "circle", "Circle (mean, SD, SNR)"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="measurement_rois")
    client_id = models.UUIDField(help_text="Idempotency key of the measuring page.")
    number = models.PositiveIntegerField(help_text="Number of the ROI within its case (1, 2, ...).")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=100, blank=True, help_text='What it measures, e.g. "muscle".')
    points_mm = models.JSONField(help_text="Line: its ends; circle: centre, edge point; [x, y, z] mm (LPS).")
    radius_mm = models.FloatField(null=True, blank=True, help_text="Radius of a circle, mm.")
    drawn_on = models.ForeignKey(
        ImageSeries, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    drawn_slice = models.PositiveIntegerField()
    drawn_points = models.JSONField(help_text="The clicks on the drawing series: [[x, y], [x, y]] in pixels.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "number"]
        verbose_name = "measurement ROI"
        constraints = [
            models.UniqueConstraint(fields=["case", "client_id"], name="measurement_roi_unique_client_id"),
            models.UniqueConstraint(fields=["case", "number"], name="measurement_roi_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.case} ROI {self.number}{f' ({self.label})' if self.label else ''}"


class MeasurementValue(models.Model):
    """What one ROI measures on one series: the slice it falls on and the values there.

    Lines fill the profile metrics (``fwhm_mm``, ``edge_rise_distance_mm``,
    ``edge_rise_slope``: averaged over both edges of a structure), circles the region
    metrics (``mean``, ``sd``, ``snr``, ``n_pixels``). A value that is not defined on this
    series is empty, with the reason in ``notes`` (metric -> reason); ``error`` says why
    nothing could be measured at all (the ROI is outside the series, no pixels...).
    """

    roi = models.ForeignKey(MeasurementROI, on_delete=models.CASCADE, related_name="values")
    series = models.ForeignKey(ImageSeries, on_delete=models.CASCADE, related_name="+")
    slice_index = models.PositiveIntegerField(null=True, blank=True)
    plane_distance_mm = models.FloatField(
        null=True, blank=True, help_text="Distance of the ROI from the centre of the slice it falls on."
    )
    points = models.JSONField(default=list, blank=True, help_text="The ROI in this series' pixels.")
    length_mm = models.FloatField(null=True, blank=True)
    fwhm_mm = models.FloatField(null=True, blank=True)
    edge_rise_distance_mm = models.FloatField(null=True, blank=True)
    edge_rise_slope = models.FloatField(null=True, blank=True, help_text="Intensity per mm.")
    mean = models.FloatField(null=True, blank=True)
    sd = models.FloatField(null=True, blank=True)
    snr = models.FloatField(null=True, blank=True)
    n_pixels = models.PositiveIntegerField(null=True, blank=True)
    profile = models.JSONField(
        default=dict, blank=True, help_text='A line\'s profile: {"mm": [...], "values": [...]}.'
    )
    notes = models.JSONField(default=dict, blank=True, help_text="Why a metric is empty: metric -> reason.")
    error = models.CharField(max_length=300, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["roi", "series__condition__order"]
        constraints = [
            models.UniqueConstraint(fields=["roi", "series"], name="measurement_value_unique_series"),
        ]

    def __str__(self) -> str:
        return f"{self.roi} on {self.series.condition.label}"


class MeasurementCNR(models.Model):
    """A contrast-to-noise ratio between two circle ROIs of a case.

    CNR = |mean(A) - mean(B)| / SD(B): region B is the background (or reference tissue)
    whose SD is taken as the noise (``sr_engine.roi.cnr``).
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="measurement_cnrs")
    client_id = models.UUIDField(help_text="Idempotency key of the measuring page.")
    roi_a = models.ForeignKey(
        MeasurementROI, on_delete=models.CASCADE, related_name="+", help_text="The structure (e.g. lesion)."
    )
    roi_b = models.ForeignKey(
        MeasurementROI,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The background: its SD is the noise.",
    )
    label = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "created_at", "pk"]
        verbose_name = "measurement CNR"
        constraints = [
            models.UniqueConstraint(fields=["case", "client_id"], name="measurement_cnr_unique_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.case} CNR ROI {self.roi_a.number} vs ROI {self.roi_b.number}"


class MeasurementCNRValue(models.Model):
    """A CNR on one series, from the two circles' values there; empty with the reason when undefined."""

    cnr = models.ForeignKey(MeasurementCNR, on_delete=models.CASCADE, related_name="values")
    series = models.ForeignKey(ImageSeries, on_delete=models.CASCADE, related_name="+")
    value = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["cnr", "series__condition__order"]
        constraints = [
            models.UniqueConstraint(fields=["cnr", "series"], name="measurement_cnr_value_unique_series"),
        ]

    def __str__(self) -> str:
        return f"{self.cnr} on {self.series.condition.label}"


class FidelityReference(models.Model):
    """The condition a study's image fidelity is measured against (e.g. HR), chosen by a coordinator.

    Without a row the rule is: the condition labelled "HR" (any case), if the study has one.
    """

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="fidelity_reference")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    chosen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    chosen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.study.slug}: fidelity against {self.condition.label}"


class FidelityResult(models.Model):
    """PSNR, SSIM and RMSE of one case's series under one condition against the reference condition's.

    Computed by ``sr_engine.metrics.compare`` (whole volume and inside the tissue mask,
    edge slices left out) only when the series lies on the reference's grid; otherwise
    the values are empty and ``note`` says why (e.g. "not on the reference grid").
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="fidelity_results")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    reference = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    psnr = models.FloatField(null=True, blank=True)
    ssim = models.FloatField(null=True, blank=True)
    rmse = models.FloatField(null=True, blank=True)
    nrmse = models.FloatField(null=True, blank=True)
    psnr_tissue = models.FloatField(null=True, blank=True)
    ssim_tissue = models.FloatField(null=True, blank=True)
    rmse_tissue = models.FloatField(null=True, blank=True)
    n_slices_used = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "condition__order"]
        constraints = [
            models.UniqueConstraint(fields=["case", "condition"], name="fidelity_unique_case_condition"),
        ]

    def __str__(self) -> str:
        return f"{self.case} {self.condition.label} vs {self.reference.label}"


class T2AgreementResult(models.Model):
    """Agreement of one case's DESS T2 map under one condition with the reference condition's map,
    over one region: the tissue mask (``region`` "tissue") or a circle ROI (its name).

    A condition's T2 map comes from its two echoes: its own series (echo 1) and the series of
    the condition labelled "<label> echo 2" (``measurements.selectors.dess_echo_partners``), by
    ``sr_engine.dess.dess_t2_map``; agreement is ``sr_engine.dess.t2_agreement`` (Lin's CCC with
    its 95 % interval, the within-voxel CV%). Values are empty with ``note`` saying why when
    the map cannot be compared (no second echo, not on the reference grid, ...).
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="t2_agreement_results")
    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    reference = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=120, help_text='"tissue" (the tissue mask) or an ROI\'s name.')
    ccc = models.FloatField(null=True, blank=True, help_text="Lin's concordance correlation coefficient.")
    ccc_lower = models.FloatField(null=True, blank=True)
    ccc_upper = models.FloatField(null=True, blank=True)
    cv_percent = models.FloatField(null=True, blank=True, help_text="Root-mean-square within-voxel CV%.")
    mean_t2_ms = models.FloatField(null=True, blank=True, help_text="Mean T2 of the condition's map, ms.")
    reference_mean_t2_ms = models.FloatField(null=True, blank=True)
    mean_difference_ms = models.FloatField(null=True, blank=True, help_text="Mean of condition - reference.")
    n_voxels = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "condition__order", "region"]
        verbose_name = "T2 agreement result"
        constraints = [
            models.UniqueConstraint(
                fields=["case", "condition", "region"], name="t2_agreement_unique_case_condition_region"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} {self.condition.label} T2 vs {self.reference.label} ({self.region})"
