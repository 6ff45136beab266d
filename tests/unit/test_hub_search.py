"""Searches on the hub (real store, scripted workers, manual clock): trials asked as there is
room, results told, a median pruner obeyed exactly when the events say so, a restart resumed.

Every event is sent by the test in the order it chooses, so each pruning decision is known.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.grid import validate_grid
from jupyter_mlops.messages import (
    CANCEL,
    JOB_FINISHED,
    LOG,
    METRIC,
    PROGRESS,
    TRIAL_CANCELLED,
    TRIAL_FINISHED,
    TRIAL_STARTED,
)
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.errors import Conflict
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.search import SearchRunner
from jupyter_mlops.serverext.store import Store
from tests.unit.conftest import (
    GRACE_SECONDS,
    ManualClock,
    ScriptedWorker,
    Subscriber,
    model_metadata,
    sha256_of,
)

DEFAULTS = {"EPOCHS": 3, "LR": 0.01, "K": 3}
MEDIAN = {"type": "median", "startup_trials": 2, "warmup_epochs": 0}
Trial = dict[str, Any]


def tpe(budget: int = 6, **search: Any) -> dict[str, Any]:
    return {
        "LR": {"low": 1e-4, "high": 1e-1, "log": True},
        "K": [3, 5],
        "search": {"method": "tpe", "budget": budget, "seed": 0, "pruner": MEDIAN, **search},
    }


def make_hub(store: Store, root: Path, clock: ManualClock) -> Hub:
    hub = Hub(
        store,
        BlobStore(root / "blobs"),
        DeploymentPolicy(gate="better"),  # these scripted models carry no per-example results
        grace_seconds=GRACE_SECONDS,
        schedule=clock,
        log=logging.getLogger("tests.unit.hub_search"),
        searches=SearchRunner(root),
    )
    hub.start()
    return hub


@pytest.fixture
def hub(
    mlops_store: Store, mlops_root: Path, mlops_clock: ManualClock, mlops_subscriber: Subscriber
) -> Iterator[Hub]:
    hub = make_hub(mlops_store, mlops_root, mlops_clock)
    hub.subscribe(mlops_subscriber)
    yield hub
    hub.stop()


def worker(hub: Hub, name: str) -> ScriptedWorker:
    return ScriptedWorker(hub, name, DEFAULTS)


def epochs(w: ScriptedWorker, trial: Trial, values: list[float], start: int = 1) -> None:
    """Report the search metric for epochs ``start``, ``start + 1``, ... of the trial."""
    events = [w.event(TRIAL_STARTED, trial)] if start == 1 else []
    for epoch, value in enumerate(values, start):
        events += [
            w.event(PROGRESS, trial, epoch=epoch, epochs=3, batch=0, batches=4),
            w.event(METRIC, trial, name="loss", step=epoch * 4, value=1.0 / epoch),
            w.event(METRIC, trial, name="test_accuracy", step=epoch, value=value),
        ]
    w.send(*events)


def store_model(hub: Hub, store: Store, trial: Trial, accuracy: float) -> dict[str, Any]:
    """What the upload handler does once a file is in: add the model (lease-checked)."""
    model, created = store.add_model(
        trial["id"], sha256_of(trial["id"]), 10, model_metadata(test_accuracy=accuracy),
        trial["attempt"], trial["lease"],
    )  # fmt: skip
    if created:
        hub.model_stored(model)
    return model


def finish(hub: Hub, w: ScriptedWorker, trial: Trial, curve: list[float]) -> None:
    """Run a trial to its end: every epoch, its model stored, trial_finished, job_finished."""
    epochs(w, trial, curve)
    store_model(hub, hub.store, trial, curve[-1])  # type: ignore[arg-type]
    w.send(
        w.event(TRIAL_FINISHED, trial, model_id=trial["id"],
                metrics={"test_accuracy": curve[-1], "test_loss": 1 - curve[-1]}),
        w.event(JOB_FINISHED, job_id=int(trial["id"].split("-")[0])),
    )  # fmt: skip


def trial_row(store: Store, trial_id: str) -> Trial:
    return store.get_trial(trial_id)


def study_states(hub: Hub, job_id: int) -> dict[int, str]:
    search = hub._search(job_id)
    assert search is not None
    study = hub.searches.study(search.study, search.spec)
    return {t.number: t.state.name for t in study.get_trials()}


def test_a_tpe_search_prunes_below_the_median_and_keeps_to_its_budget(
    hub: Hub, mlops_store: Store, mlops_subscriber: Subscriber
) -> None:
    a, b = worker(hub, "a"), worker(hub, "b")
    job = hub.launch("any", tpe(budget=6))
    job_id = job["id"]
    assert job["trial_count"] == 6 and job["search"]["method"] == "tpe"
    assert job["conf"]["LR"] == {"low": 1e-4, "high": 1e-1, "log": True}
    # two workers accept it: two trials are asked at once, one leased to each
    (t0,), (t1,) = a.assignments(), b.assignments()
    assert (t0["id"], t1["id"]) == (f"{job_id}-0", f"{job_id}-1")
    assert t0["params"]["EPOCHS"] == 3 and set(t0["params"]) == {"EPOCHS", "LR", "K"}
    assert mlops_store.get_job(job_id)["status"] == "running"

    finish(hub, a, t0, [0.5, 0.6, 0.7])
    t2 = a.assignments()[-1]  # a's trial ended: the study was told, and asked the next
    assert t2["id"] == f"{job_id}-2"
    finish(hub, b, t1, [0.4, 0.5, 0.6])
    t3 = b.assignments()[-1]
    assert study_states(hub, job_id) == {0: "COMPLETE", 1: "COMPLETE", 2: "RUNNING",
                                         3: "RUNNING"}  # fmt: skip

    # trial 2 reports epoch 1 below the median of the two completed trials (0.45): pruned
    epochs(a, t2, [0.1])
    pruned = trial_row(mlops_store, t2["id"])
    assert pruned["status"] == "pruned" and pruned["finished"] is not None
    assert pruned["epoch"] == 1 and pruned["model_id"] is None
    assert pruned["error"].startswith("pruned at epoch 1 by the median pruner: test_accuracy 0.1")
    cancel = a.link.of_type(CANCEL)[-1]
    assert (cancel["trial_id"], cancel["reason"]) == (t2["id"], pruned["error"])
    assert study_states(hub, job_id)[2] == "PRUNED"
    # its worker is free at once: the next trial is asked and leased to it
    t4 = a.assignments()[-1]
    assert t4["id"] == f"{job_id}-4"
    # no model is stored for it: its lease takes no upload now
    with pytest.raises(Conflict) as refused:
        store_model(hub, mlops_store, t2, 0.1)
    assert refused.value.detail["reason"] == "lease_lost"
    # its log goes on until it stops; its end leaves it pruned; its metrics stay
    a.send(
        a.event(LOG, t2, stream="system", text=f"trial {t2['id']} stopped by the hub"),
        a.event(METRIC, t2, name="test_accuracy", step=2, value=0.2),  # after the prune
        a.event(TRIAL_CANCELLED, t2),
    )
    assert trial_row(mlops_store, t2["id"])["status"] == "pruned"
    assert any("stopped by the hub" in line["text"] for line in mlops_store.job_logs(job_id))
    points = [p for p in mlops_store.job_metrics(job_id) if p["trial_id"] == t2["id"]]
    assert [(p["name"], p["step"]) for p in points] == [("loss", 4), ("test_accuracy", 1)]
    assert a.link.of_type(CANCEL)[-1] == cancel  # one cancel only

    # trial 3 is above the median: it runs to the end
    finish(hub, b, t3, [0.9, 0.95, 0.97])
    t5 = b.assignments()[-1]
    assert t5["id"] == f"{job_id}-5"
    finish(hub, a, t4, [0.8, 0.85, 0.9])
    assert len(a.assignments()) == 3  # the budget is spent: nothing more is asked
    assert mlops_store.get_job(job_id)["status"] == "running"
    finish(hub, b, t5, [0.7, 0.8, 0.85])  # above the median of 0.4, 0.5, 0.8, 0.9

    done = mlops_store.get_job(job_id)
    assert done["status"] == "finished" and done["progress"] == 1.0
    assert [t["index"] for t in done["trials"]] == [0, 1, 2, 3, 4, 5]
    assert [t["search_number"] for t in done["trials"]] == [0, 1, 2, 3, 4, 5]
    assert {t["id"]: t["status"] for t in done["trials"]} == {
        t["id"]: "pruned" if t["id"] == t2["id"] else "finished" for t in done["trials"]
    }
    models = {m["id"] for m in mlops_store.list_models()}
    assert models == {t["id"] for t in done["trials"] if t["status"] == "finished"}
    assert mlops_store.current_deployment()["model_id"] == t3["id"]  # type: ignore[index]
    assert mlops_store.consistency_problems() == []
    assert set(study_states(hub, job_id).values()) == {"COMPLETE", "PRUNED"}

    summary = hub.search_summary(job_id)
    assert summary["best"] == {"trial_id": t3["id"], "value": 0.97}
    assert summary["search"]["pruner"] == MEDIAN and summary["search"]["budget"] == 6
    assert summary["importance"] == {} or sum(summary["importance"].values()) == pytest.approx(1)
    # subscribers saw the pruned trial with its reason
    updates = [
        t for m in mlops_subscriber.of_type("job") for t in m["job"].get("trials", [])
        if t["id"] == t2["id"] and t["status"] == "pruned"
    ]  # fmt: skip
    assert updates and updates[0]["error"] == pruned["error"]


def test_a_model_stored_before_the_pruner_speaks_keeps_its_trial_finished(
    hub: Hub, mlops_store: Store
) -> None:
    a = worker(hub, "a")
    job = hub.launch("any", tpe(budget=4, parallel=1))
    t0 = a.assignments()[-1]
    finish(hub, a, t0, [0.5, 0.6, 0.7])
    t1 = a.assignments()[-1]
    finish(hub, a, t1, [0.5, 0.6, 0.7])
    t2 = a.assignments()[-1]
    # its model arrives before its last epochs' points, which alone would prune it
    store_model(hub, mlops_store, t2, 0.05)
    epochs(a, t2, [0.01, 0.02, 0.05])
    assert trial_row(mlops_store, t2["id"])["status"] == "running"
    assert a.link.of_type(CANCEL) == []
    a.send(a.event(TRIAL_FINISHED, t2, model_id=t2["id"], metrics={"test_accuracy": 0.05}))
    assert trial_row(mlops_store, t2["id"])["status"] == "finished"
    assert study_states(hub, job["id"])[2] == "COMPLETE"


def test_parallel_caps_the_trials_in_flight(hub: Hub, mlops_store: Store) -> None:
    a, b, c = worker(hub, "a"), worker(hub, "b"), worker(hub, "c")
    job = hub.launch("any", tpe(budget=5, parallel=2))
    assert [len(w.assignments()) for w in (a, b, c)] == [1, 1, 0]
    assert len(mlops_store.get_job(job["id"])["trials"]) == 2


def test_a_search_waits_for_a_worker_and_asks_one_trial(hub: Hub, mlops_store: Store) -> None:
    job = hub.launch("any", tpe(budget=3))
    assert job["status"] == "queued"
    assert [t["status"] for t in mlops_store.get_job(job["id"])["trials"]] == ["pending"]
    a = worker(hub, "a")
    assert [t["id"] for t in a.assignments()] == [f"{job['id']}-0"]


def test_a_trial_pruned_while_its_worker_is_away_is_cancelled_when_it_returns(
    hub: Hub, mlops_store: Store
) -> None:
    a, b = worker(hub, "a"), worker(hub, "b")
    hub.launch("any", tpe(budget=4))
    t0, t1 = a.assignments()[-1], b.assignments()[-1]
    finish(hub, a, t0, [0.5, 0.6, 0.7])
    finish(hub, b, t1, [0.4, 0.5, 0.6])
    t2 = a.assignments()[-1]
    events = [a.event(TRIAL_STARTED, t2), a.event(METRIC, t2, name="test_accuracy", step=1,
                                                  value=0.1)]  # fmt: skip
    a.disconnect()
    a.reconnect()  # a new link; the batch of the old one arrives first
    a.link.sent.clear()
    a.disconnect()
    hub.worker_events(a.id, a.link, events)  # the hub stores what it got before the close
    assert trial_row(mlops_store, t2["id"])["status"] == "pruned"
    a.reconnect()
    assert (t2["id"].split("-")[0], t2["id"]) in {
        (str(m["job_id"]), m["trial_id"]) for m in a.link.of_type(CANCEL)
    }


def test_cancelling_a_search_asks_nothing_more(hub: Hub, mlops_store: Store) -> None:
    a = worker(hub, "a")
    job = hub.launch("any", tpe(budget=5))
    t0 = a.assignments()[-1]
    hub.cancel(job["id"])
    a.send(a.event(TRIAL_CANCELLED, t0))
    ended = mlops_store.get_job(job["id"])
    assert ended["status"] == "cancelled" and len(ended["trials"]) == 1
    assert study_states(hub, job["id"]) == {0: "FAIL"}
    a.send(a.event(JOB_FINISHED, job_id=job["id"]))
    assert len(a.assignments()) == 1


def test_a_restart_resumes_the_search_without_asking_a_number_twice(
    mlops_store: Store, mlops_root: Path, mlops_clock: ManualClock
) -> None:
    hub = make_hub(mlops_store, mlops_root, mlops_clock)
    a = worker(hub, "a")
    job = hub.launch("any", tpe(budget=4, parallel=1, pruner="none"))
    job_id = job["id"]
    t0 = a.assignments()[-1]
    finish(hub, a, t0, [0.5, 0.6, 0.7])
    t1 = a.assignments()[-1]
    # the hub asks its study for one more trial, then stops before it records it
    search = hub._search(job_id)
    assert search is not None
    lost, _ = hub.searches.ask(search.study, search.spec, search.space)
    assert lost == 2
    hub.stop()

    again = make_hub(mlops_store, mlops_root, mlops_clock)  # a new process: journal reloaded
    assert study_states(again, job_id) == {0: "COMPLETE", 1: "RUNNING", 2: "FAIL"}
    a.hub = again
    a.reconnect()  # it kept trial 1 through the restart and finishes it
    finish(again, a, t1, [0.6, 0.7, 0.8])
    numbers = []
    while (trial := a.assignments()[-1])["id"] != t1["id"] and trial["id"] not in numbers:
        numbers.append(trial["id"])
        finish(again, a, trial, [0.3, 0.4, 0.5])
    trials = mlops_store.get_job(job_id)["trials"]
    assert [t["index"] for t in trials] == [0, 1, 3, 4]  # number 2 was lost, never reused
    assert numbers == [f"{job_id}-3", f"{job_id}-4"]
    assert mlops_store.get_job(job_id)["status"] == "finished"
    assert set(study_states(again, job_id).values()) == {"COMPLETE", "FAIL"}
    again.stop()


def test_a_grid_conf_gives_exactly_the_old_trials(hub: Hub, mlops_store: Store) -> None:
    conf = {"LR": [0.1, 0.2, 0.3], "K": [3, 5]}
    job = hub.launch("any", conf)
    assert job["search"] is None and job["trial_count"] == 6
    expected = validate_grid(conf, DEFAULTS).trials  # no worker yet: DEFAULTS is unknown
    assert [t["params"] for t in job["trials"]] == validate_grid(conf, None).trials
    a = worker(hub, "a")
    assert a.assignments()[-1]["params"] == validate_grid(conf, None).trials[0]
    job = hub.launch("any", conf)  # now the worker's defaults fill every trial
    assert [t["params"] for t in mlops_store.get_job(job["id"])["trials"]] == expected
    summary = hub.search_summary(job["id"])
    assert summary["search"]["method"] == "grid" and summary["importance"] == {}
    assert summary["best"] is None and summary["search"]["metric"] == "test_accuracy"
