"""No client can stall or starve the hub: grid validation is linear, a job's trial count is
capped (and counted without expanding), and dispatch finds a matching trial however long the
queue in front of it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jupyter_mlops.grid import validate_grid
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.store import Store
from tests.unit.conftest import ManualClock, register


class Counted(int):
    """An int that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        Counted.comparisons += 1
        return int(self) == other

    __hash__ = int.__hash__


def test_grid_validation_compares_each_value_a_bounded_number_of_times() -> None:
    """Before, each value was looked up in a list of those before it: n²/2 comparisons (a
    1.4 MB conf of 100k values froze the server for 53 s)."""
    values = [Counted(i) for i in range(2000)] + [Counted(5), Counted(7)]  # two duplicates
    Counted.comparisons = 0
    result = validate_grid({"SEED": values}, None, max_trials=10_000)
    assert result.valid and len(result.conf["SEED"]) == 2000
    assert Counted.comparisons <= 2 * len(values)  # a set lookup; quadratic would be ~2M


def test_a_200k_value_axis_is_validated_and_counted_without_expanding() -> None:
    result = validate_grid({"SEED": list(range(200_000)), "LR": [0.1, 0.2]}, None)
    assert not result.valid and result.trials == []
    assert result.errors[0].message == "the grid has 400000 trials; a job may have at most 10000"


def test_duplicates_are_dropped_by_type_and_value() -> None:
    result = validate_grid({"A": [1, 1, 1.0, True, "1", 1]}, None)
    assert result.conf == {"A": [1, 1.0, True, "1"]}
    declared = validate_grid({"LR": [1, 1.0, 2]}, {"LR": 0.5})  # ints become floats first
    assert declared.conf == {"LR": [1.0, 2.0]}


def test_an_astronomical_grid_is_named_by_its_magnitude() -> None:
    conf = {f"K{i}": [1, 2] for i in range(15_000)}  # 2**15000 trials: 4,516 digits
    result = validate_grid(conf, None)
    assert "about 10^4515 trials" in result.errors[0].message


def test_the_cap_on_trials_per_job_is_the_hub_s_setting(tmp_path: Path) -> None:
    store = Store(tmp_path / "mlops")
    hub = Hub(
        store,
        BlobStore(tmp_path / "mlops" / "blobs"),
        DeploymentPolicy(),
        grace_seconds=60.0,
        schedule=ManualClock(),
        log=logging.getLogger("tests.unit.limits"),
        max_trials=5,
    )
    with pytest.raises(InvalidInput) as refused:
        hub.launch("any", {"A": [1, 2, 3], "B": [1, 2]})
    assert "the grid has 6 trials; a job may have at most 5" in str(refused.value.detail)
    assert hub.launch("any", {"A": [1, 2, 3, 4, 5]})["trial_count"] == 5
    store.close()


def test_dispatch_finds_the_worker_s_trial_behind_20008_it_cannot_take(tmp_path: Path) -> None:
    """Before, only the first 1000 pending trials were looked at: the worker sat idle."""
    store = Store(tmp_path / "mlops")
    many = [{"X": i} for i in range(10_000)]
    store.create_job("someone-else", {"X": list(range(10_000))}, many)
    store.create_job("any", {"UNDECLARED": list(range(10_000))}, many)
    store.create_job(["a", "b"], {"LR": [0.1]}, [{"LR": 0.1}] * 8)
    mine = store.create_job("w", {"LR": [0.5]}, [{"LR": 0.5}])
    worker_id = register(store, "w", {"LR": 0.1, "EPOCHS": 1})
    assigned = store.assign_next_trial(worker_id)
    assert assigned is not None
    job, trial = assigned
    assert (job["id"], trial["id"]) == (mine["id"], f"{mine['id']}-0")
    assert store.assign_next_trial(worker_id) is None  # busy now


def test_dispatch_keeps_its_rules(tmp_path: Path) -> None:
    store = Store(tmp_path / "mlops")
    listed = store.create_job(["x", "w"], {"LR": [0.1]}, [{"LR": 0.1}])
    store.create_job("any", {"LR": [0.2]}, [{"LR": 0.2}])
    w = register(store, "w", {"LR": 0.1})
    first = store.assign_next_trial(w)
    assert first is not None and first[0]["id"] == listed["id"]  # oldest job first
    other = register(store, "free-for-all", {})  # declares nothing: takes any conf
    second = store.assign_next_trial(other)
    assert second is not None and second[1]["params"] == {"LR": 0.2}
    odd = store.create_job("[w", {}, [{}])  # a name that only looks like a list
    bracket = register(store, "[w", {})
    third = store.assign_next_trial(bracket)
    assert third is not None and third[0]["id"] == odd["id"]
