"""The hub's side of durable worker data, without a server: a restarted kernel's hello, replayed
events stored before its dead kernel's lease is released, marker lines for refused events,
metric points with their attempt, and the grace after a hub restart."""

from __future__ import annotations

from typing import Any

from jupyter_mlops.kernel_client.worker.magics import format_status
from jupyter_mlops.messages import HELLO, JOB, LOG, METRIC
from jupyter_mlops.serverext.hub import RESTART_GRACE_SECONDS, Hub
from tests.unit.conftest import DEFAULTS, FakeLink, ScriptedWorker


def hello(worker: ScriptedWorker, running: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    return {
        "type": HELLO,
        "name": worker.name,
        "session": worker.session,
        "defaults": DEFAULTS,
        "running": running,
        "seq": seq,
    }


def launch(hub: Hub, trials: int = 1) -> dict[str, Any]:
    return hub.launch("any", {"LR": [0.1 * (i + 1) for i in range(trials)]})


def test_a_restarted_kernel_s_replay_is_stored_before_its_lease_is_released(
    mlops_hub: Hub, mlops_worker
) -> None:
    worker = mlops_worker("w")
    job = launch(mlops_hub)
    (trial,) = worker.assignments()
    worker.send(worker.event(LOG, trial, stream="stdout", text="acked before the crash"))
    unsent = [worker.event(LOG, trial, stream="stdout", text=f"unsent {i}") for i in range(3)]
    worker.disconnect()  # the kernel dies with three events in its outbox
    link = FakeLink()  # the restarted kernel: same session, runs nothing, newest seq 4
    mlops_hub.connect_worker(link, hello(worker, [], worker.seq))
    state = mlops_hub.store.get_job(job["id"])
    assert state["trials"][0]["status"] == "running"  # not before the replay is stored
    assert link.of_type(JOB) == []
    mlops_hub.worker_events(worker.id, link, unsent)
    lines = [x["text"] for x in mlops_hub.store.job_logs(job["id"])]
    assert lines[:4] == ["acked before the crash", "unsent 0", "unsent 1", "unsent 2"]
    assert any("came back without it" in text for text in lines)
    (again,) = [t for m in link.of_type(JOB) for t in m["job"]["trials"]]
    assert again["id"] == trial["id"] and again["attempt"] == 2  # re-run on the same worker


def test_a_hello_that_claims_its_trial_keeps_the_lease(mlops_hub: Hub, mlops_worker) -> None:
    worker = mlops_worker("w")
    job = launch(mlops_hub)
    (trial,) = worker.assignments()
    worker.disconnect()
    link = FakeLink()
    claimed = [{"trial_id": trial["id"], "attempt": trial["attempt"]}]
    mlops_hub.connect_worker(link, hello(worker, claimed, worker.seq))
    state = mlops_hub.store.get_job(job["id"])
    assert state["trials"][0]["status"] == "running" and state["trials"][0]["attempt"] == 1


def test_a_trial_that_ended_before_the_hello_is_not_released(mlops_hub: Hub, mlops_worker) -> None:
    worker = mlops_worker("w")
    job = launch(mlops_hub)
    (trial,) = worker.assignments()
    worker.disconnect()
    ended = worker.event("trial_failed", trial, error="boom", traceback="")
    link = FakeLink()  # it ended (the event is unsent) and the kernel no longer lists it
    mlops_hub.connect_worker(link, hello(worker, [], worker.seq))
    mlops_hub.worker_events(worker.id, link, [ended])
    state = mlops_hub.store.get_job(job["id"])
    assert state["trials"][0]["status"] == "failed"  # its own outcome, not re-queued
    assert state["trials"][0]["attempt"] == 1


def test_refused_events_leave_a_marker_and_metrics_carry_their_attempt(
    mlops_hub: Hub, mlops_worker, mlops_clock
) -> None:
    first = mlops_worker("a")
    job = launch(mlops_hub)
    (trial,) = first.assignments()
    first.send(first.event(METRIC, trial, name="loss", step=1, value=0.5))
    first.disconnect()
    mlops_clock.fire_all()  # the grace ran out: the trial goes back to the queue
    second = mlops_worker("b")
    (again,) = second.assignments()
    second.send(second.event(METRIC, again, name="loss", step=2, value=0.4))
    first.reconnect()
    first.send(
        first.event(LOG, trial, stream="stdout", text="late 1"),
        first.event(LOG, trial, stream="stdout", text="late 2"),
        first.event(METRIC, trial, name="loss", step=2, value=0.45),
    )
    texts = [x["text"] for x in mlops_hub.store.job_logs(job["id"])]
    assert "late 1" not in texts
    (marker,) = [t for t in texts if t.startswith("hub: ")]
    assert marker == (
        f"hub: 2 log line(s), 1 metric point(s) of attempt 1 of trial {trial['id']} from worker "
        "a were not stored: its lease is now attempt 2 on worker b; that worker's local job log "
        "keeps them"
    )
    points = mlops_hub.store.job_metrics(job["id"])
    assert [(p["step"], p["attempt"]) for p in points] == [(1, 1), (2, 2)]


def test_a_hub_restart_gives_lease_holders_time_to_come_back(
    mlops_hub: Hub, mlops_worker, mlops_clock
) -> None:
    worker = mlops_worker("w")
    launch(mlops_hub)
    mlops_hub.stop()
    restarted = Hub(
        mlops_hub.store,
        mlops_hub.blobs,
        mlops_hub.policy,
        grace_seconds=5,
        schedule=mlops_clock,
    )
    restarted.start()
    (timer,) = mlops_clock.pending
    assert timer.delay == RESTART_GRACE_SECONDS > 5
    assert worker.id in restarted.store.leased_workers()


def test_status_says_a_model_waits_and_the_outbox_fills() -> None:
    status = {
        "name": "w",
        "worker_id": 1,
        "device": "cpu",
        "hub": "http://hub/",
        "connection": "reconnecting",
        "last_error": "cannot connect",
        "job": 3,
        "trials": 1,
        "trial": "3-0",
        "attempt": 1,
        "epoch": (2, 2),
        "batch": (4, 4),
        "metrics": {},
        "jobs_done": 0,
        "unacked_events": 12,
        "log_dir": "/w/logs",
        "uploads": [
            {
                "trial_id": "3-0",
                "path": "/w/models/3-0-a1.zip",
                "since": "2026-01-01T00:00:00Z",
                "tries": 4,
                "last_error": "model upload attempt 4 failed (unreachable)",
            }
        ],
        "outbox": {
            "bytes": 230 << 20,
            "limit_bytes": 256 << 20,
            "warning": True,
            "full": True,
            "not_sent": {"log": 3},
            "disk_error": None,
        },
    }
    text = format_status(status, "http://hub/")
    assert "model of trial 3-0 waiting to upload since 2026-01-01T00:00:00Z (4 tries" in text
    assert "file /w/models/3-0-a1.zip" in text
    assert "WARNING  the outbox is full (230.0 of 256 MiB)" in text and "3 log" in text
