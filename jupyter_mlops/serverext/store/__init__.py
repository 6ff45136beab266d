"""The model store: workers, jobs, trials, logs, metrics, models and deployments in SQLite.

This is the only module that speaks SQL. It is used from one thread (the server's event
loop), so it is the single writer; every write that decides something runs in one
``BEGIN IMMEDIATE`` transaction, so it is also safe against a second process on the file.
Methods raise NotFound, Conflict or InvalidInput (see errors.py).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from jupyter_mlops.serverext.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.serverext.store.schema import JSON_COLUMNS, migrations

Row = dict[str, Any]
ACTIVE_JOB = ("queued", "running")


def now() -> str:
    """The current UTC time as an ISO string with milliseconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _decode(table: str, row: Row | None) -> Row | None:
    if row is None:
        return None
    for column in JSON_COLUMNS.get(table, ()):
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    return row


class Store:
    """SQLite-backed store under ``root`` (``mlops.db``; model files live in the blob folder)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "mlops.db"
        self.db = Database(self.path)
        self.db.conn.execute("PRAGMA journal_mode=WAL")
        self.db.conn.execute("PRAGMA synchronous=NORMAL")
        self.db.conn.execute("PRAGMA busy_timeout=5000")
        migrations.apply(self.db)
        self.db.conn.isolation_level = None  # autocommit; transactions are explicit

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately (no lock upgrade races)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _one(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        rows = list(self.db.query(sql, params))
        return _decode(table, rows[0]) if rows else None

    def _all(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return [_decode(table, row) for row in self.db.query(sql, params)]  # type: ignore[misc]

    # ------------------------------------------------------------------ workers
    def register_worker(
        self,
        *,
        name: str,
        session: str,
        notebook: str,
        defaults: dict[str, Any],
        device: str,
        versions: dict[str, Any],
    ) -> tuple[Row, list[int]]:
        """Bring a worker session online; return it and the ids of jobs it orphaned.

        The same session reconnecting keeps its row (and its ``last_seq``). A new session
        takes over an offline worker of the same name (its running jobs are orphaned); a name
        held by an online worker gets a ``-NN`` suffix.
        """
        fields = {
            "notebook": notebook,
            "defaults": json.dumps(defaults),
            "device": device,
            "versions": json.dumps(versions),
            "online": 1,
            "last_seen": now(),
        }
        orphaned: list[int] = []
        with self.transaction() as conn:
            row = self._one("workers", "SELECT * FROM workers WHERE session = ?", (session,))
            if row is None:
                holder = self._one("workers", "SELECT * FROM workers WHERE name = ?", (name,))
                if holder is not None and not holder["online"]:
                    orphaned = self._orphan_jobs(conn, holder["id"])
                    fields.update(session=session, last_seq=0, current_job=None, current_trial=None)
                    row = holder
                else:
                    final = name if holder is None else self._free_name(name)
                    cur = conn.execute(
                        "INSERT INTO workers (name, session, created) VALUES (?, ?, ?)",
                        (final, session, now()),
                    )
                    row = {"id": cur.lastrowid}
            assignments = ", ".join(f"{k} = ?" for k in fields)
            conn.execute(
                f"UPDATE workers SET {assignments} WHERE id = ?", (*fields.values(), row["id"])
            )
        return self.get_worker(row["id"]), orphaned

    def _free_name(self, name: str) -> str:
        taken = {
            r["name"]
            for r in self.db.query("SELECT name FROM workers WHERE name LIKE ?", (f"{name}-%",))
        }
        return next(f"{name}-{n:02d}" for n in range(1, 10_000) if f"{name}-{n:02d}" not in taken)

    def _orphan_jobs(self, conn: sqlite3.Connection, worker_id: int) -> list[int]:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM jobs WHERE worker_id = ? AND status = 'running'", (worker_id,)
            )
        ]
        return ids

    def set_worker_offline(self, worker_id: int) -> Row:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE workers SET online = 0, last_seen = ? WHERE id = ?", (now(), worker_id)
            )
        return self.get_worker(worker_id)

    def mark_all_workers_offline(self) -> None:
        """At start-up no socket is open yet, so no worker is online."""
        with self.transaction() as conn:
            conn.execute("UPDATE workers SET online = 0 WHERE online = 1")

    def get_worker(self, worker_id: int) -> Row:
        row = self._one("workers", "SELECT * FROM workers WHERE id = ?", (worker_id,))
        if row is None:
            raise NotFound(f"no worker with id {worker_id}")
        return self._worker_view(row)

    def find_worker(self, name: str) -> Row:
        row = self._one("workers", "SELECT * FROM workers WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no worker named {name!r}; GET /mlops/api/workers lists them")
        return self._worker_view(row)

    def list_workers(self) -> list[Row]:
        return [
            self._worker_view(r)
            for r in self._all(
                "workers", "SELECT * FROM workers ORDER BY online DESC, last_seen DESC"
            )
        ]

    @staticmethod
    def _worker_view(row: Row) -> Row:
        row["online"] = bool(row["online"])
        row["status"] = (
            "offline"
            if not row["online"]
            else ("busy" if row["current_job"] is not None else "idle")
        )
        return row

    def last_seq(self, worker_id: int) -> int:
        return self.get_worker(worker_id)["last_seq"]

    # --------------------------------------------------------------------- jobs
    def create_job(
        self, requested_worker: str, conf: dict[str, Any], trials: list[dict[str, Any]]
    ) -> Row:
        """Queue a job and its trials (ids ``<job>-<index>``)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO jobs (requested_worker, conf, status, created, trial_count) "
                "VALUES (?, ?, 'queued', ?, ?)",
                (requested_worker, json.dumps(conf), now(), len(trials)),
            )
            job_id = cur.lastrowid
            conn.executemany(
                "INSERT INTO trials (id, job_id, idx, params, status) "
                "VALUES (?, ?, ?, ?, 'pending')",
                [(f"{job_id}-{i}", job_id, i, json.dumps(p)) for i, p in enumerate(trials)],
            )
        return self.get_job(job_id)  # type: ignore[arg-type]

    def assign_next_job(self, worker_id: int) -> Row | None:
        """Give an idle online worker its oldest queued job, in one transaction."""
        with self.transaction() as conn:
            worker = self._one("workers", "SELECT * FROM workers WHERE id = ?", (worker_id,))
            if worker is None or not worker["online"] or worker["current_job"] is not None:
                return None
            job = conn.execute(
                "SELECT id FROM jobs WHERE status = 'queued' "
                "AND (requested_worker = 'any' OR requested_worker = ?) ORDER BY id LIMIT 1",
                (worker["name"],),
            ).fetchone()
            if job is None:
                return None
            conn.execute(
                "UPDATE jobs SET status = 'running', worker_id = ?, started = ? WHERE id = ?",
                (worker_id, now(), job[0]),
            )
            conn.execute("UPDATE workers SET current_job = ? WHERE id = ?", (job[0], worker_id))
        return self.get_job(job[0])

    def running_jobs(self) -> list[Row]:
        return self._all("jobs", "SELECT * FROM jobs WHERE status = 'running'")

    def get_job(self, job_id: int, trials: bool = True) -> Row:
        row = self._one("jobs", f"{self._JOB_SELECT} WHERE j.id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no job with id {job_id}")
        job = self._job_view(row)
        if trials:
            job["trials"] = self.job_trials(job_id)
        return job

    _JOB_SELECT = (
        "SELECT j.*, w.name AS worker_name, "
        "(SELECT count(*) FROM trials t WHERE t.job_id = j.id "
        " AND t.status IN ('finished', 'failed', 'cancelled')) AS trials_done "
        "FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id"
    )

    @staticmethod
    def _job_view(row: Row) -> Row:
        row["worker"] = row.pop("requested_worker")
        row["cancel_requested"] = bool(row["cancel_requested"])
        row["progress"] = row["trials_done"] / row["trial_count"] if row["trial_count"] else 1.0
        return row

    def list_jobs(self, limit: int = 200) -> list[Row]:
        return [
            self._job_view(r)
            for r in self._all("jobs", f"{self._JOB_SELECT} ORDER BY j.id DESC LIMIT ?", (limit,))
        ]

    def job_trials(self, job_id: int) -> list[Row]:
        rows = self._all("trials", "SELECT * FROM trials WHERE job_id = ? ORDER BY idx", (job_id,))
        for row in rows:
            row["index"] = row.pop("idx")
        return rows

    def get_trial(self, trial_id: str) -> Row:
        row = self._one("trials", "SELECT * FROM trials WHERE id = ?", (trial_id,))
        if row is None:
            raise NotFound(f"no trial with id {trial_id!r} (ids look like '<job>-<index>')")
        row["index"] = row.pop("idx")
        return row

    def request_cancel(self, job_id: int) -> Row:
        """Cancel a queued job now; flag a running one (its worker stops between batches)."""
        with self.transaction() as conn:
            job = self.get_job(job_id, trials=False)
            if job["status"] == "queued":
                self._end_job(conn, job_id, "cancelled", None)
            elif job["status"] == "running":
                conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            else:
                raise Conflict(f"job {job_id} is already {job['status']}; nothing to cancel")
        return self.get_job(job_id)

    def end_job(self, job_id: int, status: str, error: str | None) -> Row:
        """Close a job from the hub's side (cancelled while offline, worker lost)."""
        with self.transaction() as conn:
            self._end_job(conn, job_id, status, error)
        return self.get_job(job_id)

    def _end_job(
        self, conn: sqlite3.Connection, job_id: int, status: str, error: str | None
    ) -> None:
        stamp = now()
        conn.execute(
            "UPDATE jobs SET status = ?, error = coalesce(?, error), finished = ? WHERE id = ?",
            (status, error, stamp, job_id),
        )
        trial_status = "failed" if status in ("failed", "interrupted") else "cancelled"
        conn.execute(
            "UPDATE trials SET status = ?, finished = ?, error = coalesce(error, ?) "
            "WHERE job_id = ? AND status = 'running'",
            (trial_status, stamp, error, job_id),
        )
        conn.execute(
            "UPDATE trials SET status = 'cancelled' WHERE job_id = ? AND status = 'pending'",
            (job_id,),
        )
        conn.execute(
            "UPDATE workers SET current_job = NULL, current_trial = NULL WHERE current_job = ?",
            (job_id,),
        )

    # ------------------------------------------------------------------- events
    def apply_events(self, worker_id: int, events: list[Row]) -> tuple[int, list[Row]]:
        """Persist a worker's events in one transaction; return (last_seq, notifications).

        Events whose ``seq`` is already stored are skipped, so a resend is harmless.
        Notifications are ``log``, ``metric`` and ``job`` messages for subscribers.
        """
        from jupyter_mlops.serverext.store.events import EventApplier

        with self.transaction() as conn:
            last = conn.execute(
                "SELECT last_seq FROM workers WHERE id = ?", (worker_id,)
            ).fetchone()
            if last is None:
                raise NotFound(f"no worker with id {worker_id}")
            applier = EventApplier(self, conn, worker_id, last[0])
            applier.apply(events)
            conn.execute(
                "UPDATE workers SET last_seq = ?, last_seen = ? WHERE id = ?",
                (applier.last_seq, now(), worker_id),
            )
        notifications = applier.notifications()
        notifications += [{"type": "job", "job": self.get_job(j)} for j in applier.jobs_changed]
        return applier.last_seq, notifications

    def job_logs(self, job_id: int, after: int = 0, limit: int = 10_000) -> list[Row]:
        self.get_job(job_id, trials=False)
        return self._all(
            "logs",
            "SELECT * FROM logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )

    def job_metrics(self, job_id: int, after: int = 0, limit: int = 100_000) -> list[Row]:
        self.get_job(job_id, trials=False)
        return self._all(
            "metrics",
            "SELECT * FROM metrics WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )

    # ------------------------------------------------------------------- models
    def add_model(
        self,
        trial_id: str,
        sha256: str,
        size: int,
        metadata: dict[str, Any],
    ) -> tuple[Row, bool]:
        """Record a trial's model; return (model, created). Idempotent for the same file."""
        with self.transaction() as conn:
            trial = self.get_trial(trial_id)
            existing = self._one("models", "SELECT * FROM models WHERE id = ?", (trial_id,))
            if existing is not None:
                if existing["sha256"] != sha256:
                    raise Conflict(
                        f"trial {trial_id} already has a different model "
                        f"(sha256 {existing['sha256'][:12]})"
                    )
                return self.get_model(trial_id), False
            worker = conn.execute(
                "SELECT w.name FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id "
                "WHERE j.id = ?",
                (trial["job_id"],),
            ).fetchone()
            conn.execute(
                "INSERT INTO models (id, job_id, trial_id, worker, sha1, sha256, size, "
                "param_count, metrics, hyperparameters, classes, input_size, normalization, "
                "program, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial_id,
                    trial["job_id"],
                    trial_id,
                    worker[0] if worker else None,
                    metadata["sha1"],
                    sha256,
                    size,
                    metadata.get("param_count"),
                    json.dumps(metadata.get("metrics") or {}),
                    json.dumps(metadata.get("hyperparameters") or trial["params"]),
                    json.dumps(metadata["classes"]),
                    json.dumps(metadata["input_size"]),
                    json.dumps(metadata.get("normalization") or {}),
                    metadata["program"],
                    now(),
                ),
            )
            conn.execute("UPDATE trials SET model_id = ? WHERE id = ?", (trial_id, trial_id))
        return self.get_model(trial_id), True

    _MODEL_SELECT = (
        "SELECT m.*, (m.id = (SELECT model_id FROM deployments ORDER BY id DESC LIMIT 1)) "
        "AS deployed, t.idx AS trial_index FROM models m JOIN trials t ON t.id = m.trial_id"
    )

    @staticmethod
    def _model_view(row: Row) -> Row:
        row["deployed"] = bool(row["deployed"])
        return row

    def get_model(self, model_id: str) -> Row:
        row = self._one("models", f"{self._MODEL_SELECT} WHERE m.id = ?", (model_id,))
        if row is None:
            raise NotFound(f"no model with id {model_id!r}; GET /mlops/api/models lists them")
        return self._model_view(row)

    def list_models(self) -> list[Row]:
        return [
            self._model_view(r)
            for r in self._all("models", f"{self._MODEL_SELECT} ORDER BY m.job_id DESC, t.idx")
        ]

    def delete_all_models(self) -> tuple[int, list[str]]:
        """Delete every model and the deployment history; return (count, freed sha256s)."""
        with self.transaction() as conn:
            shas = [r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM models")]
            conn.execute("DELETE FROM deployments")
            count = conn.execute("DELETE FROM models").rowcount
            conn.execute("UPDATE trials SET model_id = NULL")
        return count, shas

    # -------------------------------------------------------------- deployments
    def deploy(self, model_id: str, reason: str, metric: str) -> Row:
        """Deploy a model unconditionally (a manual deploy or rollback)."""
        with self.transaction() as conn:
            model = self.get_model(model_id)
            self._insert_deployment(conn, model, reason, metric)
        return self.current_deployment()  # type: ignore[return-value]

    def deploy_if_better(self, model_id: str, metric: str, higher_is_better: bool) -> Row | None:
        """Compare-and-set: deploy when the model beats what is deployed now (one transaction).

        A model without the metric never wins; with nothing deployed, any model with it does.
        """
        with self.transaction() as conn:
            model = self.get_model(model_id)
            value = model["metrics"].get(metric)
            if not isinstance(value, (int, float)):
                return None
            current = conn.execute(
                "SELECT metric_value, model_id FROM deployments ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if current is not None:
                if current[1] == model_id or current[0] is None:
                    return None
                better = value > current[0] if higher_is_better else value < current[0]
                if not better:
                    return None
            self._insert_deployment(conn, model, "auto", metric)
        return self.current_deployment()

    def _insert_deployment(
        self, conn: sqlite3.Connection, model: Row, reason: str, metric: str
    ) -> None:
        value = model["metrics"].get(metric)
        conn.execute(
            "INSERT INTO deployments (model_id, sha1, sha256, time, reason, metric, "
            "metric_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                model["id"],
                model["sha1"],
                model["sha256"],
                now(),
                reason,
                metric,
                value if isinstance(value, (int, float)) else None,
            ),
        )

    def current_deployment(self) -> Row | None:
        rows = self.deployment_history(limit=1)
        return rows[0] if rows else None

    def deployment_history(self, limit: int = 1000) -> list[Row]:
        rows = self._all(
            "deployments", "SELECT * FROM deployments ORDER BY id DESC LIMIT ?", (limit,)
        )
        for row in rows:
            row["model"] = self.get_model(row["model_id"])
        return rows

    def check_model_id(self, model_id: str) -> Row:
        """The trial a model upload is for (the model id is the trial id)."""
        if not isinstance(model_id, str) or not model_id:
            raise InvalidInput("model_id must be a string like '7-0'")
        return self.get_trial(model_id)
