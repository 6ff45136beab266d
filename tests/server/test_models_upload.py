"""Model uploads: streamed, sha256-checked, size-limited; a bad upload leaves nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import call
from tests.support.leases import Lease, leased_trials, put_checkpoint, put_model
from tests.support.models import make_model_file


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.zip"
    make_model_file(path, accuracy=0.5)
    return path


async def _lease(jp_fetch, jp_ws_fetch) -> Lease:
    """Trial 0 of a fresh job, leased to a scripted worker: uploads come from its holder."""
    _, leases = await leased_trials(jp_fetch, jp_ws_fetch, 1)
    return leases[0]


def _leftovers(mlops_root: Path) -> list[str]:
    return sorted(p.name for p in (mlops_root / "blobs").iterdir())


async def test_upload_then_download_round_trips(
    jp_fetch, jp_ws_fetch, model_file: Path, mlops_root
) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    data = model_file.read_bytes()
    status, model = await put_model(jp_fetch, lease, data)
    assert status == 201
    assert model["sha256"] == hashlib.sha256(data).hexdigest() and model["size"] == len(data)
    assert model["metrics"]["test_accuracy"] == 0.5 and model["param_count"] > 0
    assert len(model["sha1"]) == 40 and model["classes"][0] == "class0"
    response = await jp_fetch("mlops", "api", "models", model["id"], "file")
    assert response.body == data
    status, again = await put_model(jp_fetch, lease, data)
    assert status == 200 and again["id"] == model["id"]  # a retried upload is harmless
    _, listing = await call(jp_fetch, "GET", "models")
    assert [m["id"] for m in listing["models"]] == [model["id"]]
    job_id = int(lease.trial_id.split("-")[0])
    assert listing["groups"] == [{"job_id": job_id, "model_ids": [model["id"]]}]
    assert _leftovers(mlops_root) == [model["sha256"]]


async def test_wrong_sha256_is_refused_and_leaves_nothing(
    jp_fetch, jp_ws_fetch, model_file, mlops_root
) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    status, reply = await put_model(jp_fetch, lease, model_file.read_bytes(), "0" * 64)
    assert status == 400 and "sha256 mismatch" in reply["error"]
    assert _leftovers(mlops_root) == []
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []


async def test_a_corrupt_file_is_refused_and_leaves_nothing(
    jp_fetch, jp_ws_fetch, mlops_root
) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    status, reply = await put_model(jp_fetch, lease, b"PK\x03\x04 definitely not a zip")
    assert status == 400 and "not a model file" in reply["error"]
    assert _leftovers(mlops_root) == []


async def test_a_file_over_the_limit_gets_413_and_leaves_nothing(
    jp_fetch, jp_ws_fetch, mlops_root
) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    # the limit is 1 MiB in these tests (conftest)
    status, reply = await put_model(jp_fetch, lease, b"x" * ((1 << 20) + 1))
    assert status == 413 and "limit" in reply["error"]
    assert _leftovers(mlops_root) == []


async def test_an_upload_cut_off_midway_leaves_nothing(
    jp_serverapp, jp_http_port, jp_fetch, jp_ws_fetch, mlops_root
) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    token = jp_serverapp.identity_provider.token
    _reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    head = (
        f"PUT {jp_serverapp.base_url}mlops/api/models/{lease.trial_id}/file?sha256={'a' * 64}"
        f"&attempt={lease.attempt} HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: token {token}\r\nX-MLOps-Lease: {lease.secret}\r\n"
        "Content-Length: 500000\r\n\r\n"
    )
    writer.write(head.encode() + b"y" * 100_000)
    await writer.drain()
    await asyncio.sleep(0.3)
    assert len(_leftovers(mlops_root)) == 1  # the temporary file of the upload in flight
    writer.close()
    for _ in range(50):
        await asyncio.sleep(0.1)
        if not _leftovers(mlops_root):
            break
    assert _leftovers(mlops_root) == []
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []


async def test_unknown_trial_and_second_model_for_a_trial(
    jp_fetch, jp_ws_fetch, tmp_path, model_file
) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    unknown = Lease("99-0", 1, lease.secret)
    status, reply = await put_model(jp_fetch, unknown, model_file.read_bytes())
    assert status == 404 and "99-0" in reply["error"]
    assert (await put_model(jp_fetch, lease, model_file.read_bytes()))[0] == 201
    other = tmp_path / "other.zip"
    make_model_file(other, accuracy=0.6, seed=1)
    status, reply = await put_model(jp_fetch, lease, other.read_bytes())
    assert status == 409 and "already has a different model" in reply["error"]
    assert reply["detail"]["reason"] == "lease_lost"  # its worker drops it quietly


async def test_uploads_notify_subscribers_and_the_trial(jp_fetch, jp_ws_fetch, model_file) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    events = await jp_ws_fetch("mlops", "api", "ws", "events")
    await put_model(jp_fetch, lease, model_file.read_bytes())
    kinds = []
    while "deployment" not in kinds:
        kinds.append(json.loads(await asyncio.wait_for(events.read_message(), 10))["type"])
    assert kinds == ["model", "deployment"]
    _, state = await call(jp_fetch, "GET", f"jobs/{lease.trial_id.split('-')[0]}")
    assert state["trials"][0]["model_id"] == lease.trial_id
    events.close()


async def _get_checkpoint(jp_fetch, lease: Lease) -> tuple[int, bytes, Any]:
    """GET the trial's checkpoint as its lease holder: (status, body, headers)."""
    from tornado.httpclient import HTTPClientError

    try:
        response = await jp_fetch(
            "mlops", "api", "trials", lease.trial_id, "checkpoint",
            params={"attempt": lease.attempt}, headers=dict(lease.headers),
        )  # fmt: skip
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, error.response.body, {}
    return response.code, response.body, response.headers


async def test_checkpoints_follow_the_lease_and_go_when_the_trial_is_finished(
    jp_fetch, jp_ws_fetch, model_file, mlops_root
) -> None:
    lease = await _lease(jp_fetch, jp_ws_fetch)
    status, body, _ = await _get_checkpoint(jp_fetch, lease)
    assert status == 404 and b"no checkpoint" in body
    status, reply = await put_checkpoint(jp_fetch, lease, b"epoch one", None)
    assert status == 400 and "epoch" in reply["error"]
    status, stored = await put_checkpoint(jp_fetch, lease, b"epoch one", 1)
    assert status == 201 and stored["checkpoint_epoch"] == 1
    status, stored = await put_checkpoint(jp_fetch, lease, b"epoch two", 2)
    assert status == 201 and stored["checkpoint_epoch"] == 2
    status, body, headers = await _get_checkpoint(jp_fetch, lease)
    assert (status, body, headers["X-MLOps-Checkpoint-Epoch"]) == (200, b"epoch two", "2")
    assert len(_leftovers(mlops_root)) == 1  # the epoch-one checkpoint was replaced
    old = Lease(lease.trial_id, 7, lease.secret)
    status, reply = await put_checkpoint(jp_fetch, old, b"old lease", 3)
    assert status == 409 and "lease lost" in reply["error"]

    data = model_file.read_bytes()
    status, reply = await put_model(jp_fetch, Lease(lease.trial_id, 2, lease.secret), data)
    assert status == 409 and "lease lost" in reply["error"]
    assert (await put_model(jp_fetch, lease, data))[0] == 201
    sha = hashlib.sha256(data).hexdigest()
    # the model is stored, yet the trial has not finished: a re-run would still need it
    assert sorted(_leftovers(mlops_root)) == sorted([sha, hashlib.sha256(b"epoch two").hexdigest()])
    assert lease.worker is not None
    finished = {
        "seq": 1, "type": "trial_finished", "job_id": int(lease.trial_id.split("-")[0]),
        "trial_id": lease.trial_id, "attempt": lease.attempt,
    }  # fmt: skip
    await lease.worker.send_events([finished])
    assert _leftovers(mlops_root) == [sha]  # the trial is finished: its checkpoint is gone
    _, job = await call(jp_fetch, "GET", f"jobs/{finished['job_id']}")
    assert job["trials"][0]["checkpoint_epoch"] is None and job["status"] == "finished"
