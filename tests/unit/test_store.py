"""The store alone: compare-and-set deploys, lease conflicts, migrations, derived job fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from jupyter_mlops.messages import TRIAL_FAILED, TRIAL_FINISHED
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.errors import Conflict, Forbidden
from jupyter_mlops.serverext.store import Store
from jupyter_mlops.serverext.store.schema import migrations
from tests.unit.conftest import model_metadata, register, sha256_of

METRIC = "test_accuracy"


def job_with_models(store: Store, *accuracies: float | None) -> list[str]:
    """A job with one stored model per accuracy (None: a model without the metric), each
    uploaded by the worker that holds the trial's lease."""
    job = store.create_job("any", {"LR": [0.1]}, [{"LR": i / 10} for i in range(len(accuracies))])
    ids = [t["id"] for t in job["trials"]]
    for trial_id, accuracy in zip(ids, accuracies, strict=True):
        _, trial = store.assign_next_trial(register(store, f"w{trial_id}"))  # type: ignore[misc]
        assert trial["id"] == trial_id
        metrics = {} if accuracy is None else {METRIC: accuracy}
        store.add_model(
            trial_id, sha256_of(trial_id), 10, model_metadata(**metrics), 1, trial["lease"]
        )
    return ids


def deploy_if_better(store: Store, model_id: str, metric: str, higher: bool) -> dict | None:
    """The ``better`` gate (the metric alone) through the store's compare-and-set."""
    policy = DeploymentPolicy(metric=metric, higher_is_better=higher, gate="better")
    return store.judge_and_deploy(model_id, policy.auto_judge)[1]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_deploy_if_better_only_the_better_model_wins(
    mlops_store: Store, order: tuple[int, int]
) -> None:
    better, worse = job_with_models(mlops_store, 0.9, 0.6)
    first, second = ([better, worse][i] for i in order)
    assert deploy_if_better(mlops_store, first, METRIC, True) is not None
    won = deploy_if_better(mlops_store, second, METRIC, True)
    assert (won is not None) == (second == better)
    assert mlops_store.current_deployment()["model_id"] == better  # type: ignore[index]
    assert deploy_if_better(mlops_store, better, METRIC, True) is None  # already deployed
    assert [d["reason"] for d in mlops_store.deployment_history()] == ["auto"] * (
        1 if first == better else 2
    )


def test_lower_is_better_for_a_loss(mlops_store: Store) -> None:
    high, low = job_with_models(mlops_store, 0.9, 0.6)
    deploy_if_better(mlops_store, high, METRIC, False)
    assert deploy_if_better(mlops_store, low, METRIC, False) is not None


def test_a_model_without_the_metric_never_wins(mlops_store: Store) -> None:
    bare, scored, bare_too = job_with_models(mlops_store, None, 0.1, None)
    assert deploy_if_better(mlops_store, bare, METRIC, True) is None  # not even on an empty slot
    assert mlops_store.current_deployment() is None
    assert deploy_if_better(mlops_store, scored, METRIC, True) is not None
    assert deploy_if_better(mlops_store, bare_too, METRIC, True) is None
    assert mlops_store.current_deployment()["model_id"] == scored  # type: ignore[index]


def test_a_rollback_is_what_auto_deploy_compares_against(mlops_store: Store) -> None:
    low, high, middle = job_with_models(mlops_store, 0.2, 0.9, 0.5)
    deploy_if_better(mlops_store, high, METRIC, True)
    mlops_store.deploy(low, DeploymentPolicy(gate="better").manual_judge)
    assert deploy_if_better(mlops_store, middle, METRIC, True) is not None


@pytest.fixture
def moved_lease(mlops_store: Store) -> tuple[str, str, str]:
    """A trial leased to w1 (attempt 1), re-queued, then leased to w2 (attempt 2): its id and
    the secrets of both leases."""
    w1, w2 = register(mlops_store, "w1"), register(mlops_store, "w2")
    job = mlops_store.create_job("any", {"LR": [0.1]}, [{"LR": 0.1}])
    _, first = mlops_store.assign_next_trial(w1)  # type: ignore[misc]
    assert first["attempt"] == 1
    mlops_store.release_worker_trials(w1, "its worker went away")
    _, trial = mlops_store.assign_next_trial(w2)  # type: ignore[misc]
    assert (trial["attempt"], trial["worker_name"], trial["job_id"]) == (2, "w2", job["id"])
    assert first["lease"] != trial["lease"]
    return trial["id"], first["lease"], trial["lease"]


def assert_lease_lost(error: Conflict, trial_id: str) -> None:
    assert "lease lost" in error.message
    assert error.detail == {
        "reason": "lease_lost",
        "trial_id": trial_id,
        "attempt": 1,
        "current_attempt": 2,
        "status": "running",
    }


def test_an_old_attempt_is_refused_with_reason_lease_lost(
    mlops_store: Store, moved_lease: tuple[str, str, str]
) -> None:
    trial_id, old, _ = moved_lease
    with pytest.raises(Conflict) as lease:
        mlops_store.check_lease(trial_id, 1, old)
    assert_lease_lost(lease.value, trial_id)
    with pytest.raises(Conflict) as model:
        mlops_store.add_model(trial_id, sha256_of("late"), 10, model_metadata(), 1, old)
    assert_lease_lost(model.value, trial_id)
    with pytest.raises(Conflict) as checkpoint:
        mlops_store.set_checkpoint(trial_id, 1, old, 3, sha256_of("late checkpoint"))
    assert_lease_lost(checkpoint.value, trial_id)
    assert mlops_store.list_models() == []


def test_the_current_attempt_may_store_its_result(
    mlops_store: Store, moved_lease: tuple[str, str, str]
) -> None:
    trial_id, _, lease = moved_lease
    assert mlops_store.check_lease(trial_id, 2, lease)["worker_name"] == "w2"
    model, created = mlops_store.add_model(
        trial_id, sha256_of("model"), 10, model_metadata(test_accuracy=0.5), 2, lease
    )
    assert created and model["worker"] == "w2"


def test_no_lease_or_the_current_attempt_with_another_secret_is_refused(
    mlops_store: Store, moved_lease: tuple[str, str, str]
) -> None:
    trial_id, old, lease = moved_lease
    for attempt, secret in ((None, None), (2, None), (None, lease), (2, "")):
        with pytest.raises(Forbidden):
            mlops_store.check_lease(trial_id, attempt, secret)
    with pytest.raises(Conflict) as guessed:
        mlops_store.add_model(trial_id, sha256_of("x"), 10, model_metadata(), 2, old)
    assert guessed.value.detail["reason"] == "lease_lost"
    assert mlops_store.list_models() == []


def test_a_fresh_database_gets_every_migration_once(mlops_root: Path) -> None:
    every = [m.name for m in migrations.pending(Database(memory=True))]
    assert every, "no migration is registered"
    store = Store(mlops_root)
    applied = migrations.applied(store.db)
    assert [m.name for m in applied] == every
    assert "attempt" in store.db["trials"].columns_dict  # type: ignore[union-attr]
    store.close()

    reopened = Store(mlops_root)
    assert migrations.applied(reopened.db) == applied  # same rows, same timestamps
    assert migrations.pending(reopened.db) == []
    reopened.close()


def job_fields(store: Store, job_id: int) -> tuple[list[str], bool]:
    job = store.get_job(job_id)
    (listed,) = [j for j in store.list_jobs() if j["id"] == job_id]
    assert "trials" not in listed
    assert (listed["workers"], listed["retryable"]) == (job["workers"], job["retryable"])
    return job["workers"], job["retryable"]


def test_job_workers_and_retryable_are_derived_from_its_trials(mlops_store: Store) -> None:
    job = mlops_store.create_job("any", {"LR": [1, 2, 3]}, [{"LR": v} for v in (1, 2, 3)])
    assert job_fields(mlops_store, job["id"]) == ([], False)
    w1, w2 = register(mlops_store, "w1"), register(mlops_store, "w2")
    w3 = register(mlops_store, "w3")
    mlops_store.assign_next_trial(w2)  # trial 0
    assert job_fields(mlops_store, job["id"]) == (["w2"], False)
    mlops_store.assign_next_trial(w1)  # trial 1
    _, trial = mlops_store.assign_next_trial(w3)  # type: ignore[misc]
    assert job_fields(mlops_store, job["id"]) == (["w2", "w1", "w3"], False)

    failed = {"seq": 1, "type": TRIAL_FAILED, "job_id": job["id"], "trial_id": trial["id"]}
    mlops_store.apply_events(w3, [{**failed, "attempt": 1, "error": "boom"}])
    assert job_fields(mlops_store, job["id"]) == (["w2", "w1", "w3"], True)

    mlops_store.retry_job(job["id"])  # trial 2 is pending again: w3 was its last holder
    assert job_fields(mlops_store, job["id"]) == (["w2", "w1", "w3"], False)
    _, again = mlops_store.assign_next_trial(register(mlops_store, "w4"))  # type: ignore[misc]
    assert again["id"] == trial["id"]
    assert job_fields(mlops_store, job["id"]) == (["w2", "w1", "w4"], False)


def test_a_worker_holding_two_trials_is_named_once_at_its_first(mlops_store: Store) -> None:
    job = mlops_store.create_job("any", {"LR": [1, 2]}, [{"LR": 1}, {"LR": 2}])
    w1 = register(mlops_store, "w1")
    _, first = mlops_store.assign_next_trial(w1)  # type: ignore[misc]
    done = {"seq": 1, "type": TRIAL_FINISHED, "job_id": job["id"], "trial_id": first["id"]}
    mlops_store.apply_events(w1, [done])
    mlops_store.assign_next_trial(w1)
    assert job_fields(mlops_store, job["id"]) == (["w1"], False)
