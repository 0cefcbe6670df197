"""Browser tests: real headless Chromium (Debian's) driven by Playwright against a live server."""
