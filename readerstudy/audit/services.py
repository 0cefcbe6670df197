"""Writing the audit log."""

import hashlib
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from readerstudy.audit.models import AUDIT_CHANGE_ACTIONS, AuditAction, AuditEvent
from readerstudy.studies.models import Study

#: Text longer than this is recorded in the audit log as a preview, its length and its hash.
AUDIT_TEXT_PREVIEW = 200


def audit_event_create(
    *,
    actor: Any,
    action: AuditAction,
    target: models.Model | None = None,
    study: Study | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that ``actor`` did ``action`` to ``target`` (append-only).

    ``actor`` may be ``None`` (or an anonymous user) for actions of the system itself,
    e.g. a management command. ``action`` must be one of :class:`AuditAction` (a plain string
    with its value is accepted; anything else raises ValueError).

    The ``data`` of a change action (``AUDIT_CHANGE_ACTIONS``) must hold ``before`` and
    ``after`` (build them with :func:`audit_change`); any other action must not.
    """
    action = AuditAction(action)
    data = dict(data or {})
    is_change = "before" in data and "after" in data
    if action in AUDIT_CHANGE_ACTIONS and not is_change:
        raise ValueError(
            f"The audit event '{action}' changes something: its data needs 'before' and 'after'."
        )
    if action not in AUDIT_CHANGE_ACTIONS and ("before" in data or "after" in data):
        raise ValueError(
            f"The audit event '{action}' changes nothing stored: its data has no 'before'/'after'."
        )
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        study=study,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        data=data,
    )


def audit_change(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """The standard ``data`` of a change event: ``{"before": ..., "after": ...}``.

    Something created has ``before`` None and its fields in ``after``; something deleted
    has its fields in ``before`` and ``after`` None. For a change both hold only the fields
    whose value differs (a field present on one side only is None on the other).
    """
    if before is None or after is None:
        return {
            "before": dict(before) if before is not None else None,
            "after": dict(after) if after is not None else None,
        }
    fields = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    return {
        "before": {key: before.get(key) for key in fields},
        "after": {key: after.get(key) for key in fields},
    }


def audit_login_event(
    *, action: AuditAction, username: str | None, ip_address: str | None, **data: Any
) -> AuditEvent:
    """Record a login event (``login.failed``, ``login.locked_out``) for the account tried.

    The typed username is kept only when it names an account: people sometimes type their
    password into the username field.
    """
    user_model = get_user_model()
    account = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first() if username else None
    return audit_event_create(
        actor=None,
        action=action,
        target=account,
        data={"username": account.get_username() if account else None, "ip_address": ip_address, **data},
    )


def audit_text(text: str) -> str | dict[str, object]:
    """How a free text goes into the audit log: itself when short, else a preview, length and hash."""
    if len(text) <= AUDIT_TEXT_PREVIEW:
        return text
    return {
        "preview": text[:AUDIT_TEXT_PREVIEW],
        "length": len(text),
        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    }
