"""The log tee: what a worker thread prints goes to the job's log file and to the hub.

``sys.stdout`` and ``sys.stderr`` are wrapped once by a :class:`ThreadRoutingStream` that sends
writes from a thread with a registered sink to that sink (and, when asked, to the original
stream too); every other thread, such as the notebook's own cells, writes to the original
stream untouched. :func:`capture_output` registers the calling thread, contextlib style.
A line rewritten with ``\r`` (a progress bar) is stored once, in its final state, and sent
live meanwhile (:class:`LineSink`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from jupyter_mlops.messages import utc_now
from jupyter_mlops.private import open_private, private_dir

log = logging.getLogger(__name__)

LineHandler = Callable[[str, str], object]
#: Seconds between two live states of a line rewritten with ``\r`` (a progress bar).
LIVE_INTERVAL = 1.0
#: Longest live state sent (the final line is stored whole).
MAX_LIVE_TEXT = 1000


class LineSink:
    """Collects text into lines and hands each full line with its stream name to ``emit``.

    A carriage return rewrites the line, as in a terminal: a progress bar (tqdm) is one line,
    emitted once in its final state (the text after its last ``\r``). While a line is being
    rewritten its latest state goes to ``live`` (when given) at most once per
    ``live_interval`` seconds, and once more after the last rewrite, so the bar is live in the
    panels without filling the log.
    """

    def __init__(
        self,
        emit: LineHandler,
        live: LineHandler | None = None,
        live_interval: float = LIVE_INTERVAL,
    ) -> None:
        self.emit = emit
        self.live = live
        self.live_interval = live_interval
        self._partial: dict[str, str] = {}
        self._lock = threading.Lock()
        self._live_sent: dict[str, tuple[float, str]] = {}  # stream -> (when, text) last sent
        self._timers: dict[str, threading.Timer] = {}

    def write(self, stream: str, text: str) -> None:
        with self._lock:
            text = self._partial.pop(stream, "") + text
            *lines, rest = text.split("\n")
            if lines:
                self._end_live_locked(stream)
            if "\r" in rest:  # keep the latest state only: the buffer stays one line long
                head, _, tail = rest.rpartition("\r")
                rest = f"\r{latest_state(head)}\r{tail}"
            if rest:
                self._partial[stream] = rest
            live = self._live_due_locked(stream, rest) if "\r" in rest else None
        for line in lines:
            self.emit(stream, final_state(line))
        if live is not None and self.live is not None:
            self.live(stream, live)

    def _live_due_locked(self, stream: str, rest: str) -> str | None:
        """The line's state to send now, or None (unchanged, or too soon: a timer sends it)."""
        if self.live is None:
            return None
        state = latest_state(rest).rstrip()[:MAX_LIVE_TEXT]
        when, sent = self._live_sent.get(stream, (-math.inf, ""))
        if state == sent:
            return None
        now = time.monotonic()
        if now - when >= self.live_interval:
            self._live_sent[stream] = (now, state)
            return state
        if stream not in self._timers:
            timer = threading.Timer(when + self.live_interval - now, self._send_late, (stream,))
            timer.daemon = True
            self._timers[stream] = timer
            timer.start()
        return None

    def _send_late(self, stream: str) -> None:
        """The timer's send: the line's latest state, unless it ended meanwhile (sent under
        the lock, so it cannot follow the line's final state)."""
        with self._lock:
            self._timers.pop(stream, None)
            rest = self._partial.get(stream, "")
            live = self._live_due_locked(stream, rest) if "\r" in rest else None
            if live is not None and self.live is not None:
                self.live(stream, live)

    def _end_live_locked(self, stream: str) -> None:
        timer = self._timers.pop(stream, None)
        if timer is not None:
            timer.cancel()
        self._live_sent.pop(stream, None)

    def flush(self) -> None:
        """Emit any unterminated text as a line (a rewritten one only when not blank)."""
        with self._lock:
            partial, self._partial = self._partial, {}
            for stream in list(self._timers) + list(self._live_sent):
                self._end_live_locked(stream)
        for stream, line in partial.items():
            text = final_state(line)
            if text or "\r" not in line:
                self.emit(stream, text)


def latest_state(line: str) -> str:
    """What a terminal shows of a line rewritten with ``\r``: its last non-empty part."""
    for part in reversed(line.split("\r")):
        if part:
            return part
    return ""


def final_state(line: str) -> str:
    """A finished line as it is stored: its latest state, the padding of a rewrite removed."""
    return latest_state(line).rstrip() if "\r" in line.rstrip("\r") else line.rstrip("\r")


class ThreadRoutingStream(io.TextIOBase):
    """A stdout/stderr stand-in that routes each thread's writes to its own sink."""

    def __init__(self, original: TextIO, name: str) -> None:
        self.original = original
        self.stream_name = name
        self.sinks: dict[int, tuple[LineSink, bool]] = {}

    def write(self, text: str) -> int:
        route = self.sinks.get(threading.get_ident())
        if route is None:
            return self.original.write(text)
        sink, echo = route
        sink.write(self.stream_name, text)
        if echo:
            with contextlib.suppress(Exception):
                self.original.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self.original.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_install_lock = threading.Lock()


def _routing(name: str) -> ThreadRoutingStream:
    """Return sys.<name> wrapped in a ThreadRoutingStream, installing it when needed."""
    with _install_lock:
        current = getattr(sys, name)
        if not isinstance(current, ThreadRoutingStream):
            current = ThreadRoutingStream(current, name)
            setattr(sys, name, current)
        return current


@contextlib.contextmanager
def capture_output(sink: LineSink, echo: bool = False) -> Iterator[LineSink]:
    """Route this thread's ``print`` output (stdout and stderr) to ``sink`` while inside."""
    ident = threading.get_ident()
    streams = [_routing("stdout"), _routing("stderr")]
    for stream in streams:
        stream.sinks[ident] = (sink, echo)
    try:
        yield sink
    finally:
        for stream in streams:
            stream.sinks.pop(ident, None)
        sink.flush()


class JobLog:
    """A job's log: each line is appended to ``<dir>/logs/<job>.log`` and reported.

    The file is only ever appended to: when a job comes back to this worker (a later
    assignment, or after the kernel restarted) its earlier lines stay. ``report`` gets
    ``(stream, trial_id, text, time)``, the time written to the file, so the hub stores the
    line with the same time. ``live`` (same arguments) gets the latest state of a line being
    rewritten with ``\r`` (a progress bar) at a bounded rate; it is not written to the file:
    the line is, once, when it ends.
    """

    def __init__(
        self,
        path: Path,
        report: Callable[[str, str | None, str, str], object],
        live: Callable[[str, str | None, str, str], object] | None = None,
    ) -> None:
        self.path = path
        self.report = report
        self.report_live = live
        self.trial_id: str | None = None
        private_dir(path.parent)
        self._file = open_private(path, "a")  # 0600
        self._lock = threading.Lock()
        self.sink = LineSink(self.line, live=self._live if live is not None else None)
        self.write_error: str | None = None

    def _live(self, stream: str, text: str) -> None:
        if self.report_live is not None and not self._file.closed:
            self.report_live(stream, self.trial_id, text, utc_now())

    def line(self, stream: str, text: str, trial_id: str | None = None) -> None:
        """Write one line to the file (``TIME TRIAL STREAM: text``) and report it.

        The line belongs to ``trial_id`` when given, else to the current :attr:`trial_id`.
        File and report stay in the same order when several threads write.
        """
        trial = trial_id or self.trial_id
        with self._lock:
            if self._file.closed:
                return
            now = utc_now()
            try:
                self._file.write(f"{now} {trial or '-'} {stream}: {text}\n")
                self._file.flush()
            except OSError as exc:  # a full disk must not fail the trial; the hub still hears
                if self.write_error is None:
                    log.warning("the job log %s cannot be written: %s", self.path, exc)
                self.write_error = str(exc)
            self.report(stream, trial, text, now)

    def system(self, text: str, trial_id: str | None = None) -> None:
        """A line from the worker itself (not from the training code)."""
        for part in text.split("\n"):
            self.line("system", part, trial_id)

    def close(self) -> None:
        self.sink.flush()
        with self._lock:
            self._file.close()


def read_log_file(path: str | Path) -> list[dict[str, str | None]]:
    """Parse a job log file written by :class:`JobLog` into dicts (time, trial_id, stream, text)."""
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").split("\n")[:-1]:
        time, trial, rest = raw.split(" ", 2)
        stream, _, text = rest.partition(": ")
        lines.append(
            {
                "time": time,
                "trial_id": None if trial == "-" else trial,
                "stream": stream,
                "text": text,
            }
        )
    return lines
