"""Every string a worker controls is shown as text in all three UIs: no script of it runs.

A scripted worker on the real worker websocket puts HTML payloads into its name, notebook,
device, defaults (keys and values: so into a job's conf and its trials' params), progress,
log lines, metric names, metric values (NaN), error texts and a model file's metadata
(classes, hyperparameters, metric names, sha1). Then JupyterLab's side panel, the ipywidgets
panel (rendered by Voilà) and the demo page open in Chromium: no dialog, ``window.__xss``
never set, and the payloads readable as text. Before, the ipywidgets panel put a progress
event's ``epoch``/``epochs`` into its HTML as they came, and ``<img onerror>`` ran.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_lab_panel import _open_lab
from tests.support.fake_worker import FakeWorker, ThreadedScript
from tests.support.leases import lease_of
from tests.support.models import exported, tiny_classifier, write_variant
from tests.support.server import MLOpsServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
XSS = "window.__xss=(window.__xss||0)+1"
IMG = f"<img src=x onerror={XSS}>"
SCRIPT = f"<script>{XSS}</script>"
SVG = "<svg onload=alert(1)>"
NAME = f"w{IMG}"
#: What the hub must store and the views must show as text (worker-controlled strings).
SHOWN = (IMG, SCRIPT)


def _model_file(path: Path) -> dict[str, Any]:
    build = functools.partial(tiny_classifier, 3, 10, 5)
    template = exported(("tiny", 5), build, (2, 3, 16, 16))
    return write_variant(
        path,
        template,
        classes=[f"{SCRIPT}{i}" if i % 2 else f"{IMG}{i}" for i in range(10)],
        normalization={"mean": [0.5] * 3, "std": [0.25] * 3},
        hyperparameters={IMG: SCRIPT, "SVG": SVG},
        metrics={"test_accuracy": 0.9, "test_loss": float("nan"), IMG: 0.5},
        sha1=f"{IMG}{SCRIPT}",
    )


class EvilWorker(ThreadedScript):
    """A worker whose every string is a payload: it finishes a trial with a model, fails one
    (payload error) and keeps a third running (payload logs and metrics) until stopped."""

    def __init__(self, server: MLOpsServer, model: Path) -> None:
        super().__init__(server)
        self.model = model
        self.job_id = 0

    async def script(self, worker: FakeWorker) -> None:
        server = self.server
        hello = {"type": "hello", "name": NAME, "session": "xss-session", "notebook": SCRIPT}
        hello.update(device=IMG, versions={IMG: SCRIPT})
        hello["defaults"] = {IMG: 1, SCRIPT: f"v{SVG}", "LR": float("nan")}
        await worker.send(hello)
        await worker.receive_type("welcome")
        status, job = server.api(
            "POST", "jobs", {"worker": NAME, "conf": {IMG: [1, 2, 3], SCRIPT: SCRIPT}}
        )
        assert status == 201, job
        self.job_id = job_id = job["id"]
        seq = 0

        async def send(*events: dict[str, Any]) -> None:
            nonlocal seq
            for event in events:
                seq += 1
                event.setdefault("job_id", job_id)
                event["seq"] = seq
            await worker.send_events(list(events))

        # trial 0: progress with payloads (refused: not integers), logs, metrics, a model
        lease = lease_of(await worker.receive_type("job"))
        trial = {"trial_id": lease.trial_id, "attempt": lease.attempt}
        await send(
            {"type": "trial_started", **trial},
            {"type": "progress", **trial, "epoch": IMG, "epochs": SCRIPT, "batch": 1},
            {"type": "progress", **trial, "epoch": 1, "epochs": 2, "batch": 3, "batches": 4},
            {"type": "log", **trial, "stream": "stdout", "text": f"log {IMG}"},
            {"type": "log", **trial, "stream": "stderr", "text": f"log {SCRIPT}"},
            {"type": "metric", **trial, "name": IMG, "step": 1, "value": 0.5},
            {"type": "metric", **trial, "name": "loss", "step": 1, "value": 0.75},
            {"type": "metric", **trial, "name": "loss", "step": 2, "value": float("nan")},
        )
        data = self.model.read_bytes()
        query = "&".join(f"{k}={v}" for k, v in lease.query(data).items())
        request = urllib.request.Request(
            f"{server.url}mlops/api/models/{lease.trial_id}/file?{query}",
            data=data,
            method="PUT",
            headers={"Authorization": f"token {server.token}", **lease.headers},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201
        metrics = {"test_accuracy": 0.9, "test_loss": "NaN", IMG: 0.5}
        await send(
            {"type": "trial_finished", **trial, "metrics": metrics}, {"type": "job_finished"}
        )

        # trial 1 fails with a payload error
        lease = lease_of(await worker.receive_type("job"))
        trial = {"trial_id": lease.trial_id, "attempt": lease.attempt}
        await send(
            {"type": "trial_started", **trial},
            {"type": "trial_failed", **trial, "error": f"Error: {IMG}", "traceback": SCRIPT},
            {"type": "job_finished"},
        )

        # trial 2 runs on (its job stays running, so every view reads its trials)
        lease = lease_of(await worker.receive_type("job"))
        trial = {"trial_id": lease.trial_id, "attempt": lease.attempt}
        await send(
            {"type": "trial_started", **trial},
            {"type": "progress", **trial, "epoch": 1, "epochs": 3, "batch": 1, "batches": 9},
            {"type": "log", **trial, "stream": "stdout", "text": f"running {SVG}"},
            {"type": "metric", **trial, "name": f"m{SCRIPT}", "step": 1, "value": 0.25},
        )
        self.ready.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.2)


def _panel_notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from jupyter_mlops.kernel_client.panel import panel\npanel()")
    ]
    nbformat.write(notebook, path)


def _assert_safe(page: Any, where: str, dialogs: list[str]) -> None:
    assert dialogs == [], f"{where}: dialogs opened: {dialogs}"
    assert page.evaluate("window.__xss") is None, f"{where}: a payload ran"


def test_worker_strings_are_text_in_every_view(
    lab_server: MLOpsServer, tall_lab_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    server, page = lab_server, tall_lab_page
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    model = _model_file(tmp_path / "evil.zip")
    with EvilWorker(server, tmp_path / "evil.zip") as worker:
        _, workers = server.api("GET", "workers")
        assert [w["name"] for w in workers["workers"]] == [NAME]
        assert workers["workers"][0]["defaults"]["LR"] == "NaN"  # valid JSON, not a bare NaN
        _, deployment = server.api("GET", "deployment")
        assert deployment["deployment"]["sha1"] == model["sha1"]  # the model is deployed

        # 1. JupyterLab's side panel: the worker, the job's trials, logs and metrics
        panel = _open_lab(page, server)
        expect(panel.locator(".jp-mlops-worker")).to_have_count(1)
        expect(panel.locator(".jp-mlops-worker").first).to_contain_text(NAME)
        panel.locator(".jp-mlops-defaults summary").first.click()
        job = panel.locator(f".jp-mlops-job[data-job-id='{worker.job_id}']")
        job.click()
        detail = panel.locator(f"[data-testid=mlops-job-detail][data-job-id='{worker.job_id}']")
        expect(detail.locator(".jp-mlops-trial")).to_have_count(3)
        expect(detail).to_contain_text(f"Error: {IMG}")
        expect(detail.locator(".jp-mlops-log-line").first).to_be_visible()
        expect(panel.locator(".jp-mlops-model")).to_have_count(1)
        shown = panel.inner_text()
        for payload in (*SHOWN, f"log {IMG}", f"running {SVG}"):
            assert payload in shown, payload
        _assert_safe(page, "JupyterLab panel", dialogs)

        # 2. the ipywidgets panel, rendered by Voilà
        _panel_notebook(server.notebook_dir / "xss_panel.ipynb")
        page.goto(f"{server.url}voila/render/xss_panel.ipynb?token={server.token}")
        widgets = page.locator(".mlops-panel")
        expect(widgets.locator(".mlops-panel-workers")).to_contain_text(NAME, timeout=120_000)
        expect(widgets.locator(".mlops-panel-job-trials")).to_contain_text(IMG)
        expect(widgets.locator(".mlops-panel-models")).to_contain_text(model["sha1"][:12])
        expect(widgets.locator(".mlops-panel-deployed")).to_contain_text(model["sha1"])
        shown = widgets.inner_text()
        for payload in (*SHOWN, f"Error: {IMG}", "accuracy 90.0%"):
            assert payload in shown, payload
        _assert_safe(page, "ipywidgets panel", dialogs)

        # 3. the demo page: the deployed model's classes, hyperparameters-free facts, NaN
        shutil.copy(REPO / "demo_voila.ipynb", server.notebook_dir / "demo_voila.ipynb")
        page.goto(f"{server.url}voila/render/demo_voila.ipynb?token={server.token}")
        page.wait_for_selector(".mlops-demo-status .live", timeout=120_000)
        facts = page.locator(".mlops-demo-model")
        expect(facts).to_contain_text(f"{IMG}0")
        expect(facts).to_contain_text(f"{SCRIPT}1")
        expect(facts).to_contain_text("NaN")  # the diverged test_loss, said as such
        expect(page.locator(".mlops-demo-sha1")).to_contain_text(IMG)
        _assert_safe(page, "demo page", dialogs)
