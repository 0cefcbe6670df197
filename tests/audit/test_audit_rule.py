"""The audit log's rule: enumerated actions, and before/after on every change."""

import pathlib
import re

import pytest

from readerstudy.audit.models import AuditAction, AuditEvent
from readerstudy.audit.services import AUDIT_TEXT_PREVIEW, audit_change, audit_event_create, audit_text

pytestmark = pytest.mark.django_db

TESTS = pathlib.Path(__file__).resolve().parent.parent


def test_a_change_records_only_the_fields_that_differ():
    before = {"text": "Old", "required": True, "scale": [1, 2]}
    after = {"text": "New", "required": True, "scale": [1, 2, 3]}
    assert audit_change(before, after) == {
        "before": {"text": "Old", "scale": [1, 2]},
        "after": {"text": "New", "scale": [1, 2, 3]},
    }
    assert audit_change({"a": 1}, {"b": 2}) == {"before": {"a": 1, "b": None}, "after": {"a": None, "b": 2}}


def test_something_created_has_no_before_and_something_deleted_no_after():
    assert audit_change(None, {"key": "q1"}) == {"before": None, "after": {"key": "q1"}}
    assert audit_change({"key": "q1"}, None) == {"before": {"key": "q1"}, "after": None}


def test_a_change_action_without_before_and_after_is_refused(study, coordinator):
    with pytest.raises(ValueError, match="needs 'before' and 'after'"):
        audit_event_create(actor=coordinator, action=AuditAction.STUDY_LOCK, target=study, study=study)
    with pytest.raises(ValueError, match="no 'before'/'after'"):
        audit_event_create(
            actor=coordinator,
            action=AuditAction.ANALYSIS_RUN,
            target=study,
            study=study,
            data=audit_change({"a": 1}, {"a": 2}),
        )
    assert not AuditEvent.objects.exists()


def test_long_text_is_recorded_as_a_preview_its_length_and_hash():
    assert audit_text("short") == "short"
    long = "x" * (AUDIT_TEXT_PREVIEW + 1)
    recorded = audit_text(long)
    assert isinstance(recorded, dict)
    assert recorded["preview"] == "x" * AUDIT_TEXT_PREVIEW and recorded["length"] == len(long)
    assert len(recorded["sha256"]) == 64


def test_events_cannot_be_changed_or_deleted(study, coordinator):
    event = audit_event_create(actor=coordinator, action=AuditAction.STUDY_CREATE, target=study, study=study)
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().update(target_repr="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


def test_every_action_has_a_test_asserting_its_event():
    """Each domain's ``test_audit_events.py`` asserts the event of every service it has."""
    sources = "\n".join(path.read_text() for path in TESTS.rglob("test_audit_events.py"))
    asserted = set(re.findall(r"AuditAction\.([A-Z0-9_]+)", sources))
    missing = sorted(action.name for action in AuditAction if action.name not in asserted)
    assert not missing, f"no test_audit_events.py asserts these actions: {missing}"
