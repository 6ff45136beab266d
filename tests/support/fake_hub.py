"""A small in-process fake of the hub's worker side (docs/API.md), for worker unit tests.

It speaks the worker websocket (hello/welcome, events/ack, job, cancel), stores checkpoints
(``PUT``/``GET /trials/{id}/checkpoint``) and takes model uploads (``PUT /models/{id}/file``),
recording every request. ``refuse_lease`` makes uploads of a trial answer 409 like a hub whose
lease moved on. Runs its own tornado loop in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from typing import Any

from tornado.web import Application, RequestHandler
from tornado.websocket import WebSocketHandler

from jupyter_mlops.kernel_client.hub_client import HubInfo
from tests.support.waiting import wait_until

#: The hub's answer when an upload's attempt is not the trial's current lease.
LEASE_LOST = {
    "error": "lease lost: attempt 1 is not the trial's current lease",
    "detail": {"reason": "lease_lost"},
}


class FakeHub:
    """Records events and uploads; ``send`` pushes a frame to the connected worker."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.checkpoints: dict[str, tuple[int, bytes]] = {}
        self.models: dict[str, bytes] = {}
        self.refuse_lease: set[str] = set()
        self.ws: WebSocketHandler | None = None
        self.welcomed = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.hub = HubInfo(f"http://127.0.0.1:{self.port}/", "fake-token")
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    # -- control from the test ----------------------------------------------------------------

    def start(self) -> FakeHub:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def send(self, message: dict[str, Any]) -> None:
        assert self.loop is not None and self.ws is not None, "no worker connected"
        ws = self.ws
        self.loop.call_soon_threadsafe(lambda: ws.write_message(json.dumps(message)))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["type"] == kind]

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> Any:
        return wait_until(predicate, timeout, 0.02, f"events: {self.events[-5:]}")

    # -- the server ---------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        hub = self

        class Workers(RequestHandler):
            def get(self) -> None:
                self.write({"workers": []})

        class Credential(RequestHandler):
            def get(self) -> None:
                self.write({"scope": "jupyter", "token_id": None, "name": ""})

        class Socket(WebSocketHandler):
            def open(self) -> None:
                hub.ws = self

            def on_message(self, raw: str | bytes) -> None:
                msg = json.loads(raw)
                if msg["type"] == "hello":
                    self.write_message(
                        json.dumps(
                            {"type": "welcome", "worker_id": 1, "name": msg["name"], "last_seq": 0}
                        )
                    )
                    hub.welcomed.set()
                elif msg["type"] == "events":
                    seqs = {e["seq"] for e in hub.events}
                    hub.events += [e for e in msg["events"] if e["seq"] not in seqs]
                    last = max(e["seq"] for e in msg["events"])
                    self.write_message(json.dumps({"type": "ack", "seq": last}))

        class Checkpoint(RequestHandler):
            def put(self, trial_id: str) -> None:
                hub.requests.append(
                    {"what": "checkpoint", "trial": trial_id, **self._query(), **_lease(self)}
                )
                if trial_id in hub.refuse_lease:
                    self.set_status(409)
                    self.write(LEASE_LOST)
                    return
                body = self.request.body
                assert hashlib.sha256(body).hexdigest() == self.get_argument("sha256")
                hub.checkpoints[trial_id] = (int(self.get_argument("epoch")), body)
                self.set_status(201)
                self.write({"id": trial_id, "checkpoint_epoch": int(self.get_argument("epoch"))})

            def get(self, trial_id: str) -> None:
                hub.requests.append(
                    {"what": "get checkpoint", "trial": trial_id, **self._query(), **_lease(self)}
                )
                if trial_id in hub.refuse_lease:
                    self.set_status(409)
                    self.write(LEASE_LOST)
                    return
                if trial_id not in hub.checkpoints:
                    self.set_status(404)
                    self.write({"error": "no checkpoint"})
                    return
                self.set_header("Content-Type", "application/octet-stream")
                self.write(hub.checkpoints[trial_id][1])

            def _query(self) -> dict[str, str]:
                return {k: self.get_argument(k) for k in self.request.arguments}

        class Model(RequestHandler):
            def put(self, trial_id: str) -> None:
                query = {k: self.get_argument(k) for k in self.request.arguments}
                hub.requests.append({"what": "model", "trial": trial_id, **query, **_lease(self)})
                if trial_id in hub.refuse_lease:
                    self.set_status(409)
                    self.write(LEASE_LOST)
                    return
                hub.models[trial_id] = self.request.body
                hub.checkpoints.pop(trial_id, None)
                self.set_status(201)
                self.write({"id": trial_id})

        app = Application(
            [
                (r"/mlops/api/workers", Workers),
                (r"/mlops/api/credential", Credential),
                (r"/mlops/api/ws/worker", Socket),
                (r"/mlops/api/trials/([^/]+)/checkpoint", Checkpoint),
                (r"/mlops/api/models/([^/]+)/file", Model),
            ]
        )
        server = app.listen(self.port, "127.0.0.1")
        self._ready.set()
        await self._stop.wait()
        server.stop()


def _lease(handler: RequestHandler) -> dict[str, str]:
    """The lease header a request carried, if any, as ``{"lease": secret}``."""
    lease = handler.request.headers.get("X-MLOps-Lease")
    return {"lease": lease} if lease is not None else {}


def worker_on(
    fake: FakeHub, train: Any, defaults: dict[str, Any], local_dir: Any, **kwargs: Any
) -> Any:
    """A real :class:`Worker` started against ``fake``, once the fake has welcomed it.

    ``kwargs`` go to the Worker (``name`` defaults to ``"w"``; ``echo`` to False)."""
    from jupyter_mlops.kernel_client import Worker

    kwargs.setdefault("echo", False)
    name = kwargs.pop("name", "w")
    worker = Worker(train, defaults, name, fake.hub, local_dir=local_dir, **kwargs).start()
    assert fake.welcomed.wait(10), "the worker was not welcomed by the fake hub"
    return worker
