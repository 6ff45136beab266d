"""Trials leased to scripted workers, so tests store models the only way the hub allows.

Every model and checkpoint upload needs the trial's current lease: ``?attempt=N`` and the
``X-MLOps-Lease`` header of the ``job`` assignment. ``leased_trials`` (in-process server,
``jp_fetch``/``jp_ws_fetch``) and ``seed_models`` (a subprocess ``MLOpsServer``) get leases
from real assignments over the worker websocket.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.api import call
from tests.support.fake_worker import FakeWorker

LEASE_HEADER = "X-MLOps-Lease"


@dataclass
class Lease:
    """One trial's lease, as its worker holds it."""

    trial_id: str
    attempt: int
    secret: str
    worker: FakeWorker | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {LEASE_HEADER: self.secret}

    def query(self, data: bytes, **more: Any) -> dict[str, Any]:
        return {"sha256": hashlib.sha256(data).hexdigest(), "attempt": self.attempt, **more}


def lease_of(assignment: dict[str, Any], worker: FakeWorker | None = None) -> Lease:
    """The lease of a ``job`` message's (single) trial entry, or of the entry itself."""
    entry = assignment["job"]["trials"][0] if "job" in assignment else assignment
    return Lease(entry["id"], entry["attempt"], entry["lease"], worker)


async def leased_trials(
    jp_fetch: Any, jp_ws_fetch: Any, count: int, name: str = "lessee"
) -> tuple[dict[str, Any], list[Lease]]:
    """A job of ``count`` trials (``{"LR": [0, 1, ...]}``), each leased to its own scripted
    worker; return the job and the leases in trial order (close them with ``release``)."""
    names = [f"{name}-{i}" for i in range(count)]
    workers = [
        (await FakeWorker.connect(jp_ws_fetch, n, f"{n}-session", defaults={"LR": 0}))[0]
        for n in names
    ]
    status, job = await call(
        jp_fetch, "POST", "jobs", {"worker": names, "conf": {"LR": list(range(count))}}
    )
    assert status == 201, job
    leases = [lease_of(await w.receive_type("job"), w) for w in workers]
    return job, sorted(leases, key=lambda lease: int(lease.trial_id.split("-")[1]))


def release(leases: list[Lease]) -> None:
    """Close the scripted workers' links."""
    for lease in leases:
        if lease.worker is not None:
            lease.worker.close()


async def put_model(
    jp_fetch: Any, lease: Lease, data: bytes, sha256: str | None = None
) -> tuple[int, Any]:
    """Upload a model file for the lease's trial, as its worker does."""
    params = lease.query(data)
    if sha256 is not None:
        params["sha256"] = sha256
    return await call(
        jp_fetch,
        "PUT",
        f"models/{lease.trial_id}/file",
        data,
        params=params,
        headers=dict(lease.headers),
    )


async def put_checkpoint(
    jp_fetch: Any, lease: Lease, data: bytes, epoch: int | None
) -> tuple[int, Any]:
    """Upload a checkpoint for the lease's trial, as its worker does."""
    more = {"epoch": epoch} if epoch is not None else {}
    return await call(
        jp_fetch,
        "PUT",
        f"trials/{lease.trial_id}/checkpoint",
        data,
        params=lease.query(data, **more),
        headers=dict(lease.headers),
    )


# -- a subprocess server (tests/support/server.py) ---------------------------------------------


def seed_models(server: Any, paths: list[Path], name: str = "seeder") -> list[str]:
    """Store one model per file through a scripted worker that leases, uploads and finishes
    each trial of a job launched for it; return the model (= trial) ids in order."""
    result: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.extend(asyncio.run(_seed(server, paths, name)))
        except BaseException as exc:  # reported in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run)  # the caller may already run an event loop
    thread.start()
    thread.join(120)
    if failure:
        raise failure[0]
    assert len(result) == len(paths), "seeding did not finish"
    return result


async def _seed(server: Any, paths: list[Path], name: str) -> list[str]:
    ws = await websocket_connect(
        HTTPRequest(
            server.url.replace("http", "ws", 1) + "mlops/api/ws/worker",
            headers={"Authorization": f"token {server.token}"},
        )
    )
    worker = FakeWorker(ws)
    await worker.send(
        {"type": "hello", "name": name, "session": f"{name}-{id(paths)}", "defaults": {"LR": 0}}
    )
    welcome = await worker.receive_type("welcome")
    status, job = server.api(
        "POST", "jobs", {"worker": welcome["name"], "conf": {"LR": list(range(len(paths)))}}
    )
    assert status == 201, job
    ids, seq = [], 0
    try:
        for path in paths:
            lease = lease_of(await worker.receive_type("job"))
            data = path.read_bytes()
            query = "&".join(f"{k}={v}" for k, v in lease.query(data).items())
            request = urllib.request.Request(
                f"{server.url}mlops/api/models/{lease.trial_id}/file?{query}",
                data=data,
                method="PUT",
                headers={"Authorization": f"token {server.token}", **lease.headers},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                model = json.loads(response.read())
            metrics = model.get("metrics") or {}
            events = [
                {"type": "trial_finished", "trial_id": lease.trial_id, "metrics": metrics},
                {"type": "job_finished"},
            ]
            for event in events:
                seq += 1
                event.update(seq=seq, job_id=job["id"])
                if "trial_id" in event:
                    event["attempt"] = lease.attempt
            await worker.send_events(events)
            ids.append(lease.trial_id)
    finally:
        worker.close()
    return ids
