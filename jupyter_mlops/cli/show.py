"""How the command line shows things: tables, one-line errors and live progress."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from jupyter_mlops.records import Job, Trial

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None) -> None:
    """Print rows under headers in aligned columns (``-`` for None)."""
    out = out or sys.stdout
    cells = [[cell(v) for v in row] for row in rows]
    if not cells:
        return
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def cell(value: Any) -> str:
    """One value as a table shows it."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value) or "-"
    if isinstance(value, str) and ISO_TIME.match(value):
        return f"{value[:10]} {value[11:19]}"  # the hub's times are UTC
    return str(value)


def as_json(value: Any) -> None:
    """Print dataclasses (or lists of them) as JSON."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return dataclasses.asdict(v)
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    print(json.dumps(plain(value), indent=2, default=str))


def size(n: int) -> str:
    """A byte count for people: 1.2 MB."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def bar(fraction: float, width: int = 20) -> str:
    """``[#########-----------]`` for a fraction in 0..1."""
    done = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * done + "-" * (width - done) + "]"


def running_trial(job: Job) -> Trial | None:
    return next((t for t in job.trials if t.status == "running"), None)


def job_line(job: Job) -> str:
    """One line for a job's state: status, trials done, the running trial's epoch and batch."""
    parts = [
        f"job {job.id} {job.status:<9} {bar(job.progress)} {job.trials_done}/{job.trial_count}"
    ]
    trial = running_trial(job)
    if trial is not None:
        where = f"trial {trial.id}"
        if trial.worker_name:
            where += f" on {trial.worker_name}"
        if trial.epochs:
            where += f" epoch {trial.epoch or 0}/{trial.epochs}"
        if trial.batches:
            where += f" batch {trial.batch or 0}/{trial.batches}"
        parts.append(where)
        loss = (trial.metrics or {}).get("train_loss", (trial.metrics or {}).get("loss"))
        if isinstance(loss, (int, float)):
            parts.append(f"loss {loss:.4g}")
    return "  ".join(parts)


class Live:
    """A status line: rewritten in place on a terminal, else printed when its text changes
    (so a log file gets one line per change, not one per poll)."""

    def __init__(self, out: TextIO | None = None, min_interval: float = 0.0) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.last = ""
        self.shown_at = 0.0
        self.min_interval = min_interval
        self.width = 0

    def show(self, text: str, key: str | None = None) -> None:
        """Show ``text``; off a terminal only when ``key`` (default: the text) changed."""
        key = text if key is None else key
        if self.tty:
            if text == self.last:
                return
            pad = max(0, self.width - len(text))
            self.out.write("\r" + text + " " * pad)
            self.out.flush()
            self.width, self.last = len(text), text
            return
        now = time.monotonic()
        if key != self.last and now - self.shown_at >= self.min_interval:
            print(text, file=self.out, flush=True)
            self.last, self.shown_at = key, now

    def done(self) -> None:
        """End the line (on a terminal) so what follows starts on its own."""
        if self.tty and self.last:
            self.out.write("\n")
            self.out.flush()
        self.last = ""
