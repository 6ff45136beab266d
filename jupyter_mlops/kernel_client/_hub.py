"""A small client of the hub for the demo and the ipywidgets panel: REST calls and events.

The hub is found by :func:`~.discovery.discover` (arguments, environment, parent server).
``EventStream`` follows ``/mlops/api/ws/events`` in a daemon thread and reconnects with
backoff; after every (re)connect it calls ``on_connect`` so the caller re-reads REST (the
truth) before applying live messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from jupyter_mlops.kernel_client.discovery import HubError, HubNotFound, discover

__all__ = ["EventStream", "HubClient", "HubError", "HubNotFound", "HubRequestError"]

log = logging.getLogger(__name__)

API_PREFIX = "/mlops/api"


class HubRequestError(HubError):
    """The hub answered with an error status (or could not be reached)."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"{status}: {error}" if status else error)
        self.status = status
        self.error = error
        self.detail = detail


class HubClient:
    """Blocking REST calls to ``<server>/mlops/api`` with Jupyter token auth."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 15.0):
        hub = discover(url, token, check=False)  # the hub may be down now: we reconnect
        self.server_url, self.token = hub.url, hub.token
        self.api_url = self.server_url.rstrip("/") + API_PREFIX
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the token
        return f"HubClient({self.server_url!r})"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def _open(self, method: str, path: str, body: bytes | None, content_type: str) -> Any:
        request = urllib.request.Request(
            self.api_url + path, data=body, method=method, headers=self._headers()
        )
        if body is not None:
            request.add_header("Content-Type", content_type)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
                raise HubRequestError(
                    exc.code, payload.get("error", exc.reason), payload.get("detail")
                )
            except (ValueError, AttributeError):
                raise HubRequestError(exc.code, str(exc.reason)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise HubRequestError(0, f"cannot reach the hub at {self.server_url}: {exc}") from exc

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send a JSON request and return the decoded JSON answer; raise HubError on 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        with self._open(method, path, data, "application/json") as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def download(self, path: str) -> bytes:
        """GET a binary resource (a model file)."""
        with self._open("GET", path, None, "") as response:
            return response.read()

    def websocket_url(self, path: str) -> str:
        """The ws(s):// URL of an API websocket."""
        parts = urllib.parse.urlsplit(self.api_url + path)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


class EventStream:
    """Follow ``/mlops/api/ws/events`` in a daemon thread; reconnect with exponential backoff.

    ``on_connect()`` runs after each (re)connect, before live messages are delivered;
    ``on_message(msg)`` runs for each message; ``on_status(connected, text)`` on every change.
    All callbacks run in the stream's thread; an exception in one is logged, never fatal.
    """

    def __init__(
        self,
        client: HubClient,
        on_message: Callable[[dict[str, Any]], None],
        on_connect: Callable[[], None] | None = None,
        on_status: Callable[[bool, str], None] | None = None,
        min_backoff: float = 0.25,
        max_backoff: float = 10.0,
    ) -> None:
        self.client = client
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_status = on_status
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: Any = None

    def start(self) -> EventStream:
        """Start following (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._main, name="mlops-events", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following and close the socket."""
        self._stop.set()
        loop, ws = self._loop, self._ws
        if loop is not None and ws is not None and not loop.is_closed():
            loop.call_soon_threadsafe(ws.close)
        if self._thread is not None:
            self._thread.join(timeout)

    def _call(self, name: str, *args: Any) -> None:
        callback = getattr(self, name)
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            log.exception("events %s callback failed", name)

    def _status(self, connected: bool, text: str) -> None:
        if connected:
            self.connected.set()
        else:
            self.connected.clear()
        self._call("on_status", connected, text)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()

    async def _sleep(self, seconds: float) -> None:
        end = asyncio.get_running_loop().time() + seconds
        while not self._stop.is_set() and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(min(0.1, seconds))

    async def _run(self) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        backoff = self.min_backoff
        url = self.client.websocket_url("/ws/events")
        while not self._stop.is_set():
            self._status(False, "connecting")
            try:
                request = HTTPRequest(url, headers=self.client._headers(), request_timeout=10)
                self._ws = await websocket_connect(request, ping_interval=10, ping_timeout=10)
            except Exception as exc:
                log.info("events websocket: cannot connect (%s); retry in %.1fs", exc, backoff)
                self._status(False, f"reconnecting in {backoff:.0f}s")
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.min_backoff
            self._call("on_connect")  # catch up over REST first: "live" means up to date
            self._status(True, "live")
            while not self._stop.is_set():
                text = await self._ws.read_message()
                if text is None:
                    break
                try:
                    message = json.loads(text)
                except ValueError:
                    log.warning("events websocket: ignoring a frame that is not JSON")
                    continue
                if isinstance(message, dict):
                    self._call("on_message", message)
            self._ws.close()
            self._ws = None
            if not self._stop.is_set():
                log.info("events websocket closed; reconnecting")
                self._status(False, "connection lost, reconnecting")
                await self._sleep(self.min_backoff)
        self._status(False, "stopped")
