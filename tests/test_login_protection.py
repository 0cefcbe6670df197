"""Login protection (django-axes) and the security headers every page carries (django-csp).

An account is locked after AXES_FAILURE_LIMIT wrong passwords, for AXES_COOLOFF_TIME, from
every address; other accounts behind the same address are not affected.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from readerstudy.audit.models import AuditEvent
from tests import factories as f

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("login")


def log_in(client: Client, username: str, password: str, url: str = LOGIN_URL, **extra: str):
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def fail_until_locked(client: Client, username: str, **extra: str):
    """Wrong passwords up to the limit; returns the last answer (the lockout)."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = log_in(client, username, "wrong-password", **extra)
        assert response.status_code == 200, "refused before the limit"
        assert "didn't match" in response.content.decode()
    return log_in(client, username, "wrong-password", **extra)


@pytest.fixture
def reader(db):
    return f.UserFactory(username="radiologist", roles=["reader"])


def test_failure_limit_locks_the_account_even_for_the_right_password(client, reader):
    locked = fail_until_locked(client, "radiologist")
    assert locked.status_code == 429
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    html = locked.content.decode()
    assert "Account locked" in html and f"locked for {minutes} minutes" in html
    assert "readerstudy/site.css" in html and "study coordinator" in html

    refused = log_in(client, "radiologist", f.PASSWORD)
    assert refused.status_code == 429 and "Account locked" in refused.content.decode()
    assert logged_in_as(client) is None
    # Locked per account: from another address too.
    refused = log_in(Client(), "radiologist", f.PASSWORD, REMOTE_ADDR="10.1.2.3")
    assert refused.status_code == 429


def test_the_lockout_ends_after_the_cool_off(client, reader):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert fail_until_locked(client, "radiologist").status_code == 429
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME - timedelta(minutes=1), tick=False):
        assert log_in(client, "radiologist", f.PASSWORD).status_code == 429
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=1), tick=False):
        response = log_in(client, "radiologist", f.PASSWORD)
        assert response.status_code == 302 and logged_in_as(client) == str(reader.pk)


def test_lockout_and_failures_are_audited(client, reader):
    fail_until_locked(client, "radiologist")
    log_in(client, "no-such-account", "wrong-password")
    lockout = AuditEvent.objects.get(action="login.locked_out")
    assert lockout.target_type == "auth.User" and lockout.target_id == str(reader.pk)
    assert lockout.actor is None
    assert lockout.data == {
        "username": "radiologist",
        "ip_address": "127.0.0.1",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    failed = AuditEvent.objects.filter(action="login.failed")
    assert failed.filter(target_id=str(reader.pk)).count() == settings.AXES_FAILURE_LIMIT
    # A username that names no account is not kept (it may be a mistyped password).
    unknown = failed.get(target_id="")
    assert unknown.data == {"username": None, "ip_address": "127.0.0.1"}


def test_another_account_from_the_same_address_is_not_locked(client, reader):
    colleague = f.UserFactory(username="colleague", roles=["reader"])
    assert fail_until_locked(client, "radiologist").status_code == 429
    other = Client()  # the same address (127.0.0.1): one hospital behind one NAT address
    response = log_in(other, "colleague", f.PASSWORD)
    assert response.status_code == 302 and logged_in_as(other) == str(colleague.pk)


def test_a_successful_login_clears_earlier_failures(client, reader):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "radiologist", "wrong-password")
    assert log_in(client, "radiologist", f.PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "radiologist", "wrong-password").status_code == 200
    assert log_in(client, "radiologist", f.PASSWORD).status_code == 302


def test_the_admin_login_is_protected_too(client):
    f.UserFactory(username="admin", is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = log_in(client, "admin", "wrong-password", url=url)
    assert response.status_code == 429
    assert log_in(client, "admin", f.PASSWORD, url=url).status_code == 429
    assert logged_in_as(client) is None


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize("page", ["login", "home", "reading"])
def test_pages_carry_a_content_security_policy_without_inline_scripts(client, reader_setup, page):
    reader1, _ = reader_setup["readers"]
    reading1, _ = reader_setup["readings"]
    if page != "login":
        client.force_login(reader1)
    url = {
        "login": LOGIN_URL,
        "home": reverse("readerstudy:home"),
        "reading": reverse("readerstudy:reading_detail", args=[reading1.public_id]),
    }[page]
    response = client.get(url, follow=True)
    assert response.status_code == 200
    directives = csp_directives(response)
    assert directives["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


#: What the Content-Security-Policy refuses in a page: inline scripts, <style> elements, style
#: attributes, event-handler attributes and javascript: links. A JSON data block
#: (<script type="application/json">) is not run, so the policy lets it be.
INLINE = re.compile(
    r"<script(?![^>]*\b(?:src=|type=\"application/json\"))|<style\b|\sstyle=|\son[a-z]+=[\"']|javascript:",
    re.IGNORECASE,
)


def test_templates_have_nothing_inline_that_the_policy_refuses():
    """The browser tests see the pages they open; this covers every template."""
    found = [
        f"{template.relative_to(settings.BASE_DIR)}:{number}: {line.strip()}"
        for template in sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))
        for number, line in enumerate(template.read_text().splitlines(), start=1)
        if INLINE.search(line)
    ]
    assert not found, "\n".join(found)
