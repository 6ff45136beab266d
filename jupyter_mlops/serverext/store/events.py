"""Applying a worker's event batch inside the store's open transaction.

The applier knows nothing of the store: it is handed the connection of the transaction the
store opened, the worker and its last stored ``seq``, and writes rows through that connection.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from jupyter_mlops.messages import (
    EVENT_TYPES,
    JOB_CANCELLED,
    JOB_FAILED,
    JOB_FINISHED,
    LOG,
    LOG_LINES,
    LOG_STREAMS,
    METRIC,
    METRIC_POINTS,
    PROGRESS,
    TRIAL_CANCELLED,
    TRIAL_FAILED,
    TRIAL_FINISHED,
    TRIAL_STARTED,
    utc_now,
)

MAX_LOG_TEXT = 64 * 1024
_TRIAL_END = {
    TRIAL_FINISHED: "finished",
    TRIAL_FAILED: "failed",
    TRIAL_CANCELLED: "cancelled",
}


class EventApplier:
    """Turns events into rows; collects what subscribers must be told afterwards.

    Only the holder of a trial's lease may write about it: events for a trial leased to
    another worker, re-queued, or of an older ``attempt`` are ignored (late results).
    """

    def __init__(
        self, conn: sqlite3.Connection, worker_id: int, last_seq: int, notify: bool = True
    ) -> None:
        self.conn, self.worker_id = conn, worker_id
        self.last_seq = last_seq
        self.notify = notify  # build rows for subscribers only when someone listens
        self.stamp = utc_now()
        self.problems: list[str] = []
        self.jobs_changed: set[int] = set()
        self.handed_back = False  # the worker gave a trial back without a job cancel
        self._leases: dict[str, list[Any] | None] = {}
        self._jobs: dict[int, bool] = {}
        self._logs: list[tuple[Any, ...]] = []
        self._metrics: list[tuple[Any, ...]] = []
        self._logged: list[dict[str, Any]] = []
        self._measured: list[dict[str, Any]] = []
        self._handlers = {
            LOG: self._on_log,
            METRIC: self._on_metric,
            PROGRESS: self._on_progress,
            TRIAL_STARTED: self._on_trial_started,
            TRIAL_FINISHED: self._end_trial,
            TRIAL_FAILED: self._end_trial,
            TRIAL_CANCELLED: self._end_trial,
            JOB_FINISHED: self._end_assignment,
            JOB_FAILED: self._end_assignment,
            JOB_CANCELLED: self._end_assignment,
        }
        assert set(self._handlers) == EVENT_TYPES

    def apply(self, events: list[Any]) -> None:
        """Apply the events in ``seq`` order; skip resends, note malformed ones in problems."""
        handlers = self._handlers
        for event in events:
            seq = event.get("seq") if isinstance(event, dict) else None
            if type(seq) is not int or seq < 1:
                self.problems.append(f"event without a positive integer seq: {event!r:.80}")
                continue
            if seq <= self.last_seq:
                continue  # already stored: a resend
            self.last_seq = seq
            handler, job_id = handlers.get(event.get("type")), event.get("job_id")
            if handler is None or type(job_id) is not int:
                self.problems.append(f"event {seq}: unknown type or no integer job_id")
                continue
            trial_id = event.get("trial_id")
            if trial_id is None:
                if self._worked_on(job_id):
                    handler(event, job_id)
            elif self._holds(trial_id, job_id, event):
                handler(event, job_id)
        self._flush()

    def _lease(self, trial_id: Any) -> list[Any] | None:
        """[job_id, worker_id, status, attempt] of a trial, cached for this batch."""
        if trial_id not in self._leases:
            row = self.conn.execute(
                "SELECT job_id, worker_id, status, attempt FROM trials WHERE id = ?",
                (str(trial_id),),
            ).fetchone()
            self._leases[trial_id] = list(row) if row else None
        return self._leases[trial_id]

    def _holds(self, trial_id: Any, job_id: int, event: dict[str, Any]) -> bool:
        lease = self._lease(trial_id)
        if lease is None or lease[0] != job_id or lease[1] != self.worker_id:
            return False
        attempt = event.get("attempt")
        if attempt is not None and attempt != lease[3]:
            return False
        return lease[2] == "running" or (lease[2] == "finished" and event["type"] == LOG)

    def _worked_on(self, job_id: int) -> bool:
        if job_id not in self._jobs:
            self._jobs[job_id] = (
                self.conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM trials WHERE job_id = ? AND worker_id = ?)",
                    (job_id, self.worker_id),
                ).fetchone()[0]
                == 1
            )
        return self._jobs[job_id]

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
            "UPDATE trials SET epoch = ?, epochs = ?, batch = ?, batches = ? WHERE id = ?",
            (
                event.get("epoch"),
                event.get("epochs"),
                event.get("batch"),
                event.get("batches"),
                event["trial_id"],
            ),
        )
        self.jobs_changed.add(job_id)

    def _on_trial_started(self, event: dict[str, Any], job_id: int) -> None:
        resumed = event.get("resumed_from_epoch")
        self.conn.execute(
            "UPDATE trials SET started = coalesce(started, ?), resumed_from_epoch = ? WHERE id = ?",
            (self._time(event), resumed if type(resumed) is int else None, event["trial_id"]),
        )
        self.jobs_changed.add(job_id)

    def _end_trial(self, event: dict[str, Any], job_id: int) -> None:
        """A trial ended. Cancelled without a job cancel means the worker let it go: re-queue."""
        trial_id = event["trial_id"]
        status = _TRIAL_END[event["type"]]
        error = event.get("error")
        if (
            status == "cancelled"
            and not self.conn.execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()[0]
        ):
            status, error = "pending", "re-queued: its worker stopped before the trial ended"
            self.handed_back = True
        metrics = event.get("metrics") if isinstance(event.get("metrics"), dict) else None
        self.conn.execute(
            "UPDATE trials SET status = ?, finished = ?, error = ?, "
            "metrics = coalesce(?, metrics), model_id = coalesce(model_id, ?) WHERE id = ?",
            (
                status,
                None if status == "pending" else self._time(event),
                error,
                json.dumps(metrics) if metrics is not None else None,
                event.get("model_id"),
                trial_id,
            ),
        )
        self.conn.execute(
            "UPDATE workers SET current_job = NULL, current_trial = NULL "
            "WHERE id = ? AND current_trial = ?",
            (self.worker_id, trial_id),
        )
        self._leases[trial_id][2] = status  # type: ignore[index]
        self.jobs_changed.add(job_id)

    def _end_assignment(self, event: dict[str, Any], job_id: int) -> None:
        """The worker is done with what it was given; the job's status is derived later."""
        self.jobs_changed.add(job_id)

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
        if not self.notify:
            return []
        names = ["seq", "job_id", "trial_id", "time", *columns.split(", ")]
        return [dict(zip(names, row, strict=True)) for row in numbered]

    def notifications(self) -> list[dict[str, Any]]:
        """``log`` and ``metric`` messages, one per job, in seq order."""
        out: list[dict[str, Any]] = []
        for kind, key, rows in (
            (LOG_LINES, "lines", self._logged),
            (METRIC_POINTS, "points", self._measured),
        ):
            by_job: dict[int, list[dict]] = {}
            for row in rows:
                by_job.setdefault(row["job_id"], []).append(row)
            out += [{"type": kind, "job_id": j, key: r} for j, r in by_job.items()]
        return out
