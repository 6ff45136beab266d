"""The deploy gate's decisions, with their numbers and the sentence that explains them."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_mlops.evidence import evaluation_record, mcnemar_exact_p
from jupyter_mlops.serverext.gate import decide

GATE = {"metric": "test_accuracy", "higher_is_better": True, "alpha": 0.05}


def model(model_id: str, correct: list[bool] | None, fingerprint: str = "f") -> dict[str, Any]:
    found: dict[str, Any] = {"id": model_id, "metrics": {}}
    if correct is not None:
        found["metrics"]["test_accuracy"] = sum(correct) / len(correct)
        found["evaluation"] = evaluation_record(correct, fingerprint)
    return found


CHAMPION = [True] * 700 + [False] * 300  # 70.0 %


def test_a_clearly_better_challenger_is_deployed_with_its_evidence() -> None:
    better = [True] * 700 + [True] * 60 + [False] * 240  # fixes 60 examples, breaks none
    decision = decide(model("1-1", better), model("1-0", CHAMPION), gate="significant", **GATE)
    assert decision.deployed and (decision.n, decision.b, decision.c) == (1000, 60, 0)
    assert decision.p_value == pytest.approx(mcnemar_exact_p(60, 0))
    assert decision.reason.startswith("deployed: +6.0 points on the same 1,000 test examples")
    assert decision.champion_id == "1-0" and decision.test == "mcnemar-exact"


def test_better_by_a_hair_is_stored_but_not_deployed() -> None:
    hair = [True] * 697 + [False] * 3 + [True] * 9 + [False] * 291  # +6 -3: 70.6 % vs 70.0 %
    decision = decide(model("1-1", hair), model("1-0", CHAMPION), gate="significant", **GATE)
    assert not decision.deployed and (decision.b, decision.c) == (9, 3)
    assert decision.p_value == pytest.approx(mcnemar_exact_p(9, 3)) and decision.p_value > 0.05
    assert "+0.6 points on the same 1,000 test examples" in decision.reason
    assert decision.reason.endswith("could be chance")
    # the old gate would have deployed it
    assert decide(model("1-1", hair), model("1-0", CHAMPION), gate="better", **GATE).deployed


def test_another_test_set_or_no_evidence_is_never_auto_deployed_over_a_champion() -> None:
    other = decide(
        model("1-1", [True] * 1000, "other"), model("1-0", CHAMPION), gate="significant", **GATE
    )
    assert not other.deployed and "different test sets" in other.reason
    bare = {"id": "1-1", "metrics": {"test_accuracy": 0.99}}
    assert not decide(bare, model("1-0", CHAMPION), gate="significant", **GATE).deployed
    assert decide(bare, None, gate="significant", **GATE).deployed  # nothing to beat yet


def test_a_worse_challenger_is_not_deployed_and_a_model_without_the_metric_never() -> None:
    worse = [True] * 600 + [False] * 400
    decision = decide(model("1-1", worse), model("1-0", CHAMPION), gate="significant", **GATE)
    assert not decision.deployed and decision.reason.endswith("not better")
    nothing = decide({"id": "1-2", "metrics": {}}, None, gate="significant", **GATE)
    assert not nothing.deployed and "has no test_accuracy" in nothing.reason
