"""The worker's outbox: events numbered per session, kept on disk until the hub acks them.

The training thread calls :meth:`Outbox.emit`, which only numbers the event and appends it to
an in-memory queue (no IO, no waiting). The sender thread calls :meth:`Outbox.drain`, which
appends the queued events to ``<dir>/outbox/<session>.jsonl`` and keeps them as unacked until
:meth:`Outbox.ack`; the file is pruned as acks arrive. After a reconnect the sender resends
:meth:`Outbox.unacked`, so a server restart or a dropped network loses nothing.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_mlops.messages import utc_now

log = logging.getLogger(__name__)

#: Events queued in memory before the producer drains them to disk itself.
DEFAULT_MAX_PENDING = 50_000
#: Acked events tolerated in the file before it is rewritten without them.
COMPACT_AFTER = 5_000


class Outbox:
    """Numbered events waiting for the hub's ack, persisted as append-only JSON lines."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        on_urgent: Callable[[], None] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.max_pending = max_pending
        self.on_urgent = on_urgent
        self._seq_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._unacked: collections.deque[dict[str, Any]] = collections.deque()
        self._seq = 0
        self._acked = 0
        self._acked_in_file = 0
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._load()
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def _load(self) -> None:
        """Read unacked events left by an earlier Outbox on the same file."""
        assert self.path is not None
        if not self.path.exists():
            return
        events: dict[int, dict[str, Any]] = {}
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    event = json.loads(line)
                    events[int(event["seq"])] = event
                except (ValueError, KeyError, TypeError):
                    log.warning("skipping an unreadable outbox line in %s", self.path)
        for seq in sorted(events):
            self._unacked.append(events[seq])
        self._seq = max(events, default=0)
        self._rewrite()

    # -- producer side (training thread) ------------------------------------------------------

    def emit(self, type: str, *, urgent: bool = False, **fields: Any) -> int:
        """Queue one event and return its seq; never blocks on IO or the network."""
        event = {"seq": 0, "type": type, "time": utc_now(), **fields}
        with self._seq_lock:
            self._seq += 1
            event["seq"] = self._seq
            self._pending.append(event)
        if len(self._pending) > self.max_pending:
            self.drain()  # the sender is stuck: spill to disk here rather than grow without end
        if urgent and self.on_urgent is not None:
            self.on_urgent()
        return event["seq"]

    # -- sender side --------------------------------------------------------------------------

    def drain(self) -> list[dict[str, Any]]:
        """Move queued events to the file and the unacked list; return them in seq order."""
        with self._lock:
            batch: list[dict[str, Any]] = []
            pending = self._pending
            while pending:
                batch.append(pending.popleft())
            if not batch:
                return batch
            if self._file is not None:
                self._file.write(
                    "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in batch)
                )
                self._file.flush()
            self._unacked.extend(batch)
            return batch

    def ack(self, seq: int) -> int:
        """Forget every event up to ``seq`` (cumulative); return how many were dropped."""
        with self._lock:
            dropped = 0
            while self._unacked and self._unacked[0]["seq"] <= seq:
                self._unacked.popleft()
                dropped += 1
            self._acked = max(self._acked, seq)
            self._acked_in_file += dropped
            if self._file is not None and dropped:
                if not self._unacked:
                    self._file.truncate(0)
                    self._file.seek(0)
                    self._acked_in_file = 0
                elif self._acked_in_file > COMPACT_AFTER:
                    self._rewrite()
            return dropped

    def _rewrite(self) -> None:
        """Rewrite the file with the unacked events only (atomic rename)."""
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in self._unacked))
        if self._file is not None:
            self._file.close()
        os.replace(tmp, self.path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._acked_in_file = 0

    def unacked(self) -> list[dict[str, Any]]:
        """Every drained event the hub has not acked yet, in seq order."""
        with self._lock:
            return list(self._unacked)

    # -- state --------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the newest event emitted."""
        return self._seq

    @property
    def acked_seq(self) -> int:
        """The highest seq the hub confirmed."""
        return self._acked

    @property
    def waiting(self) -> int:
        """How many events are queued or unacked."""
        return len(self._pending) + len(self._unacked)

    def close(self) -> None:
        """Drain what is queued to disk and close the file (unacked events stay there)."""
        self.drain()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self.path is not None and not self._unacked:
                self.path.unlink(missing_ok=True)
