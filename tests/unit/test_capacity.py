"""A worker that runs several trials at once (a Ray worker): the hub leases it up to its
``capacity``, each trial with its own lease; ``capacity`` events grow and shrink it."""

from __future__ import annotations

from typing import Any

from jupyter_mlops.messages import (
    CAPACITY,
    ERROR,
    HELLO,
    TRIAL_CANCELLED,
    TRIAL_STARTED,
    WORKER_CHANGED,
)
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.store import Store
from tests.unit.conftest import ScriptedWorker, Subscriber

SIX_TRIALS = {"LR": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}
CLUSTER = {"engine": "ray", "nodes_alive": 2, "resources_total": {"CPU": 2}}


class ClusterWorker(ScriptedWorker):
    """A scripted worker whose hello says it runs ``capacity`` trials at once."""

    def __init__(self, hub: Hub, name: str, capacity: int) -> None:
        self.capacity = capacity
        super().__init__(hub, name)

    def connect(self) -> int:
        hello = {"type": HELLO, "name": self.name, "session": self.session}
        return self.hub.connect_worker(
            self.link,
            {**hello, "defaults": self.defaults, "capacity": self.capacity, "cluster": CLUSTER},
        )


def running(store: Store, job_id: int) -> list[str]:
    return [t["id"] for t in store.get_job(job_id)["trials"] if t["status"] == "running"]


def test_a_worker_takes_up_to_its_capacity_each_with_its_own_lease(
    mlops_hub: Hub, mlops_store: Store
) -> None:
    ray = ClusterWorker(mlops_hub, "ray", capacity=2)
    job = mlops_hub.launch("any", SIX_TRIALS)
    first, second = ray.assignments()
    assert (first["id"], second["id"]) == (f"{job['id']}-0", f"{job['id']}-1")
    assert first["lease"] != second["lease"]
    assert running(mlops_store, job["id"]) == [first["id"], second["id"]]
    worker = mlops_store.get_worker(ray.id)
    assert worker["capacity"] == 2 and worker["cluster"] == CLUSTER
    assert worker["current_trial"] == second["id"] and worker["status"] == "busy"

    ray.run(second)  # room again: exactly one more trial; the current one is still named
    assert [t["id"] for t in ray.assignments()] == [f"{job['id']}-{i}" for i in range(3)]
    assert running(mlops_store, job["id"]) == [first["id"], f"{job['id']}-2"]
    assert mlops_store.get_worker(ray.id)["current_trial"] == f"{job['id']}-2"


def test_a_plain_worker_beside_it_still_takes_one(mlops_hub: Hub, mlops_store: Store) -> None:
    ray = ClusterWorker(mlops_hub, "ray", capacity=3)
    plain = ScriptedWorker(mlops_hub, "plain")
    job = mlops_hub.launch("any", SIX_TRIALS)
    assert len(ray.assignments()) == 3 and len(plain.assignments()) == 1
    assert len(running(mlops_store, job["id"])) == 4
    assert mlops_store.get_worker(plain.id)["capacity"] == 1


def test_a_capacity_event_grows_and_shrinks_the_worker(
    mlops_hub: Hub, mlops_store: Store, mlops_subscriber: Subscriber
) -> None:
    ray = ClusterWorker(mlops_hub, "ray", capacity=1)
    job = mlops_hub.launch("any", SIX_TRIALS)
    assert len(ray.assignments()) == 1
    grown = {**CLUSTER, "nodes_alive": 3}
    ray.send(ray.event(CAPACITY, capacity=3, cluster=grown))
    assert len(ray.assignments()) == 3  # two more leases at once
    assert mlops_store.get_worker(ray.id)["cluster"] == grown

    told = len(mlops_subscriber.of_type(WORKER_CHANGED))
    ray.send(ray.event(CAPACITY, capacity=1))  # a node left: no new lease until one ends
    assert mlops_store.get_worker(ray.id)["capacity"] == 1
    assert mlops_subscriber.of_type(WORKER_CHANGED)[told:][-1]["worker"]["capacity"] == 1
    first, second, third = ray.assignments()
    ray.run(first)
    assert len(ray.assignments()) == 3  # two still run, above its capacity of 1
    ray.run(second)
    assert len(ray.assignments()) == 3
    ray.run(third)
    assert len(ray.assignments()) == 4  # now it has room for one
    assert len(running(mlops_store, job["id"])) == 1


def test_a_trial_handed_back_by_a_cluster_worker_is_requeued(
    mlops_hub: Hub, mlops_store: Store
) -> None:
    ray = ClusterWorker(mlops_hub, "ray", capacity=2)
    job = mlops_hub.launch("any", {"LR": [0.1, 0.2]})
    first, _ = ray.assignments()
    ray.send(
        ray.event(TRIAL_STARTED, first, node="127.0.0.1:abc123"),
        ray.event(TRIAL_CANCELLED, first, node_lost="127.0.0.1:abc123"),
    )
    stored = mlops_store.get_trial(first["id"])
    assert stored["node"] == "127.0.0.1:abc123"
    # a node died: the worker is not stopping, so it takes the trial again (attempt 2)
    again = ray.assignments()[-1]
    assert (again["id"], again["attempt"]) == (first["id"], 2)
    assert "node" in (mlops_store.get_trial(first["id"])["error"] or "") or any(
        "127.0.0.1:abc123" in line["text"] for line in mlops_store.job_logs(job["id"])
    )


def test_a_bad_capacity_is_refused_and_changes_nothing(mlops_hub: Hub, mlops_store: Store) -> None:
    ray = ClusterWorker(mlops_hub, "ray", capacity=2)
    bad: list[dict[str, Any]] = [
        ray.event(CAPACITY, capacity=0),
        ray.event(CAPACITY, capacity="2"),
        ray.event(CAPACITY, capacity=2, cluster=[1]),
    ]
    ray.send(*bad)
    assert len(ray.link.of_type(ERROR)[-1]["detail"]) == 3
    assert mlops_store.get_worker(ray.id)["capacity"] == 2


def test_a_reconnect_repeats_the_cancel_of_every_trial_it_holds(
    mlops_hub: Hub, mlops_store: Store
) -> None:
    ray = ClusterWorker(mlops_hub, "ray", capacity=2)
    job = mlops_hub.launch("any", SIX_TRIALS)
    held = [t["id"] for t in ray.assignments()]
    mlops_hub.cancel(job["id"])
    assert sorted(ray.cancels()) == [(job["id"], t) for t in held]  # sent on the old link
    ray.reconnect()  # that link dropped before the worker read them: both are said again
    assert sorted(ray.cancels()) == [(job["id"], t) for t in held]
    assert running(mlops_store, job["id"]) == held  # until the worker stops them
