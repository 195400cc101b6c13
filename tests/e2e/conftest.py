"""Browser tests of the review page against a deployed stack.

The LocalStack fixtures are shared with the integration suite (tests/conftest.py: one LocalStack
and one ``terraform apply`` per session). To iterate on the page against a stack that is already
running (``make deploy-local``), set ``TEXTLOOP_TEST_STATE_DIR`` to its state dir.
"""

import os
from pathlib import Path

import pytest

from tests.integration.conftest import _localstack_credentials  # noqa: F401 - autouse fixture

CHROMIUM = os.environ.get("TEXTLOOP_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium phones home at start-up, and this
# machine's closed network refuses those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (Playwright's own browsers are a
    download this machine cannot make)."""
    from playwright import sync_api

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (or set TEXTLOOP_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
