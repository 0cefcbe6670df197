"""The audit event each measurement service writes (one test per service)."""

import uuid
from unittest.mock import ANY

import pytest

from readerstudy.audit.models import AuditAction
from readerstudy.measurements import services as svc
from readerstudy.reading.services import patient_position
from tests import dess_series
from tests import factories as f
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db

ROI = uuid.UUID(int=11)
BACKGROUND = uuid.UUID(int=12)
CNR = uuid.UUID(int=13)


def _circle(case, series, actor, client_id, centre, radius_px, label=""):
    points = [list(patient_position(series, 3, *p)) for p in (centre, (centre[0] + radius_px, centre[1]))]
    return svc.measurement_roi_save(
        case=case,
        client_id=client_id,
        kind="circle",
        series=series,
        slice_index=3,
        points_mm=points,
        label=label,
        actor=actor,
    )[0]


def _roi_after(roi):
    return {
        "kind": roi.kind,
        "label": roi.label,
        "series": str(roi.drawn_on.public_id),
        "slice": 3,
        "points": roi.drawn_points,
        "points_mm": roi.points_mm,
        "radius_mm": roi.radius_mm,
    }


def test_measurement_roi_save_creates_then_updates(case_series, coordinator, study):
    case, series, _ = case_series
    roi = _circle(case, series["HR"], coordinator, ROI, (32, 32), 4, label="rod")
    event_written(
        AuditAction.MEASUREMENT_ROI_CREATE,
        actor=coordinator,
        target=roi,
        study=study,
        data={"client_id": str(ROI), "case": "K1", "number": 1, "before": None, "after": _roi_after(roi)},
    )
    _circle(case, series["HR"], coordinator, ROI, (32, 32), 4, label="rod centre")
    event_written(
        AuditAction.MEASUREMENT_ROI_UPDATE,
        actor=coordinator,
        target=roi,
        study=study,
        data={
            "client_id": str(ROI),
            "case": "K1",
            "number": 1,
            "before": {"label": "rod"},
            "after": {"label": "rod centre"},
        },
    )


def test_measurement_roi_delete(case_series, coordinator, study):
    case, series, _ = case_series
    roi = _circle(case, series["HR"], coordinator, ROI, (32, 32), 4)
    recorded = _roi_after(roi)
    svc.measurement_roi_delete(case=case, client_id=ROI, actor=coordinator)
    event_written(
        AuditAction.MEASUREMENT_ROI_DELETE,
        actor=coordinator,
        target=roi,
        study=study,
        data={
            "client_id": str(ROI),
            "case": "K1",
            "number": 1,
            "cnrs_deleted": [],
            "before": recorded,
            "after": None,
        },
    )


def test_measurement_cnr_save_and_delete(case_series, coordinator, study):
    case, series, _ = case_series
    _circle(case, series["HR"], coordinator, ROI, (32, 32), 4)
    _circle(case, series["HR"], coordinator, BACKGROUND, (10, 10), 4)
    cnr = svc.measurement_cnr_save(case=case, client_id=CNR, roi_a=ROI, roi_b=BACKGROUND, actor=coordinator)[
        0
    ]
    fields = {"roi_a": 1, "roi_b": 2}
    event_written(
        AuditAction.MEASUREMENT_CNR_CREATE,
        actor=coordinator,
        target=cnr,
        study=study,
        data={"client_id": str(CNR), "case": "K1", "before": None, "after": {**fields, "label": ""}},
    )
    svc.measurement_cnr_save(
        case=case, client_id=CNR, roi_a=ROI, roi_b=BACKGROUND, label="rod/background", actor=coordinator
    )
    event_written(
        AuditAction.MEASUREMENT_CNR_UPDATE,
        actor=coordinator,
        target=cnr,
        study=study,
        data={
            "client_id": str(CNR),
            "case": "K1",
            "before": {"label": ""},
            "after": {"label": "rod/background"},
        },
    )
    svc.measurement_cnr_delete(case=case, client_id=CNR, actor=coordinator)
    event_written(
        AuditAction.MEASUREMENT_CNR_DELETE,
        actor=coordinator,
        target=cnr,
        study=study,
        data={
            "client_id": str(CNR),
            "case": "K1",
            "before": {**fields, "label": "rod/background"},
            "after": None,
        },
    )


def test_measurement_case_recompute(case_series, coordinator, study):
    case, series, _ = case_series
    _circle(case, series["HR"], coordinator, ROI, (32, 32), 4)
    svc.measurement_case_recompute(case=case, actor=coordinator)
    event_written(
        AuditAction.MEASUREMENT_RECOMPUTE,
        actor=coordinator,
        target=case,
        study=study,
        data={"case": "K1", "rois": 1, "series": ANY},
    )
    event = study.audit_events.get(action=AuditAction.MEASUREMENT_RECOMPUTE)
    assert sorted(event.data["series"]) == sorted(str(s.public_id) for s in series.values())


def test_fidelity_reference_set_records_the_condition_it_replaced(study, conditions, coordinator):
    first = svc.fidelity_reference_set(study=study, condition=conditions["HR"], actor=coordinator)
    svc.fidelity_reference_set(study=study, condition=conditions["HR"], actor=coordinator)  # no change
    svc.fidelity_reference_set(study=study, condition=conditions["SR"], actor=coordinator)
    events = study.audit_events.filter(action=AuditAction.FIDELITY_REFERENCE_SET).order_by("id")
    assert [e.data for e in events] == [
        {"before": None, "after": {"condition": "HR"}},
        {"before": {"condition": "HR"}, "after": {"condition": "SR"}},
    ]
    assert {(e.actor, e.target_id) for e in events} == {(coordinator, str(first.pk))}


def test_fidelity_compute(case_series, coordinator, study):
    svc.fidelity_compute(study=study, actor=coordinator)
    event_written(
        AuditAction.FIDELITY_COMPUTE,
        actor=coordinator,
        target=None,
        study=study,
        data={"reference": "HR", "results": 2, "compared": 1},
    )


def test_t2_agreement_compute(study, coordinator, tmp_path):
    for n, label in enumerate(("SR", "HR", "SR echo 2", "HR echo 2")):
        f.ConditionFactory(study=study, label=label, order=n)
    dess_series.import_dess_cases(
        study, tmp_path / "dess", {"K1": 40.0}, series=("SR", "HR", "SR echo 2", "HR echo 2")
    )
    svc.t2_agreement_compute(study=study, actor=coordinator)
    event_written(
        AuditAction.T2_AGREEMENT_COMPUTE,
        actor=coordinator,
        target=None,
        study=study,
        data={"reference": "HR", "results": 1, "compared": 1, "regions": ["tissue"]},
    )
