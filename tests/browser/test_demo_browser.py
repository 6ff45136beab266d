"""The Voilà demo in Chromium against a real Jupyter server with the extension and Voilà."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_models import make_demo_model, png_bytes
from tests.support.leases import seed_models

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 30_000


def _open_demo(server: Any, page: Any) -> None:
    shutil.copy(REPO / "demo_voila.ipynb", server.notebook_dir / "demo_voila.ipynb")
    page.goto(f"{server.url}voila/render/demo_voila.ipynb?token={server.token}")
    page.wait_for_selector(".mlops-demo-status .live", timeout=120_000)
    page.evaluate("window.__mlopsSamePage = true")


def _seed(server: Any, *paths: Path) -> int:
    """Store the models (one trial each, leased to a scripted worker); return the job id."""
    ids = seed_models(server, list(paths))
    return int(ids[0].split("-")[0])


def _upload(page: Any, name: str, data: bytes, mime: str) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator(".mlops-demo-upload").click()
    chooser.value.set_files({"name": name, "mimeType": mime, "buffer": data})


def _drop(page: Any, name: str, data: bytes, mime: str) -> None:
    """Drop a file on the page's title, away from any upload control, as a browser does."""
    transfer = page.evaluate_handle(
        """([name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            return transfer;
        }""",
        [name, list(data), mime],
    )
    target = page.locator(".mlops-demo h1")
    for event in ("dragenter", "dragover", "drop"):
        target.dispatch_event(event, {"dataTransfer": transfer})


def test_demo_follows_deployments_and_classifies(
    mlops_server: Any, mlops_page: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page, server = mlops_page, mlops_server
    model_a = make_demo_model(tmp_path / "a.zip", seed=1, accuracy=0.6)
    model_b = make_demo_model(tmp_path / "b.zip", seed=2, accuracy=0.4)
    job = _seed(server, tmp_path / "a.zip", tmp_path / "b.zip")
    status, current = server.api("GET", "deployment")
    assert current["deployment"]["sha1"] == model_a["sha1"]  # A beat nothing, B is worse

    _open_demo(server, page)
    sha1 = page.locator(".mlops-demo-sha1")
    expect(sha1).to_have_text(model_a["sha1"], timeout=TIMEOUT_MS)
    expect(page.locator(".mlops-demo-model")).to_contain_text("60.0%")
    expect(page.locator(".mlops-demo-model")).to_contain_text("airplane")
    page.screenshot(path=str(artifacts / "demo-1-model-a.png"), full_page=True)

    _upload(page, "gradient.png", png_bytes(320, 240), "image/png")
    result = page.locator(".mlops-demo-result")
    expect(result.locator(".mlops-demo-bar")).to_have_count(5, timeout=TIMEOUT_MS)
    expect(result).to_contain_text("%")
    expect(result).to_contain_text(model_a["sha1"][:12])
    page.screenshot(path=str(artifacts / "demo-2-prediction.png"), full_page=True)

    status, deployment = server.api("POST", "deployment", {"model_id": f"{job}-1"})
    assert status == 201, deployment
    expect(sha1).to_have_text(model_b["sha1"], timeout=TIMEOUT_MS)
    notice = page.locator(".mlops-demo-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Model updated")
    expect(notice).to_contain_text(model_b["sha1"][:12])
    expect(page.locator(".mlops-demo-model")).to_contain_text("manual")
    assert page.evaluate("window.__mlopsSamePage") is True  # no reload happened
    page.screenshot(path=str(artifacts / "demo-3-hot-reload-model-b.png"), full_page=True)

    _upload(page, "notes.txt", b"this is not an image\n", "text/plain")
    error = page.locator(".mlops-demo-error")
    expect(error).to_be_visible(timeout=TIMEOUT_MS)
    expect(error).to_contain_text("not an image")
    page.screenshot(path=str(artifacts / "demo-4-bad-input.png"), full_page=True)

    _drop(page, "dropped.png", png_bytes(50, 80), "image/png")  # anywhere on the page
    expect(error).to_be_hidden(timeout=TIMEOUT_MS)
    expect(result).to_contain_text("dropped.png", timeout=TIMEOUT_MS)
    expect(result).to_contain_text(model_b["sha1"][:12])
    expect(result.locator(".mlops-demo-bar")).to_have_count(5)

    # closing the page shuts its kernel down; the server's own kernels are left alone
    assert len(server.kernels()) == 1, server.kernels()  # the visitor's kernel
    page.close()
    server.wait_for(lambda: server.kernels() == [], timeout=60)


def test_demo_without_model_updates_when_one_is_deployed(
    mlops_server: Any, mlops_page: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page, server = mlops_page, mlops_server
    _open_demo(server, page)
    expect(page.locator(".mlops-demo-model")).to_contain_text("No model deployed yet")
    _upload(page, "early.png", png_bytes(), "image/png")
    expect(page.locator(".mlops-demo-error")).to_contain_text("No model is deployed yet")
    page.screenshot(path=str(artifacts / "demo-0-no-model.png"), full_page=True)

    model = make_demo_model(tmp_path / "a.zip", seed=3, accuracy=0.5)
    _seed(server, tmp_path / "a.zip")  # auto-deployed
    expect(page.locator(".mlops-demo-sha1")).to_have_text(model["sha1"], timeout=TIMEOUT_MS)
    expect(page.locator(".mlops-demo-notice")).to_contain_text("Model updated")

    # A file over the demo's limit (20 MB) gets a clear message and the page keeps working.
    # Needs the server's websocket_max_message_size above the file (tornado's default: 10 MiB).
    _upload(page, "huge.png", b"\x89PNG" + bytes(21 * 2**20), "image/png")
    error = page.locator(".mlops-demo-error")
    expect(error).to_contain_text("images up to 20 MB", timeout=60_000)
    page.screenshot(path=str(artifacts / "demo-5-huge-file.png"), full_page=True)
    _upload(page, "after.png", png_bytes(), "image/png")
    expect(error).to_be_hidden(timeout=TIMEOUT_MS)
    expect(page.locator(".mlops-demo-result")).to_contain_text(model["sha1"][:12])
