"""Store queries for trial leases: assignment, release, lease checks and checkpoints.

A job's trials are leased to workers one at a time; each lease bumps the trial's ``attempt``.
A worker is busy while it holds a running trial. Only the current lease may write a trial's
checkpoint or model: an older attempt gets a Conflict whose detail says ``lease_lost``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from jupyter_mlops.messages import utc_now
from jupyter_mlops.serverext.errors import Conflict, NotFound
from jupyter_mlops.serverext.store.api import Lease, Row
from jupyter_mlops.serverext.store.jobs import JobQueries

#: ``Conflict.detail["reason"]`` when an attempt is no longer the trial's lease.
LEASE_LOST = "lease_lost"


class TrialQueries(JobQueries):
    """Leases of trials to workers, and the trials' checkpoints."""

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
            stamp = utc_now()
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

    def release_worker_trials(self, worker_id: int, reason: str) -> list[Lease]:
        """Put the worker's running trials back to pending; return their (job, trial) ids."""
        with self.transaction() as conn:
            return self._release(conn, worker_id, reason)

    def _release(self, conn: sqlite3.Connection, worker_id: int, reason: str) -> list[Lease]:
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

    @staticmethod
    def _system_log(conn: sqlite3.Connection, job_id: int, trial_id: str | None, text: str) -> None:
        conn.execute(
            "INSERT INTO logs (seq, job_id, trial_id, time, stream, text) VALUES "
            "((SELECT coalesce(max(seq), 0) + 1 FROM logs), ?, ?, ?, 'system', ?)",
            (job_id, trial_id, utc_now(), text),
        )

    def check_lease(self, trial_id: str, attempt: int | None) -> Row:
        """The trial, if ``attempt`` (when given) is its current lease; else Conflict."""
        trial = self.get_trial(trial_id)
        if attempt is not None and attempt != trial["attempt"]:
            raise Conflict(
                f"lease lost: trial {trial_id} is on attempt {trial['attempt']} "
                f"now, not {attempt}; its result comes from that attempt",
                {
                    "reason": LEASE_LOST,
                    "trial_id": trial_id,
                    "attempt": attempt,
                    "current_attempt": trial["attempt"],
                },
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
        """(sha256, epoch) of the trial's newest checkpoint; NotFound when it has none."""
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
