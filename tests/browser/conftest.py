"""Playwright with Debian's Chromium (never ``playwright install``): see SETUP-NOTES."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import MLOpsServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: JupyterLab pages wait this long: kernels, torch and the browser share a loaded 2-core machine.
LAB_TIMEOUT_MS = 60_000


@pytest.fixture
def mlops_browser() -> Iterator[Any]:
    """A headless Chromium per test.

    Function scope on purpose: the sync API keeps its event loop running in this thread, and
    pytest-jupyter's autouse ``jp_asyncio_loop`` closes the current loop after every test.
    """
    import playwright.sync_api as playwright_api

    # No skip: the test command installs Chromium, so a missing browser is a set-up failure.
    assert Path(CHROMIUM).exists(), "Chromium is missing: run bash scripts/test.sh (apt chromium)"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def open_page(browser: Any, width: int, height: int, timeout_ms: int) -> Iterator[Any]:
    """A fresh page of this size and timeout; page errors are printed for the test log."""
    from playwright.sync_api import expect

    expect.set_options(timeout=timeout_ms)  # kernels on a loaded 2-core machine can be slow
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def mlops_page(mlops_browser: Any) -> Iterator[Any]:
    """A fresh 1100x900 page with 30 s timeouts."""
    with open_page(mlops_browser, 1100, 900, 30_000) as page:
        yield page


@pytest.fixture
def artifacts() -> Path:
    """The folder for screenshots (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def running(server: MLOpsServer) -> Iterator[MLOpsServer]:
    """Start ``server`` (set up as the test needs), yield it, stop it and name its log."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(f"server log: {server.log_path}")


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[MLOpsServer]:
    """A JupyterLab server with the extension, on an empty store."""
    yield from running(MLOpsServer(tmp_path / "server", app="lab"))


@pytest.fixture
def lab_page(mlops_browser: Any) -> Iterator[Any]:
    """A 1280x800 page (the README's screenshot size) with JupyterLab's timeouts."""
    with open_page(mlops_browser, 1280, 800, LAB_TIMEOUT_MS) as page:
        yield page


@pytest.fixture
def tall_lab_page(mlops_browser: Any) -> Iterator[Any]:
    """A 1280x900 page with JupyterLab's timeouts (room for charts and tables)."""
    with open_page(mlops_browser, 1280, 900, LAB_TIMEOUT_MS) as page:
        yield page
