"""Websocket adapters: the worker link and the events feed, both behind Jupyter's auth."""

from __future__ import annotations

from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web, websocket

from jupyter_mlops.messages import ERROR, EVENTS, HELLO, WORKER_TO_HUB, MessageError, encode, parse
from jupyter_mlops.serverext.errors import MLOpsError
from jupyter_mlops.serverext.handlers.base import AUTH_RESOURCE, Context


class _Socket(WebSocketMixin, JupyterHandler, websocket.WebSocketHandler):  # type: ignore[misc]
    auth_resource = AUTH_RESOURCE

    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx

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

    @property
    def ping_interval(self) -> int:
        """Ping workers every 10 s (in ms; ``ws_ping_interval`` in ServerApp.tornado_settings
        overrides), so a frozen worker loses its link in about 30 s."""
        configured = self.settings.get("ws_ping_interval")  # ServerApp.tornado_settings
        return int(self.settings.get("mlops_worker_ping_interval", configured or 10_000))

    @property
    def ping_timeout(self) -> int:
        configured = self.settings.get("ws_ping_timeout")
        return int(
            self.settings.get("mlops_worker_ping_timeout", configured or 3 * self.ping_interval)
        )

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
