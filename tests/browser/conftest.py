"""Real Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright for Python.

``.ci/run`` installs the browser and ``scripts/test`` the npm packages in ``tests/js``;
the tests fail, rather than skip, when either is missing, so CI never passes without them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = os.environ.get("CONSENT_GATEWAY_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[1] / "output"
# Without the background-networking flags Chromium keeps calling Google's hosts, which this
# closed network refuses. Names under .test (reserved, RFC 2606) resolve to loopback, so a
# test can serve one site on several hosts (www.shop.test and gw.shop.test).
CHROMIUM_ARGS = [
    "--host-resolver-rules=MAP *.test 127.0.0.1",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module: Playwright's sync API holds an event loop while it
    runs, which must be gone before the suite's asyncio tests start."""
    if not Path(CHROMIUM).is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: an empty cookie jar."""
    created = browser.new_context()
    yield created
    created.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where browser tests write screenshots (kept out of git)."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
