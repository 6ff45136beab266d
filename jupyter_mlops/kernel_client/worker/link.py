"""The worker's link to the hub: hello/welcome on the reconnecting websocket, and the sender.

Each connect says ``hello`` (built afresh: it says which trials this kernel runs and the seq of
its newest event) and waits for ``welcome`` (which acks what the hub already has); then
``ack``/``job``/``cancel`` flow in. The sender sends the outbox's events that this connection
has not carried yet, as ``events`` frames strictly in seq order, every ``flush_interval``
seconds or when woken; after each ``welcome`` it starts again from the hub's last seq, so
every event the hub has not stored is sent again. The worker hears every message, welcomes
included (a model upload waiting for the hub then retries at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from tornado.websocket import WebSocketClientConnection

from jupyter_mlops import messages as M
from jupyter_mlops.kernel_client.hub_client import Backoff, HubInfo, ReconnectingWebSocket
from jupyter_mlops.kernel_client.worker.outbox import Outbox

log = logging.getLogger(__name__)

MAX_EVENTS_PER_FRAME = 1000
#: ``detail.reason`` of a hello refused because the session belongs to another credential.
OTHER_CREDENTIAL = "other_credential"
#: A frame's size in bytes stays under this (the hub closes a link whose frame passes 8 MiB).
MAX_FRAME_BYTES = 1 << 20
_HEAD, _TAIL = '{"type":"' + M.EVENTS + '","events":[', "]}"
#: What an event too large for a frame keeps once its text is cut (or without its text).
_KEPT = ("seq", "type", "time", "job_id", "trial_id", "attempt", "model_id", "stream", "name")


def event_frames(
    batch: list[tuple[int, str]], limit: int = MAX_FRAME_BYTES
) -> Iterator[tuple[str, int]]:
    """``events`` frames of at most ``limit`` bytes for encoded events (ASCII JSON, in seq
    order), each with the seq of its last event; an event too large alone is cut to fit."""
    room = limit - len(_HEAD) - len(_TAIL)
    parts: list[str] = []
    size, last = 0, 0
    for seq, line in batch:
        line = fit_event(line, room)
        if parts and size + len(line) + 1 > room:
            yield _HEAD + ",".join(parts) + _TAIL, last
            parts, size = [], 0
        parts.append(line)
        size, last = size + len(line) + 1, seq
    if parts:
        yield _HEAD + ",".join(parts) + _TAIL, last


def fit_event(line: str, limit: int) -> str:
    """The encoded event itself when it fits in ``limit`` bytes; else the event with its text
    cut short, or (when that is not enough) only its ids and a note."""
    if len(line) <= limit:
        return line
    event = M.decode(line)
    text = event.get("text")
    if isinstance(text, str):
        event["text"] = f"{text[: limit // 16]} [cut to fit a frame: {len(text)} characters]"
        line = M.encode(event)
        if len(line) <= limit:
            return line
    kept = {key: event[key] for key in _KEPT if key in event}
    note = f"this {event.get('type')} event was too large to send ({len(line)} bytes)"
    error = event.get("error")
    kept["error"] = f"{error[:2000]} [{note}]" if isinstance(error, str) else note
    return M.encode(kept)


class WorkerLink:
    """Keeps a worker connected to the hub and its outbox flowing; thread-safe to control."""

    def __init__(
        self,
        hub: HubInfo,
        outbox: Outbox,
        hello: dict[str, Any] | Callable[[], dict[str, Any]],
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
        self._sent = 0  # the highest seq this connection carried
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
        hello = self.hello() if callable(self.hello) else self.hello
        await ws.write_message(M.encode(hello))
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
        if isinstance(message, dict) and message.get("type") == M.ERROR:
            self.socket.last_error = f"the hub refused the hello: {message.get('error')}"
            detail = message.get("detail")
            if isinstance(detail, dict) and detail.get("reason") == OTHER_CREDENTIAL:
                # this worker's identity belongs to the credential it first used: go on as a
                # new one (its unsent events follow; the hub refuses those of leases it
                # does not hold, and says so)
                log.warning("the hub knows this worker under another credential: new identity")
                self.outbox.new_session()
            return False
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
        """Send what this connection has not carried yet, strictly in seq order."""
        self._wake = wake = asyncio.Event()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), self.flush_interval)
            wake.clear()
            ws = self.socket.ws
            if ws is not None and self.connected:
                if self._resend:
                    self._sent = self.outbox.acked_seq
                    self._resend = False
                try:
                    while batch := self.outbox.after(self._sent, MAX_EVENTS_PER_FRAME):
                        for frame, last in event_frames(batch):
                            await ws.write_message(frame)
                            self._sent = last
                except Exception as exc:
                    log.debug("send failed (%s); resending after reconnect", exc)
                    self._resend = True
            if self.socket.stopping:
                return
