"""The one reconnecting websocket to the hub, in its own thread with its own asyncio loop.

Both the worker link (``/ws/worker``) and the events follower (``/ws/events``) use it. It
connects with the hub's credentials, runs the caller's ``handshake`` (say hello, catch up
over REST, ...), then hands every JSON message to ``on_message``; after any failure it
reconnects with :class:`~.retry.Backoff`. A refusal of the credentials (HTTP 401/403) is
final: retrying cannot fix it, so the state becomes ``refused`` and the reason is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_mlops.kernel_client.hub_client.info import HubInfo
from jupyter_mlops.kernel_client.hub_client.retry import Backoff

log = logging.getLogger(__name__)

Handshake = Callable[[WebSocketClientConnection], Awaitable[bool]]
StateListener = Callable[[str, "str | None"], None]

#: Connection states, in the order they usually happen.
STATES = ("starting", "connecting", "handshake", "connected", "reconnecting", "refused", "stopped")


class ReconnectingWebSocket:
    """Keeps one websocket to ``path`` open; thread-safe to start, stop and wake.

    ``handshake(ws)`` runs after each connect, in the loop; returning False (or raising)
    drops the connection and retries. ``background()`` is an optional coroutine that runs
    for the whole life of the loop (the worker's sender). ``on_state(state, error)`` hears
    every state change; all callbacks run in the socket's thread and must not block long.
    """

    def __init__(
        self,
        hub: HubInfo,
        path: str,
        *,
        on_message: Callable[[dict[str, Any]], None],
        handshake: Handshake | None = None,
        background: Callable[[], Coroutine[Any, Any, None]] | None = None,
        on_state: StateListener | None = None,
        backoff: Backoff = Backoff(0.5, 10.0),
        ping_interval: float = 15.0,
        ping_timeout: float = 15.0,
        name: str = "mlops-websocket",
    ) -> None:
        self.hub = hub
        self.url = hub.ws_url(path)
        self.on_message = on_message
        self.handshake = handshake
        self.background = background
        self.on_state = on_state
        self.backoff = backoff
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.state = "starting"
        self.last_error: str | None = None
        self.connects = 0
        self.connected = threading.Event()
        self.ws: WebSocketClientConnection | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- control from any thread --------------------------------------------------------------

    def start(self) -> ReconnectingWebSocket:
        """Start the thread; returns at once (connecting goes on in the background)."""
        if not self._thread.is_alive():
            self._thread.start()
            self._started.wait(5)
        return self

    def call_soon(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` in the socket's loop (no-op once the loop is closed)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop just closed
                loop.call_soon_threadsafe(callback)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the socket and end the thread."""
        self._stopping = True
        self.call_soon(self._interrupt)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._set_state("stopped")

    @property
    def alive(self) -> bool:
        """Whether the thread still runs (it ends on stop or on a refusal)."""
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- the loop thread ----------------------------------------------------------------------

    def _interrupt(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()
        if self.ws is not None:
            self.ws.close()

    def _set_state(self, state: str, error: str | None = None) -> None:
        if error is not None:
            self.last_error = error
        if state == "connected":
            self.last_error = None
            self.connected.set()
        else:
            self.connected.clear()
        if state == self.state and error is None:
            return
        self.state = state
        if self.on_state is not None:
            try:
                self.on_state(state, self.last_error)
            except Exception:
                log.exception("websocket state listener failed")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        except Exception:
            log.exception("the hub websocket %s stopped on an error", self.url)
        finally:
            self.connected.clear()
            loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._started.set()
        background = asyncio.create_task(self.background()) if self.background else None
        failures = 0
        while not self._stopping and self.state != "refused":
            opened = await self._session()
            if self._stopping or self.state == "refused":
                break
            failures = 0 if opened else failures + 1
            delay = self.backoff.delay(max(failures, 1))
            self._set_state("reconnecting")
            log.info("hub websocket down (%s); reconnecting in %.1f s", self.last_error, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), delay)
        self._stopping = True
        if background is not None:
            await background

    async def _session(self) -> bool:
        """One connection's life; returns whether its handshake succeeded."""
        self._set_state("connecting")
        request = HTTPRequest(
            self.url, headers=self.hub.headers(), connect_timeout=10, request_timeout=20
        )
        try:
            ws = await websocket_connect(
                request, ping_interval=self.ping_interval, ping_timeout=self.ping_timeout
            )
        except HTTPClientError as exc:
            if exc.code in (401, 403):
                self._set_state(
                    "refused",
                    f"the hub refused the credentials (HTTP {exc.code}): check the token",
                )
            else:
                self.last_error = f"HTTP {exc.code} from {self.url}"
            return False
        except Exception as exc:
            self.last_error = f"cannot connect to {self.hub.url}: {exc}"
            return False
        self.ws = ws
        self.connects += 1
        opened = False
        try:
            self._set_state("handshake")
            if self.handshake is not None and not await self.handshake(ws):
                return False
            opened = True
            self._set_state("connected")
            while not self._stopping:
                frame = await ws.read_message()
                if frame is None:
                    self.last_error = f"the hub closed the link ({ws.close_code or 'no code'})"
                    break
                self._dispatch(frame)
        except Exception as exc:
            self.last_error = f"link error: {exc}"
        finally:
            self.ws = None
            self.connected.clear()
            ws.close()
        return opened

    def _dispatch(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            log.warning("ignoring a frame from the hub that is not JSON")
            return
        if not isinstance(message, dict):
            return
        try:
            self.on_message(message)
        except Exception:
            log.exception("handling a %s message failed", message.get("type"))
