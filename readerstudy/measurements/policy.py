"""Who may take and see objective image-quality measurements.

Measurements show every condition of a case side by side, with its label: never for a reader
of the study (as references), whatever other role they hold.
"""

import uuid
from dataclasses import dataclass

from django.http import Http404, HttpRequest

from readerstudy.imaging.models import ImageSeries
from readerstudy.studies.models import Study
from readerstudy.studies.policy import User, can_coordinate, can_view_results, reads_study


def can_measure(user: User, study: Study) -> bool:
    """Draw and delete measurement ROIs, recompute values, choose the fidelity reference and
    compute image fidelity: coordinators of the study."""
    return can_coordinate(user, study) and not reads_study(user, study)


def can_view_measurements(user: User, study: Study) -> bool:
    """See the measurement pages (images of every condition, ROIs and values) without changing
    anything: coordinators and statisticians of the study."""
    return (can_coordinate(user, study) or can_view_results(user, study)) and not reads_study(user, study)


@dataclass(frozen=True)
class MeasurementViewing:
    """A series opened on the measuring page: what a DICOMweb root and the blinding need of a
    reading (``public_id``, ``series``), so that the same code serves it."""

    public_id: uuid.UUID
    series: ImageSeries

    @property
    def series_id(self) -> int:
        return self.series.pk


def series_for_measurement_request(request: HttpRequest, public_id) -> MeasurementViewing:
    """A series the user may see on the measuring page; 404 otherwise (no existence leak)."""
    series = (
        ImageSeries.objects.select_related("case__study", "condition").filter(public_id=public_id).first()
    )
    if series is None or not can_view_measurements(request.user, series.case.study):
        raise Http404
    return MeasurementViewing(public_id=series.public_id, series=series)
