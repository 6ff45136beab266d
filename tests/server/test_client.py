"""``jupyter_mlops.Client`` against a real server: typed objects, errors of the HubError family."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import jupyter_mlops
from jupyter_mlops.kernel_client.hub_client import HubAuthError, HubNotFound, HubRequestError
from jupyter_mlops.records import Deployment, Job, Model, Token, Worker
from tests.support.demo_models import make_demo_model
from tests.support.leases import seed_models
from tests.support.server import MLOpsServer
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLOpsServer]:
    started = MLOpsServer(tmp_path_factory.mktemp("client") / "server").start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def client(server: MLOpsServer) -> jupyter_mlops.Client:
    return jupyter_mlops.Client(server.url, server.token)


def test_client_is_exported_lazily_and_hides_the_token(client: jupyter_mlops.Client) -> None:
    assert jupyter_mlops.Client is type(client)
    assert "Client" in dir(jupyter_mlops)
    assert client.url.startswith("http://127.0.0.1:")
    assert "test-token" not in repr(client) and "test-token" not in repr(client.hub)
    assert client.credential()["scope"] == "jupyter"


def test_workers_jobs_and_their_filters(client: jupyter_mlops.Client, tmp_path: Path) -> None:
    assert client.workers() == []
    with pytest.raises(HubNotFound, match="no worker named 'ghost'"):
        client.worker("ghost")
    checked = client.validate({"EPOCHS": [1, 2], "LR": 0.1})
    assert checked["valid"] and checked["trial_count"] == 2
    job = client.launch({"EPOCHS": [1, 2], "LR": 0.1})
    assert isinstance(job, Job) and job.status == "queued" and job.trial_count == 2
    assert job.worker == "any" and not job.ended
    assert [j.id for j in client.jobs(status="queued")] == [job.id]
    assert client.jobs(status="finished") == []
    assert client.jobs(worker="someone") == []
    full = client.job(job.id)
    assert [t.id for t in full.trials] == [f"{job.id}-0", f"{job.id}-1"]
    assert full.trials[1].params == {"EPOCHS": 2, "LR": 0.1}
    assert list(client.logs(job.id)) == [] and client.metrics(job.id) == []
    summary = client.search(job.id)
    assert summary.metric == "test_accuracy" and summary.direction == "maximize"
    assert summary.by_status == {"pending": 2} and summary.best_trial is None
    cancelled = client.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.ended
    assert client.wait(job.id, timeout=5).status == "cancelled"  # ended: returns at once
    with pytest.raises(HubRequestError) as caught:
        client.retry(job.id)  # nothing failed
    assert caught.value.status == 409
    with pytest.raises(HubRequestError) as caught:
        client.launch({"EPOCHS": []})
    assert caught.value.status == 400 and caught.value.detail["errors"]


def test_models_download_deploy_history(
    server: MLOpsServer, client: jupyter_mlops.Client, tmp_path: Path
) -> None:
    files = [tmp_path / "a.zip", tmp_path / "b.zip"]
    make_demo_model(files[0], seed=3, accuracy=0.7)
    make_demo_model(files[1], seed=4, accuracy=0.2)
    first, second = seed_models(server, files, name="client-seeder")
    models = {m.id: m for m in client.models()}
    assert set(models) >= {first, second} and isinstance(models[first], Model)
    assert models[first].metrics["test_accuracy"] == 0.7 and len(models[first].sha256) == 64
    job_id = models[first].job_id
    assert {m.id for m in client.models(job_id=job_id)} == {first, second}
    seeder = client.worker("client-seeder")
    assert isinstance(seeder, Worker) and seeder.defaults == {"LR": 0}

    saved = client.download(first, tmp_path)
    assert saved == tmp_path / f"model-{first}.zip"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == models[first].sha256
    named = client.download(second, tmp_path / "second.zip")
    assert named.read_bytes() == files[1].read_bytes()

    summary = client.search(job_id)
    assert summary.best_trial is not None and summary.best_trial.id == first
    assert summary.best_value == 0.7

    deployed = client.deploy(second)
    assert isinstance(deployed, Deployment) and deployed.model_id == second
    assert deployed.reason == "manual" and "serving" in deployed.extra
    current = client.deployment()
    assert current is not None and current.model_id == second
    assert client.history()[0].model_id == second
    with pytest.raises(HubRequestError) as caught:
        client.download("999-0", tmp_path)
    assert caught.value.status == 404

    wait_until(lambda: not client.worker("client-seeder").online, what="the seeder left")
    gone = client.forget_worker("client-seeder")
    assert gone.extra.get("forgotten") is True
    assert "client-seeder" not in [w.name for w in client.workers()]


def test_tokens_create_list_revoke(client: jupyter_mlops.Client, server: MLOpsServer) -> None:
    issued = client.create_token("ci", scope="predict")
    assert issued.secret.startswith("mlops_") and issued.secret not in repr(issued)
    assert isinstance(issued.token, Token) and issued.token.scope == "predict"
    assert any(issued.secret in line for line in issued.setup)
    assert issued.token.id in [t.id for t in client.tokens()]
    as_app = jupyter_mlops.Client(server.url, issued.secret)
    assert as_app.credential()["scope"] == "predict"
    with pytest.raises(HubAuthError):
        as_app.workers()  # a predict token calls /predict only
    revoked = client.revoke_token(issued.token.id)
    assert revoked.revoked is not None
    with pytest.raises(HubAuthError):
        as_app.credential()
