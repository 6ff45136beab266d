"""A scripted worker speaking the worker websocket protocol, for hub tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class FakeWorker:
    """Wraps a tornado websocket client connection to ``/mlops/api/ws/worker``."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def connect(
        cls, jp_ws_fetch: Any, name: str, session: str, defaults: dict[str, Any] | None = None
    ) -> tuple[FakeWorker, dict]:
        worker = cls(await jp_ws_fetch("mlops", "api", "ws", "worker"))
        await worker.send(
            {
                "type": "hello",
                "name": name,
                "session": session,
                "notebook": f"{name}.ipynb",
                "device": "cpu",
                "defaults": defaults or {"EPOCHS": 1, "LEARNING_RATE": 0.01},
            }
        )
        welcome = await worker.receive()
        assert welcome["type"] == "welcome", welcome
        return worker, welcome

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.write_message(json.dumps(message))

    async def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.read_message(), timeout)
        assert frame is not None, "the hub closed the link"
        return json.loads(frame)

    async def receive_type(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            message = await self.receive(timeout)
            if message["type"] == kind:
                return message

    async def send_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Send a batch and return the hub's ack."""
        await self.send({"type": "events", "events": events})
        return await self.receive_type("ack")

    def close(self) -> None:
        self.ws.close()


def log_event(seq: int, job_id: int, text: str, trial_id: str | None = None) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": "log",
        "job_id": job_id,
        "trial_id": trial_id,
        "stream": "stdout",
        "text": text,
    }
