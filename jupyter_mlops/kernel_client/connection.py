"""The worker's websocket link to the hub, in its own thread with its own asyncio loop.

One task connects (``Authorization: token``), says ``hello``, waits for ``welcome`` and reads
``ack``/``job``/``cancel``; on any failure it reconnects with capped exponential backoff. One
sender task moves queued events from the :class:`~.outbox.Outbox` to disk every
``flush_interval`` seconds and sends them as one ``events`` frame, strictly in seq order;
after each ``welcome`` it first resends every event the hub has not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from jupyter_mlops.kernel_client.discovery import HubInfo
from jupyter_mlops.kernel_client.outbox import Outbox

log = logging.getLogger(__name__)

MAX_EVENTS_PER_FRAME = 1000


class HubConnection:
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
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.welcome_timeout = welcome_timeout
        self.state = "starting"
        self.last_error: str | None = None
        self.connects = 0
        self.worker_id: int | None = None
        self.name: str | None = None
        self.welcomed = threading.Event()
        self._ws: WebSocketClientConnection | None = None
        self._ready = False
        self._resend = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlops-hub-link", daemon=True)
        outbox.on_urgent = self.wake

    # -- control from other threads -----------------------------------------------------------

    def start(self) -> None:
        """Start the link thread; returns at once (connecting goes on in the background)."""
        self._thread.start()
        self._started.wait(5)

    def wake(self) -> None:
        """Ask the sender to send now rather than at its next tick."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop just closed
                loop.call_soon_threadsafe(wake.set)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event emitted so far is acked; False when ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        target = self.outbox.last_seq
        self.wake()
        while self.outbox.acked_seq < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Close the link and end the thread; unacked events stay in the outbox file."""
        self._stopping = True
        self.wake()
        ws = self._ws
        if ws is not None and self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(ws.close)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self.state = "stopped"

    @property
    def connected(self) -> bool:
        """True while the link is open and welcomed."""
        return self._ready

    # -- the loop thread ----------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except Exception:
            log.exception("the hub link stopped on an error")
        finally:
            self._ready = False
            loop.close()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._started.set()
        sender = asyncio.create_task(self._sender())
        attempt = 0
        while not self._stopping:
            welcomed = await self._session()
            if self._stopping:
                break
            attempt = 0 if welcomed else attempt + 1
            delay = min(self.backoff_max, self.backoff_initial * 2 ** min(attempt, 16))
            delay *= random.uniform(0.8, 1.2)
            self.state = "reconnecting"
            log.info("hub link down (%s); reconnecting in %.1f s", self.last_error, delay)
            await self._sleep_or_wake(delay)
        self._stopping = True
        self._wake.set()
        await sender

    async def _sleep_or_wake(self, delay: float) -> None:
        assert self._wake is not None
        deadline = time.monotonic() + delay
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, delay))

    async def _session(self) -> bool:
        """One connection's life; returns whether it got as far as ``welcome``."""
        self.state = "connecting"
        request = HTTPRequest(
            self.hub.ws_url, headers=self.hub.headers(), connect_timeout=10, request_timeout=20
        )
        try:
            ws = await websocket_connect(request, ping_interval=15, ping_timeout=15)
        except HTTPClientError as exc:
            if exc.code in (401, 403):
                self.last_error = f"the hub refused the token (HTTP {exc.code})"
            else:
                self.last_error = f"HTTP {exc.code} from {self.hub.ws_url}"
            return False
        except Exception as exc:
            self.last_error = f"cannot connect to {self.hub.url}: {exc}"
            return False
        self._ws = ws
        self.connects += 1
        welcomed = False
        try:
            await ws.write_message(json.dumps(self.hello))
            self.state = "waiting for welcome"
            msg = await asyncio.wait_for(ws.read_message(), self.welcome_timeout)
            if msg is None:
                self.last_error = f"the hub closed the link: {ws.close_reason or ws.close_code}"
                return False
            if not self._handle(msg):
                self.last_error = f"expected welcome, got {str(msg)[:200]}"
                return False
            welcomed = True
            while not self._stopping:
                msg = await ws.read_message()
                if msg is None:
                    self.last_error = f"the hub closed the link ({ws.close_code or 'no code'})"
                    break
                self._handle(msg)
        except asyncio.TimeoutError:
            self.last_error = "the hub sent no welcome"
        except Exception as exc:
            self.last_error = f"link error: {exc}"
        finally:
            self._ready = False
            self._ws = None
            ws.close()
        return welcomed

    def _handle(self, raw: str | bytes) -> bool:
        """Handle one hub frame; returns True for a welcome."""
        try:
            msg = json.loads(raw)
            kind = msg["type"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed frame from the hub")
            return False
        if kind == "welcome":
            self.worker_id = msg.get("worker_id")
            self.name = msg.get("name")
            self.outbox.ack(int(msg.get("last_seq") or 0))
            self._resend = True
            self._ready = True
            self.state = "connected"
            self.last_error = None
            self.welcomed.set()
            self.wake()
        elif kind == "ack":
            self.outbox.ack(int(msg["seq"]))
        elif kind == "error":
            log.warning("the hub reported an error: %s %s", msg.get("error"), msg.get("detail"))
        try:
            self.on_message(msg)
        except Exception:
            log.exception("handling a %s message failed", kind)
        return kind == "welcome"

    async def _sender(self) -> None:
        """Drain the outbox to disk every tick and send, strictly in seq order."""
        assert self._wake is not None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            fresh = self.outbox.drain()
            ws = self._ws
            if ws is not None and self._ready:
                batch = self.outbox.unacked() if self._resend else fresh
                self._resend = False
                try:
                    for i in range(0, len(batch), MAX_EVENTS_PER_FRAME):
                        chunk = batch[i : i + MAX_EVENTS_PER_FRAME]
                        frame = {"type": "events", "events": chunk}
                        await ws.write_message(json.dumps(frame, separators=(",", ":")))
                except (WebSocketClosedError, Exception) as exc:
                    log.debug("send failed (%s); resending after reconnect", exc)
                    self._ready = False
            if self._stopping:
                return
