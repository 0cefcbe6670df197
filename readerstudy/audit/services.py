"""Writing the audit log."""

from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from readerstudy.audit.models import AuditAction, AuditEvent
from readerstudy.studies.models import Study


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
    """
    action = AuditAction(action)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        study=study,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        data=data or {},
    )


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
