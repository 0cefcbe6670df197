"""Rules the data model itself enforces."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from readerstudy.audit.models import AuditAction, AuditEvent
from readerstudy.audit.services import audit_event_create
from readerstudy.studies.models import Condition, Question
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_audit_events_are_append_only(study, coordinator):
    event = audit_event_create(actor=coordinator, action="study.create", target=study, study=study)
    event.action = "tampered"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "study.create"
    assert event.target_type == "readerstudy.Study" and event.target_id == str(study.pk)


def test_audit_actions_are_one_enumeration(study, coordinator):
    with pytest.raises(ValueError, match="AuditAction"):
        audit_event_create(actor=coordinator, action="study.craete", target=study, study=study)
    assert not AuditEvent.objects.exists()
    event = audit_event_create(actor=coordinator, action=AuditAction.STUDY_CREATE, study=study)
    assert AuditEvent.objects.get(pk=event.pk).action == "study.create"
    assert all(action.value.count(".") >= 1 for action in AuditAction)


def test_conditions_get_distinct_opaque_codes(study):
    codes = {f.ConditionFactory(study=study).code for _ in range(5)}
    assert len(codes) == 5
    assert all(code.startswith("C-") for code in codes)


def test_condition_label_unique_within_a_study(study):
    Condition.objects.create(study=study, label="SR")
    with pytest.raises(IntegrityError):
        Condition.objects.create(study=study, label="SR")


def test_one_series_per_case_and_condition(study):
    series = f.ImageSeriesFactory(case__study=study)
    with pytest.raises(IntegrityError):
        f.ImageSeriesFactory(case=series.case, condition=series.condition)


@pytest.mark.parametrize(
    "scale",
    [
        "not a list",
        [{"value": 1}],
        [{"value": 2, "label": "b"}, {"value": 1, "label": "a"}],
        [{"value": 1.5, "label": "x"}, {"value": 2, "label": "y"}],
        [{"value": 1, "label": " "}, {"value": 2, "label": "y"}],
    ],
)
def test_bad_scales_are_rejected(study, scale):
    question = Question(study=study, key="q", text="Q", kind=Question.Kind.LIKERT, scale=scale)
    with pytest.raises(ValidationError):
        question.full_clean()


def test_likert_needs_two_points(study):
    question = Question(
        study=study, key="q", text="Q", kind=Question.Kind.LIKERT, scale=[{"value": 1, "label": "a"}]
    )
    with pytest.raises(ValidationError):
        question.full_clean()
