"""The log tee: what a worker thread prints goes to the job's log file and to the hub.

``sys.stdout`` and ``sys.stderr`` are wrapped once by a :class:`ThreadRoutingStream` that sends
writes from a thread with a registered sink to that sink (and, when asked, to the original
stream too); every other thread, such as the notebook's own cells, writes to the original
stream untouched. :func:`capture_output` registers the calling thread, contextlib style.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from jupyter_mlops.messages import utc_now
from jupyter_mlops.private import open_private, private_dir

log = logging.getLogger(__name__)

LineHandler = Callable[[str, str], object]


class LineSink:
    """Collects text into lines and hands each full line with its stream name to ``emit``."""

    def __init__(self, emit: LineHandler) -> None:
        self.emit = emit
        self._partial: dict[str, str] = {}
        self._lock = threading.Lock()

    def write(self, stream: str, text: str) -> None:
        with self._lock:
            text = self._partial.pop(stream, "") + text
            *lines, rest = text.split("\n")
            if rest:
                self._partial[stream] = rest
        for line in lines:
            self.emit(stream, line.rstrip("\r"))

    def flush(self) -> None:
        """Emit any unterminated text as a line."""
        with self._lock:
            partial, self._partial = self._partial, {}
        for stream, line in partial.items():
            self.emit(stream, line.rstrip("\r"))


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
    line with the same time.
    """

    def __init__(
        self,
        path: Path,
        report: Callable[[str, str | None, str, str], object],
    ) -> None:
        self.path = path
        self.report = report
        self.trial_id: str | None = None
        private_dir(path.parent)
        self._file = open_private(path, "a")  # 0600
        self._lock = threading.Lock()
        self.sink = LineSink(self.line)
        self.write_error: str | None = None

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
