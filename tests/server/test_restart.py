"""Stopping and restarting the server keeps every job, log line, metric, model and deployment."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.fake_worker import FakeWorker, log_event
from tests.support.models import make_model_file
from tests.support.server import MLOpsServer


def _connect(server: MLOpsServer, session: str) -> tuple[FakeWorker, dict]:
    async def fetch(*parts: str) -> object:
        url = server.url.replace("http", "ws") + "/".join(parts)
        return await websocket_connect(
            HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
        )

    return asyncio.get_event_loop().run_until_complete(
        FakeWorker.connect(fetch, "cifar", session, defaults={"LR": 0.1})
    )


def _run(coro: object) -> object:
    return asyncio.get_event_loop().run_until_complete(coro)  # type: ignore[arg-type]


def test_restart_keeps_everything(mlops_server: MLOpsServer, tmp_path: Path) -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    server = mlops_server
    worker, _ = _connect(server, "session-1")
    status, job = server.api("POST", "jobs", {"worker": "cifar", "conf": {"LR": [0.1, 0.2]}})
    assert status == 201
    assignment = _run(worker.receive_type("job"))["job"]["trials"][0]  # type: ignore[index]
    jid = job["id"]
    events = [{"seq": 1, "type": "trial_started", "job_id": jid, "trial_id": f"{jid}-0"}]
    events += [log_event(seq, jid, f"epoch line {seq}", f"{jid}-0") for seq in range(2, 52)]
    events += [
        {
            "seq": 52 + i,
            "type": "metric",
            "job_id": jid,
            "trial_id": f"{jid}-0",
            "name": "loss",
            "step": i,
            "value": 1.0 / (i + 1),
        }
        for i in range(20)
    ]
    assert _run(worker.send_events(events))["seq"] == 71
    make_model_file(tmp_path / "m.zip", accuracy=0.5)
    assert server.upload_model(f"{jid}-0", tmp_path / "m.zip", lease=assignment)[0] == 201
    assert server.api("POST", "deployment", {"model_id": f"{jid}-0"})[0] == 201
    before = {
        path: server.api("GET", path)[1]
        for path in (
            f"jobs/{jid}/logs",
            f"jobs/{jid}/metrics",
            "models",
            "deployment",
            "deployment/history",
        )
    }
    worker.close()

    server.restart()

    after = {path: server.api("GET", path)[1] for path in before}
    assert after == before
    assert len(after[f"jobs/{jid}/logs"]["lines"]) == 50
    assert len(after[f"jobs/{jid}/metrics"]["points"]) == 20
    _, workers = server.api("GET", "workers")
    assert workers["workers"][0]["online"] is False
    _, state = server.api("GET", f"jobs/{jid}")
    assert state["status"] == "running"  # waiting for its worker within the grace period

    assert [t["status"] for t in state["trials"]] == ["running", "pending"]

    worker, welcome = _connect(server, "session-1")  # the worker comes back after the restart
    assert welcome["last_seq"] == 71 and welcome["name"] == "cifar"
    done = [
        log_event(72, jid, "last line"),
        {"seq": 73, "type": "trial_finished", "job_id": jid, "trial_id": f"{jid}-0"},
        {"seq": 74, "type": "job_finished", "job_id": jid},
    ]
    assert _run(worker.send_events(done))["seq"] == 74
    second = _run(worker.receive_type("job"))["job"]["trials"][0]
    assert second["id"] == f"{jid}-1"
    done = [
        {"seq": 75, "type": "trial_finished", "job_id": jid, "trial_id": f"{jid}-1"},
        {"seq": 76, "type": "job_finished", "job_id": jid},
    ]
    assert _run(worker.send_events(done))["seq"] == 76
    _, state = server.api("GET", f"jobs/{jid}")
    assert state["status"] == "finished"
    _, model_file = server.request("GET", f"mlops/api/models/{jid}-0/file")
    assert model_file == (tmp_path / "m.zip").read_bytes()
    worker.close()
