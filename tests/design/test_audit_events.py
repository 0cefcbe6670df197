"""The audit event each schedule service writes (one test per service)."""

from unittest.mock import ANY

import pytest
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.design import services as design
from readerstudy.reading.models import Reading
from readerstudy.studies.models import Study
from tests import factories as f
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft_study(coordinator):
    """Two conditions, four cases with a series under each, two readers."""
    study = f.StudyFactory(coordinators=[coordinator], status=Study.Status.DRAFT, washout_days=14)
    conditions = [f.ConditionFactory(study=study, label=label) for label in ("LR", "SR")]
    for n in range(1, 5):
        case = f.CaseFactory(study=study, code=f"C{n}")
        for condition in conditions:
            f.ImageSeriesFactory(case=case, condition=condition)
    for code in ("R1", "R2"):
        f.ReaderParticipationFactory(study=study, code=code)
    return study


def test_schedule_draft_create(draft_study, coordinator):
    draft = design.schedule_draft_create(study=draft_study, actor=coordinator, seed=5)
    event_written(
        AuditAction.SCHEDULE_GENERATE,
        actor=coordinator,
        target=draft,
        study=draft_study,
        data={
            "version": 1,
            "phase": "reading",
            "seed": "5",
            "kind": "crossed",
            "stratify_by": None,
            "block_by": None,
            "n_groups": None,
            "readings": 16,
            "problems": 0,
            "carried_over": [],
            "reason": "",
        },
    )


def test_schedule_draft_discard(draft_study, coordinator):
    draft = design.schedule_draft_create(study=draft_study, actor=coordinator, seed=5)
    pk = draft.pk
    design.schedule_draft_discard(schedule=draft, actor=coordinator)
    draft.pk = pk
    event_written(
        AuditAction.SCHEDULE_DISCARD, actor=coordinator, target=draft, study=draft_study, data={"version": 1}
    )


def test_schedule_activate_records_which_version_became_active(draft_study, coordinator):
    first = design.schedule_draft_create(study=draft_study, actor=coordinator, seed=5)
    design.schedule_activate(schedule=first, actor=coordinator)
    event_written(
        AuditAction.SCHEDULE_ACTIVATE,
        actor=coordinator,
        target=first,
        study=draft_study,
        data={
            "before": {"active_version": None},
            "after": {"active_version": 1},
            "phase": "reading",
            "readings_created": 16,
            "carried_over": [],
            "reason": "",
        },
    )


def test_session_washout_waive(draft_study, coordinator):
    design.schedule_activate(
        schedule=design.schedule_draft_create(study=draft_study, actor=coordinator, seed=5), actor=coordinator
    )
    participation = draft_study.participations.get(code="R1")
    first, second = participation.sessions.order_by("number")
    first.readings.update(status=Reading.Status.SUBMITTED, submitted_at=timezone.now())
    first.completed_at = timezone.now()
    first.save(update_fields=["completed_at"])
    design.session_washout_waive(session=second, actor=coordinator, reason="Reader leaves next week")
    event_written(
        AuditAction.SESSION_WASHOUT_WAIVE,
        actor=coordinator,
        target=second,
        study=draft_study,
        data={
            "reader": "R1",
            "session": 2,
            "washout_days": 14,
            "reason": "Reader leaves next week",
            "before": {"washout_waived_at": None, "washout_waived_by": None},
            "after": {"washout_waived_at": ANY, "washout_waived_by": coordinator.get_username()},
        },
    )
