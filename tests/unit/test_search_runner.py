"""The SearchRunner: Optuna ask-and-tell on a journal file in the store folder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from jupyter_mlops.search_space import SearchSpec, validate_conf
from jupyter_mlops.serverext.search import (
    FAILED,
    FINISHED,
    JOURNAL,
    PRUNED,
    SearchRunner,
    prune_reason,
)

CONF = {
    "LR": {"low": 1e-4, "high": 1e-1, "log": True},
    "K": [3, 5],
    "N": {"low": 8, "high": 32, "step": 8},
}
DEFAULTS = {"LR": 0.01, "K": 3, "N": 16, "EPOCHS": 3}


def search(method: str = "tpe", pruner: object = "none", seed: int | None = 3) -> tuple:
    result = validate_conf(
        {**CONF, "search": {"method": method, "budget": 30, "seed": seed, "pruner": pruner}},
        DEFAULTS,
    )
    assert result.valid, result.errors
    return result.search, result.space


@pytest.mark.parametrize("method", ["random", "tpe"])
def test_asks_numbered_trials_inside_the_space(tmp_path: Path, method: str) -> None:
    spec, space = search(method)
    runner = SearchRunner(tmp_path)
    asked = [runner.ask("s", spec, space) for _ in range(5)]
    assert [number for number, _ in asked] == [0, 1, 2, 3, 4]
    for _, params in asked:
        assert set(params) == {"LR", "K", "N"}
        assert 1e-4 <= params["LR"] <= 1e-1 and params["K"] in (3, 5)
        assert params["N"] in (8, 16, 24, 32) and type(params["N"]) is int
    assert runner.running("s", spec) == {0, 1, 2, 3, 4}
    assert stat.S_IMODE((tmp_path / JOURNAL).stat().st_mode) == 0o600


def test_a_seed_makes_the_points_repeatable(tmp_path: Path) -> None:
    spec, space = search("tpe")
    first, again = SearchRunner(tmp_path / "a"), SearchRunner(tmp_path / "b")
    points = [first.ask("s", spec, space)[1] for _ in range(3)]
    assert [again.ask("s", spec, space)[1] for _ in range(3)] == points


def test_tell_records_each_outcome_once(tmp_path: Path) -> None:
    import optuna

    spec, space = search("random")
    runner = SearchRunner(tmp_path)
    for _ in range(3):
        runner.ask("s", spec, space)
    assert runner.tell("s", spec, 0, FINISHED, 0.9)
    assert runner.tell("s", spec, 1, PRUNED, None)
    assert runner.tell("s", spec, 2, FINISHED, "NaN")  # no finite value: it failed
    assert not runner.tell("s", spec, 0, FAILED, None)  # told already: left as it is
    states = {t.number: t.state for t in runner.study("s", spec).get_trials()}
    State = optuna.trial.TrialState
    assert states == {0: State.COMPLETE, 1: State.PRUNED, 2: State.FAIL}
    assert runner.running("s", spec) == set()


def test_a_restart_resumes_the_study_without_asking_a_number_twice(tmp_path: Path) -> None:
    spec, space = search("tpe")
    runner = SearchRunner(tmp_path)
    for number in range(4):
        assert runner.ask("s", spec, space)[0] == number
        runner.tell("s", spec, number, FINISHED, 0.1 * number)
    lost, _ = runner.ask("s", spec, space)  # asked, then the hub dies before recording it
    first_points = [runner.study("s", spec).trials[n].params for n in range(5)]

    resumed = SearchRunner(tmp_path)
    assert resumed.studies_with_running_trials() == {"s"}
    assert resumed.fail_unrecorded("s", spec, recorded={0, 1, 2, 3}) == [lost]
    assert resumed.studies_with_running_trials() == set()
    number, params = resumed.ask("s", spec, space)
    assert number == lost + 1
    assert params not in first_points  # a new seed: it does not draw the same points again
    values = [t.value for t in resumed.study("s", spec).trials[:4]]
    assert values == pytest.approx([0.0, 0.1, 0.2, 0.3])  # no result lost


def test_the_median_pruner_prunes_a_trial_below_the_median(tmp_path: Path) -> None:
    spec, space = search("tpe", {"type": "median", "startup_trials": 2, "warmup_epochs": 0})
    runner = SearchRunner(tmp_path)
    for number, curve in enumerate([(0.5, 0.6, 0.7), (0.4, 0.5, 0.6)]):
        runner.ask("s", spec, space)
        for epoch, value in enumerate(curve, 1):
            assert not runner.report("s", spec, number, epoch, value)  # too few completed
        runner.tell("s", spec, number, FINISHED, curve[-1])
    runner.ask("s", spec, space)
    runner.ask("s", spec, space)
    assert not runner.report("s", spec, 3, 1, 0.9)  # above the median: goes on
    assert runner.report("s", spec, 2, 1, 0.1)  # below the median of 0.5 and 0.4: pruned
    assert not runner.report("s", spec, 2, 1, 0.1)  # the same epoch again is ignored
    assert not runner.report("s", spec, 3, 2, float("nan"))  # NaN is no point
    assert not runner.report("s", spec, 99, 1, 0.1)  # never asked
    runner.tell("s", spec, 2, PRUNED, None)
    assert not runner.report("s", spec, 2, 2, 0.0)  # told: nothing more is reported
    reason = prune_reason(spec, 1, 0.1)
    assert reason.startswith("pruned at epoch 1 by the median pruner: test_accuracy 0.1 is")


def test_asha_stops_trials_outside_the_top_of_their_rung(tmp_path: Path) -> None:
    spec, space = search("tpe", {"type": "asha", "min_epochs": 1, "reduction_factor": 2})
    runner = SearchRunner(tmp_path)
    pruned = []
    for number, value in enumerate([0.1, 0.5, 0.9, 0.2]):  # each rung promotes its top half
        runner.ask("s", spec, space)
        if runner.report("s", spec, number, 1, value):
            runner.tell("s", spec, number, PRUNED, None)
            pruned.append(number)
        else:
            runner.tell("s", spec, number, FINISHED, value)
    assert pruned == [3]  # below 0.5 and 0.9: not in the top half of four
    assert "not among the best 1/2" in prune_reason(spec, 1, 0.1)


def test_importances_share_one_and_need_enough_trials(tmp_path: Path) -> None:
    spec, space = search("random", seed=1)
    runner = SearchRunner(None)  # in memory
    assert runner.importance("s", spec) == {}
    for _ in range(30):
        number, params = runner.ask("s", spec, space)
        runner.tell("s", spec, number, FINISHED, -abs(params["LR"] - 0.01) + 0.001 * params["K"])
    shares = runner.importance("s", spec)
    assert set(shares) <= {"LR", "K", "N"} and shares
    assert sum(shares.values()) == pytest.approx(1.0)
    assert max(shares, key=shares.__getitem__) == "LR"


def test_a_direction_to_minimise_is_the_study_s(tmp_path: Path) -> None:
    result = validate_conf(
        {**CONF, "search": {"method": "random", "budget": 3, "direction": "minimize"}}, DEFAULTS
    )
    study = SearchRunner(tmp_path).study("s", result.search)
    assert study.direction.name == "MINIMIZE"
    assert SearchSpec().direction == "maximize"
