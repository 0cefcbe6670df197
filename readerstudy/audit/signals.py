"""Signal receivers: failed and locked-out logins go to the audit log.

Connected in ``ReaderStudyConfig.ready()``. Lockouts come from django-axes
(``axes.signals.user_locked_out``: the lockout starts, or a login is refused while it lasts).
"""

from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_login_event


def _client_address(request: HttpRequest | None) -> str | None:
    if request is None:  # e.g. authenticate() called without a request
        return None
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR")


@receiver(user_login_failed, dispatch_uid="readerstudy.audit_login_failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    audit_login_event(
        action=AuditAction.LOGIN_FAILED,
        username=credentials.get(get_user_model().USERNAME_FIELD),
        ip_address=_client_address(request),
    )


@receiver(user_locked_out, dispatch_uid="readerstudy.audit_login_locked_out")
def audit_login_locked_out(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    audit_login_event(
        action=AuditAction.LOGIN_LOCKED_OUT,
        username=username,
        ip_address=ip_address,
        failure_limit=settings.AXES_FAILURE_LIMIT,
        cool_off_minutes=int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    )
