"""Streamed file transfers with retries: model files and checkpoints, up and down.

Files are streamed from and to disk, never held whole in memory. Transient failures
(hub unreachable, 5xx) are retried with backoff; refusals are raised at once, a lost lease
as :class:`~.errors.LeaseLost`. Socket timeouts are short (a silent network fails an attempt
in seconds, not minutes); a large file gets more time in proportion to its size.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.hub_client.http import call
from jupyter_mlops.kernel_client.hub_client.info import HubInfo
from jupyter_mlops.kernel_client.hub_client.retry import Backoff, retry

#: Seconds a transfer may wait on a silent socket (connect, or one read or write), plus
#: one second per ``SLOW_BYTES_PER_SECOND`` of the file.
SOCKET_TIMEOUT = 20.0
SLOW_BYTES_PER_SECOND = 2_000_000


def transfer_timeout(size: int) -> float:
    """The socket timeout for a transfer of ``size`` bytes."""
    return SOCKET_TIMEOUT + size / SLOW_BYTES_PER_SECOND


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
    wake: threading.Event | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """PUT ``path`` to ``route`` (streamed), retrying transient failures; return the answer.

    ``attempts=None`` retries for as long as it takes; setting ``wake`` retries at once.
    """
    timeout = transfer_timeout(path.stat().st_size)
    return retry(
        lambda: call(
            hub,
            "PUT",
            route,
            query=query,
            upload=path,
            content_type=content_type,
            timeout=timeout,
            headers=headers,
        ),
        what,
        attempts=attempts,
        backoff=backoff,
        abort=abort,
        note=note,
        wake=wake,
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
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """GET ``route`` into ``dest`` (streamed), retrying transient failures; return headers."""
    return retry(
        lambda: call(
            hub,
            "GET",
            route,
            query=query,
            download_to=dest,
            timeout=SOCKET_TIMEOUT,
            headers=headers,
        ),
        what,
        attempts=attempts,
        backoff=backoff,
        abort=abort,
    )
