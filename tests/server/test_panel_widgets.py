"""The ipywidgets panel, in-process, against a real Jupyter server with the extension."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.evidence import evaluation_record, fingerprint
from jupyter_mlops.kernel_client.panel import MLOpsPanel, panel
from tests.support.demo_models import make_demo_model
from tests.support.leases import seed_models
from tests.support.models import write_variant
from tests.support.waiting import wait_until


class FakeWorker:
    """A worker link that says hello and then only listens (no training)."""

    def __init__(self, server: Any, name: str) -> None:
        self.server, self.name = server, name
        self.messages: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.seq = 0
        self.welcomed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = self.server.url.replace("http", "ws", 1) + "mlops/api/ws/worker"
        headers = {"Authorization": f"token {self.server.token}"}
        ws = await websocket_connect(HTTPRequest(url, headers=headers))
        hello = {
            "type": "hello", "name": self.name, "session": f"panel-test-{self.name}",
            "notebook": "train.ipynb", "defaults": {"EPOCHS": 1, "LEARNING_RATE": 0.001},
            "device": "cpu", "versions": {},
        }  # fmt: skip
        await ws.write_message(json.dumps(hello))
        while not self._stop.is_set():
            while self.outbox:
                await ws.write_message(json.dumps(self.outbox.pop(0)))
            try:
                text = await asyncio.wait_for(ws.read_message(), 0.2)
            except asyncio.TimeoutError:
                continue
            if text is None:
                break
            message = json.loads(text)
            self.messages.append(message)
            if message.get("type") == "welcome":
                self.welcomed.set()
        ws.close()

    def send_event(self, event: dict[str, Any]) -> None:
        """Send one worker event (the next seq of this session)."""
        self.seq += 1
        event = {"seq": self.seq, "time": "2026-01-01T00:00:00+00:00", **event}
        self.outbox.append({"type": "events", "events": [event]})

    def assignment(self) -> dict[str, Any] | None:
        """The last job assignment received, if any."""
        jobs = [m["job"] for m in self.messages if m.get("type") == "job"]
        return jobs[-1] if jobs else None

    def __enter__(self) -> FakeWorker:
        self._thread.start()
        assert self.welcomed.wait(15), "the hub did not welcome the worker"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def mlops_panel(mlops_server: Any) -> Iterator[MLOpsPanel]:
    widget = panel(mlops_server.url, mlops_server.token)
    try:
        assert widget.mirror.socket.connected.wait(15)
        yield widget
    finally:
        widget.close()


def _deploy_buttons(widget: MLOpsPanel) -> dict[str, Any]:
    buttons = {}
    for row in widget.models_view.children:
        for child in getattr(row, "children", ()):
            if hasattr(child, "mlops_model_id"):
                buttons[child.mlops_model_id] = child
    return buttons


def _decisions(widget: MLOpsPanel) -> dict[str, str]:
    """Each model row's decision line, by model id."""
    return {
        row.mlops_model_id: row.decision.value
        for row in widget.models_view.children
        if hasattr(row, "decision")
    }


def _with_evidence(path: Path, seed: int, right: int, n: int = 1000) -> dict[str, Any]:
    """A model file whose per-example results are the first ``right`` of ``n`` test examples
    (all on one test set) and whose test_accuracy says so."""
    make_demo_model(path, seed=seed, accuracy=right / n)
    record = evaluation_record([i < right for i in range(n)], fingerprint(list(range(n))))
    return write_variant(path, path.read_bytes(), evaluation=record)


def test_panel_shows_the_gates_evidence(
    mlops_server: Any, mlops_panel: MLOpsPanel, tmp_path: Path
) -> None:
    widget = mlops_panel
    paths = [tmp_path / "champion.zip", tmp_path / "challenger.zip"]
    _with_evidence(paths[0], seed=1, right=800)
    _with_evidence(paths[1], seed=2, right=806)  # 6 more right, none fewer: p = 1/64
    champion, challenger = seed_models(mlops_server, paths)
    decisions = wait_until(lambda: len(_decisions(widget)) == 2 and _decisions(widget))
    shown = decisions[challenger]
    assert "deployed: +0.6 points on the same 1,000 test examples" in shown, shown
    assert "p = 0.016" in shown and "b 6 / c 0" in shown and "n 1,000" in shown
    assert "better beyond chance" in shown
    assert "nothing was deployed yet" in decisions[champion]
    wait_until(lambda: challenger in widget.deployed.value)
    assert "better beyond chance" in widget.deployed.value


def test_panel_shows_workers_launches_and_deploys(
    mlops_server: Any, mlops_panel: MLOpsPanel, tmp_path: Path
) -> None:
    widget = mlops_panel
    assert "No model deployed yet" in widget.deployed.value
    with FakeWorker(mlops_server, "panel-worker"):
        wait_until(lambda: "panel-worker" in widget.workers_view.value)
        assert "idle" in widget.workers_view.value or "busy" in widget.workers_view.value
        assert "panel-worker" in [value for _, value in widget.worker.options]

        widget.conf.value = '{"LEARNING_RATE": [0.001, 0.002], "NOT_A_KEY": 3}'
        assert "2 trials" in widget.validation_view.value
        assert "NOT_A_KEY" in widget.validation_view.value  # a warning names the key
        assert not widget.launch.disabled
        widget.worker.value = "panel-worker"
        widget.launch.click()
        job_id = wait_until(lambda: next(iter(widget.mirror.jobs), None))
        assert f"Launched job {job_id}" in widget.message.value
        row = widget._job_rows[job_id]
        assert "trial 0/2" in row.status.value
        # trial 0 is leased to the worker: the job line and the trial table name it
        wait_until(lambda: "on panel-worker" in row.label.value)
        wait_until(lambda: f"{job_id}-0" in row.trials.value)
        assert "on <b>panel-worker</b>" in row.trials.value
        assert row.retry.layout.display == "none"  # no failed trial

        widget.conf.value = "{not json"
        assert "Not valid JSON" in widget.validation_view.value and widget.launch.disabled

        # models come from the lease holders of another job's trials
        good = make_demo_model(tmp_path / "good.zip", seed=1, accuracy=0.7)
        worse = make_demo_model(tmp_path / "worse.zip", seed=2, accuracy=0.3)
        good_id, worse_id = seed_models(
            mlops_server, [tmp_path / "good.zip", tmp_path / "worse.zip"]
        )

        buttons = wait_until(lambda: len(_deploy_buttons(widget)) == 2 and _deploy_buttons(widget))
        wait_until(lambda: good["sha1"] in widget.deployed.value)
        buttons = _deploy_buttons(widget)
        assert buttons[good_id].disabled and not buttons[worse_id].disabled
        # next to each model, the deploy gate's decision on it
        decisions = _decisions(widget)
        assert "deployed: nothing was deployed yet" in decisions[good_id]
        assert "not deployed" in decisions[worse_id]
        assert "no per-example test results" in decisions[worse_id]
        assert "nothing was deployed yet" in widget.deployed.value  # why it is deployed

        buttons[worse_id].click()
        wait_until(lambda: worse["sha1"] in widget.deployed.value)
        assert "manual" in widget.deployed.value
        wait_until(lambda: "gate bypassed" in _decisions(widget)[worse_id])
        assert "deployed by hand, gate bypassed" in widget.deployed.value
        _, current = mlops_server.api("GET", "deployment")
        assert current["deployment"]["model_id"] == worse_id
        buttons = _deploy_buttons(widget)
        assert buttons[worse_id].disabled and not buttons[good_id].disabled
    wait_until(lambda: "offline" in widget.workers_view.value)


def test_panel_retries_failed_trials(mlops_server: Any, mlops_panel: MLOpsPanel) -> None:
    widget = mlops_panel
    with FakeWorker(mlops_server, "retry-worker") as worker:
        wait_until(lambda: "retry-worker" in widget.workers_view.value)
        _, job = mlops_server.api(
            "POST", "jobs", {"conf": {"LEARNING_RATE": 0.001}, "worker": "retry-worker"}
        )
        job_id = job["id"]
        assigned = wait_until(worker.assignment)
        trial = assigned["trials"][0]
        worker.send_event(
            {"type": "trial_failed", "job_id": job_id, "trial_id": trial["id"],
             "attempt": trial["attempt"], "error": "boom", "traceback": ""}
        )  # fmt: skip
        row = wait_until(lambda: widget._job_rows.get(job_id))
        wait_until(lambda: row.retry.layout.display != "none")
        assert "boom" in row.trials.value and "on <b>retry-worker</b>" in row.trials.value
        assert "on retry-worker" in row.label.value

        row.retry.click()
        assert f"Retrying the failed trials of job {job_id}" in widget.message.value
        _, again = mlops_server.api("GET", f"jobs/{job_id}")
        assert again["trials"][0]["status"] in ("pending", "running")
        wait_until(lambda: row.retry.layout.display == "none")


def test_panel_forgets_an_offline_worker(mlops_server: Any, mlops_panel: MLOpsPanel) -> None:
    widget = mlops_panel
    with FakeWorker(mlops_server, "short-lived"):
        wait_until(lambda: "short-lived" in widget.workers_view.value)
        assert widget.forget_row.layout.display == "none"  # nothing offline to forget
    wait_until(lambda: widget.forget_row.layout.display != "none")
    assert [name for name, _ in widget.forget_choice.options] == ["short-lived"]
    widget.forget.click()
    assert "Forgot worker short-lived" in widget.message.value
    wait_until(lambda: "short-lived" not in widget.workers_view.value)
    assert widget.forget_row.layout.display == "none"
    assert mlops_server.api("GET", "workers")[1]["workers"] == []
