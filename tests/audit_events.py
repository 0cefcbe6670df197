"""Helpers for the tests that assert the audit event each service writes."""

from typing import Any

from django.db import models

from readerstudy.audit.models import AuditAction, AuditEvent


def event_written(
    action: AuditAction,
    *,
    actor: Any,
    target: models.Model | None,
    study: models.Model | None,
    data: dict[str, Any],
) -> AuditEvent:
    """Assert that exactly one ``action`` event was written, by ``actor`` about ``target``.

    ``data`` must equal the event's data exactly (``unittest.mock.ANY`` stands for a value
    that is not known in advance, such as a time). Returns the event.
    """
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, f"expected one '{action}' event, found {len(events)}"
    event = events[0]
    assert event.actor == actor
    assert event.study == study
    if target is None:
        assert (event.target_type, event.target_id) == ("", "")
    else:
        assert (event.target_type, event.target_id) == (target._meta.label, str(target.pk))
    assert event.data == data
    return event
