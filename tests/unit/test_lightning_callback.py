"""``jupyter_mlops.lightning.MLOpsCallback``: a Lightning fit reports, checkpoints and resumes.

A real ``Trainer.fit`` on a worker against the fake hub; tests/e2e/test_report_anywhere_e2e.py
runs one against a real server.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from jupyter_mlops.kernel_client import Callback, Worker
from jupyter_mlops.kernel_client.worker.checkpoints import load_checkpoint
from jupyter_mlops.modelfile import read_metadata
from tests.support import anycode
from tests.support.fake_hub import FakeHub, worker_on

pytest.importorskip("lightning")
pytestmark = pytest.mark.timeout(240)


class Grab(Callback):
    """Keeps every checkpoint the trial hands over, as the bytes the worker would upload."""

    def __init__(self) -> None:
        self.saved: dict[int, bytes] = {}

    def on_checkpoint(self, state: Any) -> None:
        buf = io.BytesIO()
        torch.save(dict(state), buf)
        self.saved[int(state["epoch"])] = buf.getvalue()


@pytest.fixture
def grab() -> Grab:
    return Grab()


@pytest.fixture
def worker(fake_hub: FakeHub, tmp_path: Path, grab: Grab) -> Iterator[Worker]:
    w = worker_on(
        fake_hub, anycode.lightning_fit, anycode.DEFAULTS, tmp_path / "w", callbacks=[grab]
    )
    yield w
    w.stop()


def run(fake_hub: FakeHub, job_id: int, attempt: int = 1, epoch: int | None = None) -> dict:
    trial = {
        "id": f"{job_id}-0",
        "index": 0,
        "params": {},
        "attempt": attempt,
        "lease": f"lease-{job_id}",
        "checkpoint": {"epoch": epoch} if epoch else None,
    }
    fake_hub.send({"type": "job", "job": {"id": job_id, "conf": {}, "trials": [trial]}})
    fake_hub.wait_for(
        lambda: [
            e
            for e in fake_hub.events
            if e["type"] in ("job_finished", "job_cancelled") and e["job_id"] == job_id
        ],
        timeout=180,
    )
    return {
        "events": [e for e in fake_hub.events if e.get("job_id") == job_id],
        "finished": [e for e in fake_hub.of_type("trial_finished") if e["job_id"] == job_id],
    }


def losses(events: list[dict]) -> list[tuple[int, float]]:
    return [
        (e["step"], e["value"]) for e in events if e["type"] == "metric" and e["name"] == "loss"
    ]


def test_a_fit_reports_checkpoints_and_resumes_where_it_stopped(
    fake_hub: FakeHub, worker: Worker, grab: Grab
) -> None:
    whole = run(fake_hub, 1)
    (finished,) = whole["finished"]
    events = whole["events"]
    # the loss of every batch (4 a epoch), epoch metrics (validation included), test metrics
    assert [step for step, _ in losses(events)] == list(range(1, 13))
    by_name = [(e["name"], e["step"]) for e in events if e["type"] == "metric"]
    assert [s for n, s in by_name if n == "val_accuracy"] == [1, 2, 3]
    assert [s for n, s in by_name if n == "train_loss"] == [1, 2, 3]
    assert "test_accuracy" in dict(by_name)
    assert set(finished["metrics"]) == {"val_accuracy", "train_loss", "test_accuracy"}
    progress = [(e["epoch"], e["epochs"], e["batch"]) for e in events if e["type"] == "progress"]
    assert (1, 3, 4) in progress and (3, 3, 4) in progress
    # the module returned alone: classes from its output, input size from its first batch
    metadata = read_metadata(io.BytesIO(fake_hub.models["1-0"]))
    assert metadata["classes"] == ["0", "1", "2"] and metadata["input_size"] == [3, 4, 4]
    # a checkpoint handed over after epochs 1 and 2 (the model follows epoch 3), loadable as
    # data only
    assert sorted(grab.saved) == [1, 2] and fake_hub.requests[-1]["what"] == "model"
    path = Path(worker.local_dir) / "epoch1.pt"
    path.write_bytes(grab.saved[1])
    state = load_checkpoint(path)  # torch.load(weights_only=True)
    assert state["epoch"] == 1 and state["lightning"]["global_step"] == 4

    # another attempt resumes after epoch 1: Lightning restores module, optimizer (momentum)
    # and schedule, and runs epochs 2 and 3 only, ending exactly where the whole fit did
    fake_hub.checkpoints["2-0"] = (1, grab.saved[1])
    resumed = run(fake_hub, 2, attempt=2, epoch=1)
    started = [e for e in resumed["events"] if e["type"] == "trial_started"]
    assert started[0]["resumed_from_epoch"] == 1
    assert [step for step, _ in losses(resumed["events"])] == list(range(5, 13))
    values = [value for _, value in losses(resumed["events"])]
    assert values == pytest.approx([value for _, value in losses(events)[4:]])
    texts = [e["text"] for e in resumed["events"] if e["type"] == "log"]
    assert "resumed from checkpoint at epoch 1" in texts
    (again,) = resumed["finished"]
    assert again["metrics"] == pytest.approx(finished["metrics"])
    assert read_metadata(io.BytesIO(fake_hub.models["2-0"]))["sha1"] == metadata["sha1"]


def test_a_cancel_stops_the_trainer(fake_hub: FakeHub, worker: Worker) -> None:
    class CancelAtBatch(Callback):
        def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
            if (epoch, batch) == (2, 1):
                fake_hub.send({"type": "cancel", "job_id": 3})
                fake_hub.wait_for(lambda: worker.current_run.stop.is_set(), timeout=30)

    worker.callbacks.append(CancelAtBatch())
    stopped = run(fake_hub, 3)
    assert not stopped["finished"] and "3-0" not in fake_hub.models
    assert [e["type"] for e in stopped["events"] if e["type"].startswith("trial_")][-1] == (
        "trial_cancelled"
    )
    # the trainer stopped after the batch that saw the cancel: no more batches ran
    assert [step for step, _ in losses(stopped["events"])] == [1, 2, 3, 4, 5]
