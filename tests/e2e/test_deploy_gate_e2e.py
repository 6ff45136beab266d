"""The deploy gate end to end: a real server (default gate ``significant``, alpha 0.05) and a
real worker kernel whose training function's per-example test results are set by its
hyperparameters, so every decision is known exactly.

One job per model, each run to its end before the next is launched (the champion each model
is judged against is then known): A (the first model, deployed since nothing was), B (clearly
better than A: 100 more right, none fewer), C (a hair better than B: 15 more right, 10 fewer,
p = 0.21), D (much better, but on another test set). Then D is deployed by hand. What is
asserted is what REST says of each decision, the deployment history, and the ipywidgets
panel's model rows, built from the same hub.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from jupyter_mlops.evidence import evaluation_record, fingerprint, mcnemar_exact_p
from jupyter_mlops.kernel_client import CallbackList, TrialResult, as_callback_list
from tests.support.server import MLOpsServer
from tests.support.waiting import wait_until
from tests.support.workers import job_ended, launch, online, run_in_kernel

pytestmark = pytest.mark.timeout(420)

ROOT = Path(__file__).resolve().parents[2]
#: Test examples per test set; the champion-to-be gets the first BASE right.
N, BASE = 1000, 800
DEFAULTS: dict[str, Any] = {"TEST_SET": "main", "LOSE": 0, "GAIN": 0, "SEED": 0}
START = (
    "from tests.e2e.test_deploy_gate_e2e import DEFAULTS, evidence_trial\n"
    "from jupyter_mlops.kernel_client import start_worker\n"
    "worker = start_worker(evidence_trial, DEFAULTS, name='gate-worker', echo=False)\n"
)


def right_answers(lose: int, gain: int) -> list[bool]:
    """Examples ``lose`` .. BASE - 1 right, and the ``gain`` examples after BASE."""
    return [lose <= i < BASE or BASE <= i < BASE + gain for i in range(N)]


def fingerprint_of(name: str) -> str:
    """The fingerprint of the named test set: N labels drawn from the name as seed."""
    labels = [random.Random(name).randrange(10) for _ in range(N)]
    return fingerprint(labels, [name])


def evidence_trial(params: Mapping[str, Any], callbacks: CallbackList | None = None) -> Any:
    """A real (tiny, untrained) torch classifier of 1x2x2 images whose per-example test results are
    ``right_answers(LOSE, GAIN)`` on the test set ``TEST_SET``; its test_accuracy follows."""
    callbacks = as_callback_list(callbacks)
    torch.manual_seed(int(params["SEED"]))
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    correct = right_answers(int(params["LOSE"]), int(params["GAIN"]))
    metrics = {"test_accuracy": sum(correct) / N}
    print(f"tested on {params['TEST_SET']}: {sum(correct)} of {N} right")
    callbacks.on_test_end(metrics)
    record = evaluation_record(correct, fingerprint_of(str(params["TEST_SET"])))
    return TrialResult(
        model, metrics, ["zero", "one"], torch.zeros(2, 1, 2, 2), extra={"evaluation": record}
    )


#: The four models, in the order they are trained.
MODELS: dict[str, dict[str, Any]] = {
    "A": {"GAIN": 0},  # 800 right
    "B": {"GAIN": 100},  # 900 right: b = 100, c = 0 against A
    "C": {"LOSE": 10, "GAIN": 115},  # 905 right: b = 15, c = 10 against B
    "D": {"TEST_SET": "other", "GAIN": 150},  # 950 right, on another test set
}


def run_model(server: MLOpsServer, params: dict[str, Any]) -> dict[str, Any]:
    """Train one model in its own job, to its end; return the model as GET /models/{id}."""
    job = launch(server, params, worker="gate-worker")
    done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=180)
    assert done["status"] == "finished", done
    status, model = server.api("GET", f"models/{done['trials'][0]['model_id']}")
    assert status == 200, model
    return model


def deployed_id(server: MLOpsServer) -> str | None:
    deployment = server.api("GET", "deployment")[1]["deployment"]
    return None if deployment is None else deployment["model_id"]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The server, each model as REST showed it right after it was judged, the deployment
    then, and the manual deploy of D."""
    base = tmp_path_factory.mktemp("gate")
    server = MLOpsServer(base / "server", grace_seconds=60).start()
    kernel = None
    try:
        env = {
            **os.environ,
            **server.env,
            "PYTHONPATH": str(ROOT),
            "JUPYTER_MLOPS_WORKER_DIR": str(base / "worker"),
        }
        kernel = run_in_kernel(env, ROOT, [START], timeout=120)
        server.wait_for(lambda: online(server, "gate-worker"), timeout=60)
        found: dict[str, Any] = {"server": server}
        for name, params in MODELS.items():
            model = run_model(server, params)
            found[name] = model
            found[f"deployed after {name}"] = deployed_id(server)
        status, manual = server.api("POST", "deployment", {"model_id": found["D"]["id"]})
        assert status == 201, manual
        found["manual"] = manual
        yield found
    finally:
        if kernel is not None:
            kernel.shutdown_kernel(now=True)
        server.stop()


def latest(model: dict[str, Any]) -> dict[str, Any]:
    """The model's newest decision as GET /models/{id} lists them (newest first)."""
    decisions = model["decisions"]
    assert decisions and decisions[0] == model["decision"], model
    return decisions[0]


def test_the_first_model_is_deployed_as_nothing_was(story: dict[str, Any]) -> None:
    first = latest(story["A"])
    assert story["deployed after A"] == story["A"]["id"]
    assert first["deployed"] is True and first["kind"] == "auto" and first["gate"] == "significant"
    assert first["reason"].startswith("deployed: nothing was deployed yet"), first
    assert first["champion_id"] is None and first["p_value"] is None


def test_a_clearly_better_challenger_is_deployed_with_its_evidence(story: dict[str, Any]) -> None:
    model = story["B"]
    decision = latest(model)
    assert story["deployed after B"] == model["id"]
    assert decision["deployed"] is True and decision["kind"] == "auto"
    assert (decision["n"], decision["b"], decision["c"]) == (N, 100, 0)
    assert decision["test"].startswith("mcnemar")
    assert decision["p_value"] == pytest.approx(2.0**-100)
    assert decision["alpha"] == 0.05 and decision["champion_id"] == story["A"]["id"]
    assert (decision["value"], decision["champion_value"]) == (0.9, 0.8)
    reason = decision["reason"]
    assert reason.startswith("deployed: +10.0 points on the same 1,000 test examples"), reason
    assert "p < 0.0001 (McNemar)" in reason and "better beyond chance" in reason
    # the evidence travelled with the model: its per-example results and test set
    assert model["evaluation"]["n"] == N
    assert model["evaluation"]["fingerprint"] == fingerprint_of("main")


def test_a_hair_better_challenger_is_stored_not_deployed(story: dict[str, Any]) -> None:
    server, model = story["server"], story["C"]
    decision = latest(model)
    assert story["deployed after C"] == story["B"]["id"]  # the champion stays
    assert model["deployed"] is False and decision["deployed"] is False
    assert (decision["n"], decision["b"], decision["c"]) == (N, 15, 10)
    assert decision["p_value"] == pytest.approx(mcnemar_exact_p(15, 10))
    assert decision["p_value"] == pytest.approx(0.2122, abs=1e-4)  # P(X >= 15), X ~ B(25, 1/2)
    assert decision["value"] > decision["champion_value"]  # better, by a hair
    assert decision["champion_id"] == story["B"]["id"]
    reason = decision["reason"]
    assert reason.startswith("not deployed: +0.5 points on the same 1,000 test examples"), reason
    assert "p = 0.21 (McNemar)" in reason and reason.endswith("could be chance")
    # the list shows each model's latest decision, the stored model among them
    listed = {m["id"]: m for m in server.api("GET", "models")[1]["models"]}
    assert listed[model["id"]]["decision"]["reason"] == reason
    assert set(listed[model["id"]]["evaluation"]) == {"n", "fingerprint"}  # not the bits


def test_a_model_on_another_test_set_is_refused_for_auto_deploy(story: dict[str, Any]) -> None:
    model = story["D"]
    decision = model["decisions"][-1]  # its first decision: the automatic one
    assert decision["kind"] == "auto" and decision["deployed"] is False
    assert story["deployed after D"] == story["B"]["id"]
    assert model["evaluation"]["fingerprint"] != story["B"]["evaluation"]["fingerprint"]
    assert decision["value"] == 0.95 and decision["champion_value"] == 0.9  # higher, yet refused
    assert decision["b"] is None and decision["p_value"] is None  # nothing to pair
    reason = decision["reason"]
    assert reason.startswith("not deployed: the models were tested on different test sets")
    assert f"model {story['B']['id']}" in reason and "deploy by hand" in reason


def test_a_manual_deploy_of_it_is_recorded_as_bypassing_the_gate(story: dict[str, Any]) -> None:
    server, manual, model = story["server"], story["manual"], story["D"]
    assert manual["model_id"] == model["id"] and manual["reason"] == "manual"
    decision = manual["decision"]
    assert decision["kind"] == "manual" and decision["deployed"] is True
    assert decision["bypassed"] is True
    assert decision["reason"].startswith("deployed by hand: the gate was bypassed"), decision
    assert "tested on different test sets" in decision["reason"]  # what the gate had said
    assert deployed_id(server) == model["id"]
    # the model's decisions, newest first: the manual one, then the automatic refusal
    _, again = server.api("GET", f"models/{model['id']}")
    assert [(d["kind"], d["deployed"], d["bypassed"]) for d in again["decisions"]] == [
        ("manual", True, True),
        ("auto", False, False),
    ]
    # the history keeps every switch with the decision behind it
    history = server.api("GET", "deployment/history")[1]["history"]
    assert [(row["model_id"], row["reason"]) for row in history] == [
        (model["id"], "manual"),
        (story["B"]["id"], "auto"),
        (story["A"]["id"], "auto"),
    ]
    assert history[0]["decision"]["bypassed"] is True
    assert history[0]["decision"]["id"] == decision["id"]
    assert (history[1]["decision"]["b"], history[1]["decision"]["c"]) == (100, 0)
    assert history[1]["decision"]["bypassed"] is False
    assert history[2]["decision"]["reason"].startswith("deployed: nothing was deployed yet")


def test_the_panel_shows_each_decision_next_to_its_model(story: dict[str, Any]) -> None:
    from jupyter_mlops.kernel_client.panel import panel

    server = story["server"]
    widget = panel(server.url, server.token)
    try:

        def rows() -> dict[str, str] | None:
            shown = {
                row.mlops_model_id: row.decision.value
                for row in widget.models_view.children
                if hasattr(row, "decision")
            }
            return shown if len(shown) == len(MODELS) else None

        shown = wait_until(rows, timeout=30, what="every model row")
        hair = shown[story["C"]["id"]]
        assert "not deployed" in hair and "could be chance" in hair
        assert "p = 0.21" in hair and "b 15" in hair and "c 10" in hair
        assert "b 100" in shown[story["B"]["id"]]
        assert "gate bypassed" in shown[story["D"]["id"]]  # its manual deploy
    finally:
        widget.close()
