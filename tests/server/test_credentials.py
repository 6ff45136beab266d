"""Scoped tokens, worker identity and upload leases, against the in-process server.

A ``worker`` token opens the worker websocket and moves the files of the trials leased to its
worker, nothing else; a ``predict`` token calls ``/predict`` only; only the Jupyter credential
manages tokens. Every upload must come from the current lease of a running trial.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.support.api import call
from tests.support.fake_worker import FakeWorker
from tests.support.leases import Lease, lease_of, leased_trials, put_checkpoint, put_model
from tests.support.models import make_model_file


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"token {secret}"}


async def issue(jp_fetch, scope: str, name: str = "colab") -> dict[str, Any]:
    status, issued = await call(jp_fetch, "POST", "tokens", {"name": name, "scope": scope})
    assert status == 201, issued
    return issued


async def raw(jp_fetch, method: str, *parts: str, secret: str, body: bytes | None = None) -> int:
    """The status of any server route (Jupyter's own too) called with a scoped token."""
    if method in ("POST", "PUT") and body is None:
        body = b"{}"
    try:
        response = await jp_fetch(
            *parts, method=method, body=body, headers=auth(secret), allow_nonstandard_methods=True
        )
    except HTTPClientError as error:
        return error.code
    return response.code


async def token_worker(jp_ws_fetch, secret: str, name: str, session: str) -> FakeWorker:
    """A scripted worker whose link is opened with a scoped token."""
    ws = await jp_ws_fetch("mlops", "api", "ws", "worker", headers=auth(secret))
    worker = FakeWorker(ws)
    await worker.send({"type": "hello", "name": name, "session": session, "defaults": {"LR": 0}})
    return worker


async def test_a_token_is_issued_once_listed_without_its_secret(jp_fetch, jp_serverapp) -> None:
    issued = await issue(jp_fetch, "worker")
    secret = issued["secret"]
    assert secret.startswith("mlops_") and len(secret) > 40
    export, connect = issued["setup"]
    assert export == f"export JUPYTER_MLOPS_TOKEN={secret}"
    assert connect.startswith("%mlops connect http://") and connect.endswith(jp_serverapp.base_url)
    assert "%env" not in json.dumps(issued)  # never a line that puts the token into a cell
    token = issued["token"]
    assert (token["name"], token["scope"], token["last_used"], token["revoked"]) == (
        "colab",
        "worker",
        None,
        None,
    )
    _, listing = await call(jp_fetch, "GET", "tokens")
    assert listing["tokens"] == [token]
    assert secret not in json.dumps(listing)
    predict = await issue(jp_fetch, "predict", "app")
    assert "curl" in predict["setup"][1] and "/mlops/api/predict" in predict["setup"][1]
    for bad in ({"name": "", "scope": "worker"}, {"name": "x", "scope": "admin"}, {"name": "x"}):
        status, reply = await call(jp_fetch, "POST", "tokens", bad)
        assert status == 400, (bad, reply)


async def test_only_the_jupyter_credential_manages_tokens(jp_fetch) -> None:
    for scope in ("worker", "predict"):
        secret = (await issue(jp_fetch, scope))["secret"]
        assert await raw(jp_fetch, "GET", "mlops", "api", "tokens", secret=secret) == 403
        assert await raw(jp_fetch, "POST", "mlops", "api", "tokens", secret=secret) == 403
        assert await raw(jp_fetch, "DELETE", "mlops", "api", "tokens", "1", secret=secret) == 403


async def test_a_worker_token_opens_the_worker_link_and_nothing_else(jp_fetch, jp_ws_fetch) -> None:
    secret = (await issue(jp_fetch, "worker"))["secret"]
    worker = await token_worker(jp_ws_fetch, secret, "remote", "remote-session")
    assert (await worker.receive_type("welcome"))["name"] == "remote"
    status, described = await call(jp_fetch, "GET", "credential", headers=auth(secret))
    assert (status, described["scope"], described["name"]) == (200, "worker", "colab")
    refused = [
        ("GET", "api", "kernels"),
        ("POST", "api", "kernels"),
        ("GET", "api", "contents"),
        ("GET", "api", "sessions"),
        ("GET", "mlops", "api", "workers"),
        ("POST", "mlops", "api", "jobs"),
        ("GET", "mlops", "api", "jobs"),
        ("POST", "mlops", "api", "deployment"),
        ("GET", "mlops", "api", "models"),
        ("DELETE", "mlops", "api", "models"),
        ("POST", "mlops", "api", "predict"),
        ("GET", "mlops", "api", "openapi.json"),
    ]
    for method, *parts in refused:
        assert await raw(jp_fetch, method, *parts, secret=secret) == 403, (method, parts)
    with pytest.raises(HTTPClientError) as events:
        await jp_ws_fetch("mlops", "api", "ws", "events", headers=auth(secret))
    assert events.value.code == 403
    _, listing = await call(jp_fetch, "GET", "tokens")
    assert listing["tokens"][0]["last_used"] is not None  # noted when it was used
    _, workers = await call(jp_fetch, "GET", "workers")
    (remote,) = workers["workers"]
    assert remote["token_id"] == listing["tokens"][0]["id"]
    assert not {"session", "session_hash"} & set(remote)  # a session id never leaves the hub
    worker.close()


async def test_a_predict_token_calls_predict_only(jp_fetch, jp_ws_fetch) -> None:
    secret = (await issue(jp_fetch, "predict", "app"))["secret"]
    assert await raw(jp_fetch, "GET", "mlops", "api", "predict", secret=secret) == 200
    status = await raw(jp_fetch, "POST", "mlops", "api", "predict", secret=secret, body=b"x")
    assert status == 503  # authenticated; nothing is deployed yet
    for method, *parts in [
        ("GET", "api", "kernels"),
        ("GET", "api", "contents"),
        ("GET", "mlops", "api", "workers"),
        ("POST", "mlops", "api", "jobs"),
        ("POST", "mlops", "api", "deployment"),
        ("PUT", "mlops", "api", "models", "1-0", "file"),
        ("GET", "mlops", "api", "trials", "1-0", "checkpoint"),
    ]:
        assert await raw(jp_fetch, method, *parts, secret=secret) == 403, (method, parts)
    with pytest.raises(HTTPClientError) as link:
        await jp_ws_fetch("mlops", "api", "ws", "worker", headers=auth(secret))
    assert link.value.code == 403


async def test_a_worker_token_gets_403_on_another_worker_s_trial(
    jp_fetch, jp_ws_fetch, tmp_path
) -> None:
    _, (held,) = await leased_trials(jp_fetch, jp_ws_fetch, 1)  # held by a Jupyter-token worker
    secret = (await issue(jp_fetch, "worker"))["secret"]
    make_model_file(tmp_path / "m.zip", accuracy=0.9)
    data = tmp_path.joinpath("m.zip").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    for method, parts, params in [
        ("PUT", ("models", held.trial_id, "file"), {"sha256": sha, "attempt": held.attempt}),
        ("PUT", ("trials", held.trial_id, "checkpoint"), {"sha256": sha, "epoch": 1}),
        ("GET", ("trials", held.trial_id, "checkpoint"), {"attempt": held.attempt}),
    ]:
        body = data if method == "PUT" else None
        status, reply = await call(
            jp_fetch, method, "/".join(parts), body, params=params, headers=auth(secret)
        )
        assert status == 403, (method, parts, reply)
    # even with the holder's lease secret (leaked), a token that is not the holder's is refused
    status, reply = await call(
        jp_fetch,
        "PUT",
        f"models/{held.trial_id}/file",
        data,
        params={"sha256": sha, "attempt": held.attempt},
        headers={**auth(secret), **held.headers},
    )
    assert status == 403 and reply["detail"]["reason"] == "not_lease_holder"
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []


async def test_a_worker_token_runs_its_trial_and_revoking_it_cuts_the_link_and_requeues(
    jp_fetch, jp_ws_fetch, tmp_path
) -> None:
    issued = await issue(jp_fetch, "worker")
    secret, token_id = issued["secret"], issued["token"]["id"]
    worker = await token_worker(jp_ws_fetch, secret, "remote", "remote-session")
    await worker.receive_type("welcome")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "remote", "conf": {"LR": [1, 2]}})
    lease = lease_of(await worker.receive_type("job"), worker)
    assert lease.trial_id == f"{job['id']}-0"
    make_model_file(tmp_path / "m.zip", accuracy=0.7)
    data = tmp_path.joinpath("m.zip").read_bytes()
    status, model = await call(
        jp_fetch,
        "PUT",
        f"models/{lease.trial_id}/file",
        data,
        params=lease.query(data),
        headers={**auth(secret), **lease.headers},  # no XSRF needed for a header token
    )
    assert status == 201 and model["worker"] == "remote"
    done = [
        {"seq": 1, "type": "trial_finished", "job_id": job["id"], "trial_id": lease.trial_id,
         "attempt": lease.attempt},
        {"seq": 2, "type": "job_finished", "job_id": job["id"]},
    ]  # fmt: skip
    await worker.send_events(done)
    second = lease_of(await worker.receive_type("job"), worker)
    checkpoint = b"epoch 1 of the second trial"
    status, _ = await call(
        jp_fetch,
        "PUT",
        f"trials/{second.trial_id}/checkpoint",
        checkpoint,
        params=second.query(checkpoint, epoch=1),
        headers={**auth(secret), **second.headers},
    )
    assert status == 201

    status, revoked = await call(jp_fetch, "DELETE", f"tokens/{token_id}")
    assert status == 200 and revoked["revoked"] is not None
    assert await asyncio.wait_for(worker.ws.read_message(), 10) is None  # the link is closed
    _, state = await call(jp_fetch, "GET", f"jobs/{job['id']}")
    trial = state["trials"][1]
    assert trial["status"] == "pending" and "revoked" in trial["error"]  # at once, no grace
    assert state["trials"][0]["status"] == "finished"
    _, workers = await call(jp_fetch, "GET", "workers")
    assert workers["workers"][0]["online"] is False
    with pytest.raises(HTTPClientError) as again:
        await jp_ws_fetch("mlops", "api", "ws", "worker", headers=auth(secret))
    assert again.value.code == 403
    status, reply = await call(
        jp_fetch,
        "PUT",
        f"trials/{second.trial_id}/checkpoint",
        checkpoint,
        params=second.query(checkpoint, epoch=2),
        headers={**auth(secret), **second.headers},
    )
    assert status == 403 and "revoked" in reply["error"]
    _, listing = await call(jp_fetch, "GET", "tokens")
    assert listing["tokens"][0]["revoked"] == revoked["revoked"]


async def test_an_upload_without_the_lease_is_refused_and_changes_nothing(
    jp_fetch, jp_ws_fetch, tmp_path, mlops_root
) -> None:
    """Issue 11: a third party's model for a running trial got 201 and the real worker's
    trial then failed. Attempts are public; the lease secret is not."""
    job, (lease,) = await leased_trials(jp_fetch, jp_ws_fetch, 1)
    make_model_file(tmp_path / "foreign.zip", accuracy=0.99, seed=3)
    foreign = tmp_path.joinpath("foreign.zip").read_bytes()
    sha = hashlib.sha256(foreign).hexdigest()
    route = f"models/{lease.trial_id}/file"
    attempts = [
        ({"sha256": sha}, {}, 403),  # no attempt, no lease
        ({"sha256": sha, "attempt": lease.attempt}, {}, 403),  # the public attempt alone
        ({"sha256": sha, "attempt": 0}, {}, 403),
        ({"sha256": sha, "attempt": lease.attempt}, {"X-MLOps-Lease": "guessed"}, 409),
    ]
    for params, headers, expected in attempts:
        status, reply = await call(jp_fetch, "PUT", route, foreign, params=params, headers=headers)
        assert status == expected, (params, reply)
    status, reply = await call(
        jp_fetch,
        "PUT",
        f"trials/{lease.trial_id}/checkpoint",
        foreign,
        params={"sha256": sha, "attempt": lease.attempt, "epoch": 1},
    )
    assert status == 403
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []
    assert not list((mlops_root / "blobs").iterdir())  # refused before the body was read
    _, state = await call(jp_fetch, "GET", f"jobs/{job['id']}")
    assert state["trials"][0]["status"] == "running" and state["trials"][0]["model_id"] is None

    make_model_file(tmp_path / "own.zip", accuracy=0.5)
    status, model = await put_model(jp_fetch, lease, tmp_path.joinpath("own.zip").read_bytes())
    assert status == 201 and model["worker"] == "lessee-0"


async def test_a_queued_trial_that_never_ran_accepts_no_upload(jp_fetch, tmp_path) -> None:
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": {"LR": [1]}})
    make_model_file(tmp_path / "m.zip", accuracy=0.5)
    data = tmp_path.joinpath("m.zip").read_bytes()
    never = Lease(f"{job['id']}-0", 0, "no-lease-was-ever-issued")
    for params in ({"sha256": never.query(data)["sha256"]}, never.query(data)):
        status, _ = await call(
            jp_fetch, "PUT", f"models/{never.trial_id}/file", data, params=params
        )
        assert status == 403
    status, reply = await put_model(jp_fetch, never, data)
    assert status == 409 and reply["detail"]["reason"] == "lease_lost"
    status, reply = await put_checkpoint(jp_fetch, never, data, 1)
    assert status == 409
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []


async def test_a_hello_cannot_take_over_another_worker(jp_fetch, jp_ws_fetch) -> None:
    """Issue 11: GET /workers showed each session, and a hello reusing it took the row over;
    when the impostor left, the real worker was marked offline."""
    real, welcome = await FakeWorker.connect(jp_ws_fetch, "real", "real-secret-session")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "real", "conf": {"EPOCHS": 1}})
    await real.receive_type("job")
    await real.send_events([{"seq": 1, "type": "log", "job_id": job["id"], "text": "hi"}])
    _, workers = await call(jp_fetch, "GET", "workers")
    assert "session" not in json.dumps(workers)

    # a token holder that somehow knows the session: refused, link closed, nothing changes
    secret = (await issue(jp_fetch, "worker"))["secret"]
    impostor = await token_worker(jp_ws_fetch, secret, "real", "real-secret-session")
    refused = await impostor.receive_type("error")
    assert "another credential" in refused["error"]
    assert await asyncio.wait_for(impostor.ws.read_message(), 10) is None
    # the same name with a session of its own: a new worker beside it
    other = await token_worker(jp_ws_fetch, secret, "real", "impostor-session")
    renamed = await other.receive_type("welcome")
    assert renamed["name"] != "real" and renamed["worker_id"] != welcome["worker_id"]
    other.close()

    _, workers = await call(jp_fetch, "GET", "workers")
    row = next(w for w in workers["workers"] if w["name"] == "real")
    assert (row["id"], row["online"], row["current_job"]) == (welcome["worker_id"], True, job["id"])
    ack = await real.send_events([{"seq": 2, "type": "log", "job_id": job["id"], "text": "on"}])
    assert ack["seq"] == 2  # the real worker's seq went on untouched

    # once it is offline, a new session of another credential still does not get its row
    real.close()
    for _ in range(100):
        _, workers = await call(jp_fetch, "GET", "workers")
        if not next(w for w in workers["workers"] if w["name"] == "real")["online"]:
            break
        await asyncio.sleep(0.05)
    third = await token_worker(jp_ws_fetch, secret, "real", "third-session")
    assert (await third.receive_type("welcome"))["worker_id"] != welcome["worker_id"]
    third.close()


async def test_an_offline_worker_can_be_forgotten(jp_fetch, jp_ws_fetch) -> None:
    worker, welcome = await FakeWorker.connect(jp_ws_fetch, "gone", "gone-session")
    worker_id = welcome["worker_id"]
    status, reply = await call(jp_fetch, "DELETE", f"workers/{worker_id}")
    assert status == 409 and reply["detail"]["reason"] == "online"
    events = await jp_ws_fetch("mlops", "api", "ws", "events")
    worker.close()
    for _ in range(100):
        if not (await call(jp_fetch, "GET", "workers"))[1]["workers"][0]["online"]:
            break
        await asyncio.sleep(0.05)
    status, forgotten = await call(jp_fetch, "DELETE", f"workers/{worker_id}")
    assert status == 200 and forgotten["forgotten"] is True and forgotten["name"] == "gone"
    assert (await call(jp_fetch, "GET", "workers"))[1]["workers"] == []
    while True:
        message = json.loads(await asyncio.wait_for(events.read_message(), 10))
        if message["type"] == "worker" and message["worker"]["forgotten"]:
            break
    assert (await call(jp_fetch, "DELETE", f"workers/{worker_id}"))[0] == 404
    assert (await call(jp_fetch, "DELETE", "workers/x"))[0] == 400
    back, again = await FakeWorker.connect(jp_ws_fetch, "gone", "gone-session")
    assert again["name"] == "gone" and again["worker_id"] != worker_id  # a new worker
    back.close()
    events.close()
