"""Headless Debian Chromium driven by Playwright, against pytest-django's live server."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.getenv("CHROMIUM_PATH", "/usr/bin/chromium"))
# Chromium must not try to reach the network on its own: this machine has none.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in the test thread; the ORM calls of the fixtures
# around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# One Chromium per module, not per session: while Playwright's sync API is started, its event
# loop counts as running in this thread, and a later test that calls an async view through
# Django's test client (/health/) fails ("cannot use AsyncToSync ... event loop").
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
