"""Grid conf validation and expansion (shared by server and kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_mlops.grid import validate_grid

DEFAULTS = {
    "EPOCHS": 2,
    "BATCH_SIZE": 32,
    "LEARNING_RATE": 0.001,
    "KERNEL_SIZE": 5,
    "NUM_FILTERS": 16,
    "DENSE_WIDTH": 64,
}
SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "sample_conf.json").read_text())


def test_sample_conf_expands_to_two_trials_in_a_stable_order() -> None:
    result = validate_grid(SAMPLE, DEFAULTS)
    assert result.valid and not result.warnings
    assert [t["LEARNING_RATE"] for t in result.trials] == [0.001, 0.002]
    assert result.trials[0] == {
        **DEFAULTS,
        **{k: (v[0] if isinstance(v, list) else v) for k, v in SAMPLE.items()},
    }
    reordered = dict(reversed(list(SAMPLE.items())))
    assert validate_grid(reordered, DEFAULTS).trials == result.trials


def test_cartesian_product_and_omitted_keys_keep_defaults() -> None:
    result = validate_grid({"LEARNING_RATE": [0.1, 0.2, 0.3], "KERNEL_SIZE": [3, 5]}, DEFAULTS)
    assert len(result.trials) == 6
    assert {t["EPOCHS"] for t in result.trials} == {2}
    assert result.to_json()["trial_count"] == 6


def test_int_is_accepted_for_a_float_key() -> None:
    result = validate_grid({"LEARNING_RATE": [1]}, DEFAULTS)
    assert result.valid and result.trials[0]["LEARNING_RATE"] == 1.0
    assert isinstance(result.trials[0]["LEARNING_RATE"], float)


def test_unknown_keys_are_warnings_naming_the_key() -> None:
    result = validate_grid({"EPOCHS": 1, "DROPOUT": [0.5]}, DEFAULTS)
    assert result.valid
    assert [w.key for w in result.warnings] == ["DROPOUT"]
    assert "DROPOUT" in result.warnings[0].message and "ignored" in result.warnings[0].message
    assert "DROPOUT" not in result.trials[0]


@pytest.mark.parametrize(
    ("conf", "key", "words"),
    [
        ({"EPOCHS": "1"}, "EPOCHS", "integer"),
        ({"KERNEL_SIZE": [3.5]}, "KERNEL_SIZE", "integer"),
        ({"KERNEL_SIZE": 3.0}, "KERNEL_SIZE", "integer"),
        ({"NUM_FILTERS": []}, "NUM_FILTERS", "empty list"),
        ({"EPOCHS": True}, "EPOCHS", "integer"),
        ({"LEARNING_RATE": "fast"}, "LEARNING_RATE", "number"),
        ({"DENSE_WIDTH": [[64]]}, "DENSE_WIDTH", "scalars"),
        ({"EPOCHS": None}, "EPOCHS", "scalars"),
    ],
)
def test_wrong_types_are_errors_naming_the_key(conf: dict, key: str, words: str) -> None:
    result = validate_grid(conf, DEFAULTS)
    assert not result.valid and not result.trials
    assert result.errors[0].key == key
    assert key in result.errors[0].message and words in result.errors[0].message


@pytest.mark.parametrize("conf", [[1, 2], "EPOCHS", 3, None])
def test_a_non_object_conf_is_an_error(conf: object) -> None:
    result = validate_grid(conf, DEFAULTS)
    assert not result.valid and result.errors[0].key is None
    assert "JSON object" in result.errors[0].message


def test_without_declared_defaults_any_key_is_accepted() -> None:
    result = validate_grid({"A": [1, 2], "B": "x"}, None)
    assert result.valid and len(result.trials) == 2 and not result.warnings


def test_huge_grids_are_refused() -> None:
    result = validate_grid({"A": list(range(200)), "B": list(range(200))}, None)
    assert not result.valid and "40000" in result.errors[0].message
