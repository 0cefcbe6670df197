"""Reads of measurement ROIs, their values per condition, CNRs and image fidelity (writes:
``measurements.services``). Views check ``measurements.policy`` first: never readers."""

from collections import Counter
from typing import Any

from django.db.models import Count, QuerySet

from readerstudy.imaging.models import ImageSeries
from readerstudy.measurements.models import (
    FidelityReference,
    FidelityResult,
    MeasurementCNR,
    MeasurementCNRValue,
    MeasurementROI,
    MeasurementValue,
    T2AgreementResult,
)
from readerstudy.studies.models import Case, Condition, Study

#: The metrics of each kind of ROI, in the order tables list them.
MEASUREMENT_METRICS: dict[str, tuple[str, ...]] = {
    "line": ("fwhm_mm", "edge_rise_distance_mm", "edge_rise_slope"),
    "circle": ("mean", "sd", "snr"),
    "cnr": ("cnr",),
}


#: The keys of a ``measurement_rows`` row.
MEASUREMENT_ROW_KEYS = ["case", "condition", "roi", "kind", "metric", "value"]
#: The keys of a ``fidelity_rows`` row (``note`` says why a row has no values).
FIDELITY_ROW_KEYS = [
    "case",
    "condition",
    "reference",
    "psnr",
    "ssim",
    "rmse",
    "psnr_tissue",
    "ssim_tissue",
    "note",
]


def measurement_cases(study: Study) -> QuerySet[Case]:
    """The study's cases with their number of series (``n_series``) and of ROIs (``n_rois``)."""
    return study.cases.annotate(
        n_series=Count("series", distinct=True), n_rois=Count("measurement_rois", distinct=True)
    ).order_by("code")


def measurement_case_series(case: Case) -> list[ImageSeries]:
    """The case's series, one per condition, in the conditions' order."""
    return list(
        case.series.select_related("condition", "case__study").order_by(
            "condition__order", "condition__label"
        )
    )


def measurement_roi_names(rois) -> dict[int, str]:
    """ROI id -> its name in tables: the label, with its number when another ROI of the case has
    the same label ("muscle #3"), or "ROI <number>" without a label."""
    labels = Counter((roi.case_id, roi.label) for roi in rois if roi.label)
    return {
        roi.pk: (roi.label if labels[(roi.case_id, roi.label)] == 1 else f"{roi.label} #{roi.number}")
        if roi.label
        else f"ROI {roi.number}"
        for roi in rois
    }


def _cnr_name(cnr: MeasurementCNR, names: dict[int, str]) -> str:
    return cnr.label or f"{names[cnr.roi_a_id]} vs {names[cnr.roi_b_id]}"


def _value_state(value: MeasurementValue) -> dict[str, Any]:
    return {
        "slice": value.slice_index,
        "plane_distance_mm": value.plane_distance_mm,
        "points": value.points,
        "length_mm": value.length_mm,
        **{
            metric: getattr(value, metric)
            for metric in MEASUREMENT_METRICS["line"] + MEASUREMENT_METRICS["circle"]
        },
        "n_pixels": value.n_pixels,
        "profile": value.profile,
        "notes": value.notes,
        "error": value.error,
    }


def measurement_case_state(case: Case) -> dict[str, Any]:
    """The case's ROIs and CNRs with their values per series (keyed by the series' public id), as
    JSON-able data: what the measuring page shows and its API answers."""
    rois = list(case.measurement_rois.select_related("drawn_on").prefetch_related("values__series"))
    names = measurement_roi_names(rois)
    by_pk = {roi.pk: roi for roi in rois}
    cnrs = list(case.measurement_cnrs.prefetch_related("values__series"))
    return {
        "rois": [
            {
                "client_id": str(roi.client_id),
                "number": roi.number,
                "name": names[roi.pk],
                "kind": roi.kind,
                "label": roi.label,
                "points_mm": roi.points_mm,
                "radius_mm": roi.radius_mm,
                "drawn_on": str(roi.drawn_on.public_id) if roi.drawn_on else None,
                "drawn_slice": roi.drawn_slice,
                "drawn_points": roi.drawn_points,
                "values": {str(value.series.public_id): _value_state(value) for value in roi.values.all()},
            }
            for roi in rois
        ],
        "cnrs": [
            {
                "client_id": str(cnr.client_id),
                "name": _cnr_name(cnr, names),
                "label": cnr.label,
                "a": str(by_pk[cnr.roi_a_id].client_id),
                "b": str(by_pk[cnr.roi_b_id].client_id),
                "values": {
                    str(value.series.public_id): {"value": value.value, "error": value.error}
                    for value in cnr.values.all()
                },
            }
            for cnr in cnrs
        ],
    }


def measurement_rows(study: Study) -> list[dict[str, Any]]:
    """One row per ROI x condition x metric with a value, for tables, tests and exports.

    Keys (``MEASUREMENT_ROW_KEYS``): ``case`` (case code), ``condition`` (condition label),
    ``roi`` (the ROI's name: its label, "label #n" when the case has several ROIs with that
    label, "ROI n" without one; for a CNR its label or "<ROI A> vs <ROI B>"), ``kind``
    ("line", "circle" or "cnr"), ``metric`` (``MEASUREMENT_METRICS``: "fwhm_mm",
    "edge_rise_distance_mm", "edge_rise_slope"; "mean", "sd", "snr"; "cnr") and ``value``
    (a float). A metric that is not defined on a series (e.g. no FWHM on a profile across
    a single edge, an ROI outside the series) has no row. Ordered by case, ROI (CNRs after
    the ROIs), condition and metric.
    """
    rois = list(MeasurementROI.objects.filter(case__study=study).select_related("case"))
    names = measurement_roi_names(rois)
    rows: list[tuple[tuple, dict[str, Any]]] = []
    values = MeasurementValue.objects.filter(roi__case__study=study).select_related(
        "roi__case", "series__condition"
    )
    for value in values:
        roi, condition = value.roi, value.series.condition
        for position, metric in enumerate(MEASUREMENT_METRICS[roi.kind]):
            number = getattr(value, metric)
            if number is None:
                continue
            key = (roi.case.code, 0, roi.number, condition.order, condition.label, position)
            rows.append(
                (
                    key,
                    {
                        "case": roi.case.code,
                        "condition": condition.label,
                        "roi": names[roi.pk],
                        "kind": roi.kind,
                        "metric": metric,
                        "value": float(number),
                    },
                )
            )
    cnr_values = MeasurementCNRValue.objects.filter(
        cnr__case__study=study, value__isnull=False
    ).select_related("cnr__case", "series__condition")
    for cnr_value in cnr_values:
        if cnr_value.value is None:  # not reached: the query keeps only computed values
            continue
        cnr, condition = cnr_value.cnr, cnr_value.series.condition
        cnr_key = (cnr.case.code, 1, cnr.created_at, cnr.pk, condition.order, condition.label, 0)
        rows.append(
            (
                cnr_key,
                {
                    "case": cnr.case.code,
                    "condition": condition.label,
                    "roi": _cnr_name(cnr, names),
                    "kind": "cnr",
                    "metric": "cnr",
                    "value": float(cnr_value.value),
                },
            )
        )
    rows.sort(key=lambda item: item[0])
    return [row for _, row in rows]


#: The keys of a ``measurement_pair_rows`` row (the record's ``roi_pairs``).
MEASUREMENT_PAIR_ROW_KEYS = ["case", "pair", "roi_a", "roi_b"]


def measurement_pair_rows(study: Study) -> list[dict[str, Any]]:
    """One row per ROI pair (a CNR's two circles) of the study (``MEASUREMENT_PAIR_ROW_KEYS``):
    ``case`` (code), ``pair`` (the name its CNR rows carry in ``measurement_rows``), ``roi_a``
    (the structure) and ``roi_b`` (the background), by the ROIs' names in ``measurement_rows``.
    The analysis computes the CNR by the study's formula and the contrast ratio from them."""
    rois = list(MeasurementROI.objects.filter(case__study=study).select_related("case"))
    names = measurement_roi_names(rois)
    cnrs = MeasurementCNR.objects.filter(case__study=study).select_related("case")
    ordered = sorted(cnrs, key=lambda c: (c.case.code, c.created_at, c.pk))
    return [
        {
            "case": cnr.case.code,
            "pair": _cnr_name(cnr, names),
            "roi_a": names[cnr.roi_a_id],
            "roi_b": names[cnr.roi_b_id],
        }
        for cnr in ordered
    ]


def fidelity_reference_condition(study: Study) -> Condition | None:
    """The condition image fidelity is measured against: the coordinator's choice
    (``FidelityReference``), else the condition labelled "HR" (any case), else None."""
    chosen = FidelityReference.objects.filter(study=study).select_related("condition").first()
    if chosen is not None:
        return chosen.condition
    return study.conditions.filter(label__iexact="HR").order_by("order", "pk").first()


def fidelity_rows(study: Study) -> list[dict[str, Any]]:
    """One row per case x condition compared with the reference (``FIDELITY_ROW_KEYS``): ``case``,
    ``condition``, ``reference`` (labels), ``psnr`` (dB), ``ssim``, ``rmse``, ``psnr_tissue``,
    ``ssim_tissue`` (None where not computed) and ``note`` (why not: e.g. "not on the reference
    grid"; empty otherwise), as last computed by ``measurements.services.fidelity_compute``."""
    results = (
        FidelityResult.objects.filter(case__study=study)
        .select_related("case", "condition", "reference")
        .order_by("case__code", "condition__order", "condition__label")
    )
    return [
        {
            "case": result.case.code,
            "condition": result.condition.label,
            "reference": result.reference.label,
            "psnr": result.psnr,
            "ssim": result.ssim,
            "rmse": result.rmse,
            "psnr_tissue": result.psnr_tissue,
            "ssim_tissue": result.ssim_tissue,
            "note": result.note,
        }
        for result in results
    ]


# ----------------------------------------------------------------------------- DESS T2 agreement

#: A condition's second DESS echo is the condition labelled "<its label> echo 2" (any case).
ECHO_2_SUFFIX = " echo 2"
#: The keys of a ``t2_agreement_rows`` row (``note`` says why a row has no values).
T2_AGREEMENT_ROW_KEYS = [
    "case",
    "condition",
    "reference",
    "region",
    "ccc",
    "ccc_lower",
    "ccc_upper",
    "cv_percent",
    "mean_t2_ms",
    "reference_mean_t2_ms",
    "n_voxels",
    "note",
]


def dess_echo_partners(study: Study) -> dict[int, Condition]:
    """Condition id -> the condition holding its second DESS echo.

    A DESS exam is imported as two series per condition (echo 1 and echo 2, as scanners
    export them): echo 1 under the condition itself (e.g. "HR", what readers read) and
    echo 2 under the condition labelled "<label> echo 2" (e.g. "HR echo 2", read by no
    one). Labels match regardless of case.
    """
    conditions = list(study.conditions.all())
    by_label = {c.label.casefold(): c for c in conditions}
    partners = {}
    for condition in conditions:
        partner = by_label.get((condition.label + ECHO_2_SUFFIX).casefold())
        if partner is not None:
            partners[condition.pk] = partner
    return partners


def dess_second_echo_condition_ids(study: Study) -> set[int]:
    """The ids of the conditions that hold a second DESS echo (not arms of the study)."""
    return {partner.pk for partner in dess_echo_partners(study).values()}


def t2_agreement_rows(study: Study) -> list[dict[str, Any]]:
    """One row per case x condition x region (``T2_AGREEMENT_ROW_KEYS``), as last computed by
    ``measurements.services.t2_agreement_compute``: Lin's CCC with its 95 % interval, the
    within-voxel CV%, the mean T2 of the condition's and of the reference's map (ms) and the
    number of voxels, over the region; None where not computed, with ``note`` saying why."""
    results = (
        T2AgreementResult.objects.filter(case__study=study)
        .select_related("case", "condition", "reference")
        .order_by("case__code", "condition__order", "condition__label", "region")
    )
    return [
        {
            "case": r.case.code,
            "condition": r.condition.label,
            "reference": r.reference.label,
            "region": r.region,
            "ccc": r.ccc,
            "ccc_lower": r.ccc_lower,
            "ccc_upper": r.ccc_upper,
            "cv_percent": r.cv_percent,
            "mean_t2_ms": r.mean_t2_ms,
            "reference_mean_t2_ms": r.reference_mean_t2_ms,
            "n_voxels": r.n_voxels,
            "note": r.note,
        }
        for r in results
    ]
