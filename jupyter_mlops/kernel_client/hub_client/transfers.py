"""Streamed file transfers with retries: model files and checkpoints, up and down.

Files are streamed from and to disk, never held whole in memory. Transient failures
(hub unreachable, 5xx) are retried with backoff; refusals are raised at once, a lost lease
as :class:`~.errors.LeaseLost`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.hub_client.http import call
from jupyter_mlops.kernel_client.hub_client.info import HubInfo
from jupyter_mlops.kernel_client.hub_client.retry import Backoff, retry


def upload_file(
    hub: HubInfo,
    route: str,
    path: Path,
    query: dict[str, Any],
    *,
    what: str,
    content_type: str = "application/octet-stream",
    attempts: int | None = 12,
    backoff: Backoff = Backoff(1.0, 30.0),
    abort: threading.Event | None = None,
    note: Callable[[str], None] | None = None,
) -> Any:
    """PUT ``path`` to ``route`` (streamed), retrying transient failures; return the answer."""
    timeout = max(60.0, path.stat().st_size / 1e6)
    return retry(
        lambda: call(
            hub,
            "PUT",
            route,
            query=query,
            upload=path,
            content_type=content_type,
            timeout=timeout,
        ),
        what,
        attempts=attempts,
        backoff=backoff,
        abort=abort,
        note=note,
    )


def download_file(
    hub: HubInfo,
    route: str,
    dest: Path,
    *,
    what: str,
    attempts: int | None = 5,
    backoff: Backoff = Backoff(0.5, 8.0),
    abort: threading.Event | None = None,
) -> dict[str, str]:
    """GET ``route`` into ``dest`` (streamed), retrying transient failures; return headers."""
    return retry(
        lambda: call(hub, "GET", route, download_to=dest, timeout=300.0),
        what,
        attempts=attempts,
        backoff=backoff,
        abort=abort,
    )
