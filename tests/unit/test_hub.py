"""The hub on a real store with fake links and a manual clock: dispatch, grace, drain, leases."""

from __future__ import annotations

from collections.abc import Callable

from jupyter_mlops.messages import (
    ACK,
    CANCEL,
    JOB_CANCELLED,
    JOB_CHANGED,
    TRIAL_CANCELLED,
    TRIAL_FAILED,
    TRIAL_FINISHED,
    WELCOME,
)
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.store import Store
from tests.unit.conftest import GRACE_SECONDS, ManualClock, ScriptedWorker, Subscriber

ConnectWorker = Callable[..., ScriptedWorker]
THREE_TRIALS = {"LR": [0.1, 0.2, 0.3]}


def statuses(store: Store, job_id: int) -> list[str]:
    return [t["status"] for t in store.get_job(job_id)["trials"]]


def test_each_idle_worker_takes_one_trial(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker
) -> None:
    a, b = mlops_worker("a"), mlops_worker("b")
    assert [m["type"] for m in a.link.sent] == [WELCOME]
    job = mlops_hub.launch("any", THREE_TRIALS)
    assert [t["id"] for t in a.assignments()] == [f"{job['id']}-0"]
    assert [t["id"] for t in b.assignments()] == [f"{job['id']}-1"]
    assert [t["attempt"] for t in a.assignments() + b.assignments()] == [1, 1]
    assert statuses(mlops_store, job["id"]) == ["running", "running", "pending"]

    a.run(a.assignments()[0])  # a is idle again: it takes the third trial, b keeps its own
    assert a.link.of_type(ACK)[-1]["seq"] == a.seq
    assert [t["id"] for t in a.assignments()] == [f"{job['id']}-0", f"{job['id']}-2"]
    assert len(b.assignments()) == 1
    assert statuses(mlops_store, job["id"]) == ["finished", "running", "running"]


def test_a_job_for_a_named_worker_waits_for_it(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker
) -> None:
    b = mlops_worker("b")
    b.disconnect()
    a = mlops_worker("a")
    job = mlops_hub.launch("b", {"LR": 0.1})
    assert a.assignments() == [] and mlops_store.get_job(job["id"])["status"] == "queued"
    b.reconnect()
    assert [t["id"] for t in b.assignments()] == [f"{job['id']}-0"]


def test_grace_expiry_requeues_and_the_next_worker_gets_attempt_two(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker, mlops_clock: ManualClock
) -> None:
    a = mlops_worker("a")
    job = mlops_hub.launch("any", {"LR": 0.1})
    (trial,) = a.assignments()
    b = mlops_worker("b")
    a.disconnect()
    (timer,) = mlops_clock.pending
    assert timer.delay == GRACE_SECONDS
    assert b.assignments() == []  # the lease waits out the grace period
    assert statuses(mlops_store, job["id"]) == ["running"]

    timer.fire()
    (moved,) = b.assignments()
    assert (moved["id"], moved["attempt"]) == (trial["id"], trial["attempt"] + 1)
    stored = mlops_store.get_job(job["id"])["trials"][0]
    assert stored["worker_name"] == "b" and "re-queued" in stored["error"]
    assert any("re-queued" in line["text"] for line in mlops_store.job_logs(job["id"]))


def test_a_worker_back_within_the_grace_keeps_its_lease(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker, mlops_clock: ManualClock
) -> None:
    a = mlops_worker("a")
    job = mlops_hub.launch("any", {"LR": 0.1})
    (trial,) = a.assignments()
    a.disconnect()
    a.reconnect()
    assert mlops_clock.pending == [] and mlops_clock.timers[0].cancelled
    assert a.cancels() == []
    a.run(trial)
    assert mlops_store.get_job(job["id"])["status"] == "finished"


def test_a_worker_that_hands_a_trial_back_gets_nothing_until_it_reconnects(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker
) -> None:
    a = mlops_worker("a")
    job = mlops_hub.launch("any", {"LR": [0.1, 0.2]})
    (trial,) = a.assignments()
    a.send(a.event(TRIAL_CANCELLED, trial), a.event(JOB_CANCELLED, job_id=job["id"]))
    assert statuses(mlops_store, job["id"]) == ["pending", "pending"]
    assert len(a.assignments()) == 1  # draining: idle, yet offered nothing

    b = mlops_worker("b")  # another worker takes the handed-back trial
    (taken,) = b.assignments()
    assert (taken["id"], taken["attempt"]) == (trial["id"], 2)
    assert len(a.assignments()) == 1

    a.disconnect()
    a.reconnect()  # back: it takes work again
    (again,) = a.assignments()
    assert again["id"] == f"{job['id']}-1"


def test_a_worker_back_after_its_lease_moved_gets_a_cancel_and_is_ignored(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker, mlops_clock: ManualClock
) -> None:
    a, b = mlops_worker("a"), mlops_worker("b")
    job = mlops_hub.launch("any", {"LR": 0.1})
    (trial,) = a.assignments()
    a.disconnect()
    mlops_clock.fire_all()
    (moved,) = b.assignments()

    a.reconnect()
    assert a.cancels() == [(job["id"], trial["id"])]
    a.send(a.event(TRIAL_FINISHED, trial, model_id=trial["id"], metrics={"test_accuracy": 1.0}))
    stored = mlops_store.get_job(job["id"])["trials"][0]
    assert (stored["status"], stored["worker_name"], stored["attempt"]) == ("running", "b", 2)
    assert a.assignments() == []  # its old lease is gone; the only trial is b's

    b.run(moved)
    assert mlops_store.get_job(job["id"])["status"] == "finished"


def test_cancel_stops_running_trials_and_drops_pending_ones(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker
) -> None:
    a = mlops_worker("a")
    job = mlops_hub.launch("any", THREE_TRIALS)
    (trial,) = a.assignments()
    cancelled = mlops_hub.cancel(job["id"])
    assert a.link.sent[-1] == {"type": CANCEL, "job_id": job["id"], "trial_id": trial["id"]}
    assert cancelled["cancel_requested"] is True
    assert statuses(mlops_store, job["id"]) == ["running", "cancelled", "cancelled"]
    a.send(a.event(TRIAL_CANCELLED, trial), a.event(JOB_CANCELLED, job_id=job["id"]))
    assert mlops_store.get_job(job["id"])["status"] == "cancelled"


def test_job_notifications_carry_workers_and_retryable(
    mlops_hub: Hub, mlops_worker: ConnectWorker, mlops_subscriber: Subscriber
) -> None:
    job = mlops_hub.launch("any", {"LR": [0.1, 0.2]})
    first = mlops_subscriber.of_type(JOB_CHANGED)[-1]["job"]
    assert (first["workers"], first["retryable"]) == ([], False)
    b, a = mlops_worker("b"), mlops_worker("a")
    (trial,) = a.assignments()
    a.send(a.event(TRIAL_FAILED, trial, error="boom"))
    latest = mlops_subscriber.of_type(JOB_CHANGED)[-1]["job"]
    assert latest["id"] == job["id"]
    assert (latest["workers"], latest["retryable"]) == (["b", "a"], True)
    assert b.assignments()[0]["id"] == f"{job['id']}-0"
