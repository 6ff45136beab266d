"""Model uploads: streamed, sha256-checked, size-limited; a bad upload leaves nothing behind."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tests.support.api import call
from tests.support.fake_worker import FakeWorker
from tests.support.models import make_model_file


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.zip"
    make_model_file(path, accuracy=0.5)
    return path


async def _job(jp_fetch, trials: int = 2) -> dict:
    _, job = await call(
        jp_fetch, "POST", "jobs", {"worker": "any", "conf": {"LR": list(range(trials))}}
    )
    return job


def _leftovers(mlops_root: Path) -> list[str]:
    return sorted(p.name for p in (mlops_root / "blobs").iterdir())


async def _put(jp_fetch, model_id: str, data: bytes, sha: str | None = None) -> tuple[int, dict]:
    sha = sha or hashlib.sha256(data).hexdigest()
    return await call(jp_fetch, "PUT", f"models/{model_id}/file", data, params={"sha256": sha})


async def test_upload_then_download_round_trips(jp_fetch, model_file: Path, mlops_root) -> None:
    job = await _job(jp_fetch)
    data = model_file.read_bytes()
    status, model = await _put(jp_fetch, f"{job['id']}-0", data)
    assert status == 201
    assert model["sha256"] == hashlib.sha256(data).hexdigest() and model["size"] == len(data)
    assert model["metrics"]["test_accuracy"] == 0.5 and model["param_count"] > 0
    assert len(model["sha1"]) == 40 and model["classes"][0] == "class0"
    response = await jp_fetch("mlops", "api", "models", model["id"], "file")
    assert response.body == data
    status, again = await _put(jp_fetch, f"{job['id']}-0", data)
    assert status == 200 and again["id"] == model["id"]  # a retried upload is harmless
    _, listing = await call(jp_fetch, "GET", "models")
    assert [m["id"] for m in listing["models"]] == [model["id"]]
    assert listing["groups"] == [{"job_id": job["id"], "model_ids": [model["id"]]}]
    assert _leftovers(mlops_root) == [model["sha256"]]


async def test_wrong_sha256_is_refused_and_leaves_nothing(jp_fetch, model_file, mlops_root) -> None:
    job = await _job(jp_fetch)
    status, reply = await _put(jp_fetch, f"{job['id']}-0", model_file.read_bytes(), "0" * 64)
    assert status == 400 and "sha256 mismatch" in reply["error"]
    assert _leftovers(mlops_root) == []
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []


async def test_a_corrupt_file_is_refused_and_leaves_nothing(jp_fetch, mlops_root) -> None:
    job = await _job(jp_fetch)
    status, reply = await _put(jp_fetch, f"{job['id']}-0", b"PK\x03\x04 definitely not a zip")
    assert status == 400 and "not a model file" in reply["error"]
    assert _leftovers(mlops_root) == []


async def test_a_file_over_the_limit_gets_413_and_leaves_nothing(jp_fetch, mlops_root) -> None:
    job = await _job(jp_fetch)  # the limit is 1 MiB in these tests (conftest)
    status, reply = await _put(jp_fetch, f"{job['id']}-0", b"x" * ((1 << 20) + 1))
    assert status == 413 and "limit" in reply["error"]
    assert _leftovers(mlops_root) == []


async def test_an_upload_cut_off_midway_leaves_nothing(
    jp_serverapp, jp_http_port, jp_fetch, mlops_root
) -> None:
    job = await _job(jp_fetch)
    token = jp_serverapp.identity_provider.token
    _reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    head = (
        f"PUT {jp_serverapp.base_url}mlops/api/models/{job['id']}-0/file?sha256={'a' * 64} "
        f"HTTP/1.1\r\nHost: localhost\r\nAuthorization: token {token}\r\n"
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


async def test_unknown_trial_and_second_model_for_a_trial(jp_fetch, tmp_path, model_file) -> None:
    status, reply = await _put(jp_fetch, "99-0", model_file.read_bytes())
    assert status == 404 and "99-0" in reply["error"]
    job = await _job(jp_fetch)
    assert (await _put(jp_fetch, f"{job['id']}-0", model_file.read_bytes()))[0] == 201
    other = tmp_path / "other.zip"
    make_model_file(other, accuracy=0.6, seed=1)
    status, reply = await _put(jp_fetch, f"{job['id']}-0", other.read_bytes())
    assert status == 409 and "already has a different model" in reply["error"]


async def test_uploads_notify_subscribers_and_the_trial(jp_fetch, jp_ws_fetch, model_file) -> None:
    import json

    worker, _ = await FakeWorker.connect(jp_ws_fetch, "w", "s1", defaults={"LR": 0})
    job = await _job(jp_fetch)
    events = await jp_ws_fetch("mlops", "api", "ws", "events")
    await _put(jp_fetch, f"{job['id']}-0", model_file.read_bytes())
    kinds = []
    while "deployment" not in kinds:
        kinds.append(json.loads(await asyncio.wait_for(events.read_message(), 10))["type"])
    assert kinds == ["model", "deployment"]
    _, state = await call(jp_fetch, "GET", f"jobs/{job['id']}")
    assert state["trials"][0]["model_id"] == f"{job['id']}-0"
    events.close()
    worker.close()


async def _checkpoint(jp_fetch, trial_id: str, data: bytes, **query: object) -> tuple[int, dict]:
    params = {"sha256": hashlib.sha256(data).hexdigest(), **query}
    return await call(jp_fetch, "PUT", f"trials/{trial_id}/checkpoint", data, params=params)


async def test_checkpoints_follow_the_lease_and_go_when_the_model_is_stored(
    jp_fetch, jp_ws_fetch, model_file, mlops_root
) -> None:
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "w", "s1", defaults={"LR": 0})
    job = await _job(jp_fetch, trials=1)
    trial = f"{job['id']}-0"
    await worker.receive_type("job")
    status, reply = await call(jp_fetch, "GET", f"trials/{trial}/checkpoint")
    assert status == 404 and "no checkpoint" in reply["error"]
    status, reply = await _checkpoint(jp_fetch, trial, b"epoch one", attempt=1)
    assert status == 400 and "epoch" in reply["error"]
    status, stored = await _checkpoint(jp_fetch, trial, b"epoch one", attempt=1, epoch=1)
    assert status == 201 and stored["checkpoint_epoch"] == 1
    status, stored = await _checkpoint(jp_fetch, trial, b"epoch two", attempt=1, epoch=2)
    assert status == 201 and stored["checkpoint_epoch"] == 2
    response = await jp_fetch("mlops", "api", "trials", trial, "checkpoint")
    assert response.body == b"epoch two"
    assert response.headers["X-MLOps-Checkpoint-Epoch"] == "2"
    assert len(_leftovers(mlops_root)) == 1  # the epoch-one checkpoint was replaced
    status, reply = await _checkpoint(jp_fetch, trial, b"old lease", attempt=7, epoch=3)
    assert status == 409 and "lease lost" in reply["error"]

    data = model_file.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    status, reply = await call(
        jp_fetch, "PUT", f"models/{trial}/file", data, params={"sha256": sha, "attempt": 2}
    )
    assert status == 409 and "lease lost" in reply["error"]
    status, _ = await call(
        jp_fetch, "PUT", f"models/{trial}/file", data, params={"sha256": sha, "attempt": 1}
    )
    assert status == 201
    assert _leftovers(mlops_root) == [sha]  # the checkpoint is gone with the final model
    assert (await call(jp_fetch, "GET", f"trials/{trial}/checkpoint"))[0] == 404
    worker.close()
