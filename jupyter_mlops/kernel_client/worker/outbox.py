"""The worker's outbox: numbered events kept on disk until the hub acks them.

An outbox belongs to a worker *name* in a worker *folder*, not to one kernel. It lives in
``<dir>/outbox/<key>.jsonl``: a header line with the worker's session id and the highest seq
the hub acknowledged, then one line per event. A kernel that restarts with the same name and
folder opens the same file, so it continues the same session (the same seq numbering), finds
every event the dead kernel had not delivered and sends it again; the hub stores each
(session, seq) once. A lock file keeps two live kernels off one outbox: the second one takes
the next slot (``<key>.1.jsonl``), a worker identity of its own.

:meth:`Outbox.emit` numbers an event and appends it to the file at once (a write and a flush,
no fsync and no network), so an event survives its kernel being killed and the training
thread never waits for the hub. The sender reads :meth:`Outbox.after`; the hub's acks
(:meth:`Outbox.ack`) let the file be compacted.

The outbox is bounded by ``limit_bytes`` of unacked events. Past 80 % of it a warning is
logged (and shown by ``%mlops status``); at the limit it is *full*: trial and job state
changes are still queued (they are few and small), but ``log``, ``metric`` and ``progress``
events are not, and are counted per job. Once acks bring it below 90 % of the limit, a system
log line per job tells the hub how many were not sent; the log lines are still in the
worker's local job log. Nothing is dropped without a trace.

One module on purpose: every method keeps the same invariant (file, header and memory agree
under one lock), which is easier to check in one place than across several.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from jupyter_mlops import messages as M
from jupyter_mlops.messages import encode, utc_now
from jupyter_mlops.private import open_private, private_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, one kernel per folder
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Unacked events the outbox holds (encoded JSON) before it is full.
DEFAULT_LIMIT_BYTES = 256 << 20
#: Share of the limit past which a warning is logged.
WARN_AT = 0.8
#: Share of the limit a full outbox must shrink below before it queues logs again.
ROOM_AT = 0.9
#: Acked events tolerated in the file before it is rewritten without them.
COMPACT_AFTER = 5_000
#: Event types a full outbox counts instead of queuing (history, not state changes).
DROPPABLE = frozenset({M.LOG, M.METRIC, M.PROGRESS})
#: Kernels with one name in one folder at the same time (each takes a slot).
MAX_SLOTS = 64


def outbox_key(name: str) -> str:
    """The file name stem of a worker name's outbox: readable and collision-free."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:40] or "worker"
    return f"{slug}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _try_lock(path: Path) -> IO[str] | None:
    """An open, exclusively locked ``path``; None when another process (or outbox) holds it."""
    handle = open_private(path, "a")  # held while the outbox lives
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


#: Outbox files of versions that kept one file per kernel session (``<32 hex>.jsonl``).
LEGACY_NAME = re.compile(r"^[0-9a-f]{32}\.jsonl$")


def _tidy_legacy(folder: Path) -> None:
    """Delete per-session outbox files of older versions once empty (every event acked);
    say where the others are (they belong to no worker name, so nothing resends them)."""
    for path in folder.iterdir():
        if not LEGACY_NAME.match(path.name):
            continue
        try:
            if path.stat().st_size == 0:
                path.unlink()
            else:
                log.warning("%s holds events an older version of the worker never delivered", path)
        except OSError:
            pass


def open_outbox(directory: str | os.PathLike[str], name: str, **options: Any) -> Outbox:
    """The outbox of worker ``name`` in ``directory`` (its first slot no live kernel holds).

    ``options`` go to :class:`Outbox` (``limit_bytes``, ``on_urgent``).
    """
    folder = private_dir(Path(directory) / "outbox")  # 0700, its files 0600
    _tidy_legacy(folder)
    key = outbox_key(name)
    for slot in range(MAX_SLOTS):
        stem = key if slot == 0 else f"{key}.{slot}"
        lock = _try_lock(folder / f"{stem}.lock")
        if lock is not None:
            if slot:
                log.info("worker %s: outbox slot %d (another kernel holds slot 0)", name, slot)
            return Outbox(folder / f"{stem}.jsonl", lock=lock, **options)
    raise RuntimeError(
        f"{MAX_SLOTS} live kernels already run a worker named {name!r} in {directory}; "
        "stop some or give this one another name or folder"
    )


class Outbox:
    """Numbered events waiting for the hub's ack, persisted as append-only JSON lines.

    ``path`` None keeps everything in memory (tests). ``lock`` is the open lock file that
    reserves ``path`` for this outbox; it is released by :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        limit_bytes: int = DEFAULT_LIMIT_BYTES,
        on_urgent: Callable[[], None] | None = None,
        lock: IO[str] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.limit_bytes = max(1, int(limit_bytes))
        self.on_urgent = on_urgent
        #: this worker's session id: kept in the file, so a restarted kernel continues it
        self.session = uuid.uuid4().hex
        #: unacked events found in the file (left by an earlier kernel or Outbox)
        self.replayed = 0
        #: why the last write to the file failed (the events stay in memory), or None
        self.disk_error: str | None = None
        self.full = False
        self._lock = threading.Lock()
        self._events: list[tuple[int, str]] = []  # (seq, encoded event); acked ones before _head
        self._head = 0
        self._bytes = 0  # of the unacked events
        self._seq = 0
        self._acked = 0
        self._acked_in_file = 0
        self._warned = False
        self._compacting = False
        self._not_sent: dict[int, collections.Counter[str]] = {}  # job -> type -> count
        self._file: IO[str] | None = None
        self._lock_file = lock
        if self.path is not None:
            private_dir(self.path.parent)
            self._load()
            with self._lock:
                self._rewrite_locked()

    def _load(self) -> None:
        """Read the header and the unacked events left by an earlier kernel on this file."""
        assert self.path is not None
        if not self.path.exists():
            return
        events: dict[int, str] = {}
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = raw.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                    if "outbox" in record:  # the header
                        self.session = str(record.get("session") or self.session)
                        self._acked = max(self._acked, int(record.get("acked") or 0))
                        self._seq = max(self._seq, int(record.get("seq") or 0))
                    else:
                        events[int(record["seq"])] = line
                except (ValueError, KeyError, TypeError, AttributeError):
                    log.warning("skipping an unreadable outbox line in %s", self.path)
        for seq in sorted(events):
            if seq > self._acked:
                self._events.append((seq, events[seq]))
                self._bytes += len(events[seq]) + 1
        self._seq = max(self._seq, self._acked, max(events, default=0))
        self.replayed = len(self._events)
        if self.replayed:
            log.info(
                "outbox %s: %d event(s) of an earlier kernel wait for the hub",
                self.path.name,
                self.replayed,
            )

    def _header(self) -> str:
        return encode(
            {"outbox": 1, "session": self.session, "seq": self._seq, "acked": self._acked}
        )

    # -- producer side (any thread) -----------------------------------------------------------

    def emit(self, type: str, *, urgent: bool = False, **fields: Any) -> int:
        """Number one event, append it to the file and return its seq; never waits for the hub.

        ``time`` may be given (the moment the event happened); it defaults to now. A full
        outbox counts ``log``, ``metric`` and ``progress`` events instead and returns 0.
        """
        when = fields.pop("time", None) or utc_now()
        event = {"seq": 0, "type": type, "time": when, **fields}
        with self._lock:
            if self.full and type in DROPPABLE:
                job_id = event.get("job_id")
                key = job_id if isinstance(job_id, int) else 0
                self._not_sent.setdefault(key, collections.Counter())[type] += 1
                return 0
            seq = self._queue_locked(event)
        if urgent and self.on_urgent is not None:
            self.on_urgent()
        return seq

    def _queue_locked(self, event: dict[str, Any]) -> int:
        self._seq += 1
        event["seq"] = self._seq
        line = encode(event)
        self._events.append((self._seq, line))
        self._bytes += len(line) + 1
        if self._file is not None:
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError as exc:  # disk full or gone: keep the event in memory, say so
                self._disk_failed(exc)
        self._check_size_locked()
        return self._seq

    def _disk_failed(self, exc: OSError) -> None:
        if self.disk_error is None:
            log.warning(
                "the outbox %s cannot be written (%s); unacked events are kept in memory only "
                "until it can",
                self.path,
                exc,
            )
        self.disk_error = f"{type(exc).__name__}: {exc}"

    def _check_size_locked(self) -> None:
        if not self.full and self._bytes >= self.limit_bytes:
            self.full = True
            log.warning(
                "the outbox is full (%s unacked, limit %s): the hub has not acknowledged "
                "events for a while. Trial and job state changes are still queued; log lines, "
                "metric points and progress are counted, not queued, until there is room again "
                "(log lines stay in the local job log)",
                _mb(self._bytes),
                _mb(self.limit_bytes),
            )
        elif not self._warned and self._bytes >= WARN_AT * self.limit_bytes:
            self._warned = True
            log.warning(
                "the outbox holds %s of unacked events, over %d%% of its %s limit: is the hub "
                "reachable?",
                _mb(self._bytes),
                int(WARN_AT * 100),
                _mb(self.limit_bytes),
            )

    # -- sender side --------------------------------------------------------------------------

    def after(self, seq: int, limit: int = 1000) -> list[tuple[int, str]]:
        """Up to ``limit`` unacked events with a seq above ``seq``: (seq, encoded event)."""
        with self._lock:
            start = bisect.bisect_right(self._events, seq, lo=self._head, key=_seq_of)
            return self._events[start : start + limit]

    def ack(self, seq: int) -> int:
        """Forget every event up to ``seq`` (cumulative); return how many were dropped."""
        with self._lock:
            if seq > self._seq:  # the hub knows a later seq of this session: never reuse one
                self._seq = seq
            if seq <= self._acked:
                return 0
            end = bisect.bisect_right(self._events, seq, lo=self._head, key=_seq_of)
            dropped = end - self._head
            self._bytes -= sum(len(line) + 1 for _, line in self._events[self._head : end])
            self._head = end
            self._acked = seq
            self._acked_in_file += dropped
            if self._head > 4096 and 2 * self._head > len(self._events):
                del self._events[: self._head]
                self._head = 0
            if self.full and self._bytes < ROOM_AT * self.limit_bytes:
                self.full = False
                self._report_not_sent_locked()
            if self._bytes < WARN_AT * self.limit_bytes / 2:
                self._warned = False
            compact = (
                self.path is not None
                and self._acked_in_file > COMPACT_AFTER
                and not self._compacting
            )
            if compact:
                self._compacting = True
        if compact:
            self._compact()
        return dropped

    def _report_not_sent_locked(self) -> None:
        """There is room again: tell the hub, per job, what the full outbox did not queue."""
        log.warning("the outbox has room again; log lines and metrics are queued again")
        not_sent, self._not_sent = self._not_sent, {}
        for job_id, counts in not_sent.items():
            parts = [
                f"{counts[kind]} {noun}"
                for kind, noun in (
                    (M.LOG, "log line(s)"),
                    (M.METRIC, "metric point(s)"),
                    (M.PROGRESS, "progress update(s)"),
                )
                if counts[kind]
            ]
            self._queue_locked(
                {
                    "type": M.LOG,
                    "time": utc_now(),
                    "job_id": job_id,
                    "trial_id": None,
                    "stream": "system",
                    "text": (
                        f"the worker's outbox was full ({_mb(self.limit_bytes)} of events the "
                        f"hub had not acknowledged): {', '.join(parts)} of this job were not "
                        "sent; the log lines are in the worker's local job log"
                    ),
                }
            )

    def _compact(self) -> None:
        """Rewrite the file without acked events; the producer keeps appending meanwhile."""
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        try:
            with self._lock:
                mark, header = self._seq, self._header()
                snapshot = self._events[self._head :]
            with open_private(tmp, "w") as f:  # the slow part, outside the lock
                f.write(header + "\n" + "".join(line + "\n" for _, line in snapshot))
            with self._lock:
                start = bisect.bisect_right(self._events, mark, lo=self._head, key=_seq_of)
                with open_private(tmp, "a") as f:
                    f.write("".join(line + "\n" for _, line in self._events[start:]))
                self._replace_locked(tmp)
        except OSError as exc:
            self._disk_failed(exc)
            tmp.unlink(missing_ok=True)
        finally:
            self._compacting = False

    def _rewrite_locked(self) -> None:
        """Rewrite the file: the header, then the unacked events (atomic rename)."""
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        try:
            with open_private(tmp, "w") as f:
                f.write(
                    self._header()
                    + "\n"
                    + "".join(line + "\n" for _, line in self._events[self._head :])
                )
            self._replace_locked(tmp)
        except OSError as exc:
            self._disk_failed(exc)
            tmp.unlink(missing_ok=True)
            if self._file is None:
                with contextlib.suppress(OSError):
                    self._file = open_private(self.path, "a")

    def _replace_locked(self, tmp: Path) -> None:
        assert self.path is not None
        os.replace(tmp, self.path)
        if self._file is not None:
            self._file.close()
        self._file = open_private(self.path, "a")
        self._acked_in_file = 0
        self.disk_error = None

    def new_session(self) -> str:
        """Start a new worker identity on this outbox (the hub refused the old one for this
        credential); unacked events keep their seqs and are sent under the new one."""
        with self._lock:
            self.session = uuid.uuid4().hex
            if self.path is not None:
                self._rewrite_locked()
        return self.session

    def unacked(self) -> list[dict[str, Any]]:
        """Every event the hub has not acked yet, decoded, in seq order."""
        with self._lock:
            return [json.loads(line) for _, line in self._events[self._head :]]

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
        """How many events are unacked."""
        return len(self._events) - self._head

    def status(self) -> dict[str, Any]:
        """What ``%mlops status`` shows about the outbox."""
        with self._lock:
            not_sent = collections.Counter[str]()
            for counts in self._not_sent.values():
                not_sent.update(counts)
            return {
                "events": len(self._events) - self._head,
                "bytes": self._bytes,
                "limit_bytes": self.limit_bytes,
                "warning": self._bytes >= WARN_AT * self.limit_bytes,
                "full": self.full,
                "not_sent": dict(not_sent),
                "disk_error": self.disk_error,
                "replayed": self.replayed,
                "path": str(self.path) if self.path is not None else None,
            }

    def close(self) -> None:
        """Rewrite the file (header and unacked events), close it and release the slot.

        The file stays, even when every event was acked: it holds the worker's session and
        its last seq, which the next kernel of this worker continues.
        """
        with self._lock:
            if self.path is not None and self._file is not None:
                self._rewrite_locked()
            if self._file is not None:
                self._file.close()
                self._file = None
            if self._lock_file is not None:
                self._lock_file.close()  # releases the flock
                self._lock_file = None


def _seq_of(entry: tuple[int, str]) -> int:
    return entry[0]


def _mb(size: float) -> str:
    return f"{size / (1 << 20):.1f} MiB"
