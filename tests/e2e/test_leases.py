"""Grids that outlive their workers: fan-out, a lost kernel, a lost lease, a hub restart.

Real server; workers are real kernels (jupyter_client) or real processes running the Worker
class with the synthetic trial of ``tests/synthetic.py`` (sleep-bound epochs, real torch).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import MLOpsServer
from tests.support.synthetic import WorkerProcess
from tests.support.workers import (
    hub_log,
    hub_metrics,
    job_ended,
    job_state,
    launch,
    online,
    run_in_kernel,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
#: The server pings worker links every 0.5 s and drops one silent for 1.5 s (a frozen process).
FAST_PING = {"ServerApp": {"tornado_settings": {"ws_ping_interval": 500, "ws_ping_timeout": 1500}}}


def assert_each_trial_once(server: MLOpsServer, job: dict[str, Any]) -> None:
    """Every trial finished, with one model, and one "finished" line in the hub's log."""
    assert job["status"] == "finished", job
    ids = [t["id"] for t in job["trials"]]
    assert [t["status"] for t in job["trials"]] == ["finished"] * len(ids), job["trials"]
    models = server.api("GET", "models")[1]["models"]
    assert sorted(m["id"] for m in models) == sorted(ids)
    assert all(t["model_id"] == t["id"] for t in job["trials"])
    finished = Counter(
        line["trial_id"]
        for line in hub_log(server, job["id"])
        if line["stream"] == "system"
        and line["text"].startswith(f"trial {line['trial_id']} finished")
    )
    assert finished == Counter(ids), finished


@pytest.fixture
def workers(tmp_path: Path) -> Iterator:
    started: list[WorkerProcess] = []

    def start(server: MLOpsServer, *names: str, **options: Any) -> list[WorkerProcess]:
        procs = [WorkerProcess(server.env, name, tmp_path / "workers", **options) for name in names]
        started.extend(procs)
        server.wait_for(lambda: online(server, *names), timeout=60)
        return procs

    yield start
    for proc in started:
        proc.stop()


def start_kernel_worker(server: MLOpsServer, name: str, base: Path) -> Any:
    """A real IPython kernel that runs ``start_worker(synthetic_trial, ...)`` like a notebook."""
    env = {
        **os.environ,
        **server.env,
        "PYTHONPATH": str(ROOT),
        "JUPYTER_MLOPS_WORKER_DIR": str(base / name),
    }
    code = (
        "from tests.support.synthetic import DEFAULTS, synthetic_trial\n"
        "from jupyter_mlops.kernel_client import start_worker\n"
        f"worker = start_worker(synthetic_trial, defaults=DEFAULTS, name={name!r}, "
        "echo=False, backoff_max=1.0)\n"
    )
    return run_in_kernel(env, ROOT, [code], timeout=60)


def test_a_grid_fans_out_over_every_idle_worker(tmp_path: Path, workers) -> None:
    server = MLOpsServer(tmp_path / "server").start()
    try:
        workers(server, "w1", "w2", "w3")
        job = launch(server, {"SEED": [0, 1, 2, 3, 4, 5], "EPOCHS": 2, "EPOCH_SECONDS": 0.6})
        assert job["trial_count"] == 6
        job = server.wait_for(lambda: job_ended(server, job["id"]), timeout=90)
        assert_each_trial_once(server, job)
        ran_on = Counter(t["worker_name"] for t in job["trials"])
        assert set(ran_on) == {"w1", "w2", "w3"}, ran_on
        assert all(t["attempt"] == 1 and not t["resumed_from_epoch"] for t in job["trials"])
    finally:
        server.stop()


def test_a_killed_kernel_s_trial_resumes_on_another_worker(tmp_path: Path) -> None:
    server = MLOpsServer(tmp_path / "server", grace_seconds=2).start()
    kernels: dict[str, Any] = {}
    try:
        for name in ("ka", "kb"):
            kernels[name] = start_kernel_worker(server, name, tmp_path / "workers")
        server.wait_for(lambda: online(server, "ka", "kb"), timeout=60)
        conf = {"SEED": [0, 1], "EPOCHS": 4, "EPOCH_SECONDS": 1.2, "BATCHES": 4}
        job = launch(server, conf)

        def checkpointed_on_ka() -> dict[str, Any] | None:
            for trial in job_state(server, job["id"])["trials"]:
                if trial["worker_name"] == "ka" and (trial["checkpoint_epoch"] or 0) >= 1:
                    return trial if trial["status"] == "running" else None
            return None

        victim = server.wait_for(checkpointed_on_ka, timeout=60, interval=0.1)
        kernels.pop("ka").shutdown_kernel(now=False)  # the notebook is closed mid-trial

        def requeued() -> dict[str, Any] | None:
            trial = next(
                t for t in job_state(server, job["id"])["trials"] if t["id"] == victim["id"]
            )
            return trial if trial["status"] != "running" or trial["attempt"] > 1 else None

        back = server.wait_for(requeued, timeout=30, interval=0.1)
        assert back["status"] in ("pending", "running") and back["attempt"] in (1, 2), back
        if back["status"] == "pending":
            assert back["error"], back  # why it was re-queued
        done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=90)
        assert_each_trial_once(server, done)
        trial = next(t for t in done["trials"] if t["id"] == victim["id"])
        assert trial["worker_name"] == "kb" and trial["attempt"] == 2, trial
        assert trial["resumed_from_epoch"] >= victim["checkpoint_epoch"] >= 1, trial
        lines = [x for x in hub_log(server, job["id"]) if x["trial_id"] == trial["id"]]
        resumed = trial["resumed_from_epoch"]
        assert any(x["text"] == f"resumed from checkpoint at epoch {resumed}" for x in lines)
        # kb trained epochs resumed+1.. only: its loss steps go on from the checkpoint's step
        steps = [
            p["step"]
            for p in hub_metrics(server, job["id"])
            if p["trial_id"] == trial["id"] and p["name"] == "loss"
        ]
        assert steps[-1] == 4 * 4 and resumed * 4 + 1 in steps
        assert any(f"epoch {resumed + 1}/4" in x["text"] for x in lines)
        worker = next(w for w in server.api("GET", "workers")[1]["workers"] if w["name"] == "ka")
        assert worker["status"] == "offline"
    finally:
        for km in kernels.values():
            km.shutdown_kernel(now=True)
        server.stop()


def test_a_worker_back_after_losing_its_lease_adds_no_result(tmp_path: Path, workers) -> None:
    server = MLOpsServer(tmp_path / "server", grace_seconds=1, extra_config=FAST_PING).start()
    try:
        (first,) = workers(server, "w1")
        conf = {"EPOCHS": 5, "EPOCH_SECONDS": 1.0, "BATCHES": 5}
        job = launch(server, conf)
        server.wait_for(
            lambda: (job_state(server, job["id"])["trials"][0]["checkpoint_epoch"] or 0) >= 1,
            timeout=60,
            interval=0.1,
        )
        first.signal(signal.SIGSTOP)  # frozen: the link goes silent, the lease runs out
        server.wait_for(
            lambda: job_state(server, job["id"])["trials"][0]["status"] == "pending", timeout=30
        )
        workers(server, "w2")
        server.wait_for(
            lambda: job_state(server, job["id"])["trials"][0]["worker_name"] == "w2", timeout=30
        )
        first.signal(signal.SIGCONT)  # back, still mid-trial with lease 1
        done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=90)
        assert_each_trial_once(server, done)
        trial = done["trials"][0]
        assert trial["worker_name"] == "w2" and trial["attempt"] == 2
        assert trial["resumed_from_epoch"] >= 1
        # w1 stopped its copy: no model of its own, and its log says why
        stopped = ("its result is dropped", "no result is stored")
        server.wait_for(
            lambda: any(text in first.log_text(job["id"]) for text in stopped), timeout=30
        )
        assert "trial 1-0 finished" not in first.log_text(job["id"])
        assert len(server.api("GET", "models")[1]["models"]) == 1
    finally:
        server.stop()


def test_a_hub_restart_mid_job_keeps_every_trial_right(tmp_path: Path, workers) -> None:
    server = MLOpsServer(tmp_path / "server", grace_seconds=30).start()
    try:
        workers(server, "w1", "w2")
        job = launch(server, {"SEED": [0, 1, 2, 3], "EPOCHS": 3, "EPOCH_SECONDS": 0.9})

        def some_finished() -> dict[str, Any] | None:
            state = job_state(server, job["id"])
            statuses = Counter(t["status"] for t in state["trials"])
            return state if statuses["finished"] >= 1 and statuses["running"] >= 1 else None

        before = server.wait_for(some_finished, timeout=60, interval=0.1)
        server.restart()
        after = job_state(server, job["id"])
        for old, new in zip(before["trials"], after["trials"], strict=True):
            if old["status"] in ("finished", "running"):
                assert new["status"] in (old["status"], "finished"), (old, new)
            if old["status"] == "finished":
                assert new["model_id"] == old["model_id"] == old["id"]
        done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=90)
        assert_each_trial_once(server, done)
        assert all(t["attempt"] == 1 for t in done["trials"]), done["trials"]
    finally:
        server.stop()
