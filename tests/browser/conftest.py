"""Fixtures for browser tests: Debian's Chromium, headless, driven by Playwright.

The browser talks to pytest-django's ``live_server`` (a real HTTP server in a
thread, on a transactional test database). Playwright's sync API runs an event
loop in the test's thread, so Django's "async unsafe" guard must be relaxed for
the ORM calls tests make while a page is open.

The browser is ``/usr/bin/chromium`` (``apt-get install chromium``), or the path
in ``READERSTUDY_CHROMIUM``. Playwright never downloads a browser here. When the
browser is missing the tests fail (not skip): ``bash bin/test`` installs it.

Every page runs under the site's Content-Security-Policy; a test whose page reports a
violation (a blocked script, style, worker, image or request) fails, so the suite proves
that the workstation works under that policy.
"""

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("READERSTUDY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    # WebGL for the Cornerstone3D viewer, rendered in software (SwiftShader) without a GPU.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000
CSP_VIOLATION = "Content-Security-Policy violation"
# Chromium logs most violations to the console itself ("... violates the following Content
# Security Policy directive ..."); each document also logs every securitypolicyviolation
# event, which covers the ones it only throws (e.g. a refused WebAssembly compile).
REPORT_CSP_VIOLATIONS = f"""
document.addEventListener("securitypolicyviolation", (event) => {{
  console.error(`{CSP_VIOLATION}: ${{event.effectiveDirective}} blocked ${{event.blockedURI || "inline"}}`
    + ` (${{event.sourceFile || event.documentURI}}:${{event.lineNumber}}) in ${{event.documentURI}}`);
}});
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. The browser tests need Debian's chromium: "
            "run `bash bin/test` (it installs it) or `apt-get install -y chromium` as root, "
            "or set READERSTUDY_CHROMIUM to a Chromium executable.",
            pytrace=False,
        )
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in a fresh browser context (no cookies shared between tests).

    The test fails if any page of the context reported a Content-Security-Policy violation.
    At the end the page leaves for about:blank (the workstation then sends what it has
    not saved yet) and the requests still under way are waited for, so none reaches the
    live server while the test database is flushed. Tests list their database fixtures
    before ``page`` so that the page closes first.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    under_way: set = set()
    context.on("request", lambda request: under_way.add(request))
    context.on("requestfinished", lambda request: under_way.discard(request))
    context.on("requestfailed", lambda request: under_way.discard(request))
    violations: list[str] = []
    context.add_init_script(script=REPORT_CSP_VIOLATIONS)

    def collect_violation(message: ConsoleMessage) -> None:
        if CSP_VIOLATION in message.text or "Content Security Policy" in message.text:
            violations.append(message.text)

    context.on("console", collect_violation)
    page = context.new_page()
    try:
        yield page
    finally:
        try:
            page.goto("about:blank")
            for _ in range(100):  # at most 5 s
                if not under_way:
                    break
                page.wait_for_timeout(50)
        finally:
            context.close()
            _wait_for_live_server_requests()
    if violations:
        pytest.fail("The page broke the Content-Security-Policy:\n" + "\n".join(violations), pytrace=False)


def _wait_for_live_server_requests(timeout_s: float = 5.0) -> None:
    """Wait until the live server (in this process) has no request in progress.

    Its request threads run ``process_request_thread`` (socketserver.ThreadingMixIn), which
    Python names them after; a request still running when the test database is flushed
    could deadlock with the flush.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any("process_request_thread" in t.name for t in threading.enumerate() if t.is_alive()):
            return
        time.sleep(0.02)


@pytest.fixture
def login(live_server) -> Callable[..., Page]:
    """``login(page, username, password=PASSWORD, next_url="/")``: log in through Django's login page.

    Returns the page, on wherever the login redirected to: ``next_url`` (the home page by
    default, as ``?next=``), or with ``next_url=None`` where the site sends a login without
    one (a reader to their next open reading: ``reading.views.after_login``).
    """

    def do_login(page: Page, username: str, password: str = PASSWORD, next_url: str | None = "/") -> Page:
        query = f"?next={next_url}" if next_url else ""
        # The live server's first request imports the whole site: on a loaded machine that can
        # take longer than a navigation may.
        page.goto(f"{live_server.url}/accounts/login/{query}", timeout=60_000)
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("form button[type=submit]")
        return page

    return do_login
