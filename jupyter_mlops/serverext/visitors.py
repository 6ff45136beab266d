"""Shut down the kernels of Voilà page visitors soon after their page is closed.

In-server Voilà starts a kernel per page view and keeps it after the page closes. This
reaper looks only at kernels Voilà started (their environment names Voilà as the server
software); a user's own notebook kernels are never touched. A visitor kernel is shut down
once no browser has been connected to it for ``grace`` seconds, or when no page ever
connected to it within ``start_timeout`` seconds. Connections are noted as they happen (the
kernel manager's connect/disconnect notifications), so even a page open for a moment counts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from jupyter_core.utils import ensure_async


def is_visitor_kernel(kernel: Any) -> bool:
    """Whether Voilà started this kernel for a page view (``SERVER_SOFTWARE=voila/...``)."""
    launch = getattr(kernel, "_launch_args", None) or {}
    env = launch.get("env") or {}
    return str(env.get("SERVER_SOFTWARE", "")).startswith("voila/")


class VisitorReaper:
    """Checks the server's kernels now and then; see the module docstring."""

    def __init__(
        self,
        kernel_manager: Any,
        *,
        grace: float,
        start_timeout: float = 120.0,
        log: logging.Logger | None = None,
    ) -> None:
        self.kernel_manager = kernel_manager
        self.grace = grace
        self.start_timeout = start_timeout
        self.log = log or logging.getLogger(__name__)
        self._first_seen: dict[str, float] = {}
        self._last_connected: dict[str, float] = {}
        self.reaped: list[str] = []
        for name in ("notify_connect", "notify_disconnect"):
            self._note_calls(name)

    def _note_calls(self, name: str) -> None:
        """Note the time of every (dis)connection the kernel manager is told about."""
        original = getattr(self.kernel_manager, name, None)
        if original is None:
            return

        def noted(kernel_id: str) -> Any:
            self._last_connected[kernel_id] = time.monotonic()
            return original(kernel_id)

        setattr(self.kernel_manager, name, noted)

    async def check(self, now: float | None = None) -> list[str]:
        """Shut down the visitor kernels whose page is gone; return their ids."""
        now = time.monotonic() if now is None else now
        gone = []
        kernel_ids = list(self.kernel_manager.list_kernel_ids())
        for kernel_id in kernel_ids:
            try:
                kernel = self.kernel_manager.get_kernel(kernel_id)
                model = self.kernel_manager.kernel_model(kernel_id)
            except KeyError:
                continue  # shut down meanwhile
            if not is_visitor_kernel(kernel):
                continue
            first = self._first_seen.setdefault(kernel_id, now)
            if model.get("connections", 0):
                self._last_connected[kernel_id] = now
                continue
            last = self._last_connected.get(kernel_id)
            idle = now - last if last is not None else None
            if (idle is not None and idle >= self.grace) or (
                idle is None and now - first >= self.start_timeout
            ):
                gone.append(kernel_id)
        for kernel_id in gone:
            self.log.info("jupyter_mlops: shutting down kernel %s: its page is closed", kernel_id)
            await ensure_async(self.kernel_manager.shutdown_kernel(kernel_id))
            self.reaped.append(kernel_id)
        for kernel_id in set(self._first_seen) - set(kernel_ids) | set(gone):
            self._first_seen.pop(kernel_id, None)
            self._last_connected.pop(kernel_id, None)
        return gone
