"""Websocket adapters: the worker link and the events feed, both behind Jupyter's auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web, websocket

from jupyter_mlops.messages import ERROR, EVENTS, HELLO, WORKER_TO_HUB, MessageError, encode, parse
from jupyter_mlops.serverext.errors import MLOpsError
from jupyter_mlops.serverext.handlers.base import AUTH_RESOURCE, Context

#: Worker links: tornado pings every 15 s and closes a link whose pong is 10 s late (then waits
#: 5 s for the closing handshake), so a frozen worker loses its link 15 to 30 s after it froze.
WORKER_PING_INTERVAL = 15.0
WORKER_PING_TIMEOUT = 10.0
#: Subscribers (browsers): a keep-alive every 30 s; a dead one is dropped in about a minute.
EVENTS_PING_INTERVAL = 30.0
EVENTS_PING_TIMEOUT = 30.0


def ping_settings(
    settings: Mapping[str, Any], defaults: tuple[float, float]
) -> tuple[float, float]:
    """(interval, timeout) in seconds for tornado's pings, which need 0 <= timeout <= interval.

    Tornado pings every ``interval`` and closes the link when a pong is ``timeout`` late.
    jupyter_server's keys in ``ServerApp.tornado_settings``, ``ws_ping_interval`` and
    ``ws_ping_timeout`` (milliseconds; "close after this long without a pong"), override the
    defaults: a given timeout is kept and a shorter interval stretched to it; a given interval
    alone caps the default timeout. An interval of 0 turns pings off.
    """
    interval_ms, timeout_ms = settings.get("ws_ping_interval"), settings.get("ws_ping_timeout")
    interval = defaults[0] if interval_ms is None else interval_ms / 1000
    if interval <= 0:
        return 0.0, 0.0
    if timeout_ms is None:
        return interval, min(defaults[1], interval)
    timeout = timeout_ms / 1000
    return max(interval, timeout), timeout


class _Socket(WebSocketMixin, JupyterHandler, websocket.WebSocketHandler):  # type: ignore[misc]
    """Authenticated JSON socket. Liveness is tornado's ping/pong (seconds): jupyter_server's
    mixin reads the same ``ping_interval``/``ping_timeout`` properties in milliseconds for a
    timer of its own, so ``open`` skips that timer and one ping runs, in one unit."""

    auth_resource = AUTH_RESOURCE
    ping_defaults = (EVENTS_PING_INTERVAL, EVENTS_PING_TIMEOUT)

    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def ping_interval(self) -> float:
        """Seconds between tornado's pings."""
        return ping_settings(self.settings, self.ping_defaults)[0]

    @property
    def ping_timeout(self) -> float:
        """Seconds a pong may take before tornado closes the link (at most the interval)."""
        return ping_settings(self.settings, self.ping_defaults)[1]

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Skip ``WebSocketMixin.open``: its millisecond ping timer would double tornado's."""
        websocket.WebSocketHandler.open(self, *args, **kwargs)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "execute", AUTH_RESOURCE)
        ):
            raise web.HTTPError(403)
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    def send(self, message: dict[str, Any]) -> None:
        """Send one message; raises WebSocketClosedError on a dead socket."""
        self.write_message(encode(message))


class WorkerSocket(_Socket):
    """``/ws/worker``: hello/welcome, then events acked cumulatively; job and cancel pushed."""

    worker_id: int | None = None

    ping_defaults = (WORKER_PING_INTERVAL, WORKER_PING_TIMEOUT)

    def on_message(self, frame: str | bytes) -> None:
        try:
            message = parse(frame, WORKER_TO_HUB)
            if message["type"] == HELLO:
                if self.worker_id is not None:
                    raise MessageError("hello was already received on this link")
                self.worker_id = self.ctx.hub.connect_worker(self, message)
            elif message["type"] == EVENTS:
                if self.worker_id is None:
                    raise MessageError("send hello before events")
                events = message.get("events")
                if not isinstance(events, list):
                    raise MessageError("events must be a list")
                self.ctx.hub.worker_events(self.worker_id, self, events)
        except (MessageError, MLOpsError) as exc:
            self.send({"type": ERROR, "error": str(exc), "detail": getattr(exc, "detail", None)})

    def on_close(self) -> None:
        if self.worker_id is not None:
            self.ctx.hub.disconnect_worker(self.worker_id, self)


class EventsSocket(_Socket):
    """``/ws/events``: every state change pushed to subscribers (REST stays the truth)."""

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.ctx.hub.subscribe(self._notify)

    def _notify(self, frame: str) -> None:
        self.write_message(frame)

    def on_message(self, frame: str | bytes) -> None:
        """Subscribers have nothing to say; frames are ignored."""

    def on_close(self) -> None:
        self.ctx.hub.unsubscribe(self._notify)
