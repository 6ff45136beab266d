"""No request makes the hub answer 500 or a bare error page: ids are parsed strictly, deep
JSON is a 400, and a body over its limit is a JSON 413 also when it comes chunked."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import Any

import pytest
from tornado.websocket import WebSocketClosedError

from tests.support.api import call
from tests.support.fake_worker import FakeWorker

UPLOAD_LIMIT = 1 << 16
PREDICT_LIMIT = 1 << 15


@pytest.fixture
def mlops_config() -> dict:
    return {
        "worker_grace_seconds": 1.0,
        "max_upload_bytes": UPLOAD_LIMIT,
        "max_predict_bytes": PREDICT_LIMIT,
    }


BAD_IDS = ["²", "١٢", "9" * 4301, str(2**63), str(2**64), "-1", "1.0", "0x10"]


@pytest.mark.parametrize("raw", BAD_IDS)
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "jobs/{}"),
        ("POST", "jobs/{}/cancel"),
        ("POST", "jobs/{}/retry"),
        ("GET", "jobs/{}/logs"),
        ("GET", "jobs/{}/metrics"),
    ],
)
async def test_a_job_id_that_is_not_plain_digits_in_range_is_a_400(
    jp_fetch: Any, method: str, template: str, raw: str
) -> None:
    status, reply = await call(jp_fetch, method, template.format(raw))
    assert status == 400, reply
    assert "job id" in reply["error"]


@pytest.mark.parametrize("raw", BAD_IDS)
@pytest.mark.parametrize("name", ["after", "limit"])
async def test_a_cursor_that_is_not_plain_digits_in_range_is_a_400(
    jp_fetch: Any, name: str, raw: str
) -> None:
    _, job = await call(jp_fetch, "POST", "jobs", {"conf": {}})
    status, reply = await call(jp_fetch, "GET", f"jobs/{job['id']}/logs", params={name: raw})
    assert status == 400, reply
    assert name in reply["error"]


async def test_the_largest_id_is_a_404_not_a_500(jp_fetch: Any) -> None:
    status, reply = await call(jp_fetch, "GET", f"jobs/{2**63 - 1}")
    assert status == 404, reply
    status, reply = await call(jp_fetch, "GET", "jobs/1/logs", params={"after": str(2**63 - 1)})
    assert status == 404, reply


@pytest.mark.parametrize("path", ["jobs", "grid/validate", "deployment"])
async def test_deeply_nested_json_is_a_400(jp_fetch: Any, path: str) -> None:
    body = '{"conf": ' + "[" * 100_000 + "]" * 100_000 + "}"
    status, reply = await call(jp_fetch, "POST", path, body)
    assert status == 400, reply
    assert "JSON" in reply["error"]


async def test_nan_in_a_body_is_kept_as_text_and_answered_as_json(jp_fetch: Any) -> None:
    response = await jp_fetch(
        "mlops", "api", "grid", "validate", method="POST", body='{"conf": {"EPOCHS": NaN}}'
    )
    # no worker declares EPOCHS here: the value is kept, as text, in a strict JSON answer
    reply = json.loads(response.body, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert reply["conf"] == {"EPOCHS": ["NaN"]}, reply


# -- bodies over the limit -------------------------------------------------------------------


async def _raw_request(
    port: int, head: str, chunks: list[bytes], *, stop_after: bool = True
) -> tuple[int, dict[str, Any]]:
    """Send ``head`` then ``chunks`` as a chunked body (no final chunk), read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode("latin-1"))
    try:
        for chunk in chunks:
            # the last chunk's CRLF is not sent: nothing is left unread when the hub closes
            end = b"" if chunk is chunks[-1] and stop_after else b"\r\n"
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + end)
            await writer.drain()
    except ConnectionError:
        pass  # the hub answered and closed while we were still sending
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_part.lower():
        body = _unchunk(body)
    return status, json.loads(body)


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2 :]
    return out


def _head(method: str, path: str, port: int, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["Transfer-Encoding: chunked", "", ""]
    return "\r\n".join(lines)


async def _leased_trial(jp_fetch: Any, jp_ws_fetch: Any) -> tuple[FakeWorker, dict[str, Any]]:
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "w", "s1")
    await call(jp_fetch, "POST", "jobs", {"worker": "w", "conf": {"LEARNING_RATE": [0.1]}})
    trial = (await worker.receive_type("job"))["job"]["trials"][0]
    return worker, trial


async def test_a_chunked_model_upload_over_the_limit_is_a_json_413(
    jp_fetch: Any, jp_ws_fetch: Any, jp_http_port: int, jp_base_url: str, jp_auth_header: dict
) -> None:
    worker, trial = await _leased_trial(jp_fetch, jp_ws_fetch)
    headers = {**jp_auth_header, "Content-Type": "application/zip"}
    if trial.get("lease"):
        headers["X-MLOps-Lease"] = trial["lease"]
    data = b"x" * (UPLOAD_LIMIT + 1)
    sha = hashlib.sha256(data).hexdigest()
    path = f"{jp_base_url}mlops/api/models/{trial['id']}/file?sha256={sha}&attempt=1"
    head = _head("PUT", path, jp_http_port, headers)
    chunks = [data[i : i + 8192] for i in range(0, len(data), 8192)]
    status, reply = await _raw_request(jp_http_port, head, chunks)
    assert status == 413, reply
    assert reply["status"] == 413 and "limit" in reply["error"]
    assert reply["detail"] == {"limit": UPLOAD_LIMIT}
    status, _ = await call(jp_fetch, "GET", f"models/{trial['id']}")
    assert status == 404  # nothing was stored
    worker.close()


async def test_a_chunked_prediction_over_the_limit_is_a_json_413(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str, jp_auth_header: dict
) -> None:
    """(``jp_fetch`` is what makes the in-process server listen on ``jp_http_port``.)"""
    headers = {**jp_auth_header, "Content-Type": "image/png"}
    head = _head("POST", f"{jp_base_url}mlops/api/predict", jp_http_port, headers)
    data = b"\x89PNG" + bytes(PREDICT_LIMIT)
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    status, reply = await _raw_request(jp_http_port, head, chunks)
    assert status == 413, reply
    assert "at most" in reply["error"] and reply["detail"] == {"limit": PREDICT_LIMIT}


async def test_a_declared_length_over_the_limit_is_a_json_413_before_the_body(
    jp_fetch: Any,
) -> None:
    status, reply = await call(
        jp_fetch, "POST", "predict", b"x" * (PREDICT_LIMIT + 1), headers={"Content-Type": "x/y"}
    )
    assert status == 413 and reply["detail"] == {"limit": PREDICT_LIMIT}, reply


# -- websocket frames ---------------------------------------------------------------------------


async def test_each_socket_has_its_own_frame_limit(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    """The worker link takes frames up to 8 MiB and the events socket 4 KiB; before, every
    websocket of the server (kernels included) took what the demo page needs (27 MiB)."""
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "w", "s1")
    await worker.ws.write_message(json.dumps({"type": "events", "events": [], "pad": "x" * 4096}))
    assert (await worker.receive_type("ack"))["seq"] == 0  # a few KiB: fine
    with contextlib.suppress(WebSocketClosedError):  # closed while it is still sending
        await worker.ws.write_message("x" * (9 << 20))
    assert await asyncio.wait_for(worker.ws.read_message(), 30) is None  # closed: too big
    assert worker.ws.close_code == 1009

    events = await jp_ws_fetch("mlops", "api", "ws", "events")
    with contextlib.suppress(WebSocketClosedError):
        await events.write_message("x" * 10_000)  # subscribers have nothing to say
    assert await asyncio.wait_for(events.read_message(), 30) is None
    assert events.close_code == 1009
