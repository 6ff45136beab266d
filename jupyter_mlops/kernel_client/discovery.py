"""Find the hub: explicit URL and token, environment variables, or the server that started us.

Order: an explicit URL (``%mlops connect URL --token T``); then ``JUPYTER_MLOPS_URL`` and
``JUPYTER_MLOPS_TOKEN``; then the running Jupyter server whose process is this kernel's
parent (its server info file holds URL and token). Every candidate is checked with
``GET {url}mlops/api/workers`` before it is used, and each failure says what to fix.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

URL_ENV = "JUPYTER_MLOPS_URL"
TOKEN_ENV = "JUPYTER_MLOPS_TOKEN"
API_PREFIX = "mlops/api"


class HubError(RuntimeError):
    """The hub could not be used; the message says why and what to do."""


class HubNotFound(HubError):
    """No hub URL is known."""


class HubUnreachable(HubError):
    """Nothing answers at the hub URL."""


class HubAuthError(HubError):
    """The hub refused the token."""


@dataclass(frozen=True)
class HubInfo:
    """Where the hub is and how to authenticate; ``source`` says how it was found."""

    url: str
    token: str = ""
    source: str = "explicit"

    def __post_init__(self) -> None:
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")

    def api_url(self, path: str) -> str:
        """The absolute URL of an API path such as ``workers`` or ``models/7-0/file``."""
        return f"{self.url}{API_PREFIX}/{path.lstrip('/')}"

    @property
    def ws_url(self) -> str:
        """The worker websocket URL."""
        base = self.api_url("ws/worker")
        return "ws" + base[4:] if base.startswith("http") else base

    def headers(self) -> dict[str, str]:
        """Request headers carrying the token (never log them)."""
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        hidden = "***" if self.token else ""
        return f"HubInfo(url={self.url!r}, token={hidden!r}, source={self.source!r})"


def request_json(
    hub: HubInfo, method: str, path: str, body: Any = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """Send one JSON request to the API; return (status, decoded body). Raises URLError."""
    data = None if body is None else json.dumps(body).encode()
    headers = {**hub.headers(), "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(hub.api_url(path), data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def check_hub(hub: HubInfo, timeout: float = 5.0) -> HubInfo:
    """Check that the hub answers ``GET workers`` with this token; raise a HubError if not."""
    try:
        status, _ = request_json(hub, "GET", "workers", timeout=timeout)
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubUnreachable(
            f"cannot reach the jupyter-mlops hub at {hub.url} ({reason}). Is the Jupyter server "
            "running, and is the URL right (scheme, host, port, base URL)?"
        ) from exc
    if status in (401, 403):
        raise HubAuthError(
            f"the hub at {hub.url} refused the token (HTTP {status}). Copy the token from the "
            "server's start-up log or `jupyter server list`, then: %mlops connect URL --token TOKEN"
        )
    if status == 404:
        raise HubNotFound(
            f"{hub.url} answers but has no jupyter-mlops API (404 at /{API_PREFIX}/workers): "
            "enable the server extension (jupyter server extension enable jupyter_mlops)"
        )
    if status != 200:
        raise HubError(f"the hub at {hub.url} answered HTTP {status} to GET /{API_PREFIX}/workers")
    return hub


def _parent_server() -> HubInfo | None:
    """The running Jupyter server that is this process's parent, if any."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return None
    ppid = os.getppid()
    for info in list_running_servers():
        if info.get("pid") == ppid:
            return HubInfo(info["url"], info.get("token", ""), source="parent server")
    return None


def discover(url: str | None = None, token: str | None = None, check: bool = True) -> HubInfo:
    """Return the hub to use (checked unless ``check`` is false); raise a HubError if none."""
    if url:
        hub = HubInfo(url, token if token is not None else os.environ.get(TOKEN_ENV, ""))
    elif os.environ.get(URL_ENV):
        hub = HubInfo(os.environ[URL_ENV], token or os.environ.get(TOKEN_ENV, ""), source="env")
    else:
        found = _parent_server()
        if found is None:
            raise HubNotFound(
                "no jupyter-mlops hub found: this kernel was not started by a Jupyter server "
                f"with the extension and {URL_ENV} is not set. "
                "Use: %mlops connect URL --token TOKEN"
            )
        hub = found if token is None else HubInfo(found.url, token, source=found.source)
    log.debug("hub candidate %s from %s", hub.url, hub.source)
    return check_hub(hub) if check else hub
