"""An events subscriber that never reads is disconnected once its unread notifications pass
``MLOpsApp.max_subscriber_bytes``; the others keep getting every notification.

Before, tornado buffered everything for it: ten such subscribers grew the server by 646 MB on
62 MB of logs. The bound is checked on the server's own accounting of what tornado has not
written yet (the futures of ``write_message``), not on the process's memory.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

import pytest

from jupyter_mlops.serverext.handlers.sockets import EventsSocket

LIMIT = 1 << 20
FRAME_TEXT = 100_000  # characters per notification
FRAMES = 200  # 20 MB in all: more than the limit plus what the kernel's socket buffers hold


@pytest.fixture
def mlops_config() -> dict:
    return {"worker_grace_seconds": 1.0, "max_subscriber_bytes": LIMIT}


async def _silent_subscriber(port: int, path: str, auth: dict[str, str]) -> socket.socket:
    """Open ``/ws/events`` by hand with a tiny receive buffer, then never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    head = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in auth.items()),
        "",
        "",
    ]
    await loop.sock_sendall(sock, "\r\n".join(head).encode())
    answer = await asyncio.wait_for(loop.sock_recv(sock, 1024), 10)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def _jupyter_mlops(jp_serverapp: Any) -> Any:
    return next(iter(jp_serverapp.extension_manager.extension_apps["jupyter_mlops"]))


async def test_a_subscriber_that_never_reads_is_dropped_and_the_others_get_everything(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_serverapp: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[EventsSocket] = []
    most_unwritten = [0]
    original_open, original_notify = EventsSocket.open, EventsSocket._notify

    def recording_open(self: EventsSocket, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        original_open(self, *args, **kwargs)

    def recording_notify(self: EventsSocket, frame: str) -> None:
        original_notify(self, frame)
        most_unwritten[0] = max(most_unwritten[0], getattr(self, "unwritten", 0))

    monkeypatch.setattr(EventsSocket, "open", recording_open)
    monkeypatch.setattr(EventsSocket, "_notify", recording_notify)
    await jp_fetch("mlops", "api", "workers")  # the server listens from here on
    silent = await _silent_subscriber(
        jp_http_port, f"{jp_base_url}mlops/api/ws/events", jp_auth_header
    )
    reader = await jp_ws_fetch("mlops", "api", "ws", "events")
    for _ in range(100):
        if len(opened) == 2:
            break
        await asyncio.sleep(0.05)
    slow, fast = opened
    hub = _jupyter_mlops(jp_serverapp).context.hub

    received = []
    for i in range(FRAMES):  # each notification once the reader has the one before
        hub.publish({"type": "log", "job_id": 1, "lines": [{"seq": i, "text": "x" * FRAME_TEXT}]})
        frame = await asyncio.wait_for(reader.read_message(), 30)
        assert frame is not None, "the reading subscriber was disconnected"
        received.append(json.loads(frame)["lines"][0]["seq"])

    assert received == list(range(FRAMES))
    assert getattr(fast, "dropped", False) is False
    assert getattr(slow, "dropped", False) is True
    # what tornado held for it never passed the limit (one frame is refused, not queued)
    assert most_unwritten[0] <= LIMIT
    assert len(hub.feed._subscribers) == 1  # only the reader is still subscribed
    silent.close()
    reader.close()
