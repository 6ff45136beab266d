"""Remote workers with their own credentials, and lease-exact results, with real workers.

A worker started with a ``worker`` token (``JUPYTER_MLOPS_URL``/``JUPYTER_MLOPS_TOKEN``, as on
Colab) runs a job end to end and can do nothing else; revoking the token cuts it off at once
and its trial goes to another worker. A worker whose lease expired during a network cut has
its late model refused, and the trial ends consistent: one model, finished, never failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.serverext.store import Store
from tests.support.proxy import TcpProxy
from tests.support.server import MLOpsServer
from tests.support.synthetic import WorkerProcess
from tests.support.workers import hub_log, job_ended, job_state, launch, worker_row

pytestmark = pytest.mark.timeout(300)


def as_token(server: MLOpsServer, secret: str, method: str, path: str, body: bytes = b"") -> int:
    """The status of a request to any server route made with a scoped token."""
    data = body if method in ("POST", "PUT") else None
    return server.request(
        method, path, data, headers={"Authorization": f"token {secret}"}, auth=False
    )[0]


def consistency(server: MLOpsServer) -> list[str]:
    """The store's own invariant check, on the live database (a second, reading connection)."""
    store = Store(server.root_dir)
    try:
        return store.consistency_problems()
    finally:
        store.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for proc in started:
        proc.stop()


def test_a_worker_token_runs_a_job_can_do_nothing_else_and_is_cut_off_when_revoked(
    tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    server = MLOpsServer(tmp_path / "server", grace_seconds=120).start()
    try:
        status, issued = server.api("POST", "tokens", {"name": "colab", "scope": "worker"})
        assert status == 201, issued
        secret, token_id = issued["secret"], issued["token"]["id"]
        remote_env = {"JUPYTER_MLOPS_URL": server.url, "JUPYTER_MLOPS_TOKEN": secret}
        remote = WorkerProcess(remote_env, "remote", tmp_path / "workers", warm_up=True)
        local = WorkerProcess(server.env, "local", tmp_path / "workers", warm_up=True)
        processes += [remote, local]
        server.wait_for(lambda: (worker_row(server, "remote") or {}).get("online"), timeout=90)
        server.wait_for(lambda: (worker_row(server, "local") or {}).get("online"), timeout=90)
        assert worker_row(server, "remote")["token_id"] == token_id  # type: ignore[index]

        # end to end with the token: leased, trained, checkpointed, uploaded, deployed
        job = launch(server, {"SEED": [0, 1], "EPOCHS": 2, "EPOCH_SECONDS": 0.4}, "remote")
        done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=120)
        assert done["status"] == "finished", done
        assert [(t["status"], t["worker_name"]) for t in done["trials"]] == [
            ("finished", "remote"),
            ("finished", "remote"),
        ]
        models = server.api("GET", "models")[1]["models"]
        assert sorted(m["id"] for m in models) == [t["id"] for t in done["trials"]]
        assert {m["worker"] for m in models} == {"remote"}

        # nothing else: Jupyter's APIs, other REST, another worker's trials
        other = launch(server, {"EPOCHS": 30, "EPOCH_SECONDS": 1.0}, "local")
        held = server.wait_for(
            lambda: (
                job_state(server, other["id"])["trials"][0]["status"] == "running"
                and job_state(server, other["id"])["trials"][0]
            ),
            timeout=60,
        )
        conf = json.dumps({"conf": {"EPOCHS": 1}, "worker": "any"}).encode()
        refused = [
            ("GET", "api/kernels", b""),
            ("POST", "api/kernels", b"{}"),
            ("GET", "api/contents", b""),
            ("POST", "mlops/api/jobs", conf),
            ("POST", "mlops/api/deployment", json.dumps({"model_id": models[0]["id"]}).encode()),
            ("GET", "mlops/api/workers", b""),
            ("PUT", f"mlops/api/models/{held['id']}/file?sha256={'a' * 64}&attempt=1", b"x"),
            ("GET", f"mlops/api/trials/{held['id']}/checkpoint?attempt=1", b""),
            ("PUT", f"mlops/api/trials/{held['id']}/checkpoint?sha256={'a' * 64}&epoch=1", b"x"),
        ]
        for method, path, body in refused:
            assert as_token(server, secret, method, path, body) == 403, (method, path)

        # revoked: the link closes at once and the trial goes back to the queue at once
        long = launch(server, {"EPOCHS": 4, "EPOCH_SECONDS": 1.0}, ["remote", "local"])
        trial = server.wait_for(  # the local worker is busy with the other job
            lambda: (t := job_state(server, long["id"])["trials"][0])["status"] == "running" and t,
            timeout=60,
        )
        assert trial["worker_name"] == "remote"
        status, revoked = server.api("DELETE", f"tokens/{token_id}")
        assert status == 200 and revoked["revoked"]
        back = job_state(server, long["id"])["trials"][0]  # no grace period (120 s here)
        assert back["status"] == "pending" and "revoked" in back["error"], back
        assert worker_row(server, "remote")["online"] is False  # type: ignore[index]
        assert as_token(server, secret, "GET", "mlops/api/credential") == 403
        assert server.api("POST", f"jobs/{other['id']}/cancel")[0] == 200
        finished = server.wait_for(lambda: job_ended(server, long["id"]), timeout=120)
        assert finished["status"] == "finished", finished
        trial = finished["trials"][0]
        assert (trial["worker_name"], trial["attempt"]) == ("local", 2)
        assert (worker_row(server, "remote") or {}).get("online") is False  # it stays out
        assert consistency(server) == []
    finally:
        server.stop()


def test_a_late_model_after_a_network_cut_is_refused_and_the_trial_ends_consistent(
    tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    server = MLOpsServer(tmp_path / "server", grace_seconds=2).start()
    proxy = TcpProxy(server.port)
    try:
        env = {"JUPYTER_MLOPS_URL": proxy.url, "JUPYTER_MLOPS_TOKEN": server.token}
        worker = WorkerProcess(env, "w1", tmp_path / "workers", warm_up=True)
        processes.append(worker)
        server.wait_for(lambda: (worker_row(server, "w1") or {}).get("online"), timeout=90)
        job = launch(server, {"EPOCHS": 3, "EPOCH_SECONDS": 1.5, "BATCHES": 3}, "w1")
        trial_id = f"{job['id']}-0"
        server.wait_for(
            lambda: (job_state(server, job["id"])["trials"][0]["checkpoint_epoch"] or 0) >= 2,
            timeout=90,
            interval=0.1,
        )
        proxy.cut()  # the last epoch trains on; its model has nowhere to go
        server.wait_for(
            lambda: job_state(server, job["id"])["trials"][0]["status"] == "pending", timeout=30
        )
        server.wait_for(lambda: "model exported" in worker.log_text(job["id"]), timeout=60)
        # the network is back for the upload first: the late model reaches a pending trial
        proxy.restore(websockets=False)
        server.wait_for(lambda: "lease was lost" in worker.log_text(job["id"]), timeout=60)
        assert server.api("GET", "models")[1]["models"] == []  # refused, nothing stored
        assert job_state(server, job["id"])["trials"][0]["status"] == "pending"
        proxy.allow_websockets()  # then the link: the worker gets the trial again

        done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=120)
        trial = done["trials"][0]
        assert (done["status"], trial["status"], trial["attempt"]) == ("finished", "finished", 2)
        assert trial["resumed_from_epoch"] == 2  # the checkpoint survived the first attempt
        models = server.api("GET", "models")[1]["models"]
        assert [m["id"] for m in models] == [trial_id]
        deployment = server.api("GET", "deployment")[1]["deployment"]
        assert deployment["model_id"] == trial_id
        lines = [x["text"] for x in hub_log(server, job["id"])]
        assert not any(f"trial {trial_id} failed" in text for text in lines), lines
        local = worker.log_text(job["id"])
        assert f"trial {trial_id} failed" not in local
        assert local.count(f"system: trial {trial_id} finished:") == 1  # only the re-run's
        assert consistency(server) == []
    finally:
        proxy.close()
        server.stop()
