"""Searches end to end: a real server, two real worker processes, a TPE search with a median
pruner over the tutorial's hyperparameters (``tests/support/synthetic.py``'s objective: a test
accuracy per epoch that is a known function of them).

What is asserted is what the product guarantees, whichever trials the sampler picks and
whichever worker ends first: the budget is spent and no trial number is asked twice; every
trial ends finished or pruned; a pruned trial has no model; the deployed model is the best
finished trial's; a hub restart in the middle changes none of it. Which trial is pruned is
known for one case only: with a seed, the first ten points of TPE are random and fixed, and
the median pruner must prune a trial worse than every other trial at epoch 1 once it runs
after two trials completed (any trial numbered 4 or more, with two trials at a time). A grid
conf on the same stack runs exactly as before searches existed.

The server runs with ``MLOpsApp.deploy_gate=better``: these tests are about the search, and
the synthetic trials carry no per-example results, so the default ``significant`` gate would
(rightly) keep the first model deployed; with ``better``, "the best finished trial's model is
deployed" is what auto-deploy must give.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.grid import validate_grid
from jupyter_mlops.search_space import validate_conf
from jupyter_mlops.serverext.search import SearchRunner
from tests.support.server import MLOpsServer
from tests.support.synthetic import OBJECTIVE_DEFAULTS, WorkerProcess, objective_value
from tests.support.workers import hub_log, job_ended, job_state, launch, online

pytestmark = [pytest.mark.timeout(420)]

BUDGET = 8
MEDIAN = {"type": "median", "startup_trials": 2, "warmup_epochs": 0}
SPACE = {
    "EPOCHS": 3,
    "BATCHES": 2,
    "EPOCH_SECONDS": 0.6,
    "LEARNING_RATE": {"low": 0.0001, "high": 0.1, "log": True},
    "KERNEL_SIZE": [3, 5],
    "NUM_FILTERS": {"low": 8, "high": 32, "step": 8},
    "DENSE_WIDTH": [64, 128, 256],
}


def conf(seed: int) -> dict[str, Any]:
    return {**SPACE, "search": {"method": "tpe", "budget": BUDGET, "seed": seed,
                                "pruner": MEDIAN}}  # fmt: skip


def seed_with_a_sure_prune() -> tuple[int, int]:
    """A seed whose fixed (random) first points put the trial worse than every other at
    epoch 1 at number 4 or more; returns (seed, that trial's number)."""
    for seed in range(200):
        result = validate_conf(conf(seed), OBJECTIVE_DEFAULTS)
        runner = SearchRunner(None)
        points = [runner.ask("s", result.search, result.space)[1] for _ in range(BUDGET)]
        values = [objective_value({**result.fixed, **p}, 1) for p in points]
        worst = min(range(BUDGET), key=values.__getitem__)
        if worst >= 4 and sorted(values)[1] - values[worst] > 1e-6:
            return seed, worst
    raise AssertionError("no seed found")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[MLOpsServer, list[WorkerProcess]]]:
    server = MLOpsServer(
        tmp_path / "server",
        grace_seconds=60,
        extra_config={"MLOpsApp": {"deploy_gate": "better"}},
    ).start()
    workers = [
        WorkerProcess(server.env, name, tmp_path / "workers", objective=True, warm_up=True)
        for name in ("s1", "s2")
    ]
    try:
        server.wait_for(lambda: online(server, "s1", "s2"), timeout=120)
        yield server, workers
    finally:
        for worker in workers:
            worker.stop()
        server.stop()


def check_outcome(server: MLOpsServer, job: dict[str, Any]) -> list[dict[str, Any]]:
    """What every search guarantees once it ended; returns its trials."""
    assert job["status"] == "finished", job
    trials = job["trials"]
    numbers = [t["search_number"] for t in trials]
    assert len(numbers) == BUDGET and len(set(numbers)) == BUDGET, numbers  # none twice
    assert [t["id"] for t in trials] == [f"{job['id']}-{n}" for n in numbers]
    assert {t["status"] for t in trials} <= {"finished", "pruned"}, trials
    models = {m["id"]: m for m in server.api("GET", "models")[1]["models"]}
    finished = {t["id"]: t for t in trials if t["status"] == "finished"}
    assert set(models) == set(finished)  # a model per finished trial, none for a pruned one
    for trial in trials:
        if trial["status"] == "pruned":
            assert trial["model_id"] is None and trial["finished"] is not None
            assert trial["error"].startswith("pruned at epoch "), trial
            assert trial["epoch"] is not None  # the epoch it was pruned at
    # auto-deploy judged every stored model: the deployed one is the best finished trial's
    best = max(t["metrics"]["test_accuracy"] for t in finished.values())
    deployed = server.api("GET", "deployment")[1]["deployment"]
    assert deployed["model_id"] in finished
    assert math.isclose(finished[deployed["model_id"]]["metrics"]["test_accuracy"], best)
    summary = server.api("GET", f"jobs/{job['id']}/search")[1]
    assert summary["best"]["value"] == pytest.approx(best)
    assert summary["importance"] == {} or sum(summary["importance"].values()) == pytest.approx(1)
    return trials


def test_a_tpe_search_with_a_median_pruner_runs_to_its_budget_on_both_workers(
    stack: tuple[MLOpsServer, list[WorkerProcess]],
) -> None:
    server, workers = stack
    seed, worst = seed_with_a_sure_prune()
    job = launch(server, conf(seed))
    assert job["trial_count"] == BUDGET
    done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=300)
    trials = check_outcome(server, done)
    assert {t["worker_name"] for t in trials} == {"s1", "s2"}
    pruned = next(t for t in trials if t["search_number"] == worst)
    # pruned on its epoch-1 metric: ``epoch`` is the step the pruner judged, even when the
    # worker's progress had gone on (progress and metrics travel in the same frames)
    assert pruned["status"] == "pruned" and pruned["epoch"] == 1, pruned
    assert pruned["error"].startswith("pruned at epoch 1 by the median pruner: test_accuracy")
    assert any(
        line["text"].startswith(f"trial {pruned['id']} pruned at epoch 1")
        for line in hub_log(server, job["id"])
    )
    # the worker stops it on the cancel, which may come after the job ended on the hub
    holder = next(w for w in workers if w.name == pruned["worker_name"])
    stopped = f"trial {pruned['id']} stopped by the hub (pruned at epoch 1"
    server.wait_for(lambda: stopped in holder.log_text(job["id"]), timeout=60)


def test_a_hub_restart_mid_search_resumes_it(
    stack: tuple[MLOpsServer, list[WorkerProcess]],
) -> None:
    server, _ = stack
    job = launch(server, conf(seed=11))

    def some_ended() -> bool:
        state = job_state(server, job["id"])
        return sum(t["status"] in ("finished", "pruned") for t in state["trials"]) >= 3

    server.wait_for(some_ended, timeout=200, interval=0.2)
    before = job_state(server, job["id"])
    assert before["status"] != "finished"  # restarted in the middle of the search
    server.restart()  # the studies are reloaded from the store folder's journal
    done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=300)
    check_outcome(server, done)


GRID = {
    "EPOCHS": 2,
    "BATCHES": 2,
    "EPOCH_SECONDS": 0.2,
    "LEARNING_RATE": [0.001, 0.01],
    "KERNEL_SIZE": 3,
    "DENSE_WIDTH": [64, 128, 256],
}


def test_a_grid_conf_runs_every_point_in_order_as_before(
    stack: tuple[MLOpsServer, list[WorkerProcess]],
) -> None:
    server, _ = stack
    expected = validate_grid(GRID, OBJECTIVE_DEFAULTS).trials
    job = launch(server, GRID)
    assert job["trial_count"] == len(expected) == 6
    done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=200)
    assert done["status"] == "finished", done
    trials = done["trials"]
    # the grid's points, in the grid's order, ids <job>-0.., no search numbers, all finished
    assert [t["id"] for t in trials] == [f"{job['id']}-{i}" for i in range(len(expected))]
    axes = [k for k, v in GRID.items() if isinstance(v, list)]
    assert [[t["params"][k] for k in axes] for t in trials] == [
        [p[k] for k in axes] for p in expected
    ]
    assert all(t["params"] == {**OBJECTIVE_DEFAULTS, **t["params"]} for t in trials)
    assert {t["status"] for t in trials} == {"finished"}
    assert all(t.get("search_number") is None for t in trials), trials
    models = {m["id"] for m in server.api("GET", "models")[1]["models"]}
    assert models == {t["id"] for t in trials}  # a model per point, none pruned
    best = max(t["metrics"]["test_accuracy"] for t in trials)
    deployed = server.api("GET", "deployment")[1]["deployment"]
    winner = next(t for t in trials if t["id"] == deployed["model_id"])
    assert math.isclose(winner["metrics"]["test_accuracy"], best)
    summary = server.api("GET", f"jobs/{job['id']}/search")[1]
    assert summary["search"]["method"] == "grid" and summary["importance"] == {}
    assert summary["best"]["value"] == pytest.approx(best)
