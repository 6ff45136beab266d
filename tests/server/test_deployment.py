"""Deployment: auto compare-and-set against what is deployed now, rollback, history, reset."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

from jupyter_mlops.evidence import evaluation_record, fingerprint
from tests.support.api import call
from tests.support.leases import Lease, leased_trials, put_model
from tests.support.models import make_model_file, write_variant

#: Test examples of the one test set every model here is tested on.
EXAMPLES = 1000


@dataclass
class Trained:
    """A model file for a trial and the lease its worker holds; ``stem`` is the model id."""

    path: Path
    lease: Lease

    @property
    def stem(self) -> str:
        return self.lease.trial_id


async def _upload(jp_fetch, trained: Trained) -> tuple[int, dict]:
    return await put_model(jp_fetch, trained.lease, trained.path.read_bytes())


async def _job_with_models(
    jp_fetch, jp_ws_fetch, tmp_path: Path, accuracies: list[float]
) -> list[Trained]:
    """A job whose trials are each leased to a scripted worker, and one model file each."""
    _, leases = await leased_trials(jp_fetch, jp_ws_fetch, len(accuracies))
    trained = []
    for index, (lease, accuracy) in enumerate(zip(leases, accuracies, strict=True)):
        path = tmp_path / f"{lease.trial_id}.zip"
        make_model_file(path, accuracy=accuracy, seed=index)
        # its evidence for the deploy gate: the first accuracy * EXAMPLES examples right, so
        # a model with a higher accuracy is better on every pair (and beyond chance: the
        # accuracies here differ by 20 examples or more)
        right = round(accuracy * EXAMPLES)
        correct = [i < right for i in range(EXAMPLES)]
        evidence = evaluation_record(correct, fingerprint(list(range(EXAMPLES))))
        write_variant(path, path.read_bytes(), evaluation=evidence)
        trained.append(Trained(path, lease))
    return trained


async def test_twenty_concurrent_uploads_leave_the_best_deployed(
    jp_fetch, jp_ws_fetch, tmp_path
) -> None:
    accuracies = [round(0.3 + 0.02 * i, 2) for i in range(20)]
    random.Random(7).shuffle(accuracies)
    paths = await _job_with_models(jp_fetch, jp_ws_fetch, tmp_path, accuracies)
    results = await asyncio.gather(*(_upload(jp_fetch, p) for p in paths))
    assert {status for status, _ in results} == {201}
    _, current = await call(jp_fetch, "GET", "deployment")
    assert current["deployment"]["metric_value"] == max(accuracies)
    assert current["deployment"]["reason"] == "auto"
    _, history = await call(jp_fetch, "GET", "deployment/history")
    values = [row["metric_value"] for row in reversed(history["history"])]
    assert values == sorted(set(values)), "every auto deploy must beat the one before"
    for row in history["history"][:-1]:  # each one past a champion, by the gate's test
        decision = row["decision"]
        assert decision["gate"] == "significant" and decision["deployed"], decision
        assert decision["b"] > 0 and decision["c"] == 0 and decision["p_value"] < 0.05
    _, models = await call(jp_fetch, "GET", "models")
    assert [m["id"] for m in models["models"] if m["deployed"]] == [
        current["deployment"]["model_id"]
    ]


async def test_rollback_then_auto_deploy_compares_with_what_is_deployed_now(
    jp_fetch, jp_ws_fetch, tmp_path
) -> None:
    low, best, middle = await _job_with_models(jp_fetch, jp_ws_fetch, tmp_path, [0.2, 0.4, 0.3])
    await _upload(jp_fetch, low)
    await _upload(jp_fetch, best)
    assert (await call(jp_fetch, "GET", "deployment"))[1]["deployment"]["model_id"] == best.stem
    status, rolled = await call(jp_fetch, "POST", "deployment", {"model_id": low.stem})
    assert status == 201 and rolled["reason"] == "manual" and rolled["model_id"] == low.stem
    assert rolled["sha1"] == rolled["model"]["sha1"]
    await _upload(jp_fetch, middle)  # beats the rolled-back 0.2, not the 0.4
    _, current = await call(jp_fetch, "GET", "deployment")
    assert current["deployment"]["model_id"] == middle.stem
    _, history = await call(jp_fetch, "GET", "deployment/history")
    assert [(r["model_id"], r["reason"]) for r in history["history"]] == [
        (middle.stem, "auto"),
        (low.stem, "manual"),
        (best.stem, "auto"),
        (low.stem, "auto"),
    ]


async def test_manual_policy_never_deploys_by_itself(
    jp_fetch, jp_ws_fetch, tmp_path, jp_serverapp
) -> None:
    from jupyter_mlops.serverext.deployment import DeploymentPolicy

    hub = next(
        e for e in jp_serverapp.extension_manager.extension_apps["jupyter_mlops"]
    ).context.hub
    hub.policy = DeploymentPolicy("manual")
    (path,) = await _job_with_models(jp_fetch, jp_ws_fetch, tmp_path, [0.9])
    await _upload(jp_fetch, path)
    assert (await call(jp_fetch, "GET", "deployment"))[1]["deployment"] is None


async def test_clear_store_deletes_models_files_and_history(
    jp_fetch, jp_ws_fetch, tmp_path, mlops_root
) -> None:
    paths = await _job_with_models(jp_fetch, jp_ws_fetch, tmp_path, [0.1, 0.2])
    for path in paths:
        await _upload(jp_fetch, path)
    status, reply = await call(jp_fetch, "DELETE", "models")
    assert status == 200 and reply["deleted"] == 2
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []
    assert (await call(jp_fetch, "GET", "deployment"))[1]["deployment"] is None
    assert (await call(jp_fetch, "GET", "deployment/history"))[1]["history"] == []
    assert list((mlops_root / "blobs").iterdir()) == []
    _, jobs = await call(jp_fetch, "GET", "jobs")
    assert len(jobs["jobs"]) == 1  # jobs and their logs stay


async def test_deploying_an_unknown_model_is_a_404(jp_fetch) -> None:
    status, reply = await call(jp_fetch, "POST", "deployment", {"model_id": "5-5"})
    assert status == 404 and "5-5" in reply["error"]
