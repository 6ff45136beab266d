"""The worker's link to the hub: hello/welcome on the reconnecting websocket, and the sender.

Each connect says ``hello`` and waits for ``welcome`` (which acks what the hub already has);
then ``ack``/``job``/``cancel`` flow in. The sender moves queued events from the
:class:`~.outbox.Outbox` to disk every ``flush_interval`` seconds and sends them as one
``events`` frame, strictly in seq order; after each ``welcome`` it first resends every event
the hub has not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from tornado.websocket import WebSocketClientConnection

from jupyter_mlops import messages as M
from jupyter_mlops.kernel_client.hub_client import Backoff, HubInfo, ReconnectingWebSocket
from jupyter_mlops.kernel_client.worker.outbox import Outbox

log = logging.getLogger(__name__)

MAX_EVENTS_PER_FRAME = 1000


class WorkerLink:
    """Keeps a worker connected to the hub and its outbox flowing; thread-safe to control."""

    def __init__(
        self,
        hub: HubInfo,
        outbox: Outbox,
        hello: dict[str, Any],
        on_message: Callable[[dict[str, Any]], None],
        *,
        flush_interval: float = 0.25,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        welcome_timeout: float = 15.0,
    ) -> None:
        self.hub = hub
        self.outbox = outbox
        self.hello = hello
        self.on_message = on_message
        self.flush_interval = flush_interval
        self.welcome_timeout = welcome_timeout
        self.worker_id: int | None = None
        self.name: str | None = None
        self._resend = False
        self._wake: asyncio.Event | None = None
        self.socket = ReconnectingWebSocket(
            hub,
            "ws/worker",
            on_message=self._handle,
            handshake=self._handshake,
            background=self._sender,
            backoff=Backoff(backoff_initial, backoff_max),
            name="mlops-hub-link",
        )
        self.welcomed = self.socket.connected  # set while the link is open and welcomed
        outbox.on_urgent = self.wake

    # -- control from other threads -----------------------------------------------------------

    def start(self) -> None:
        """Start the link thread; returns at once (connecting goes on in the background)."""
        self.socket.start()

    def wake(self) -> None:
        """Ask the sender to send now rather than at its next tick."""
        wake = self._wake
        if wake is not None:
            self.socket.call_soon(wake.set)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event emitted so far is acked; False when ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        target = self.outbox.last_seq
        self.wake()
        while self.outbox.acked_seq < target:
            if time.monotonic() > deadline or not self.socket.alive:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Close the link and end the thread; unacked events stay in the outbox file."""
        self.wake()
        self.socket.stop(timeout)

    @property
    def state(self) -> str:
        return self.socket.state

    @property
    def last_error(self) -> str | None:
        return self.socket.last_error

    @property
    def connects(self) -> int:
        return self.socket.connects

    @property
    def connected(self) -> bool:
        """True while the link is open and welcomed."""
        return self.socket.connected.is_set()

    # -- the loop thread ----------------------------------------------------------------------

    async def _handshake(self, ws: WebSocketClientConnection) -> bool:
        """Say hello and wait for the welcome."""
        await ws.write_message(json.dumps(self.hello))
        try:
            frame = await asyncio.wait_for(ws.read_message(), self.welcome_timeout)
        except asyncio.TimeoutError:
            self.socket.last_error = "the hub sent no welcome"
            return False
        if frame is None:
            self.socket.last_error = f"the hub closed the link: {ws.close_reason or ws.close_code}"
            return False
        try:
            message = json.loads(frame)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") != M.WELCOME:
            self.socket.last_error = f"expected welcome, got {str(frame)[:200]}"
            return False
        self._handle(message)
        return True

    def _handle(self, message: dict[str, Any]) -> None:
        """Handle one hub message (in the link's thread), then pass it to the worker."""
        kind = message.get("type")
        if kind == M.WELCOME:
            self.worker_id = message.get("worker_id")
            self.name = message.get("name")
            self.outbox.ack(int(message.get("last_seq") or 0))
            self._resend = True
            self.wake()
        elif kind == M.ACK:
            self.outbox.ack(int(message["seq"]))
        elif kind == M.ERROR:
            log.warning(
                "the hub reported an error: %s %s", message.get("error"), message.get("detail")
            )
        self.on_message(message)

    async def _sender(self) -> None:
        """Drain the outbox to disk every tick and send, strictly in seq order."""
        self._wake = wake = asyncio.Event()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), self.flush_interval)
            wake.clear()
            fresh = self.outbox.drain()
            ws = self.socket.ws
            if ws is not None and self.connected:
                batch = self.outbox.unacked() if self._resend else fresh
                self._resend = False
                try:
                    for i in range(0, len(batch), MAX_EVENTS_PER_FRAME):
                        chunk = batch[i : i + MAX_EVENTS_PER_FRAME]
                        frame = {"type": M.EVENTS, "events": chunk}
                        await ws.write_message(json.dumps(frame, separators=(",", ":")))
                except Exception as exc:
                    log.debug("send failed (%s); resending after reconnect", exc)
                    self._resend = True
            if self.socket.stopping:
                return
