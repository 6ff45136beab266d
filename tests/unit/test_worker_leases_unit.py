"""The worker against a fake hub: attempts on every event, checkpoints, resume, lease loss."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from jupyter_mlops.kernel_client import Worker
from jupyter_mlops.kernel_client.worker.checkpoints import load_checkpoint
from jupyter_mlops.kernel_client.worker.logtee import read_log_file
from tests.support.fake_hub import FakeHub, worker_on
from tests.support.synthetic import DEFAULTS, synthetic_trial

pytestmark = pytest.mark.timeout(120)

FAST = {"EPOCHS": 3, "BATCHES": 3, "EPOCH_SECONDS": 0.05}
TRIAL_EVENTS = {
    "trial_started",
    "trial_finished",
    "trial_failed",
    "trial_cancelled",
    "progress",
    "metric",
}


@pytest.fixture
def worker(fake_hub: FakeHub, tmp_path: Path) -> Iterator[Worker]:
    w = worker_on(fake_hub, synthetic_trial, DEFAULTS, tmp_path / "w")
    yield w
    w.stop()


def assign(
    fake_hub: FakeHub, job_id: int, index: int, attempt: int = 1, epoch: int | None = None, **params
) -> str:
    """Send a one-trial assignment like the hub's (lease secret ``lease-<trial>-<attempt>``);
    return the trial id."""
    trial = f"{job_id}-{index}"
    entry = {
        "id": trial,
        "index": index,
        "params": {**FAST, **params},
        "attempt": attempt,
        "lease": f"lease-{trial}-{attempt}",
        "checkpoint": {"epoch": epoch} if epoch else None,
    }
    fake_hub.send({"type": "job", "job": {"id": job_id, "conf": {}, "trials": [entry]}})
    return trial


def ended(fake_hub: FakeHub, n: int = 1) -> list[dict]:
    """The first ``n`` job_finished/job_cancelled events, once there are that many."""

    def done() -> list[dict]:
        found = [e for e in fake_hub.events if e["type"] in ("job_finished", "job_cancelled")]
        return found if len(found) >= n else []

    return fake_hub.wait_for(done)


def test_every_trial_event_and_upload_carries_the_attempt(
    fake_hub: FakeHub, worker: Worker
) -> None:
    trial = assign(fake_hub, 1, 0, attempt=3)
    ended(fake_hub)
    about_trial = [e for e in fake_hub.events if e["type"] in TRIAL_EVENTS]
    about_trial += [e for e in fake_hub.of_type("log") if e["trial_id"]]
    assert about_trial and all(e["attempt"] == 3 for e in about_trial)
    assert all("attempt" not in e for e in fake_hub.of_type("log") if not e["trial_id"])
    assert [e["trial_id"] for e in fake_hub.of_type("trial_finished")] == [trial]
    # a checkpoint after epochs 1 and 2 (not 3: the model follows), then the model
    uploads = [(r["what"], r.get("epoch"), r["attempt"]) for r in fake_hub.requests]
    assert uploads == [("checkpoint", "1", "3"), ("checkpoint", "2", "3"), ("model", None, "3")]
    assert {r.get("lease") for r in fake_hub.requests} == {
        f"lease-{trial}-3"
    }  # each shows its lease
    assert not any("lease-" in str(e) for e in fake_hub.events)  # and the secret goes nowhere else
    assert trial in fake_hub.models and not fake_hub.of_type("job_failed")
    texts = [e["text"] for e in fake_hub.of_type("log")]
    assert texts[0] == f"assignment: trial {trial} of job 1 (attempt 3) on w (cpu)"
    assert "checkpoint at epoch 1 stored" in " ".join(texts)
    assert texts[-1] == f"assignment done: job 1, trial {trial} finished"


def test_a_failed_trial_sends_trial_failed_and_job_finished(
    fake_hub: FakeHub, worker: Worker
) -> None:
    def broken(params, callbacks):
        raise ValueError("bug")

    worker.train_fn = broken
    assign(fake_hub, 1, 0)
    ended(fake_hub)
    assert [e["attempt"] for e in fake_hub.of_type("trial_failed")] == [1]
    assert not fake_hub.of_type("job_failed") and len(fake_hub.of_type("job_finished")) == 1


def test_a_requeued_trial_resumes_from_its_checkpoint(fake_hub: FakeHub, worker: Worker) -> None:
    # what the first worker left: the checkpoint after epoch 1 of a 3-epoch trial
    straight: list[dict] = []

    from jupyter_mlops.kernel_client import Callback, CallbackList

    class Grab(Callback):
        def on_checkpoint(self, state) -> None:
            buf = io.BytesIO()
            torch.save(dict(state), buf)
            straight.append({"epoch": state["epoch"], "blob": buf.getvalue()})

    full = synthetic_trial({**DEFAULTS, **FAST}, CallbackList([Grab()]))
    fake_hub.checkpoints["4-1"] = (1, straight[0]["blob"])
    trial = assign(fake_hub, 4, 1, attempt=2, epoch=1)
    ended(fake_hub)
    fetched = fake_hub.requests[0]
    assert (fetched["what"], fetched["attempt"], fetched["lease"]) == (
        "get checkpoint",
        "2",
        f"lease-{trial}-2",
    )
    started = fake_hub.of_type("trial_started")[0]
    assert started["attempt"] == 2 and started["resumed_from_epoch"] == 1
    progress_epochs = {e["epoch"] for e in fake_hub.of_type("progress")}
    assert progress_epochs == {2, 3}
    losses = [e["step"] for e in fake_hub.of_type("metric") if e["name"] == "loss"]
    assert losses == list(range(4, 10))  # global steps continue after epoch 1's 3 steps
    texts = [e["text"] for e in fake_hub.of_type("log")]
    assert "resumed from checkpoint at epoch 1" in texts
    assert "continuing after epoch 1 at step 3" in texts
    # the resumed trial ends exactly where the uninterrupted one did
    finished = fake_hub.of_type("trial_finished")[0]
    assert finished["trial_id"] == trial
    assert finished["metrics"]["test_loss"] == pytest.approx(full.metrics["test_loss"], abs=1e-6)
    assert finished["metrics"]["steps"] == 9


def test_cancel_naming_the_trial_stops_it_and_the_next_assignment_runs(
    fake_hub: FakeHub, worker: Worker
) -> None:
    slow = assign(fake_hub, 2, 0, EPOCHS=50)
    fake_hub.wait_for(lambda: worker.status()["batch"])
    fake_hub.send({"type": "cancel", "job_id": 2, "trial_id": slow})
    assert ended(fake_hub)[0]["type"] == "job_finished"  # the job itself is not cancelled
    nxt = assign(fake_hub, 2, 1)
    ended(fake_hub, 2)
    assert [e["trial_id"] for e in fake_hub.of_type("trial_finished")] == [nxt]
    assert slow not in fake_hub.models and nxt in fake_hub.models
    assert worker.jobs_done[0]["outcomes"] == ["cancelled"]
    # both assignments of job 2 are in the one local log, in order
    texts = [r["text"] for r in read_log_file(worker.local_dir / "logs" / "2.log")]
    assert texts[0].startswith(f"assignment: trial {slow} of job 2")
    assert any(t.startswith(f"assignment: trial {nxt} of job 2") for t in texts)
    # the same assignment sent again (a reconnect) is ignored
    assign(fake_hub, 2, 1)
    assert worker._jobs.empty()


def test_a_model_refused_for_the_lease_is_dropped_without_retry(
    fake_hub: FakeHub, worker: Worker
) -> None:
    fake_hub.refuse_lease.add("3-0")
    worker.checkpoint_every = 0
    assign(fake_hub, 3, 0)
    ended(fake_hub)
    assert [r["what"] for r in fake_hub.requests] == ["model"]  # once: a 409 is never retried
    assert not fake_hub.of_type("trial_failed") and not fake_hub.of_type("trial_finished")
    assert any("the lease was lost" in e["text"] for e in fake_hub.of_type("log"))
    assert worker.jobs_done[0]["outcomes"] == ["lost"]


def test_a_lease_lost_before_the_resume_drops_the_trial_quietly(
    fake_hub: FakeHub, worker: Worker
) -> None:
    fake_hub.checkpoints["8-0"] = (1, b"never fetched")
    fake_hub.refuse_lease.add("8-0")
    assign(fake_hub, 8, 0, attempt=2, epoch=1)
    ended(fake_hub)
    assert [r["what"] for r in fake_hub.requests] == ["get checkpoint"]  # no training, no upload
    assert not fake_hub.of_type("trial_failed") and not fake_hub.of_type("trial_finished")
    assert not fake_hub.of_type("trial_started")
    assert worker.jobs_done[0]["outcomes"] == ["cancelled"]
    assert any("the lease is gone" in e["text"] for e in fake_hub.of_type("log"))


def test_a_checkpoint_refused_for_the_lease_stops_the_trial(
    fake_hub: FakeHub, worker: Worker
) -> None:
    fake_hub.refuse_lease.add("5-0")
    assign(fake_hub, 5, 0, EPOCHS=20)
    ended(fake_hub)
    assert [r["what"] for r in fake_hub.requests] == ["checkpoint"]
    assert worker.jobs_done[0]["outcomes"] == ["lost"]
    assert max(e["epoch"] for e in fake_hub.of_type("progress")) <= 2


def test_checkpoint_every_zero_uploads_none(fake_hub: FakeHub, worker: Worker) -> None:
    worker.checkpoint_every = 0
    assign(fake_hub, 6, 0)
    ended(fake_hub)
    assert [r["what"] for r in fake_hub.requests] == ["model"]


def test_a_stopped_worker_hands_its_trial_back(fake_hub: FakeHub, worker: Worker) -> None:
    assign(fake_hub, 7, 0, attempt=2, EPOCHS=50)
    fake_hub.wait_for(lambda: fake_hub.checkpoints.get("7-0"))
    worker.stop()
    ends = [e for e in fake_hub.events if e["type"].startswith(("trial_", "job_"))]
    assert [e["type"] for e in ends] == ["trial_started", "trial_cancelled"]
    assert ends[-1]["attempt"] == 2  # the hub re-queues it for another worker at once
    assert worker.jobs_done[0]["outcomes"] == ["abandoned"]
    texts = [e["text"] for e in fake_hub.of_type("log")]
    assert any(t.startswith("trial 7-0 handed back") and "from epoch" in t for t in texts)


def test_checkpoint_files_round_trip(tmp_path: Path) -> None:
    state = {"epoch": 2, "step": 8, "model": {"w": torch.ones(2)}, "optimizer": {"lr": 0.1}}
    torch.save(state, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded["epoch"] == 2 and torch.equal(loaded["model"]["w"], torch.ones(2))
