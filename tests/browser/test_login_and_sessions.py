"""A reader logs in through the real login page and sees their own reading sessions."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from readerstudy.reading.models import Reading
from readerstudy.studies.models import Study
from tests import factories as f

pytestmark = pytest.mark.browser

SECRET_LABELS = ("SR-secret-label", "LR-secret-label", "HR-secret-label")
SECRET_CASE_CODES = ("KNEE-SECRET-001", "KNEE-SECRET-002", "KNEE-SECRET-003")


@pytest.fixture
def reading_data(transactional_db):
    """Reader ``alice``: session 1 open with three readings, session 2 not open yet.

    Reader ``bob`` reads the same study; his session 9 must never show on alice's page.
    """
    study = f.StudyFactory(name="Knee SR study", status=Study.Status.ACTIVE)
    conditions = [f.ConditionFactory(study=study, label=label) for label in SECRET_LABELS]
    cases = [f.CaseFactory(study=study, code=code) for code in SECRET_CASE_CODES]
    series = [
        f.ImageSeriesFactory(case=case, condition=condition)
        for case, condition in zip(cases, conditions, strict=True)
    ]

    alice = f.ReaderParticipationFactory(study=study, user__username="alice", code="R1")
    first = f.ReadingSessionFactory(participation=alice, number=1)
    statuses = [Reading.Status.SUBMITTED, Reading.Status.IN_PROGRESS, Reading.Status.PENDING]
    for position, (one_series, status) in enumerate(zip(series, statuses, strict=True), start=1):
        f.ReadingFactory(session=first, series=one_series, position=position, status=status)
    second = f.ReadingSessionFactory(
        participation=alice, number=2, opens_at=timezone.now() + timedelta(days=7)
    )
    f.ReadingFactory(session=second, series=series[0], position=1)

    bob = f.ReaderParticipationFactory(study=study, user__username="bob", code="R2")
    f.ReadingFactory(session__participation=bob, session__number=9, series=series[1], position=1)
    return {"study": study, "alice": alice.user, "bob": bob.user}


def test_reader_logs_in_and_sees_own_sessions(page: Page, login, live_server, reading_data, tmp_path):
    login(page, "alice", next_url=None)
    # Straight to the next open reading; the sessions list is one click away.
    expect(page).to_have_url(re.compile(r"/reading/[0-9a-f-]{36}/$"))
    expect(page.locator("h1")).to_contain_text("Reading 2 of 3")
    page.get_by_role("link", name="All sessions").click()
    expect(page).to_have_url(f"{live_server.url}/reading/")
    expect(page.locator("h1")).to_have_text("My reading sessions")
    expect(page.get_by_role("heading", name="Knee SR study")).to_be_visible()

    sessions = page.locator("section.session")
    expect(sessions).to_have_count(2)

    first = page.locator("section.session[data-session='1']")
    expect(first.locator("h3")).to_contain_text("Session 1")
    expect(first.locator("h3")).to_contain_text("1 of 3 done")
    rows = first.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Reading 1 of 3")
    expect(rows.nth(0)).to_contain_text("Submitted")
    expect(rows.nth(0).get_by_role("link")).to_have_count(0)
    expect(rows.nth(1)).to_contain_text("Reading 2 of 3")
    expect(rows.nth(1)).to_contain_text("In progress")
    expect(rows.nth(1).get_by_role("link", name="Continue")).to_be_visible()
    expect(rows.nth(2)).to_contain_text("Reading 3 of 3")
    expect(rows.nth(2)).to_contain_text("Not started")
    expect(rows.nth(2).get_by_role("link", name="Start")).to_be_visible()

    second = page.locator("section.session[data-session='2']")
    expect(second.locator("h3")).to_contain_text("Session 2")
    expect(second.locator("h3")).to_contain_text("0 of 1 done")
    expect(second).to_contain_text("Opens 7 days after you complete session 1")
    expect(second.locator("tbody tr")).to_have_count(0)

    # Bob's session is not alice's business; readers never see labels or case codes.
    html = page.content()
    assert "Session 9" not in html
    assert not re.search(r"\bbob\b", html)
    for secret in SECRET_LABELS + SECRET_CASE_CODES:
        assert secret not in html

    screenshot_dir = Path(os.environ.get("READERSTUDY_SCREENSHOT_DIR") or tmp_path)
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    shot = screenshot_dir / "reader_sessions.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


def test_second_reader_sees_only_own_session(page: Page, login, live_server, reading_data):
    login(page, "bob")
    page.goto(f"{live_server.url}/reading/")
    sessions = page.locator("section.session")
    expect(sessions).to_have_count(1)
    expect(sessions.first.locator("h3")).to_contain_text("Session 9")
    expect(sessions.first.locator("tbody tr")).to_have_count(1)
    expect(sessions.first.locator("tbody tr").first).to_contain_text("Reading 1 of 1")
    html = page.content()
    assert "Session 1" not in html
    assert "Session 2" not in html
    for secret in SECRET_LABELS + SECRET_CASE_CODES:
        assert secret not in html


def test_wrong_password_shows_error_and_stays_on_login(page: Page, login, live_server, reading_data):
    login(page, "alice", password="not-the-password", next_url=None)
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.locator(".error")).to_contain_text("didn't match")
    expect(page.locator("#id_username")).to_have_value("alice")
    # Still anonymous: the reading page sends us back to the login page.
    page.goto(f"{live_server.url}/reading/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/reading/$"))


def test_login_redirects_to_next_page(page: Page, live_server, reading_data):
    page.goto(f"{live_server.url}/reading/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/reading/$"))
    page.fill("#id_username", "alice")
    page.fill("#id_password", f.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/reading/")
    expect(page.locator("section.session")).to_have_count(2)


def test_landing_page_links_reader_to_sessions(page: Page, login, live_server, reading_data):
    login(page, "alice")
    link = page.get_by_role("link", name="My reading sessions")
    expect(link).to_be_visible()
    assert link.get_attribute("href") == "/reading/"
    # The top bar names the user and offers the reader's pages only.
    expect(page.locator("header .user")).to_have_text("alice")
    expect(page.locator("header").get_by_role("link", name="My readings")).to_be_visible()
    expect(page.locator("header").get_by_role("link", name="Studies")).to_have_count(0)
