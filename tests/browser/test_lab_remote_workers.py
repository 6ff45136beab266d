"""The JupyterLab panel in Chromium: Add a remote worker (the two lines, once), Revoke, Forget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, open_page
from tests.support.leases import seed_models
from tests.support.models import make_model_file
from tests.support.server import MLOpsServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


BUILT = Path(__file__).resolve().parents[2] / "jupyter_mlops" / "labextension"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[MLOpsServer]:
    """JupyterLab with the panel as built in this checkout (``jlpm build``), first in line."""
    extensions = tmp_path / "labextensions"
    extensions.mkdir()
    (extensions / "jupyter-mlops").symlink_to(BUILT, target_is_directory=True)
    server = MLOpsServer(
        tmp_path / "server",
        app="lab",
        extra_config={"LabApp": {"extra_labextensions_path": [str(extensions)]}},
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_add_a_remote_worker_revoke_it_and_forget_an_offline_worker(
    lab: MLOpsServer, mlops_browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    make_model_file(tmp_path / "m.zip", accuracy=0.5)
    seed_models(lab, [tmp_path / "m.zip"], name="old-box")  # a worker that is offline now
    with open_page(mlops_browser, 1280, 900, 60_000) as page:
        page.goto(f"{lab.url}lab?reset&token={lab.token}")
        tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='jp-mlops-panel']")
        tab.wait_for(state="visible", timeout=120_000)
        panel = page.locator(".jp-mlops-panel")
        if not panel.is_visible():
            tab.click()
        remote = panel.get_by_test_id("mlops-remote-workers")
        remote.locator(".jp-mlops-remote-name").fill("colab-gpu")
        remote.get_by_test_id("mlops-add-remote-worker").click()
        lines = remote.locator(".jp-mlops-remote-lines")
        expect(lines).to_contain_text("export JUPYTER_MLOPS_TOKEN=mlops_")
        expect(lines).to_contain_text(f"%mlops connect {lab.url}")
        expect(lines).not_to_contain_text("%env")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "lab-remote-worker.png"))
        (token,) = lab.api("GET", "tokens")[1]["tokens"]
        assert (token["name"], token["scope"], token["revoked"]) == ("colab-gpu", "worker", None)
        secret = lines.inner_text().split("=", 1)[1].split()[0]

        def status_with_the_token() -> int:
            headers = {"Authorization": f"token {secret}"}
            return lab.request("GET", "mlops/api/credential", headers=headers, auth=False)[0]

        assert status_with_the_token() == 200

        remote.get_by_role("button", name="Done").click()
        expect(lines).to_have_count(0)  # shown once: gone for good
        item = remote.locator("[data-token-name='colab-gpu']")
        item.get_by_test_id("mlops-revoke-token").click()
        expect(item).to_have_attribute("data-revoked", "true")
        assert lab.api("GET", "tokens")[1]["tokens"][0]["revoked"] is not None
        assert status_with_the_token() == 403

        worker = panel.locator("[data-testid='mlops-worker'][data-worker-name='old-box']")
        expect(worker).to_have_attribute("data-online", "false")
        worker.get_by_test_id("mlops-forget-worker").click()
        expect(worker).to_have_count(0)
        assert lab.api("GET", "workers")[1]["workers"] == []
