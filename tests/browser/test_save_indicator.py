"""The save indicator never says "All changes saved" while typed text has not reached the server."""

import pytest
from playwright.sync_api import Page, expect

from readerstudy.reading.models import Answer
from tests.browser.test_workstation import demo, open_first_reading, wait_saved  # noqa: F401 (demo is a fixture)

pytestmark = pytest.mark.browser


def _comment(reading) -> str | None:
    answer = Answer.objects.filter(reading=reading, question__key="comment").first()
    return answer.text if answer else None


def test_a_comment_typed_and_reloaded_at_once_is_saved(demo, live_server, page: Page, login):  # noqa: F811
    reading = open_first_reading(page, login, live_server)
    wait_saved(page)
    page.on("dialog", lambda dialog: dialog.accept())  # "Leave site? Changes may not be saved."
    page.get_by_role("textbox", name="Comment").fill("Small cyst, posterior horn")
    # The text waits for a typing pause before it is sent: that is unsaved, not saved.
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saving")
    expect(page.locator("#save-state")).to_have_text("Saving…")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
    wait_saved(page)
    assert _comment(reading) == "Small cyst, posterior horn"
    expect(page.get_by_role("textbox", name="Comment")).to_have_value("Small cyst, posterior horn")


def test_a_comment_typed_offline_is_saved_after_reconnection(demo, live_server, page: Page, login):  # noqa: F811
    reading = open_first_reading(page, login, live_server)
    wait_saved(page)
    page.context.set_offline(True)
    page.get_by_role("textbox", name="Comment").fill("Seen offline")
    expect(page.locator("#save-state")).to_have_text("Saving…")
    page.get_by_role("textbox", name="Comment").blur()  # leaving the box sends it at once
    expect(page.locator("#save-state")).to_have_attribute("data-state", "retrying")
    assert _comment(reading) is None
    page.context.set_offline(False)
    wait_saved(page)
    assert _comment(reading) == "Seen offline"
