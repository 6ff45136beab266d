"""End to end: training code without callbacks reports to a real server from a real kernel.

One worker (a real IPython kernel, as a notebook runs it) trains a job of two trials: a plain
PyTorch loop with tqdm bars that reports through ``jupyter_mlops.log`` & co., and a PyTorch
Lightning ``Trainer.fit`` with ``MLOpsCallback``. Both return just their model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.kernel_client.hub_client import HubClient, HubMirror
from tests.support.server import MLOpsServer
from tests.support.workers import (
    assert_logs_match,
    hub_metrics,
    job_ended,
    launch,
    online,
    run_in_kernel,
)

pytest.importorskip("lightning")
pytestmark = pytest.mark.timeout(400)

ROOT = Path(__file__).resolve().parents[2]
START = (
    "from tests.support.anycode import DEFAULTS, any_code\n"
    "from jupyter_mlops.kernel_client import start_worker\n"
    "worker = start_worker(any_code, DEFAULTS, name='anycode', echo=False)\n"
)


def test_plain_code_and_a_lightning_fit_report_to_a_real_server(tmp_path: Path) -> None:
    server = MLOpsServer(tmp_path / "server").start()
    kernel = None
    mirror = HubMirror(HubClient(server.url, server.token), parts=[])
    live: list[dict[str, Any]] = []
    mirror.add_listener(
        lambda kind, message: live.extend(message.get("live") or []) if kind == "log" else None
    )
    mirror.start()
    try:
        env = {
            **os.environ,
            **server.env,
            "PYTHONPATH": str(ROOT),
            "JUPYTER_MLOPS_WORKER_DIR": str(tmp_path / "worker"),
        }
        kernel = run_in_kernel(env, ROOT, [START], timeout=120)
        server.wait_for(lambda: online(server, "anycode"), timeout=60)
        release = tmp_path / "release-the-bar"
        job = launch(
            server, {"TRAINER": ["plain", "lightning"], "EPOCHS": 2, "HOLD_FILE": str(release)}
        )
        # the first bar waits halfway until released: subscribers see its state live meanwhile
        server.wait_for(lambda: any(s["text"].startswith("epoch 1:") for s in live), timeout=120)
        assert all("\r" not in s["text"] and len(s["text"]) < 200 for s in live)
        server.wait_for(lambda: any("100/200" in s["text"] for s in live), timeout=60)
        release.touch()
        job = server.wait_for(lambda: job_ended(server, job["id"]), timeout=300)
        assert job["status"] == "finished", job
        trials = {t["params"]["TRAINER"]: t for t in job["trials"]}
        assert [t["status"] for t in trials.values()] == ["finished", "finished"]

        # both returned just the model: the store has what it needs, inferred
        models = {m["id"]: m for m in server.api("GET", "models")[1]["models"]}
        for trial in trials.values():
            model = models[trial["model_id"]]
            assert model["classes"] == ["0", "1", "2"] and model["input_size"] == [3, 4, 4]
            assert model["param_count"] == 48 * 3 + 3
        plain, fit = models[trials["plain"]["model_id"]], models[trials["lightning"]["model_id"]]
        assert set(plain["metrics"]) == {"train_loss", "accuracy", "test_accuracy"}
        assert set(fit["metrics"]) == {"train_loss", "val_accuracy", "test_accuracy"}

        points = hub_metrics(server, job["id"])

        def steps(trial: str, name: str) -> list[int]:
            return [p["step"] for p in points if p["trial_id"] == trial and p["name"] == name]

        assert steps(trials["plain"]["id"], "accuracy") == [1, 2]  # jupyter_mlops.log
        assert steps(trials["plain"]["id"], "train_loss") == list(range(1, 9))
        assert steps(trials["lightning"]["id"], "loss") == list(range(1, 9))  # every batch
        assert steps(trials["lightning"]["id"], "val_accuracy") == [1, 2]

        # the hub's log is the worker's file, line for line: no live state was stored
        local = assert_logs_match(
            server, job["id"], tmp_path / "worker" / "logs" / f"{job['id']}.log"
        )
        plain_lines = [text for trial, _, text in local if trial == trials["plain"]["id"]]
        bars = [text for text in plain_lines if text.startswith("epoch 1:")]
        assert len(bars) == 1 and "200/200" in bars[0]  # one line: the bar's final state
        assert max(len(text) for _, _, text in local) < 400
        assert "epoch 2 done" in plain_lines  # jupyter_mlops.log_text
        assert {s["trial_id"] for s in live} >= {trials["plain"]["id"]}
    finally:
        mirror.stop()
        if kernel is not None:
            kernel.shutdown_kernel(now=True)
        server.stop()
