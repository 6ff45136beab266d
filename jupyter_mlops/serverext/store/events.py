"""Applying a worker's event batch inside the store's open transaction.

The applier knows nothing of the store: it is handed the connection of the transaction the
store opened, the worker and its last stored ``seq``, and writes rows through that connection.
It is one class with a handler per event type, which is why the module runs a little long.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from jupyter_mlops.messages import (
    CAPACITY,
    EVENT_TYPES,
    JOB_CANCELLED,
    JOB_FAILED,
    JOB_FINISHED,
    LOG,
    LOG_LINES,
    LOG_STREAMS,
    MAX_INT,
    METRIC,
    METRIC_POINTS,
    NON_FINITE,
    PROGRESS,
    TRIAL_CANCELLED,
    TRIAL_FAILED,
    TRIAL_FINISHED,
    TRIAL_STARTED,
    nesting_depth,
    utc_now,
)

MAX_LOG_TEXT = 64 * 1024
MAX_LIVE_TEXT = 1000  # a live progress line (see kernel_client.worker.logtee)
_TRIAL_END = {
    TRIAL_FINISHED: "finished",
    TRIAL_FAILED: "failed",
    TRIAL_CANCELLED: "cancelled",
}


MAX_ID_TEXT = 200  # trial and model ids are "<job>-<index>"
MAX_METRICS_DEPTH = 8  # a trial's final metrics: names to numbers, or to small objects
MAX_CAPACITY = 10_000  # trials one worker may run at once
MAX_CLUSTER_DEPTH = 4  # a worker's cluster: counts, and a list of nodes with their counts
MAX_CLUSTER_TEXT = 16 * 1024  # its JSON, shown in every worker view
_OPTIONAL_INTS = {
    PROGRESS: ("epoch", "epochs", "batch", "batches"),
    TRIAL_STARTED: ("resumed_from_epoch",),
    METRIC: ("step",),
}


def _is_count(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_INT


def capacity_problem(message: dict[str, Any]) -> str | None:
    """What is wrong with the ``capacity`` and ``cluster`` of a hello or ``capacity`` event."""
    capacity, cluster = message.get("capacity"), message.get("cluster")
    if capacity is not None and not (type(capacity) is int and 1 <= capacity <= MAX_CAPACITY):
        return f"capacity must be an integer from 1 to {MAX_CAPACITY}"
    if cluster is not None and not (
        isinstance(cluster, dict)
        and nesting_depth(cluster, MAX_CLUSTER_DEPTH) <= MAX_CLUSTER_DEPTH
        and len(json.dumps(cluster)) <= MAX_CLUSTER_TEXT
    ):
        return (
            f"cluster must be an object nested at most {MAX_CLUSTER_DEPTH} deep, at most "
            f"{MAX_CLUSTER_TEXT} characters of JSON"
        )
    return None


def event_problem(event: dict[str, Any]) -> str | None:
    """What is wrong with an event's fields (None: nothing), checked before any is stored.

    Ids and counts are integers the store can hold, texts are strings, a metric's value is a
    number (non-finite ones arrive as text, see ``messages.decode``, and are kept so).
    """
    kind = event.get("type")
    if kind == CAPACITY:
        if event.get("capacity") is None:
            return "a capacity event needs capacity"
        return capacity_problem(event)
    if not _is_count(event.get("job_id")):
        return f"job_id must be an integer from 0 to {MAX_INT}"
    for key in ("trial_id", "model_id", "time", "node", "node_lost"):
        value = event.get(key)
        if value is not None and not (isinstance(value, str) and len(value) <= MAX_ID_TEXT):
            return f"{key} must be a string of at most {MAX_ID_TEXT} characters"
    attempt = event.get("attempt")
    if attempt is not None and not _is_count(attempt):
        return f"attempt must be an integer from 0 to {MAX_INT}"
    for key in _OPTIONAL_INTS.get(kind, ()):  # type: ignore[arg-type]
        if event.get(key) is not None and not _is_count(event.get(key)):
            return f"{kind} {key} must be an integer from 0 to {MAX_INT}"
    if kind in (PROGRESS, TRIAL_STARTED, *_TRIAL_END) and event.get("trial_id") is None:
        return f"{kind} needs a trial_id"
    if kind == LOG and not isinstance(event.get("text", ""), str):
        return "log text must be a string"
    if kind == METRIC:
        number: Any = event.get("value")
        if not isinstance(event.get("name"), str) or not (
            number in NON_FINITE
            or (type(number) in (int, float) and abs(number) <= 1.7976931348623157e308)
        ):
            return "a metric needs a string name and a number value"
    if kind in _TRIAL_END or kind in (JOB_FAILED, JOB_FINISHED, JOB_CANCELLED):
        error, metrics = event.get("error"), event.get("metrics")
        if error is not None and not isinstance(error, str):
            return "error must be a string"
        if metrics is not None and not (
            isinstance(metrics, dict)
            and nesting_depth(metrics, MAX_METRICS_DEPTH) <= (MAX_METRICS_DEPTH)
        ):
            return f"metrics must be an object nested at most {MAX_METRICS_DEPTH} deep"
    return None


class EventApplier:
    """Turns events into rows; collects what subscribers must be told afterwards.

    Only the holder of a trial's lease may write about it: events for a trial leased to
    another worker, re-queued, or of an older ``attempt`` are ignored (late results). What is
    refused is never silent: a system line in the job's log says how many events of which
    trial and attempt were not stored, and why (the worker's local log keeps them).
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
        self.trials_changed: dict[int, set[str]] = {}  # job -> its trials this batch changed
        self.handed_back = False  # the worker gave a trial back without a job cancel
        self.capacity_changed = False  # it said how many trials it runs at once now
        #: (job, trial, step, value) of the points of a search's metric (for its pruner)
        self.reports: list[tuple[int, str, int, float]] = []
        self._search_metrics: dict[int, str | None] = {}  # job -> its search's metric
        self._leases: dict[str, list[Any] | None] = {}
        self._jobs: dict[int, bool] = {}
        self._logs: list[tuple[Any, ...]] = []
        self._metrics: list[tuple[Any, ...]] = []
        self._logged: list[dict[str, Any]] = []
        #: (job, trial, stream) -> the latest live state of a line being rewritten
        self._live: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._measured: list[dict[str, Any]] = []
        #: (job, trial, attempt) -> event type -> count, for events refused (lease moved)
        self._refused: dict[tuple[int, str, Any], dict[str, int]] = {}
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
            CAPACITY: self._on_capacity,
        }
        assert set(self._handlers) == EVENT_TYPES

    def apply(self, events: list[Any]) -> None:
        """Apply the events in ``seq`` order; skip resends, note malformed ones in problems."""
        handlers = self._handlers
        for event in events:
            seq = event.get("seq") if isinstance(event, dict) else None
            if type(seq) is not int or not 1 <= seq <= MAX_INT:
                self.problems.append(
                    f"an event must be an object with a positive integer seq (<= {MAX_INT})"
                )
                continue
            if seq <= self.last_seq:
                continue  # already stored: a resend
            self.last_seq = seq
            kind, job_id = event.get("type"), event.get("job_id")
            handler = handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                self.problems.append(f"event {seq}: unknown type {kind!r:.40}")
                continue
            problem = event_problem(event)
            if problem is not None:
                self.problems.append(f"event {seq}: {problem}")
                continue
            trial_id = event.get("trial_id")
            if kind == CAPACITY:
                handler(event, 0)
            elif trial_id is None:
                if self._worked_on(job_id):
                    handler(event, job_id)
            elif self._holds(trial_id, job_id, event):
                handler(event, job_id)
            else:
                self._refuse(trial_id, job_id, event)
        self._mark_refused()
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
        if lease[2] == "pruned":  # its log goes on until it stops; then it ends as it is
            return event["type"] == LOG or event["type"] in _TRIAL_END
        return lease[2] == "running" or (lease[2] == "finished" and event["type"] == LOG)

    def _refuse(self, trial_id: Any, job_id: int, event: dict[str, Any]) -> None:
        """Count an event of a trial this worker's lease does not cover (any more)."""
        lease = self._lease(trial_id)
        if lease is None or lease[0] != job_id:
            return  # no such trial in that job: nothing a lease could explain
        key = (job_id, str(trial_id), event.get("attempt"))
        counts = self._refused.setdefault(key, {})
        counts[event["type"]] = counts.get(event["type"], 0) + 1

    def _mark_refused(self) -> None:
        """One system log line per (trial, attempt) whose events were refused in this batch."""
        if not self._refused:
            return
        name = self.conn.execute(
            "SELECT name FROM workers WHERE id = ?", (self.worker_id,)
        ).fetchone()
        nouns = {LOG: "log line(s)", METRIC: "metric point(s)", PROGRESS: "progress update(s)"}
        for (job_id, trial_id, attempt), counts in self._refused.items():
            row = self.conn.execute(
                "SELECT t.status, t.attempt, w.name FROM trials t "
                "LEFT JOIN workers w ON w.id = t.worker_id WHERE t.id = ?",
                (trial_id,),
            ).fetchone()
            status, current, holder = row if row else ("unknown", None, None)
            if holder != (name[0] if name else None):
                why = f"its lease is now attempt {current} on worker {holder}"
            elif attempt is not None and attempt != current:
                why = f"its lease is now attempt {current}"
            else:
                why = f"the trial is {status} on the hub"
            order = [*nouns, *sorted(set(counts) - set(nouns))]  # log lines first
            parts = ", ".join(
                f"{counts[kind]} {nouns.get(kind, kind + ' event(s)')}"
                for kind in order
                if counts.get(kind)
            )
            of = f"attempt {attempt} of trial {trial_id}" if attempt else f"trial {trial_id}"
            text = (
                f"hub: {parts} of {of} from worker {name[0] if name else self.worker_id} were "
                f"not stored: {why}; that worker's local job log keeps them"
            )
            self._logs.append((job_id, trial_id, self.stamp, "system", text))
        self._refused = {}

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
        if event.get("partial") is True:  # a progress bar's latest state: shown, not stored
            if self.notify:
                self._live[(job_id, event.get("trial_id"), stream)] = {
                    "trial_id": event.get("trial_id"),
                    "stream": stream,
                    "text": text[:MAX_LIVE_TEXT],
                    "time": self._time(event),
                }
            return
        self._live.pop((job_id, event.get("trial_id"), stream), None)  # the line ended
        self._logs.append((job_id, event.get("trial_id"), self._time(event), stream, text))

    def _on_metric(self, event: dict[str, Any], job_id: int) -> None:
        value: Any = event.get("value")  # a number or non-finite text: see event_problem
        step = event.get("step") or 0
        attempt = event.get("attempt")
        if attempt is None and event.get("trial_id") is not None:  # a worker of an old version
            attempt = (self._lease(event["trial_id"]) or [None] * 4)[3]
        self._metrics.append(
            (
                job_id,
                event.get("trial_id"),
                self._time(event),
                str(event.get("name")),
                step,
                value if value in NON_FINITE else float(value),  # NaN is kept as "NaN"
                attempt,
            )
        )
        trial_id = event.get("trial_id")
        if trial_id is not None and value not in NON_FINITE:
            if job_id not in self._search_metrics:
                row = self.conn.execute(
                    "SELECT json_extract(search, '$.spec.metric') FROM jobs WHERE id = ? "
                    "AND json_extract(search, '$.spec.method') IN ('random', 'tpe')",
                    (job_id,),
                ).fetchone()
                self._search_metrics[job_id] = row[0] if row else None
            if event.get("name") == self._search_metrics[job_id]:
                self.reports.append((job_id, str(trial_id), step, float(value)))

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
        self._changed(job_id, event["trial_id"])

    def _on_capacity(self, event: dict[str, Any], job_id: int) -> None:
        """The worker runs up to ``capacity`` trials at once now (its cluster changed)."""
        cluster = event.get("cluster")
        self.conn.execute(
            "UPDATE workers SET capacity = ?, cluster = coalesce(?, cluster) WHERE id = ?",
            (
                event["capacity"],
                json.dumps(cluster) if cluster is not None else None,
                self.worker_id,
            ),
        )
        self.capacity_changed = True

    def _on_trial_started(self, event: dict[str, Any], job_id: int) -> None:
        resumed = event.get("resumed_from_epoch")
        node = event.get("node")  # where a cluster's worker runs it
        self.conn.execute(
            "UPDATE trials SET started = coalesce(started, ?), resumed_from_epoch = ?, "
            "node = ? WHERE id = ?",
            (
                self._time(event),
                resumed if type(resumed) is int else None,
                node if isinstance(node, str) else None,
                event["trial_id"],
            ),
        )
        self._changed(job_id, event["trial_id"])

    def _end_trial(self, event: dict[str, Any], job_id: int) -> None:
        """A trial ended. Cancelled without a job cancel means the worker let it go: re-queue
        (and offer that stopping worker nothing more, unless it says a cluster node was lost).
        A trial whose model is stored ends finished whatever its worker says (its one result
        exists), and its model is the stored one, never a name from the event."""
        trial_id = event["trial_id"]
        if self._leases[trial_id][2] == "pruned":  # type: ignore[index]
            self.conn.execute(  # it stopped as the hub asked: it stays pruned
                "UPDATE workers SET current_job = NULL, current_trial = NULL "
                "WHERE id = ? AND current_trial = ?",
                (self.worker_id, trial_id),
            )
            self._refill_current()
            return
        status = _TRIAL_END[event["type"]]
        error = event.get("error")
        if (
            status == "cancelled"
            and not self.conn.execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()[0]
        ):
            node = event.get("node_lost")
            if isinstance(node, str):  # a cluster's node died: its worker goes on
                status, error = "pending", f"re-queued: its cluster node {node} was lost"
            else:
                status, error = "pending", "re-queued: its worker stopped before the trial ended"
                self.handed_back = True
        if (
            status != "finished"
            and self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM models WHERE id = ?)", (trial_id,)
            ).fetchone()[0]
        ):
            sent = event["type"]
            text = f"trial {trial_id} ends finished, its model stored (its worker sent {sent})"
            self._logs.append((job_id, trial_id, self.stamp, "system", text))
            status, error = "finished", None
        metrics = event.get("metrics") if isinstance(event.get("metrics"), dict) else None
        self.conn.execute(
            "UPDATE trials SET status = ?, finished = ?, error = ?, "
            "metrics = coalesce(?, metrics), "
            "model_id = (SELECT m.id FROM models m WHERE m.id = trials.id) WHERE id = ?",
            (
                status,
                None if status == "pending" else self._time(event),
                error,
                json.dumps(metrics) if metrics is not None else None,
                trial_id,
            ),
        )
        self.conn.execute(
            "UPDATE workers SET current_job = NULL, current_trial = NULL "
            "WHERE id = ? AND current_trial = ?",
            (self.worker_id, trial_id),
        )
        self._refill_current()
        self._leases[trial_id][2] = status  # type: ignore[index]
        self._changed(job_id, trial_id)

    def _refill_current(self) -> None:
        """A worker of several trials at once names its newest running one as current."""
        self.conn.execute(
            "UPDATE workers SET (current_job, current_trial) = ("
            " SELECT t.job_id, t.id FROM trials t WHERE t.worker_id = workers.id"
            " AND t.status = 'running' ORDER BY t.started DESC, t.id DESC LIMIT 1) "
            "WHERE id = ? AND current_trial IS NULL AND capacity > 1",
            (self.worker_id,),
        )

    def _changed(self, job_id: int, trial_id: str) -> None:
        self.jobs_changed.add(job_id)
        self.trials_changed.setdefault(job_id, set()).add(trial_id)

    def _end_assignment(self, event: dict[str, Any], job_id: int) -> None:
        """The worker is done with what it was given; the job's status is derived later."""
        self.jobs_changed.add(job_id)

    def _flush(self) -> None:
        self._logged += self._insert("logs", "stream, text", self._logs)
        self._measured += self._insert("metrics", "name, step, value, attempt", self._metrics)
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
        """``log`` and ``metric`` messages, one per job, in seq order. A ``log`` message also
        carries ``live``: the latest state of lines still being rewritten (never stored)."""
        out: list[dict[str, Any]] = []
        live: dict[int, list[dict[str, Any]]] = {}
        for (job_id, *_), state in self._live.items():
            live.setdefault(job_id, []).append(state)
        for kind, key, rows in (
            (LOG_LINES, "lines", self._logged),
            (METRIC_POINTS, "points", self._measured),
        ):
            by_job: dict[int, list[dict]] = {}
            for row in rows:
                by_job.setdefault(row["job_id"], []).append(row)
            if kind == LOG_LINES:
                for job_id in live:
                    by_job.setdefault(job_id, [])
            out += [
                {"type": kind, "job_id": j, key: r, **({"live": live[j]} if j in live else {})}
                if kind == LOG_LINES
                else {"type": kind, "job_id": j, key: r}
                for j, r in by_job.items()
            ]
        return out
