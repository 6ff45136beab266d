"""The log tee: what a worker thread prints goes to the job's log file and to the hub.

``sys.stdout`` and ``sys.stderr`` are wrapped once by a :class:`ThreadRoutingStream` that sends
writes from a thread with a registered sink to that sink (and, when asked, to the original
stream too); every other thread, such as the notebook's own cells, writes to the original
stream untouched. :func:`capture_output` registers the calling thread, contextlib style.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from jupyter_mlops.messages import utc_now

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
    """A job's log: each line is appended to ``<dir>/logs/<job>.log`` and reported."""

    def __init__(
        self,
        path: Path,
        report: Callable[[str, str | None, str], object],
        *,
        append: bool = False,
    ) -> None:
        self.path = path
        self.report = report
        self.trial_id: str | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self.sink = LineSink(self.line)

    def line(self, stream: str, text: str, trial_id: str | None = None) -> None:
        """Write one line to the file (``TIME TRIAL STREAM: text``) and report it.

        The line belongs to ``trial_id`` when given, else to the current :attr:`trial_id`.
        File and report stay in the same order when several threads write.
        """
        trial = trial_id or self.trial_id
        with self._lock:
            if self._file.closed:
                return
            self._file.write(f"{utc_now()} {trial or '-'} {stream}: {text}\n")
            self._file.flush()
            self.report(stream, trial, text)

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
