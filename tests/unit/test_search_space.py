"""Search confs: grids keep their exact old meaning; ranges, choices and the search section are
validated key by key with errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.grid import validate_grid
from jupyter_mlops.search_space import (
    Range,
    SearchSpec,
    space_from_json,
    space_to_json,
    validate_conf,
)
from jupyter_mlops.serverext.search import make_pruner
from tests.support.workers import DEFAULTS as TUTORIAL_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS: dict[str, Any] = {**TUTORIAL_DEFAULTS, "OPTIMIZER": "adam", "AUGMENT": False}
TPE = {"method": "tpe", "budget": 20}


def errors(conf: Any, defaults: dict[str, Any] | None = DEFAULTS) -> list[tuple[Any, str]]:
    return [(p.key, p.message) for p in validate_conf(conf, defaults).errors]


def only_error(conf: Any, defaults: dict[str, Any] | None = DEFAULTS) -> tuple[Any, str]:
    found = errors(conf, defaults)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "conf",
    [
        json.loads((ROOT / "sample_conf.json").read_text()),
        {"LEARNING_RATE": [0.1, 0.2, 0.3], "KERNEL_SIZE": [3, 5], "NOT_A_KEY": 1},
        {"EPOCHS": "one"},
        {"LEARNING_RATE": []},
        {"LEARNING_RATE": [[0.1]]},
        {"SEED": list(range(200)), "X": list(range(200))},
        [1, 2],
        "a string",
    ],
)
def test_a_grid_conf_means_exactly_what_it_meant(conf: Any) -> None:
    for defaults in (DEFAULTS, None):
        old = validate_grid(conf, defaults).to_json()
        new = validate_conf(conf, defaults).to_json()
        assert new.pop("search") == SearchSpec().to_json()
        assert new == old


def test_a_grid_expands_a_stepped_range_like_a_list() -> None:
    ranged = validate_conf({"NUM_FILTERS": {"low": 8, "high": 32, "step": 8}, "LEARNING_RATE":
                           {"low": 0.001, "high": 0.003, "step": 0.001}}, DEFAULTS)  # fmt: skip
    listed = validate_grid(
        {"NUM_FILTERS": [8, 16, 24, 32], "LEARNING_RATE": [0.001, 0.002, 0.003]}, DEFAULTS
    )
    assert ranged.valid and ranged.trials == listed.trials and len(ranged.trials) == 12


def test_a_grid_with_a_search_section_keeps_its_metric_and_direction() -> None:
    result = validate_conf(
        {"LEARNING_RATE": [0.1, 0.2], "search": {"metric": "test_loss", "direction": "minimize"}},
        DEFAULTS,
    )
    assert result.valid and len(result.trials) == 2 and "search" not in result.conf
    assert (result.search.method, result.search.metric) == ("grid", "test_loss")


def test_a_tpe_search_has_a_space_fixed_values_and_its_budget_as_trial_count() -> None:
    conf = {
        "EPOCHS": 3,
        "LEARNING_RATE": {"low": 1e-4, "high": 1e-1, "log": True},
        "NUM_FILTERS": {"low": 8, "high": 32, "step": 8},
        "KERNEL_SIZE": [3, 5],
        "DENSE_WIDTH": [64],
        "search": {**TPE, "seed": 7, "pruner": "median"},
    }
    result = validate_conf(conf, DEFAULTS)
    assert result.valid, result.errors
    answer = result.to_json()
    assert answer["trial_count"] == 20 and answer["trials"] == []
    assert result.space == {
        "LEARNING_RATE": Range(1e-4, 1e-1, log=True),
        "KERNEL_SIZE": [3, 5],
        "NUM_FILTERS": Range(8, 32, step=8, integer=True),
    }  # the worker's declaration order
    assert result.fixed == {**DEFAULTS, "EPOCHS": 3, "DENSE_WIDTH": 64}
    assert list(result.conf) == ["EPOCHS", "LEARNING_RATE", "KERNEL_SIZE", "NUM_FILTERS",
                                 "DENSE_WIDTH"]  # fmt: skip
    assert result.conf["LEARNING_RATE"] == {"low": 1e-4, "high": 1e-1, "log": True}
    assert result.conf["KERNEL_SIZE"] == [3, 5] and result.conf["EPOCHS"] == [3]
    assert answer["search"] == {
        "method": "tpe", "budget": 20, "metric": "test_accuracy", "direction": "maximize",
        "parallel": None, "seed": 7,
        "pruner": {"type": "median", "startup_trials": 3, "warmup_epochs": 0},
    }  # fmt: skip
    assert space_from_json(space_to_json(result.space)) == result.space
    assert SearchSpec.from_json(answer["search"]) == result.search


def test_an_unknown_key_is_one_warning_in_a_search_too() -> None:
    result = validate_conf(
        {"LEARNING_RATE": {"low": 0.1, "high": 0.2}, "DROPOUT": [0.1, 0.5], "MOMENTUM": 0.9,
         "search": TPE}, DEFAULTS)  # fmt: skip
    assert result.valid
    assert sorted(w.key for w in result.warnings) == ["DROPOUT", "MOMENTUM"]
    assert "DROPOUT" not in result.space and "MOMENTUM" not in result.fixed


def test_without_a_known_worker_any_key_is_explored() -> None:
    result = validate_conf({"A": {"low": 1, "high": 9}, "B": {"low": 0.5, "high": 2},
                            "C": ["x", "y"], "search": TPE}, None)  # fmt: skip
    assert result.valid
    assert result.space == {"A": Range(1, 9, integer=True), "B": Range(0.5, 2.0), "C": ["x", "y"]}


def test_a_worker_may_declare_a_hyperparameter_named_search() -> None:
    declared = {**DEFAULTS, "search": "beam"}
    result = validate_conf({"search": ["beam", "greedy"]}, declared)
    assert result.valid and [t["search"] for t in result.trials] == ["beam", "greedy"]
    assert result.search.method == "grid"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"low": 0.1, "high": 0.2, "scale": "log"}, "a range takes low, high, log and step"),
        ({"low": "0.1", "high": 0.2}, "a range needs numbers low and high"),
        ({"low": True, "high": 2.0}, "a range needs numbers low and high"),
        ({"high": 0.2}, "a range needs numbers low and high"),
        ({"low": 0.1, "high": float("inf")}, "low and high must be finite numbers"),
        ({"low": 0.2, "high": 0.1}, "a range needs low < high, got 0.2 and 0.1"),
        ({"low": 0.1, "high": 0.1}, "a range needs low < high"),
        ({"low": 0.1, "high": 0.2, "log": "yes"}, "log is true or false"),
        ({"low": 0.0, "high": 0.2, "log": True}, "a log range needs low > 0, got 0.0"),
        ({"low": 0.1, "high": 0.3, "log": True, "step": 0.1}, "a log range takes no step"),
        ({"low": 0.1, "high": 0.3, "step": 0}, "step must be a positive number"),
        ({"low": 0.1, "high": 0.3, "step": -0.1}, "step must be a positive number"),
        ({"low": 0.1, "high": 0.3, "step": "0.1"}, "step must be a positive number"),
        ({"low": 0.1, "high": 0.35, "step": 0.1}, "must be a whole number of steps (0.1)"),
    ],
)
def test_every_bad_range_says_what_to_fix(value: dict[str, Any], says: str) -> None:
    key, message = only_error({"LEARNING_RATE": value, "search": TPE})
    assert key == "LEARNING_RATE" and message.startswith("LEARNING_RATE: ") and says in message


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("NUM_FILTERS", {"low": 8.0, "high": 32}, "is an integer: low, high and step must be"),
        ("NUM_FILTERS", {"low": 8, "high": 32, "step": 0.5}, "is an integer"),
        ("OPTIMIZER", {"low": 1, "high": 2}, "OPTIMIZER is str: give a list of values instead"),
        ("AUGMENT", {"low": 0, "high": 1}, "AUGMENT is bool: give a list of values instead"),
        ("NUM_FILTERS", {"low": 8, "high": 32}, "a grid needs a list or a range with a step"),
        ("SEED", {"low": 0, "high": 10**9, "step": 1}, "the range has 1000000001 steps"),
    ],
)
def test_ranges_must_fit_the_hyperparameter_and_the_method(
    key: str, value: dict[str, Any], says: str
) -> None:
    grid = "grid needs" in says or "steps" in says
    conf = {key: value} if grid else {key: value, "search": TPE}
    found_key, message = only_error(conf, {**DEFAULTS, "SEED": 0})
    assert found_key == key and says in message, message


@pytest.mark.parametrize(
    ("search", "key", "says"),
    [
        ("tpe", "search", "search must be an object"),
        ({**TPE, "trials": 5}, "search.trials", "unknown key trials in search: use method,"),
        ({"method": "bayes", "budget": 5}, "search.method", "one of grid, random, tpe"),
        ({**TPE, "direction": "up"}, "search.direction", "one of maximize, minimize"),
        ({**TPE, "metric": ""}, "search.metric", "must name a metric"),
        ({**TPE, "metric": 3}, "search.metric", "must name a metric"),
        ({**TPE, "seed": -1}, "search.seed", "whole number from 0"),
        ({**TPE, "seed": 1.5}, "search.seed", "whole number from 0"),
        ({"method": "random"}, "search.budget", "a random search needs a budget"),
        ({"method": "tpe", "budget": 0}, "search.budget", "from 1 to 10000"),
        ({"method": "tpe", "budget": "20"}, "search.budget", "from 1 to 10000"),
        ({"method": "tpe", "budget": 10_001}, "search.budget", "from 1 to 10000"),
        ({"method": "tpe", "budget": True}, "search.budget", "from 1 to 10000"),
        ({**TPE, "parallel": 0}, "search.parallel", "from 1 to 10000"),
        ({**TPE, "pruner": "hyperband"}, "search.pruner", "one of none, median, asha"),
        ({**TPE, "pruner": {"warmup_epochs": 1}}, "search.pruner", "an object with that type"),
        ({**TPE, "pruner": {"type": "median", "min_epochs": 1}}, "search.pruner.min_epochs",
         "the median pruner takes startup_trials, warmup_epochs"),
        ({**TPE, "pruner": {"type": "none", "x": 1}}, "search.pruner.x", "takes no settings"),
        ({**TPE, "pruner": {"type": "median", "startup_trials": -1}},
         "search.pruner.startup_trials", "whole number from 0"),
        ({**TPE, "pruner": {"type": "median", "warmup_epochs": "2"}},
         "search.pruner.warmup_epochs", "whole number from 0"),
        ({**TPE, "pruner": {"type": "asha", "min_epochs": 0}}, "search.pruner.min_epochs",
         "whole number from 1"),
        ({**TPE, "pruner": {"type": "asha", "reduction_factor": 1}},
         "search.pruner.reduction_factor", "whole number from 2"),
        ({**TPE, "pruner": {"type": "asha", "reduction_factor": 2.5}},
         "search.pruner.reduction_factor", "whole number from 2"),
        ({"method": "grid", "budget": 3}, "search.budget", "a grid runs every point: budget"),
        ({"pruner": "median"}, "search.pruner", "pruner is for a random or tpe search"),
    ],
)  # fmt: skip
def test_every_bad_search_setting_says_what_to_fix(search: Any, key: str, says: str) -> None:
    found_key, message = only_error({"LEARNING_RATE": [0.1, 0.2], "search": search})
    assert found_key == key and says in message, message


def test_a_search_needs_something_to_explore() -> None:
    assert only_error({"EPOCHS": 2, "LEARNING_RATE": [0.1], "search": TPE}) == (
        None,
        "a tpe search needs a range or a list of choices to explore",
    )


def test_a_choice_of_the_wrong_type_is_an_error() -> None:
    key, message = only_error({"KERNEL_SIZE": [3, "five"], "search": TPE})
    assert key == "KERNEL_SIZE" and "must be an integer" in message


def test_a_pruner_never_raises_on_settings_that_slipped_through() -> None:
    import optuna

    spec = SearchSpec(
        method="tpe",
        budget=5,
        pruner={"type": "median", "startup_trials": "x", "warmup_epochs": -3},
    )
    pruner = make_pruner(spec)
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    asha = make_pruner(SearchSpec("tpe", 5, pruner={"type": "asha", "min_epochs": None}))
    assert isinstance(asha, optuna.pruners.SuccessiveHalvingPruner)
