"""Exactly one result per trial (issue 12), on the hub with a real store and a manual clock.

A result or checkpoint is accepted only from the current lease of a running trial; a trial
whose model is stored is never re-queued; storing the model keeps what a re-run needs until
the trial is finished; the job's status never contradicts its trials and models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jupyter_mlops.messages import JOB_FINISHED, TRIAL_CANCELLED, TRIAL_FAILED, TRIAL_FINISHED
from jupyter_mlops.serverext.errors import Conflict, Forbidden
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.store import Store
from tests.unit.conftest import ManualClock, ScriptedWorker, model_metadata, sha256_of

ConnectWorker = Callable[..., ScriptedWorker]


def store_model(
    hub: Hub, store: Store, trial: dict[str, Any], name: str = "model", accuracy: float = 0.5
) -> dict[str, Any]:
    """What the upload handler does once the body is in: add the model, tell the hub."""
    model, created = store.add_model(
        trial["id"],
        sha256_of(name),
        10,
        model_metadata(test_accuracy=accuracy),
        trial["attempt"],
        trial["lease"],
    )
    if created:
        hub.model_stored(model)
    return model


def store_checkpoint(hub: Hub, store: Store, trial: dict[str, Any], epoch: int) -> None:
    sha = sha256_of(f"checkpoint {trial['id']} {epoch}")
    hub.blobs.path(sha).write_bytes(b"checkpoint")
    row, replaced = store.set_checkpoint(trial["id"], trial["attempt"], trial["lease"], epoch, sha)
    hub.checkpoint_stored(row, replaced)


def trial_row(store: Store, trial_id: str) -> dict[str, Any]:
    return store.get_trial(trial_id)


def assert_consistent(store: Store) -> None:
    assert store.consistency_problems() == []


def test_a_late_model_from_an_expired_lease_is_refused_and_changes_nothing(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker, mlops_clock: ManualClock
) -> None:
    a = mlops_worker("a")
    job = mlops_hub.launch("any", {"LR": 0.1})
    (first,) = a.assignments()
    store_checkpoint(mlops_hub, mlops_store, first, 1)
    a.disconnect()  # a network cut: the grace period runs out, nobody else is there
    mlops_clock.fire_all()
    assert trial_row(mlops_store, first["id"])["status"] == "pending"
    with pytest.raises(Conflict) as late:
        store_model(mlops_hub, mlops_store, first, "late")
    assert late.value.detail["reason"] == "lease_lost"
    with pytest.raises(Conflict):
        mlops_store.set_checkpoint(first["id"], 1, first["lease"], 2, sha256_of("late ckpt"))
    assert mlops_store.list_models() == [] and mlops_store.current_deployment() is None

    a.reconnect()  # back: told its old lease is gone, and handed the trial again
    assert a.cancels() == [(job["id"], first["id"])]
    second = a.assignments()[-1]
    assert (second["id"], second["attempt"]) == (first["id"], 2)
    assert second["checkpoint"] == {"epoch": 1}  # the re-run resumes, not from epoch 1
    a.send(a.event(TRIAL_CANCELLED, first))  # the old run drops quietly: ignored
    assert trial_row(mlops_store, first["id"])["status"] == "running"
    store_model(mlops_hub, mlops_store, second)
    a.run(second)
    state = mlops_store.get_job(job["id"])
    assert (state["status"], state["trials"][0]["status"]) == ("finished", "finished")
    assert [m["id"] for m in mlops_store.list_models()] == [first["id"]]
    assert_consistent(mlops_store)


def test_a_trial_with_its_model_stored_is_finished_never_requeued(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker, mlops_clock: ManualClock
) -> None:
    a, b = mlops_worker("a"), mlops_worker("b")
    job = mlops_hub.launch("any", {"LR": [0.1, 0.2]})
    (first,) = a.assignments()
    (other,) = b.assignments()
    store_checkpoint(mlops_hub, mlops_store, first, 1)
    store_model(mlops_hub, mlops_store, first, accuracy=0.9)  # deployed automatically
    assert mlops_store.checkpoint_of(first["id"])[1] == 1  # kept until the trial is finished
    a.disconnect()  # before its trial_finished reached the hub
    mlops_clock.fire_all()
    row = trial_row(mlops_store, first["id"])
    assert (row["status"], row["attempt"], row["model_id"]) == ("finished", 1, first["id"])
    b.run(other)
    assert [t["id"] for t in b.assignments()] == [other["id"]]  # nothing came back to run
    state = mlops_store.get_job(job["id"])
    assert state["status"] == "finished"
    assert mlops_store.current_deployment()["model_id"] == first["id"]  # type: ignore[index]
    with pytest.raises(Exception, match="no checkpoint"):
        mlops_store.checkpoint_of(first["id"])  # gone with the finished trial ...
    assert not mlops_hub.blobs.path(sha256_of(f"checkpoint {first['id']} 1")).exists()
    assert_consistent(mlops_store)

    a.reconnect()  # ... and the worker, back late, may only re-send the very same file
    assert store_model(mlops_hub, mlops_store, first)["id"] == first["id"]
    with pytest.raises(Conflict) as other_file:
        store_model(mlops_hub, mlops_store, first, "different")
    assert "already has a different model" in other_file.value.message
    assert other_file.value.detail["reason"] == "lease_lost"
    a.send(a.event(TRIAL_FINISHED, first, metrics={"test_accuracy": 0.9}))
    assert mlops_store.get_job(job["id"])["status"] == "finished"
    assert_consistent(mlops_store)


@pytest.mark.parametrize("kind", [TRIAL_FAILED, TRIAL_CANCELLED])
def test_a_trial_whose_model_is_stored_ends_finished_whatever_its_worker_says(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker, kind: str
) -> None:
    a = mlops_worker("a")
    job = mlops_hub.launch("any", {"LR": 0.1})
    (trial,) = a.assignments()
    store_model(mlops_hub, mlops_store, trial, accuracy=0.8)
    a.send(a.event(kind, trial, error="crashed after the upload"))
    a.send(a.event(JOB_FINISHED, job_id=job["id"]))
    state = mlops_store.get_job(job["id"])
    assert (state["status"], state["trials"][0]["status"]) == ("finished", "finished")
    assert state["trials"][0]["model_id"] == trial["id"] and not state["retryable"]
    assert mlops_store.current_deployment()["model_id"] == trial["id"]  # type: ignore[index]
    lines = [line["text"] for line in mlops_store.job_logs(job["id"])]
    assert f"trial {trial['id']} ends finished, its model stored (its worker sent {kind})" in lines
    assert_consistent(mlops_store)


def test_only_the_current_lease_of_a_running_trial_writes(
    mlops_hub: Hub, mlops_store: Store, mlops_worker: ConnectWorker
) -> None:
    mlops_hub.launch("any", {"LR": [0.1, 0.2]})
    a = mlops_worker("a")
    (trial,) = a.assignments()
    queued = mlops_store.get_job(int(trial["id"].split("-")[0]))["trials"][1]
    assert queued["status"] == "pending"
    for attempt, lease in ((0, None), (None, None), (0, "x"), (1, trial["lease"])):
        with pytest.raises((Forbidden, Conflict)):
            mlops_store.check_lease(queued["id"], attempt, lease)  # a trial that never ran
    with pytest.raises(Forbidden):
        mlops_store.check_lease(trial["id"], trial["attempt"], None)
    with pytest.raises(Conflict):
        mlops_store.check_lease(trial["id"], trial["attempt"], "guessed")
    with pytest.raises(Conflict):
        mlops_store.check_lease(trial["id"], trial["attempt"] + 1, trial["lease"])
    assert mlops_store.check_lease(trial["id"], trial["attempt"], trial["lease"])["id"]
    assert "lease_hash" not in trial and "lease_hash" not in mlops_store.get_trial(trial["id"])


def test_revoking_a_token_closes_its_links_and_requeues_at_once(
    mlops_hub: Hub, mlops_store: Store, mlops_clock: ManualClock, mlops_worker: ConnectWorker
) -> None:
    token, _ = mlops_store.create_token("colab", "worker")
    remote = mlops_worker("remote")
    remote.link = type(remote.link)()
    hello = {"type": "hello", "name": "token-worker", "session": "s-token", "defaults": {}}
    worker_id = mlops_hub.connect_worker(remote.link, hello, token_id=token["id"])
    remote.id = worker_id
    job = mlops_hub.launch("token-worker", {"LR": 0.1})
    (trial,) = remote.assignments()
    mlops_hub.revoke_token(token["id"])
    assert remote.link.closed and worker_id not in mlops_hub.links
    assert mlops_clock.pending == []  # no grace period: the credential is gone
    row = trial_row(mlops_store, trial["id"])
    assert row["status"] == "pending" and "revoked" in row["error"]
    assert mlops_store.get_worker(worker_id)["online"] is False
    assert mlops_store.get_job(job["id"])["status"] == "queued"
    with pytest.raises(Conflict):
        store_model(mlops_hub, mlops_store, trial)
    assert mlops_store.token_for_secret("mlops_anything") is None
    assert_consistent(mlops_store)


def test_the_consistency_check_names_what_contradicts(mlops_store: Store) -> None:
    job = mlops_store.create_job("any", {"LR": [1]}, [{"LR": 1}])
    assert mlops_store.consistency_problems() == []
    mlops_store.db.execute("UPDATE jobs SET status = 'failed' WHERE id = ?", (job["id"],))
    mlops_store.db.execute("UPDATE trials SET model_id = 'nope' WHERE job_id = ?", (job["id"],))
    problems = mlops_store.consistency_problems()
    assert any(f"job {job['id']} is failed" in p for p in problems)
    assert any("names a model that is not stored" in p for p in problems)
