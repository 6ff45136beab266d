"""Store queries for jobs and trials: queueing, leases, cancel, retry, checkpoints, events.

A job's trials are leased to workers one at a time. A worker is busy while it holds a running
trial; a job's status is derived from its trials (see ``_refresh_job``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from jupyter_mlops.serverext.errors import Conflict, NotFound
from jupyter_mlops.serverext.store.base import Row, StoreBase, now

ENDED = ("finished", "failed", "cancelled")


class Applied(NamedTuple):
    """What applying a batch of worker events changed."""

    last_seq: int
    notifications: list[Row]
    jobs_changed: set[int]
    idle: bool
    handed_back: bool
    problems: list[str]  # events skipped as malformed


class JobQueries(StoreBase):
    """Jobs, trials and their leases; logs and metrics of a job."""

    _JOB_SELECT = (
        "SELECT j.*, (SELECT count(*) FROM trials t WHERE t.job_id = j.id "
        " AND t.status IN ('finished', 'failed', 'cancelled')) AS trials_done FROM jobs j"
    )
    _TRIAL_SELECT = (
        "SELECT t.*, w.name AS worker_name FROM trials t LEFT JOIN workers w ON w.id = t.worker_id"
    )

    def create_job(
        self, requested_worker: str | list[str], conf: dict[str, Any], trials: list[dict[str, Any]]
    ) -> Row:
        """Queue a job and its trials (ids ``<job>-<index>``)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO jobs (requested_worker, conf, status, created, trial_count) "
                "VALUES (?, ?, 'queued', ?, ?)",
                (
                    requested_worker
                    if isinstance(requested_worker, str)
                    else json.dumps(requested_worker),
                    json.dumps(conf),
                    now(),
                    len(trials),
                ),
            )
            job_id = cur.lastrowid
            conn.executemany(
                "INSERT INTO trials (id, job_id, idx, params, status) "
                "VALUES (?, ?, ?, ?, 'pending')",
                [(f"{job_id}-{i}", job_id, i, json.dumps(p)) for i, p in enumerate(trials)],
            )
        return self.get_job(job_id)  # type: ignore[arg-type]

    def assign_next_trial(self, worker_id: int) -> tuple[Row, Row] | None:
        """Lease the oldest pending trial this idle worker accepts; return (job, trial).

        A worker accepts a job launched for it, for a set of workers naming it, or for "any",
        whose conf keys it declares.
        """
        with self.transaction() as conn:
            worker = self._one("workers", "SELECT * FROM workers WHERE id = ?", (worker_id,))
            if worker is None or not worker["online"] or worker["current_trial"] is not None:
                return None
            candidates = conn.execute(
                "SELECT t.id, j.id, j.conf, j.requested_worker FROM trials t "
                "JOIN jobs j ON j.id = t.job_id "
                "WHERE t.status = 'pending' AND j.status IN ('queued', 'running') "
                "AND j.cancel_requested = 0 "
                "AND (j.requested_worker IN ('any', ?) OR j.requested_worker LIKE '[%') "
                "ORDER BY j.id, t.idx LIMIT 1000",
                (worker["name"],),
            ).fetchall()
            declared = set(worker["defaults"] or {})

            def accepts(candidate: tuple[Any, ...]) -> bool:
                wanted = candidate[3]
                if wanted.startswith("[") and worker["name"] not in json.loads(wanted):
                    return False
                return not declared or set(json.loads(candidate[2])) <= declared

            chosen = next((c for c in candidates if accepts(c)), None)
            if chosen is None:
                return None
            trial_id, job_id = chosen[0], chosen[1]
            stamp = now()
            conn.execute(
                "UPDATE trials SET status = 'running', worker_id = ?, attempt = attempt + 1, "
                "started = ?, finished = NULL, resumed_from_epoch = NULL "
                "WHERE id = ?",
                (worker_id, stamp, trial_id),
            )
            conn.execute(
                "UPDATE jobs SET status = 'running', started = coalesce(started, ?) WHERE id = ?",
                (stamp, job_id),
            )
            conn.execute(
                "UPDATE workers SET current_job = ?, current_trial = ? WHERE id = ?",
                (job_id, trial_id, worker_id),
            )
        return self.get_job(job_id), self.get_trial(trial_id)

    def leased_workers(self) -> list[int]:
        """Workers that hold a running trial (after a restart they must come back)."""
        return [
            r[0]
            for r in self.db.conn.execute(
                "SELECT DISTINCT worker_id FROM trials WHERE status = 'running' "
                "AND worker_id IS NOT NULL"
            )
        ]

    def release_worker_trials(self, worker_id: int, reason: str) -> list[tuple[int, str]]:
        """Put the worker's running trials back to pending; return their (job, trial) ids."""
        with self.transaction() as conn:
            return self._release(conn, worker_id, reason)

    def _release(
        self, conn: sqlite3.Connection, worker_id: int, reason: str
    ) -> list[tuple[int, str]]:
        leases = [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT job_id, id FROM trials WHERE worker_id = ? AND status = 'running'",
                (worker_id,),
            )
        ]
        for job_id, trial_id in leases:
            conn.execute(
                "UPDATE trials SET status = 'pending', error = ? WHERE id = ?",
                (f"re-queued: {reason}", trial_id),
            )
            self._system_log(conn, job_id, trial_id, f"trial {trial_id} re-queued: {reason}")
            self._refresh_job(conn, job_id)
        conn.execute(
            "UPDATE workers SET current_job = NULL, current_trial = NULL WHERE id = ?", (worker_id,)
        )
        return leases

    def _system_log(
        self, conn: sqlite3.Connection, job_id: int, trial_id: str | None, text: str
    ) -> None:
        conn.execute(
            "INSERT INTO logs (seq, job_id, trial_id, time, stream, text) VALUES "
            "((SELECT coalesce(max(seq), 0) + 1 FROM logs), ?, ?, ?, 'system', ?)",
            (job_id, trial_id, now(), text),
        )

    def _refresh_job(self, conn: sqlite3.Connection, job_id: int) -> None:
        """Derive the job's status from its trials (and a pending cancel)."""
        counts = dict(
            conn.execute(
                "SELECT status, count(*) FROM trials WHERE job_id = ? GROUP BY status", (job_id,)
            )
        )
        cancel = conn.execute(
            "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()[0]
        if cancel and counts.get("pending"):
            conn.execute(
                "UPDATE trials SET status = 'cancelled' WHERE job_id = ? AND status = 'pending'",
                (job_id,),
            )
            counts["cancelled"] = counts.get("cancelled", 0) + counts.pop("pending")
        if counts.get("running"):
            status = "running"
        elif counts.get("pending"):
            status = "queued"
        elif cancel or (
            counts.get("cancelled") and not counts.get("finished") and not counts.get("failed")
        ):
            status = "cancelled"
        else:
            status = "finished" if counts.get("finished") else "failed"
        conn.execute(
            "UPDATE jobs SET status = ?, finished = CASE WHEN ? THEN coalesce(finished, ?) "
            "ELSE NULL END WHERE id = ?",
            (status, status in ENDED, now(), job_id),
        )

    def get_job(self, job_id: int, trials: bool = True) -> Row:
        row = self._one("jobs", f"{self._JOB_SELECT} WHERE j.id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no job with id {job_id}")
        job = self._job_view(row)
        if trials:
            job["trials"] = self.job_trials(job_id)
        return job

    @staticmethod
    def _job_view(row: Row) -> Row:
        wanted = row.pop("requested_worker")
        row["worker"] = json.loads(wanted) if wanted.startswith("[") else wanted
        row.pop("worker_id", None)
        row["cancel_requested"] = bool(row["cancel_requested"])
        row["progress"] = row["trials_done"] / row["trial_count"] if row["trial_count"] else 1.0
        return row

    def list_jobs(self, limit: int = 200) -> list[Row]:
        return [
            self._job_view(r)
            for r in self._all("jobs", f"{self._JOB_SELECT} ORDER BY j.id DESC LIMIT ?", (limit,))
        ]

    @staticmethod
    def _trial_view(row: Row) -> Row:
        row["index"] = row.pop("idx")
        if row.pop("checkpoint_sha256", None) is None:
            row["checkpoint_epoch"] = None  # dropped once the trial's model was stored
        return row

    def job_trials(self, job_id: int) -> list[Row]:
        return [
            self._trial_view(r)
            for r in self._all(
                "trials", f"{self._TRIAL_SELECT} WHERE t.job_id = ? ORDER BY t.idx", (job_id,)
            )
        ]

    def get_trial(self, trial_id: str) -> Row:
        row = self._one("trials", f"{self._TRIAL_SELECT} WHERE t.id = ?", (trial_id,))
        if row is None:
            raise NotFound(f"no trial with id {trial_id!r} (ids look like '<job>-<index>')")
        return self._trial_view(row)

    def request_cancel(self, job_id: int) -> tuple[Row, list[tuple[int, str]]]:
        """Cancel a job: pending trials now; return it and the (worker, trial) leases to stop."""
        with self.transaction() as conn:
            job = self.get_job(job_id, trials=False)
            if job["status"] not in ("queued", "running"):
                raise Conflict(f"job {job_id} is already {job['status']}; nothing to cancel")
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            self._refresh_job(conn, job_id)
            leases = [
                (r[0], r[1])
                for r in conn.execute(
                    "SELECT worker_id, id FROM trials WHERE job_id = ? AND status = 'running'",
                    (job_id,),
                )
            ]
        return self.get_job(job_id), leases

    def cancel_trial(self, trial_id: str, reason: str) -> None:
        """End a running trial as cancelled from the hub's side (its worker is offline)."""
        with self.transaction() as conn:
            trial = self.get_trial(trial_id)
            conn.execute(
                "UPDATE trials SET status = 'cancelled', finished = ?, error = ? "
                "WHERE id = ? AND status = 'running'",
                (now(), reason, trial_id),
            )
            conn.execute(
                "UPDATE workers SET current_job = NULL, current_trial = NULL "
                "WHERE current_trial = ?",
                (trial_id,),
            )
            self._refresh_job(conn, trial["job_id"])

    def retry_job(self, job_id: int) -> Row:
        """Put a job's failed trials back to pending."""
        with self.transaction() as conn:
            self.get_job(job_id, trials=False)
            changed = conn.execute(
                "UPDATE trials SET status = 'pending', error = 'retry requested', "
                "finished = NULL WHERE job_id = ? AND status = 'failed'",
                (job_id,),
            ).rowcount
            if not changed:
                raise Conflict(f"job {job_id} has no failed trial to retry")
            conn.execute(
                "UPDATE jobs SET cancel_requested = 0, error = NULL WHERE id = ?", (job_id,)
            )
            self._refresh_job(conn, job_id)
        return self.get_job(job_id)

    def check_lease(self, trial_id: str, attempt: int | None) -> Row:
        """The trial, if ``attempt`` (when given) is its current lease; else Conflict."""
        trial = self.get_trial(trial_id)
        if attempt is not None and attempt != trial["attempt"]:
            raise Conflict(
                f"lease lost: trial {trial_id} is on attempt {trial['attempt']} "
                f"now, not {attempt}; its result comes from that attempt"
            )
        return trial

    def set_checkpoint(
        self, trial_id: str, attempt: int | None, epoch: int, sha256: str
    ) -> tuple[Row, str | None]:
        """Record a trial's newest checkpoint; return the trial and the replaced sha256."""
        with self.transaction() as conn:
            self.check_lease(trial_id, attempt)
            old = conn.execute(
                "SELECT checkpoint_sha256 FROM trials WHERE id = ?", (trial_id,)
            ).fetchone()[0]
            conn.execute(
                "UPDATE trials SET checkpoint_sha256 = ?, checkpoint_epoch = ? WHERE id = ?",
                (sha256, epoch, trial_id),
            )
        return self.get_trial(trial_id), old if old != sha256 else None

    def checkpoint_of(self, trial_id: str) -> tuple[str, int]:
        row = self.db.conn.execute(
            "SELECT checkpoint_sha256, checkpoint_epoch FROM trials WHERE id = ?", (trial_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no trial with id {trial_id!r}")
        if row[0] is None:
            raise NotFound(f"trial {trial_id} has no checkpoint")
        return row[0], row[1]

    def blob_in_use(self, sha256: str) -> bool:
        """Whether a model or a checkpoint still refers to this file."""
        return (
            self.db.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM models WHERE sha256 = ?) OR "
                "EXISTS (SELECT 1 FROM trials WHERE checkpoint_sha256 = ?)",
                (sha256, sha256),
            ).fetchone()[0]
            == 1
        )

    # ------------------------------------------------------------------- events
    def apply_events(self, worker_id: int, events: list[Any], notify: bool = True) -> Applied:
        """Persist a worker's events in one transaction (a resend is harmless).

        Events whose ``seq`` is already stored are skipped. The result says what subscribers
        must hear (only built when ``notify``: nobody listening costs nothing), which jobs
        changed, whether the worker holds no lease now and whether it handed a trial back.
        """
        from jupyter_mlops.serverext.store.events import EventApplier

        with self.transaction() as conn:
            last = conn.execute(
                "SELECT last_seq FROM workers WHERE id = ?", (worker_id,)
            ).fetchone()
            if last is None:
                raise NotFound(f"no worker with id {worker_id}")
            applier = EventApplier(self, conn, worker_id, last[0], notify)  # type: ignore[arg-type]
            applier.apply(events)
            for job_id in applier.jobs_changed:
                self._refresh_job(conn, job_id)
            conn.execute(
                "UPDATE workers SET last_seq = ?, last_seen = ? WHERE id = ?",
                (applier.last_seq, now(), worker_id),
            )
            idle = (
                conn.execute(
                    "SELECT current_trial IS NULL FROM workers WHERE id = ?", (worker_id,)
                ).fetchone()[0]
                == 1
            )
        notifications = applier.notifications() if notify else []
        if notify:
            notifications += [{"type": "job", "job": self.get_job(j)} for j in applier.jobs_changed]
        return Applied(
            applier.last_seq,
            notifications,
            applier.jobs_changed,
            idle,
            applier.handed_back,
            applier.problems,
        )

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
