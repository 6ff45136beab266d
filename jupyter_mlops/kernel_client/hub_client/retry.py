"""The one retry helper: capped exponential backoff with jitter, abortable, wakeable."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from jupyter_mlops.kernel_client.hub_client.errors import HubError, is_transient

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays ``initial * factor**n`` capped at ``maximum``, each spread by ±``jitter``."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures (1 = the first)."""
        base = min(self.maximum, self.initial * self.factor ** min(max(failures - 1, 0), 32))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


class Abandoned(HubError):
    """A retried call was given up because its ``abort`` event was set."""


def retry(
    call: Callable[[], T],
    what: str,
    *,
    attempts: int | None = 5,
    backoff: Backoff = Backoff(1.0, 30.0),
    abort: threading.Event | None = None,
    note: Callable[[str], None] | None = None,
    wake: threading.Event | None = None,
) -> T:
    """Run ``call`` until it succeeds; retry transient hub errors (``attempts=None``: forever).

    Refusals (4xx) are raised at once. Between tries it waits on ``abort``: setting it
    raises :class:`Abandoned`. Setting ``wake`` (the hub is back) ends the wait at once.
    """
    abort = abort or threading.Event()
    failures = 0
    while True:
        try:
            return call()
        except HubError as exc:
            if not is_transient(exc):
                raise
            failures += 1
            if attempts is not None and failures >= attempts:
                raise HubError(f"{what} failed after {failures} attempts: {exc}") from exc
            wait = backoff.delay(failures)
            if note is not None:
                note(f"{what} attempt {failures} failed ({exc}); retrying in {wait:.0f} s")
            if _pause(wait, abort, wake):
                raise Abandoned(f"{what} abandoned ({exc})") from exc


def _pause(seconds: float, abort: threading.Event, wake: threading.Event | None) -> bool:
    """Wait up to ``seconds``, less if ``wake`` is set; return whether ``abort`` was set."""
    if wake is None:
        return abort.wait(seconds)
    deadline = time.monotonic() + seconds
    while not abort.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if wake.wait(min(left, 0.25)):
            wake.clear()
            return abort.is_set()
    return True
