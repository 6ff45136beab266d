"""Applying a worker's event batch inside the store's transaction (part of the store)."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from jupyter_mlops.messages import EVENT_TYPES, LOG_STREAMS

if TYPE_CHECKING:
    from jupyter_mlops.serverext.store import Store

MAX_LOG_TEXT = 64 * 1024
_JOB_END = {"job_finished": "finished", "job_failed": "failed", "job_cancelled": "cancelled"}
_TRIAL_END = {
    "trial_finished": "finished",
    "trial_failed": "failed",
    "trial_cancelled": "cancelled",
}


class EventApplier:
    """Turns events into rows; collects what subscribers must be told afterwards."""

    def __init__(
        self, store: Store, conn: sqlite3.Connection, worker_id: int, last_seq: int
    ) -> None:
        from jupyter_mlops.serverext.store import now

        self.store, self.conn, self.worker_id = store, conn, worker_id
        self.last_seq = last_seq
        self.stamp = now()
        self.problems: list[str] = []
        self.jobs_changed: set[int] = set()
        self.jobs_ended: set[int] = set()
        self._owner: dict[int, bool] = {}
        self._logs: list[tuple[Any, ...]] = []
        self._metrics: list[tuple[Any, ...]] = []
        self._logged: list[dict[str, Any]] = []
        self._measured: list[dict[str, Any]] = []

    def apply(self, events: list[Any]) -> None:
        for event in events:
            seq = event.get("seq") if isinstance(event, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                self.problems.append(f"event without a positive integer seq: {event!r:.80}")
                continue
            if seq <= self.last_seq:
                continue  # already stored: a resend
            self.last_seq = seq
            kind, job_id = event.get("type"), event.get("job_id")
            if kind not in EVENT_TYPES or not isinstance(job_id, int):
                self.problems.append(f"event {seq}: unknown type {kind!r} or no integer job_id")
                continue
            if not self._owns(job_id):
                continue  # a late event for a job this worker no longer runs
            getattr(self, f"_on_{kind}")(event, job_id)
        self._flush()

    def _owns(self, job_id: int) -> bool:
        if job_id not in self._owner:
            row = self.conn.execute("SELECT worker_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
            self._owner[job_id] = row is not None and row[0] == self.worker_id
        return self._owner[job_id]

    def _time(self, event: dict[str, Any]) -> str:
        value = event.get("time")
        return value if isinstance(value, str) else self.stamp

    def _on_log(self, event: dict[str, Any], job_id: int) -> None:
        stream = event.get("stream") if event.get("stream") in LOG_STREAMS else "stdout"
        text = str(event.get("text", ""))[:MAX_LOG_TEXT]
        self._logs.append((job_id, event.get("trial_id"), self._time(event), stream, text))

    def _on_metric(self, event: dict[str, Any], job_id: int) -> None:
        value, step = event.get("value"), event.get("step", 0)
        if not isinstance(value, (int, float)) or not isinstance(step, int):
            self.problems.append(f"event {event['seq']}: metric needs a number value, int step")
            return
        self._metrics.append(
            (
                job_id,
                event.get("trial_id"),
                self._time(event),
                str(event.get("name")),
                step,
                float(value),
            )
        )

    def _on_progress(self, event: dict[str, Any], job_id: int) -> None:
        self.conn.execute(
            "UPDATE trials SET epoch = ?, epochs = ?, batch = ?, batches = ? "
            "WHERE id = ? AND job_id = ?",
            (
                event.get("epoch"),
                event.get("epochs"),
                event.get("batch"),
                event.get("batches"),
                event.get("trial_id"),
                job_id,
            ),
        )
        self.jobs_changed.add(job_id)

    def _on_trial_started(self, event: dict[str, Any], job_id: int) -> None:
        self.conn.execute(
            "UPDATE trials SET status = 'running', started = ?, error = NULL "
            "WHERE id = ? AND job_id = ?",
            (self._time(event), event.get("trial_id"), job_id),
        )
        self.conn.execute(
            "UPDATE workers SET current_trial = ? WHERE id = ?",
            (event.get("trial_id"), self.worker_id),
        )
        self.jobs_changed.add(job_id)

    def _end_trial(self, event: dict[str, Any], job_id: int) -> None:
        status = _TRIAL_END[event["type"]]
        metrics = event.get("metrics") if isinstance(event.get("metrics"), dict) else None
        self.conn.execute(
            "UPDATE trials SET status = ?, finished = ?, error = ?, "
            "metrics = coalesce(?, metrics), model_id = coalesce(model_id, ?) "
            "WHERE id = ? AND job_id = ?",
            (
                status,
                self._time(event),
                event.get("error"),
                json.dumps(metrics) if metrics is not None else None,
                event.get("model_id"),
                event.get("trial_id"),
                job_id,
            ),
        )
        self.jobs_changed.add(job_id)

    _on_trial_finished = _on_trial_failed = _on_trial_cancelled = _end_trial

    def _end_job(self, event: dict[str, Any], job_id: int) -> None:
        self._flush()
        self.store._end_job(self.conn, job_id, _JOB_END[event["type"]], event.get("error"))
        self.jobs_changed.add(job_id)
        self.jobs_ended.add(job_id)

    _on_job_finished = _on_job_failed = _on_job_cancelled = _end_job

    def _flush(self) -> None:
        self._logged += self._insert("logs", "stream, text", self._logs)
        self._measured += self._insert("metrics", "name, step, value", self._metrics)
        self._logs, self._metrics = [], []

    def _insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> list[dict]:
        if not rows:
            return []
        start = self.conn.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()[0]
        numbered = [(start + i + 1, *row) for i, row in enumerate(rows)]
        self.conn.executemany(
            f"INSERT INTO {table} (seq, job_id, trial_id, time, {columns}) "
            f"VALUES ({', '.join('?' * (4 + columns.count(',') + 1))})",
            numbered,
        )
        names = ["seq", "job_id", "trial_id", "time", *columns.split(", ")]
        return [dict(zip(names, row, strict=True)) for row in numbered]

    def notifications(self) -> list[dict[str, Any]]:
        """``log`` and ``metric`` messages, one per job, in seq order."""
        out: list[dict[str, Any]] = []
        for kind, key, rows in (
            ("log", "lines", self._logged),
            ("metric", "points", self._measured),
        ):
            by_job: dict[int, list[dict]] = {}
            for row in rows:
                by_job.setdefault(row["job_id"], []).append(row)
            out += [{"type": kind, "job_id": j, key: r} for j, r in by_job.items()]
        return out
