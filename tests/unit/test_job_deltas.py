"""``job`` notifications carry the job and only the trials that changed; views merge them by id.

Before, every progress batch of a 10,000-trial job republished the whole job (4.9 MB, about
150 ms each) to every subscriber.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jupyter_mlops.kernel_client.hub_client import HubClient, HubMirror
from jupyter_mlops.kernel_client.hub_client.mirror import merge_trials
from jupyter_mlops.messages import JOB_CHANGED, PROGRESS
from jupyter_mlops.serverext.hub import Hub
from tests.unit.conftest import ScriptedWorker, Subscriber

ConnectWorker = Callable[..., ScriptedWorker]
BIG = {"SEED": list(range(2000))}


def job_messages(subscriber: Subscriber) -> list[dict[str, Any]]:
    return subscriber.of_type(JOB_CHANGED)


def test_a_progress_batch_publishes_only_its_trial(
    mlops_hub: Hub, mlops_subscriber: Subscriber, mlops_worker: ConnectWorker
) -> None:
    job = mlops_hub.launch("any", BIG)
    launched = job_messages(mlops_subscriber)
    assert len(launched[-1]["job"]["trials"]) == 2000  # a new job: all its trials, once
    worker = mlops_worker("w", {"SEED": 0})
    trial = worker.assignments()[0]
    assigned = job_messages(mlops_subscriber)[-1]["job"]
    assert [t["id"] for t in assigned["trials"]] == [trial["id"]]
    assert assigned["status"] == "running" and assigned["trial_count"] == 2000

    mlops_subscriber.messages.clear()
    worker.send(*(worker.event(PROGRESS, trial, epoch=1, epochs=3, batch=b) for b in range(50)))
    (update,) = job_messages(mlops_subscriber)
    assert [(t["id"], t["batch"]) for t in update["job"]["trials"]] == [(trial["id"], 49)]
    assert len(json.dumps(update)) < 4000  # not the whole job (about 400 bytes a trial)
    assert update["job"]["id"] == job["id"] and update["job"]["progress"] == 0.0


def _mirror_with(job: dict[str, Any]) -> HubMirror:
    mirror = HubMirror(HubClient("http://127.0.0.1:9/", "token"), parts=["jobs"])
    mirror.apply_job(job)
    return mirror


def _trial(job_id: int, index: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"{job_id}-{index}", "index": index, "status": "pending", **fields}


def test_the_mirror_merges_the_changed_trials_by_id() -> None:
    held = {"id": 1, "status": "queued", "trial_count": 3}
    mirror = _mirror_with({**held, "trials": [_trial(1, i) for i in range(3)]})
    delta = {**held, "status": "running", "trials": [_trial(1, 1, status="running", epoch=2)]}
    mirror.apply({"type": JOB_CHANGED, "job": delta})
    job = mirror.jobs[1]
    assert job["status"] == "running"
    assert [(t["id"], t["status"]) for t in job["trials"]] == [
        ("1-0", "pending"),
        ("1-1", "running"),
        ("1-2", "pending"),
    ]
    mirror.apply({"type": JOB_CHANGED, "job": {**held, "status": "finished", "trials": []}})
    assert len(mirror.jobs[1]["trials"]) == 3 and mirror.jobs[1]["status"] == "finished"
    # a REST answer (all the trials) replaces them
    mirror.apply_job({**held, "trials": [_trial(1, 0, status="failed")]})
    assert [t["status"] for t in mirror.jobs[1]["trials"]] == ["failed"]


def test_merge_trials_keeps_grid_order_and_adds_unknown_ones() -> None:
    held = [_trial(1, 0), _trial(1, 2)]
    merged = merge_trials(held, [_trial(1, 1, status="running"), _trial(1, 2, status="failed")])
    assert [(t["id"], t["status"]) for t in merged] == [
        ("1-0", "pending"),
        ("1-1", "running"),
        ("1-2", "failed"),
    ]
    assert merge_trials(held, []) is held
