"""The audit events of logins (the audit domain's own receivers of django's and django-axes' signals)."""

import pytest
from django.conf import settings
from django.urls import reverse

from readerstudy.audit.models import AuditAction
from tests import factories as f
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db


def _log_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_a_wrong_password_is_a_failed_login_of_that_account(client):
    reader = f.UserFactory(username="radiologist", roles=["reader"])
    _log_in(client, "radiologist", "wrong-password")
    event_written(
        AuditAction.LOGIN_FAILED,
        actor=None,
        target=reader,
        study=None,
        data={"username": "radiologist", "ip_address": "127.0.0.1"},
    )


def test_the_failure_limit_locks_the_account_out(client):
    reader = f.UserFactory(username="radiologist", roles=["reader"])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, "radiologist", "wrong-password")
    event_written(
        AuditAction.LOGIN_LOCKED_OUT,
        actor=None,
        target=reader,
        study=None,
        data={
            "username": "radiologist",
            "ip_address": "127.0.0.1",
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
    )
