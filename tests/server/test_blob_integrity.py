"""Downloads are verified against their sha256: a damaged or missing model file is a JSON 500
naming the model, which is then marked damaged (never served, deployed or downloaded); a
damaged checkpoint is forgotten. An upload refused after its file was stored keeps no file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support.api import call
from tests.support.leases import leased_trials, put_checkpoint, put_model, release
from tests.support.models import make_model_file

pytestmark = pytest.mark.faults


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped", "deleted"])
async def test_a_damaged_model_file_is_never_sent(
    jp_fetch, jp_ws_fetch, mlops_root: Path, tmp_path: Path, damage: str
) -> None:
    model_path = tmp_path / "model.zip"
    make_model_file(model_path, accuracy=0.7)
    data = model_path.read_bytes()
    _, leases = await leased_trials(jp_fetch, jp_ws_fetch, 1)
    try:
        status, model = await put_model(jp_fetch, leases[0], data)
        assert status == 201, model
        response = await jp_fetch("mlops", "api", "models", model["id"], "file")
        assert response.body == data  # whole: served (and its hash is now known good)
        blob = mlops_root / "blobs" / model["sha256"]
        if damage == "flipped":
            _flip_a_byte(blob)
        else:
            blob.unlink()
        status, reply = await call(jp_fetch, "GET", f"models/{model['id']}/file")
        assert status == 500, reply
        assert f"model {model['id']}" in reply["error"]
        assert ("does not match its sha256" if damage == "flipped" else "missing") in reply["error"]
        assert reply["detail"]["model_id"] == model["id"] and reply["detail"]["reason"] == "damaged"
        status, listed = await call(jp_fetch, "GET", f"models/{model['id']}")
        assert status == 200 and listed["damaged"] == reply["detail"]["problem"]
        status, reply = await call(jp_fetch, "POST", "deployment", {"model_id": model["id"]})
        assert status == 409 and reply["detail"]["reason"] == "damaged_model", reply
        status, reply = await call(jp_fetch, "GET", f"models/{model['id']}/file")
        assert status == 500 and listed["damaged"] in reply["error"]
    finally:
        release(leases)


async def test_a_damaged_checkpoint_is_forgotten(jp_fetch, jp_ws_fetch, mlops_root: Path) -> None:
    _, leases = await leased_trials(jp_fetch, jp_ws_fetch, 1)
    try:
        data = b"checkpoint bytes " * 100
        status, trial = await put_checkpoint(jp_fetch, leases[0], data, 1)
        assert status == 201, trial
        _flip_a_byte(mlops_root / "blobs" / hashlib.sha256(data).hexdigest())
        lease = leases[0]
        status, reply = await call(
            jp_fetch,
            "GET",
            f"trials/{lease.trial_id}/checkpoint",
            params={"attempt": lease.attempt},
            headers=dict(lease.headers),
        )
        assert status == 500 and f"checkpoint of trial {lease.trial_id}" in reply["error"]
        status, job = await call(jp_fetch, "GET", f"jobs/{lease.trial_id.split('-')[0]}")
        assert job["trials"][0]["checkpoint_epoch"] is None  # resumes from the start
    finally:
        release(leases)


async def test_an_upload_refused_after_its_file_was_stored_keeps_no_file(
    jp_fetch, jp_ws_fetch, mlops_root: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    make_model_file(first, accuracy=0.5, seed=1)
    make_model_file(second, accuracy=0.6, seed=2)
    _, leases = await leased_trials(jp_fetch, jp_ws_fetch, 1)
    try:
        status, model = await put_model(jp_fetch, leases[0], first.read_bytes())
        assert status == 201
        status, reply = await put_model(jp_fetch, leases[0], second.read_bytes())
        assert status == 409, reply
        stored = sorted(p.name for p in (mlops_root / "blobs").iterdir())
        assert stored == [model["sha256"]]
    finally:
        release(leases)
