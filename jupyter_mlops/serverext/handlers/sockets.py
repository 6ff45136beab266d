"""Websocket adapters: the worker link (Jupyter's auth or a worker token) and the events feed
(Jupyter's auth)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web, websocket

from jupyter_mlops.messages import ERROR, EVENTS, HELLO, WORKER_TO_HUB, MessageError, encode, parse
from jupyter_mlops.serverext.errors import Forbidden, MLOpsError
from jupyter_mlops.serverext.handlers.base import (
    AUTH_RESOURCE,
    WORKER_SCOPE,
    Context,
    Credential,
    scoped,
)

#: Worker links: tornado pings every 15 s and closes a link whose pong is 10 s late (then waits
#: 5 s for the closing handshake), so a frozen worker loses its link 15 to 30 s after it froze.
WORKER_PING_INTERVAL = 15.0
WORKER_PING_TIMEOUT = 10.0
#: Subscribers (browsers): a keep-alive every 30 s; a dead one is dropped in about a minute.
EVENTS_PING_INTERVAL = 30.0
EVENTS_PING_TIMEOUT = 30.0
#: Frame limits of our own sockets (tornado's setting for the whole server is left to the
#: demo page's needs): a worker's frames stay under 1 MiB (its sender splits them by bytes),
#: subscribers send nothing.
WORKER_MAX_MESSAGE_BYTES = 8 << 20
EVENTS_MAX_MESSAGE_BYTES = 4 << 10
#: Close code of a subscriber dropped for leaving too much unread (4000-4999: application's).
SLOW_SUBSCRIBER_CODE = 4008


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
    credential: Credential | None = None

    ping_defaults = (WORKER_PING_INTERVAL, WORKER_PING_TIMEOUT)
    max_message_size = WORKER_MAX_MESSAGE_BYTES

    @scoped(WORKER_SCOPE)
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Open the link with the Jupyter credential or a worker token (checked first)."""
        result = websocket.WebSocketHandler.get(self, *args, **kwargs)
        if result is not None:
            await result

    def on_message(self, frame: str | bytes) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return  # closed by the hub (its token was revoked): nothing more is taken
        try:
            message = parse(frame, WORKER_TO_HUB)
            if message["type"] == HELLO:
                if self.worker_id is not None:
                    raise MessageError("hello was already received on this link")
                assert self.credential is not None  # checked before the upgrade
                try:
                    self.worker_id = self.ctx.hub.connect_worker(
                        self, message, token_id=self.credential.token_id
                    )
                except Forbidden as exc:  # another credential's worker: nothing to do here
                    self._answer_error(str(exc), exc.detail)
                    self.close(4403, "refused")
                    return
            elif message["type"] == EVENTS:
                if self.worker_id is None:
                    raise MessageError("send hello before events")
                events = message.get("events")
                if not isinstance(events, list):
                    raise MessageError("events must be a list")
                try:
                    self.ctx.hub.worker_events(self.worker_id, self, events)
                except Exception as exc:
                    self._events_not_stored(exc)
        except (MessageError, MLOpsError) as exc:
            self._answer_error(str(exc), getattr(exc, "detail", None))
        except Exception:  # a frame the checks missed must not cost the worker its link
            self.log.exception("jupyter_mlops: a worker frame could not be handled")
            self._answer_error("the hub could not handle this frame; the server log has why")

    def _events_not_stored(self, exc: Exception) -> None:
        """A batch could not be stored (a full disk, a failing store): nothing after it may be
        stored either, or its events would be skipped for good. Close the link: the worker
        reconnects (with its backoff) and resends from the hub's last stored seq."""
        if isinstance(exc, MLOpsError):
            self.log.error("jupyter_mlops: worker events not stored: %s", exc.message)
            self._answer_error(f"events not stored: {exc.message}", exc.detail)
        else:
            self.log.exception("jupyter_mlops: worker events not stored")
            self._answer_error("events not stored: the server log has why")
        self.close(1011, "events not stored; resend after reconnecting")

    def _answer_error(self, error: str, detail: Any = None) -> None:
        """Tell the worker what was wrong with its frame; the link stays open."""
        with contextlib.suppress(websocket.WebSocketClosedError):
            self.send({"type": ERROR, "error": error, "detail": detail})

    def on_close(self) -> None:
        if self.worker_id is not None:
            self.ctx.hub.disconnect_worker(self.worker_id, self)


class EventsSocket(_Socket):
    """``/ws/events``: every state change pushed to subscribers (REST stays the truth).

    Each subscriber may leave at most ``Context.max_subscriber_bytes`` of notifications
    unwritten (tornado buffers what the network does not take yet); past that it is closed
    with code 4008 and a reason, and catches up over REST when it reconnects, as every
    subscriber does after a reconnect.
    """

    #: Subscribers send nothing; anything larger than this closes the socket.
    max_message_size = EVENTS_MAX_MESSAGE_BYTES
    unwritten = 0  # bytes handed to tornado and not yet written to the network
    dropped = False

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.ctx.hub.subscribe(self._notify)

    def _notify(self, frame: str) -> None:
        if self.dropped:
            return
        size = len(frame)  # frames are ASCII (messages.encode escapes the rest): bytes
        if self.unwritten + size > self.ctx.max_subscriber_bytes:
            self._drop()
            return
        self.unwritten += size
        self.write_message(frame).add_done_callback(functools.partial(self._written, size))

    def _written(self, size: int, future: asyncio.Future[None]) -> None:
        self.unwritten -= size
        if not future.cancelled():
            future.exception()  # a socket closed meanwhile: nothing left to report

    def _drop(self) -> None:
        """Too much unread: stop sending and close; the subscriber re-reads over REST."""
        self.dropped = True
        self.ctx.hub.unsubscribe(self._notify)
        self.log.warning(
            "jupyter_mlops: an events subscriber left %d bytes unread; disconnecting it",
            self.unwritten,
        )
        self.close(SLOW_SUBSCRIBER_CODE, "too slow: notifications left unread; catch up over REST")

    def on_message(self, frame: str | bytes) -> None:
        """Subscribers have nothing to say; frames are ignored."""

    def on_close(self) -> None:
        self.ctx.hub.unsubscribe(self._notify)
