"""The kernel's Python UIs read in a dark theme, in Chromium against a real Jupyter server.

Voilà 0.5 takes its theme from the page URL (``?theme=dark``, allowed by its default
``VoilaConfiguration.allow_theme_override``) or from ``VoilaConfiguration.theme``; its dark
theme is JupyterLab Dark, the same ``--jp-*`` variables a notebook in JupyterLab Dark has.

- The demo: the page background is dark, and the status, the model card, its badges and chips,
  and a classification result keep 4.5:1 text contrast (WCAG AA); in Voilà's light theme the
  same page has light backgrounds and the same contrast. The screenshot is
  ``docs/screenshots/demo-dark.png`` (refreshed with MLOPS_UPDATE_SCREENSHOTS=1).
- The ipywidgets panel (a notebook running ``%mlops panel``, served by the same Voilà): its
  section titles, status pills and tables keep 4.5:1 on the dark background too.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_lab_conventions import _COLOURS, DOC_SHOTS, _contrast, _luminance
from tests.support.demo_models import make_demo_model, png_bytes
from tests.support.leases import seed_models
from tests.support.server import MLOpsServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 60_000


def _render(server: MLOpsServer, page: Any, notebook: str, theme: str = "dark") -> None:
    page.goto(f"{server.url}voila/render/{notebook}?theme={theme}&token={server.token}")


def _assert_readable(page: Any, selectors: list[str], *, dark: bool = True) -> None:
    """Each selector matches something visible; every visible match has 4.5:1 contrast on a
    background of the theme's kind (dark: no light card left in it)."""
    for selector in selectors:
        elements = [e for e in page.locator(selector).all() if e.is_visible()]
        assert elements, selector
        for element in elements:
            text, back = element.evaluate(_COLOURS)
            assert (_luminance(back) < 0.1) if dark else (_luminance(back) > 0.5), (selector, back)
            ratio = _contrast(text, back)
            assert ratio >= 4.5, (selector, element.inner_text(), text, back, ratio)


DEMO_TEXT = [
    ".mlops-demo h1",
    ".mlops-demo .sub",
    ".mlops-demo-status .pill",
    ".mlops-demo-card .title",
    ".mlops-demo-sha1",
    ".mlops-demo-card .k",
    ".mlops-demo-model .badge",
    ".mlops-demo-model .chip",
]
RESULT_TEXT = [
    ".mlops-demo-result .headline",
    ".mlops-demo-result .pct",
    ".mlops-demo-result .meta",
]


def test_demo_reads_in_voila_dark_theme(
    mlops_server: MLOpsServer, mlops_page: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    server, page = mlops_server, mlops_page
    model = make_demo_model(tmp_path / "a.zip", seed=1, accuracy=0.6)
    seed_models(server, [tmp_path / "a.zip"])
    shutil.copy(REPO / "demo_voila.ipynb", server.notebook_dir / "demo_voila.ipynb")

    _render(server, page, "demo_voila.ipynb")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", "JupyterLab Dark")
    page.wait_for_selector(".mlops-demo-status .live", timeout=120_000)
    expect(page.locator(".mlops-demo-sha1")).to_have_text(model["sha1"], timeout=TIMEOUT_MS)

    # the page behind the demo is the theme's dark background
    back = page.locator(".mlops-demo h1").evaluate(_COLOURS)[1]
    assert _luminance(back) < 0.1, back

    with page.expect_file_chooser() as chooser:
        page.locator(".mlops-demo-upload").click()
    chooser.value.set_files(
        {"name": "gradient.png", "mimeType": "image/png", "buffer": png_bytes(320, 240)}
    )
    expect(page.locator(".mlops-demo-result .mlops-demo-bar")).to_have_count(5)

    _assert_readable(page, DEMO_TEXT + RESULT_TEXT)

    shot = artifacts / "demo-dark.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("MLOPS_UPDATE_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOC_SHOTS / "demo-dark.png")

    # the same colours in Voilà's light theme: light backgrounds, readable text
    page.close()
    page = page.context.new_page()
    _render(server, page, "demo_voila.ipynb", theme="light")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", "JupyterLab Light")
    page.wait_for_selector(".mlops-demo-status .live", timeout=120_000)
    expect(page.locator(".mlops-demo-sha1")).to_have_text(model["sha1"], timeout=TIMEOUT_MS)
    _assert_readable(page, DEMO_TEXT, dark=False)
    page.screenshot(path=str(artifacts / "demo-light.png"), full_page=True)


def _notebook(source: str) -> str:
    cell = {"cell_type": "code", "execution_count": None, "id": "panel", "metadata": {}}
    return json.dumps(
        {
            "cells": [{**cell, "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def test_panel_reads_in_a_dark_theme(
    mlops_server: MLOpsServer, mlops_page: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    server, page = mlops_server, mlops_page
    make_demo_model(tmp_path / "a.zip", seed=1, accuracy=0.6)
    seed_models(server, [tmp_path / "a.zip"])
    notebook = server.notebook_dir / "panel_dark.ipynb"
    notebook.write_text(_notebook("%load_ext jupyter_mlops\n%mlops panel"), encoding="utf-8")

    _render(server, page, "panel_dark.ipynb")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", "JupyterLab Dark")
    panel = page.locator(".mlops-panel")
    expect(panel.locator(".mlops-panel-models .pill").first).to_be_visible(timeout=120_000)
    expect(panel.locator(".mlops-panel-job .pill").first).to_be_visible()

    _assert_readable(
        page,
        [".mlops-panel h3", ".mlops-panel .pill", ".mlops-panel-deployed", ".mlops-panel-workers"],
    )
    page.screenshot(path=str(artifacts / "panel-ipywidgets-dark.png"), full_page=True)
