"""Find the hub: explicit URL and token, environment variables, or the server that started us.

Order: an explicit URL (``%mlops connect URL``); then ``JUPYTER_MLOPS_URL`` and
``JUPYTER_MLOPS_TOKEN``; then the running Jupyter server whose process is this kernel's
parent (its server info file holds URL and token). Every candidate is checked with
``GET {url}mlops/api/credential`` (which any valid credential may call: the Jupyter token or a
scoped ``worker``/``predict`` token) before it is used, and each failure says what to fix.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.hub_client.errors import (
    HubAuthError,
    HubError,
    HubNotFound,
    HubRequestError,
    HubUnreachable,
)
from jupyter_mlops.kernel_client.hub_client.http import call
from jupyter_mlops.kernel_client.hub_client.info import HubInfo
from jupyter_mlops.messages import API_PREFIX

log = logging.getLogger(__name__)

URL_ENV = "JUPYTER_MLOPS_URL"
TOKEN_ENV = "JUPYTER_MLOPS_TOKEN"


def check_hub(hub: HubInfo, timeout: float = 5.0) -> HubInfo:
    """Check that the hub takes this token (``GET credential``); raise a HubError if not."""
    try:
        call(hub, "GET", "credential", timeout=timeout)
    except HubUnreachable as exc:
        raise HubUnreachable(
            f"{exc}. Is the Jupyter server running, and is the URL right (scheme, host, port, "
            "base URL)?"
        ) from exc
    except HubAuthError as exc:
        raise HubAuthError(
            exc.status,
            f"the hub at {hub.url} refused the token (HTTP {exc.status}: {exc.error}). For a "
            "remote worker, create a worker token in the MLOps panel (Add a remote worker) and "
            f"set {TOKEN_ENV} to it, then: %mlops connect URL",
        ) from None
    except HubRequestError as exc:
        if exc.status == 404:
            raise HubNotFound(
                f"{hub.url} answers but has no jupyter-mlops API (404 at {API_PREFIX}/credential): "
                "enable the server extension (jupyter server extension enable jupyter_mlops)"
            ) from None
        raise HubError(
            f"the hub at {hub.url} answered {exc} to GET {API_PREFIX}/credential"
        ) from None
    return hub


def running_servers() -> list[dict[str, Any]]:
    """This user's running Jupyter servers: the server info files that ``jupyter server list``
    reads (``jpserver-*.json`` in the runtime folder) of processes still alive.

    Read directly, as ``jupyter_server.serverapp.list_running_servers`` does, without importing
    the server (seconds of start-up for a command line or a kernel).
    """
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return []
    found = []
    for path in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text())
            os.kill(int(info["pid"]), 0)
        except PermissionError:  # alive, another user's
            continue
        except (OSError, ValueError, KeyError, TypeError):  # gone, unreadable, half written
            continue
        if isinstance(info, dict) and info.get("url"):
            found.append(info)
    return found


def _parent_server() -> HubInfo | None:
    """The running Jupyter server that is this process's parent, if any."""
    ppid = os.getppid()
    for info in running_servers():
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
                f"with the extension and {URL_ENV} is not set. Use: %mlops connect URL"
            )
        hub = found if token is None else HubInfo(found.url, token, source=found.source)
    log.debug("hub candidate %s from %s", hub.url, hub.source)
    return check_hub(hub) if check else hub
