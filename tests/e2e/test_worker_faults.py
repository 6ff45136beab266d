"""Faults: a server restart mid-job, a killed kernel, a trial that raises, a cancel."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.kernel_client import Callback, Worker
from jupyter_mlops.kernel_client.hub_client import HubInfo
from jupyter_mlops.tutorial import load_data, run_trial
from tests.support.server import MLOpsServer
from tests.support.workers import (
    DEFAULTS,
    assert_logs_match,
    hub_log,
    hub_metrics,
    job_ended,
    run_notebook_in_kernel,
    tiny_data_dir,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


class Counter(Callback):
    """Counts what the training code reported, to compare with what the hub stored."""

    def __init__(self) -> None:
        self.points = 0
        self.lock = threading.Lock()

    def on_train_batch_end(self, epoch, batch, batches, loss) -> None:
        with self.lock:
            self.points += 1

    def on_epoch_end(self, epoch, metrics) -> None:
        with self.lock:
            self.points += len(metrics)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    return load_data(tiny_data_dir(tmp_path_factory.mktemp("data"), per_batch=100), download=False)


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    workers: list[Worker] = []

    def start(server: MLOpsServer, train, **options) -> Worker:
        hub = HubInfo(server.url, server.token)
        options.setdefault("backoff_max", 1.0)
        worker = Worker(
            train, DEFAULTS, "w", hub, local_dir=tmp_path / "worker", echo=False, **options
        )
        workers.append(worker.start())
        assert worker.connection.connected
        return worker

    yield start
    for worker in workers:
        worker.stop()


def test_server_restart_mid_job_loses_nothing(tmp_path: Path, data, start) -> None:
    server = MLOpsServer(tmp_path / "server", grace_seconds=60).start()
    try:
        counter = Counter()
        worker = start(server, lambda p, cb: run_trial(p, cb, data=data), callbacks=[counter])
        conf = {"EPOCHS": 4, "LEARNING_RATE": [0.001, 0.002]}
        job = server.api("POST", "jobs", {"conf": conf, "worker": "w"})[1]
        server.wait_for(lambda: hub_log(server, job["id"]), timeout=60, interval=0.05)
        server.restart()
        job = server.wait_for(lambda: job_ended(server, job["id"]), timeout=180)
        assert job["status"] == "finished", job
        assert [t["status"] for t in job["trials"]] == ["finished", "finished"]
        assert worker.connection.connects >= 2
        assert len(server.api("GET", "models")[1]["models"]) == 2
        lines = assert_logs_match(server, job["id"], tmp_path / "worker" / "logs" / "1.log")
        assert len(lines) > 40
        assert len(hub_metrics(server, job["id"])) == counter.points
        assert counter.points == 2 * 4 * (50 + 5)  # 500 images / 10 per batch, 5 epoch metrics
    finally:
        server.stop()


def test_a_trial_that_raises_fails_alone(mlops_server, data, start) -> None:
    def train(params, callbacks):
        if params["LEARNING_RATE"] == 0.001:
            print("about to fail")
            raise ValueError("a bug in the notebook")
        return run_trial(params, callbacks, data=data)

    start(mlops_server, train)
    job = mlops_server.api(
        "POST", "jobs", {"conf": {"LEARNING_RATE": [0.001, 0.002]}, "worker": "w"}
    )[1]
    job = mlops_server.wait_for(lambda: job_ended(mlops_server, job["id"]), timeout=120)
    assert job["status"] == "finished"
    first, second = job["trials"]
    assert first["status"] == "failed" and "ValueError: a bug in the notebook" in first["error"]
    assert second["status"] == "finished" and second["model_id"] == second["id"]
    lines = hub_log(mlops_server, job["id"])
    stderr = "\n".join(x["text"] for x in lines if x["stream"] == "stderr")
    assert "Traceback (most recent call last)" in stderr and "ValueError" in stderr
    assert any(x["text"] == "about to fail" and x["trial_id"] == first["id"] for x in lines)


def test_cancel_stops_the_running_trial(mlops_server, data, start) -> None:
    worker = start(mlops_server, lambda p, cb: run_trial(p, cb, data=data))
    conf = {"EPOCHS": 200, "LEARNING_RATE": [0.001, 0.002]}
    job = mlops_server.api("POST", "jobs", {"conf": conf, "worker": "w"})[1]
    mlops_server.wait_for(lambda: worker.status()["batch"], timeout=60, interval=0.05)
    assert mlops_server.api("POST", f"jobs/{job['id']}/cancel")[0] == 200
    job = mlops_server.wait_for(lambda: job_ended(mlops_server, job["id"]), timeout=60)
    assert job["status"] == "cancelled"
    assert [t["status"] for t in job["trials"]] == ["cancelled", "cancelled"]
    assert mlops_server.api("GET", "models")[1]["models"] == []


def test_a_killed_kernel_s_trial_goes_back_to_pending(mlops_server, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **mlops_server.env,
        "MLOPS_DATA_DIR": str(tiny_data_dir(tmp_path / "data")),
        "MLOPS_DATA_DOWNLOAD": "0",
        "JUPYTER_MLOPS_WORKER_DIR": str(tmp_path / "worker"),
    }
    km = run_notebook_in_kernel(env, tmp_path)
    try:
        conf = {"EPOCHS": 500, "LEARNING_RATE": [0.001, 0.002]}
        job = mlops_server.api("POST", "jobs", {"conf": conf, "worker": "cifar10-worker"})[1]
        assert job["status"] == "running", job
        mlops_server.wait_for(lambda: hub_log(mlops_server, job["id"]), timeout=60)
        km.signal_kernel(signal.SIGKILL)  # no atexit, no goodbye: the link just drops

        def requeued():
            state = mlops_server.api("GET", f"jobs/{job['id']}")[1]
            return state if state["trials"][0]["status"] == "pending" else None

        job = mlops_server.wait_for(requeued, timeout=60)
        # no worker is left, so nothing runs: the job waits, it is not ended
        assert job["status"] == "queued", job
        first = job["trials"][0]
        assert "cifar10-worker" in first["error"] and "offline" in first["error"], first
        assert first["attempt"] == 1 and first["worker_name"] == "cifar10-worker"
        assert job["trials"][1]["status"] == "pending"
        worker = mlops_server.api("GET", "workers")[1]["workers"][0]
        assert not worker["online"] and worker["status"] == "offline"
        assert worker["current_trial"] is None
    finally:
        km.shutdown_kernel(now=True)
