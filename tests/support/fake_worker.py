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


class ThreadedScript:
    """A scripted worker for browser tests: ``script(worker)`` runs in a thread of its own on
    a :class:`FakeWorker` connected to ``server``'s worker websocket with the Jupyter token.

    ``with Script(server) as s:`` starts it and waits (up to ``setup_seconds``) until the
    script sets ``ready``; a failure in the script is raised in the test's thread, at start or
    by :meth:`check`. Leaving the block sets ``stop`` and joins the thread.
    """

    setup_seconds = 120.0

    def __init__(self, server: Any) -> None:
        import threading

        self.server = server
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        assert self.ready.wait(self.setup_seconds), "the scripted worker did not set up"
        self.check()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)

    def check(self) -> None:
        """Raise what went wrong in the script, if anything did."""
        if self.failure:
            raise self.failure[0]

    def failed(self) -> None:
        """Called in the script's thread after a failure: wake whoever waits."""
        self.ready.set()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported in the test's thread
            self.failure.append(exc)
            self.failed()

    async def _main(self) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        ws = await websocket_connect(
            HTTPRequest(
                self.server.url.replace("http", "ws", 1) + "mlops/api/ws/worker",
                headers={"Authorization": f"token {self.server.token}"},
            )
        )
        worker = FakeWorker(ws)
        try:
            await self.script(worker)
        finally:
            worker.close()

    async def script(self, worker: FakeWorker) -> None:
        """What the worker does; sets ``self.ready`` once the test may go on."""
        raise NotImplementedError
