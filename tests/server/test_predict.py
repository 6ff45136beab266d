"""``/predict``: the hub serves the deployed model, follows deployments, refuses bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.api import call
from tests.support.demo_models import png_bytes
from tests.support.leases import leased_trials, put_model
from tests.support.models import make_model_file
from tests.support.payloads import legacy_model_file

LIMIT = 64_000


def png() -> dict[str, str]:
    """Fresh headers each time: jp_fetch adds the test server's token to the dict it gets."""
    return {"Content-Type": "image/png"}


@pytest.fixture
def mlops_config() -> dict:
    return {"worker_grace_seconds": 1.0, "max_upload_bytes": 1 << 20, "max_predict_bytes": LIMIT}


async def _served(jp_fetch, sha1: str | None) -> dict:
    """GET /predict until it describes the model of ``sha1`` (the auto deploy loads it)."""
    for _ in range(400):
        status, described = await call(jp_fetch, "GET", "predict")
        assert status == 200
        if (described["model"] or {}).get("sha1") == sha1:
            return described
        await asyncio.sleep(0.05)
    raise AssertionError(f"sha1 {sha1} never served: {described}")


async def _two_models(jp_fetch, jp_ws_fetch, tmp_path: Path) -> list[dict]:
    """Two trials' models stored by their lease holders; the better (the first) deployed
    automatically and served."""
    _, leases = await leased_trials(jp_fetch, jp_ws_fetch, 2)
    models = []
    for lease, accuracy in zip(leases, [0.6, 0.4], strict=True):
        path = tmp_path / f"{lease.trial_id}.zip"
        make_model_file(path, accuracy=accuracy, seed=int(lease.trial_id.split("-")[1]))
        status, model = await put_model(jp_fetch, lease, path.read_bytes())
        assert status == 201, model
        models.append(model)
    assert models[0]["sha1"] != models[1]["sha1"]
    await _served(jp_fetch, models[0]["sha1"])
    return models


def _multipart(data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "mlops-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_the_deployed_model_is_described_and_classifies(
    jp_fetch, jp_ws_fetch, tmp_path
) -> None:
    two_models = await _two_models(jp_fetch, jp_ws_fetch, tmp_path)
    deployed = two_models[0]
    described = await _served(jp_fetch, deployed["sha1"])
    assert described["last_error"] is None
    model = described["model"]
    assert model["model_id"] == deployed["id"] and model["sha256"] == deployed["sha256"]
    assert model["classes"] == [f"class{i}" for i in range(10)]
    assert model["input"]["shape"] == ["batch", 3, 16, 16] and model["input"]["dtype"] == "float32"

    multipart, multipart_headers = _multipart(png_bytes())
    tensor = np.zeros((2, 3, 16, 16)).tolist()
    requests = [
        (png_bytes(), png(), 1),
        (png_bytes(), {"Content-Type": "application/octet-stream"}, 1),
        (multipart, multipart_headers, 1),
        (json.dumps({"inputs": tensor}), {"Content-Type": "application/json"}, 2),
    ]
    for body, headers, count in requests:
        status, answer = await call(
            jp_fetch, "POST", "predict", body, headers=headers, params={"top_k": 3}
        )
        assert status == 200, answer
        assert answer["sha1"] == deployed["sha1"] and answer["model_id"] == deployed["id"]
        assert len(answer["predictions"]) == count
        prediction = answer["predictions"][0]
        assert len(prediction["top"]) == 3 and len(prediction["probabilities"]) == 10
        assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        assert prediction["top"][0]["class"].startswith("class")


async def test_bad_requests_get_json_errors(jp_fetch, jp_ws_fetch, tmp_path) -> None:
    two_models = await _two_models(jp_fetch, jp_ws_fetch, tmp_path)
    wrong_shape = json.dumps({"inputs": np.zeros((3, 8, 8)).tolist()})
    cases = [
        (b"this is not an image", png(), 400, "not an image"),
        (b"", png(), 400, "empty"),
        (png_bytes()[:100], png(), 400, "corrupt or truncated"),
        (wrong_shape, {"Content-Type": "application/json"}, 400, "[1, 3, 8, 8]"),
        (b"{not json", {"Content-Type": "application/json"}, 400, "JSON"),
        (json.dumps({"image": 1}), {"Content-Type": "application/json"}, 400, "inputs"),
        (_multipart(png_bytes())[0], {"Content-Type": "multipart/form-data; boundary=x"}, 400,
         "multipart"),
        (b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n",
         {"Content-Type": "multipart/form-data; boundary=b"}, 400, "no file"),
        (b"\0" * (LIMIT + 1), png(), 413, f"at most {LIMIT}"),
    ]  # fmt: skip
    for body, headers, expected_status, words in cases:
        status, reply = await call(jp_fetch, "POST", "predict", body, headers=headers)
        assert status == expected_status, (words, reply)
        assert words in reply["error"] and reply["status"] == expected_status
    status, answer = await call(jp_fetch, "POST", "predict", png_bytes(), headers=png())
    assert status == 200 and answer["sha1"] == two_models[0]["sha1"]


async def _post_chunked(jp_fetch, size: int) -> tuple[int, Any]:
    """POST /predict with a chunked body of ``size`` zero bytes (no Content-Length)."""

    async def producer(write) -> None:
        for start in range(0, size, 8_000):
            await write(b"\0" * min(8_000, size - start))

    response = await jp_fetch(
        "mlops", "api", "predict", method="POST", headers=png(), body_producer=producer,
        raise_error=False,
    )  # fmt: skip
    return response.code, json.loads(response.body) if response.body else None


async def test_a_chunked_body_over_the_limit_is_refused(jp_fetch, jp_ws_fetch, tmp_path) -> None:
    two_models = await _two_models(jp_fetch, jp_ws_fetch, tmp_path)
    status, reply = await _post_chunked(jp_fetch, LIMIT + 1)
    assert status == 413 and f"at most {LIMIT}" in reply["error"]
    # far over: tornado answers a bare 400 and closes before the handler reads it all
    status, _ = await _post_chunked(jp_fetch, 4 * LIMIT)
    assert status in (400, 413)
    status, answer = await call(jp_fetch, "POST", "predict", png_bytes(), headers=png())
    assert status == 200 and answer["sha1"] == two_models[0]["sha1"]


async def test_nothing_deployed_yet_is_a_503(jp_fetch) -> None:
    status, described = await call(jp_fetch, "GET", "predict")
    assert status == 200 and described == {"model": None, "last_error": None}
    status, reply = await call(jp_fetch, "POST", "predict", png_bytes(), headers=png())
    assert status == 503 and "No model is deployed yet" in reply["error"]


async def test_predict_requires_authentication(jp_fetch, jp_ws_fetch, tmp_path) -> None:
    await _two_models(jp_fetch, jp_ws_fetch, tmp_path)
    status, reply = await call(jp_fetch, "GET", "predict", headers={"Authorization": ""})
    assert status == 403 and "sha1" not in json.dumps(reply)
    status, reply = await call(
        jp_fetch, "POST", "predict", png_bytes(), headers={"Authorization": "", **png()}
    )
    assert status == 403 and "predictions" not in reply


async def test_a_rollback_answers_once_served_and_notifies(jp_fetch, jp_ws_fetch, tmp_path) -> None:
    two_models = await _two_models(jp_fetch, jp_ws_fetch, tmp_path)
    events = await jp_ws_fetch("mlops", "api", "ws", "events")
    other = two_models[1]
    status, deployment = await call(jp_fetch, "POST", "deployment", {"model_id": other["id"]})
    assert status == 201 and deployment["model_id"] == other["id"]
    assert deployment["serving"]["model"]["sha1"] == other["sha1"]
    assert deployment["serving"]["last_error"] is None
    status, answer = await call(jp_fetch, "POST", "predict", png_bytes(), headers=png())
    assert status == 200 and answer["sha1"] == other["sha1"] and answer["model_id"] == other["id"]
    while True:
        message = json.loads(await asyncio.wait_for(events.read_message(), 10))
        if message["type"] == "serving" and message["serving"]["model"]:
            break
    assert message["serving"]["model"]["sha1"] == other["sha1"]
    events.close()


async def test_a_legacy_model_file_is_refused_at_upload(
    jp_fetch, jp_ws_fetch, tmp_path: Path
) -> None:
    _, (lease,) = await leased_trials(jp_fetch, jp_ws_fetch, 1)
    canary = tmp_path / "canary"
    status, reply = await put_model(jp_fetch, lease, legacy_model_file(canary))
    assert status == 400 and "legacy" in reply["error"]
    assert (await call(jp_fetch, "GET", "models"))[1]["models"] == []
    assert not canary.exists()


async def test_predictions_through_twenty_swaps_come_from_either_model(
    jp_fetch, jp_ws_fetch, tmp_path
) -> None:
    two_models = await _two_models(jp_fetch, jp_ws_fetch, tmp_path)
    sha1s = {model["sha1"] for model in two_models}
    image = png_bytes()
    answers: list[tuple[int, Any]] = []
    stop = asyncio.Event()

    async def client() -> None:
        while not stop.is_set():
            answers.append(await call(jp_fetch, "POST", "predict", image, headers=png()))

    clients = [asyncio.ensure_future(client()) for _ in range(8)]
    try:
        for swap in range(20):
            model = two_models[(swap + 1) % 2]
            status, deployment = await call(
                jp_fetch, "POST", "deployment", {"model_id": model["id"]}
            )
            assert status == 201 and deployment["serving"]["model"]["sha1"] == model["sha1"]
    finally:
        stop.set()
        await asyncio.gather(*clients)
    assert answers
    assert [status for status, _ in answers if status != 200] == []
    assert {answer["sha1"] for _, answer in answers} <= sha1s
