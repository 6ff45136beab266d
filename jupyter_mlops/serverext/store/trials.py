"""Store queries for trial leases: assignment, release, lease checks and checkpoints.

A job's trials are leased to workers one at a time; each lease bumps the trial's ``attempt``.
A worker is busy while it holds a running trial. Each lease has a secret, sent only to its
worker and stored here as its sha256: only the current lease of a running trial (its attempt and
its secret) may write the trial's checkpoint or model; anything else gets a Conflict whose detail
says ``lease_lost`` (or Forbidden when no lease is shown at all). A trial whose model is stored
is never re-queued: releasing it finishes it.
"""

from __future__ import annotations

import hmac
import json
import secrets
import sqlite3

from jupyter_mlops.messages import utc_now
from jupyter_mlops.serverext.errors import Conflict, Forbidden, NotFound
from jupyter_mlops.serverext.store.api import Lease, Row
from jupyter_mlops.serverext.store.base import digest
from jupyter_mlops.serverext.store.jobs import JobQueries

#: ``Conflict.detail["reason"]`` when an attempt is no longer the trial's lease.
LEASE_LOST = "lease_lost"


# The oldest pending trial of the oldest job this worker accepts, found by SQLite however long
# the queue: jobs are filtered first (named for it, in a list naming it, or "any"; every conf
# key declared by the worker unless it declares none), then that job's first pending trial.
_NEXT_TRIAL = """
SELECT t.id, t.job_id FROM trials t
WHERE t.status = 'pending' AND t.job_id = (
    SELECT j.id FROM jobs j
    WHERE j.status IN ('queued', 'running') AND j.cancel_requested = 0
    AND (
        j.requested_worker IN ('any', ?1)
        OR CASE WHEN j.requested_worker LIKE '[%' AND json_valid(j.requested_worker)
            THEN EXISTS (SELECT 1 FROM json_each(j.requested_worker) w WHERE w.value = ?1)
            ELSE 0 END
    )
    AND (
        ?2 = '{}'
        OR NOT EXISTS (
            SELECT 1 FROM json_each(j.conf) c
            WHERE NOT EXISTS (SELECT 1 FROM json_each(?2) d WHERE d.key = c.key)
        )
    )
    AND EXISTS (SELECT 1 FROM trials p WHERE p.job_id = j.id AND p.status = 'pending')
    ORDER BY j.id LIMIT 1
)
ORDER BY t.idx LIMIT 1
"""


class TrialQueries(JobQueries):
    """Leases of trials to workers, and the trials' checkpoints."""

    def assign_next_trial(self, worker_id: int) -> tuple[Row, Row] | None:
        """Lease the oldest pending trial this worker accepts while it has room; return (job,
        trial). A worker has room while it runs fewer trials than its ``capacity`` (1 unless
        its hello or a ``capacity`` event said more: a cluster's worker); each trial it takes
        has its own lease, and the newest is its ``current_trial``.

        A worker accepts a job launched for it, for a set of workers naming it, or for "any",
        whose conf keys it declares. The trial carries ``lease``, the new lease's secret, for
        that worker only (the store keeps its sha256).
        """
        with self.transaction() as conn:
            worker = self._one("workers", "SELECT * FROM workers WHERE id = ?", (worker_id,))
            if worker is None or not worker["online"] or not self._has_room(conn, worker):
                return None
            chosen = conn.execute(
                _NEXT_TRIAL, (worker["name"], json.dumps(worker["defaults"] or {}))
            ).fetchone()
            if chosen is None:
                return None
            trial_id, job_id = chosen[0], chosen[1]
            stamp, lease = utc_now(), secrets.token_urlsafe(24)
            conn.execute(
                "UPDATE trials SET status = 'running', worker_id = ?, attempt = attempt + 1, "
                "started = ?, finished = NULL, resumed_from_epoch = NULL, lease_hash = ? "
                "WHERE id = ?",
                (worker_id, stamp, digest(lease), trial_id),
            )
            conn.execute(
                "UPDATE jobs SET status = 'running', started = coalesce(started, ?) WHERE id = ?",
                (stamp, job_id),
            )
            conn.execute(
                "UPDATE workers SET current_job = ?, current_trial = ? WHERE id = ?",
                (job_id, trial_id, worker_id),
            )
        # the job without its trials: a big job's trials are not read on every assignment
        return self.get_job(job_id, trials=False), {**self.get_trial(trial_id), "lease": lease}

    @staticmethod
    def _has_room(conn: sqlite3.Connection, worker: Row) -> bool:
        """Whether the worker runs fewer trials than its capacity (one that still names a
        ``current_trial`` runs at least that one, e.g. a pruned trial not yet stopped)."""
        running = conn.execute(
            "SELECT count(*) FROM trials WHERE worker_id = ? AND status = 'running'",
            (worker["id"],),
        ).fetchone()[0]
        if worker["current_trial"] is not None:
            running = max(running, 1)
        return bool(running < max(1, int(worker.get("capacity") or 1)))

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
        """Re-queue the worker's running trials, or finish those whose model is stored."""
        rows = conn.execute(
            "SELECT t.job_id, t.id, m.id IS NOT NULL FROM trials t "
            "LEFT JOIN models m ON m.id = t.id WHERE t.worker_id = ? AND t.status = 'running'",
            (worker_id,),
        ).fetchall()
        for job_id, trial_id, has_model in rows:
            if has_model:  # its one result exists: running it again could only contradict it
                conn.execute(
                    "UPDATE trials SET status = 'finished', finished = ?, error = NULL "
                    "WHERE id = ?",
                    (utc_now(), trial_id),
                )
                text = f"trial {trial_id} ends finished, its model stored: {reason}"
            else:
                conn.execute(
                    "UPDATE trials SET status = 'pending', error = ?, lease_hash = NULL "
                    "WHERE id = ?",
                    (f"re-queued: {reason}", trial_id),
                )
                text = f"trial {trial_id} re-queued: {reason}"
            self._system_log(conn, job_id, trial_id, text)
            self._refresh_job(conn, job_id)
        leases = [(job_id, trial_id) for job_id, trial_id, _ in rows]
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

    def check_lease(
        self,
        trial_id: str,
        attempt: int | None,
        lease: str | None,
        token_id: int | None = None,
        sha256: str | None = None,
    ) -> Row:
        """The trial, when ``attempt`` and the ``lease`` secret are its current lease and it is
        running; else Forbidden (no lease shown, or a token other than the holder's) or
        Conflict (``lease_lost``).

        ``token_id`` is the requester's token (None: the Jupyter credential, which is not bound
        to a worker). With ``sha256`` (a model upload), a trial whose model is stored accepts
        the same file again from the lease that stored it (a retried upload) and nothing else.
        """
        row = self.db.conn.execute(
            "SELECT t.status, t.attempt, t.lease_hash, w.token_id, m.sha256 FROM trials t "
            "LEFT JOIN workers w ON w.id = t.worker_id LEFT JOIN models m ON m.id = t.id "
            "WHERE t.id = ?",
            (trial_id,),
        ).fetchone()
        if row is None:
            self.get_trial(trial_id)  # NotFound with the usual message
        status, current, lease_hash, holder_token, model_sha = row
        if attempt is None or not lease:
            raise Forbidden(
                f"trial {trial_id}: only its lease holder may send or fetch its files; send "
                "?attempt=N and the X-MLOps-Lease header of the assignment (docs/API.md)",
                {"reason": "lease_required", "trial_id": trial_id},
            )
        holds = (
            attempt == current
            and lease_hash is not None
            and hmac.compare_digest(lease_hash, digest(lease))
        )
        if holds and token_id is not None and holder_token != token_id:
            raise Forbidden(
                f"trial {trial_id} is leased to a worker of another credential",
                {"reason": "not_lease_holder", "trial_id": trial_id},
            )
        if sha256 is not None and model_sha is not None:
            if holds and model_sha == sha256:
                return self.get_trial(trial_id)  # the same file again: harmless
            raise _lease_lost(
                f"lease lost: trial {trial_id} already has a different model "
                f"(sha256 {model_sha[:12]}); it has exactly one result",
                trial_id,
                attempt,
                current,
                status,
            )
        if not holds or status != "running":
            why = (
                f"it is {status} now"
                if holds or attempt == current
                else f"it is on attempt {current} now, not {attempt}"
            )
            raise _lease_lost(
                f"lease lost: trial {trial_id} no longer takes results from this lease ({why})",
                trial_id,
                attempt,
                current,
                status,
            )
        return self.get_trial(trial_id)

    def set_checkpoint(
        self,
        trial_id: str,
        attempt: int | None,
        lease: str | None,
        epoch: int,
        sha256: str,
        token_id: int | None = None,
    ) -> tuple[Row, str | None]:
        """Record a trial's newest checkpoint; return the trial and the replaced sha256."""
        with self.transaction() as conn:
            self.check_lease(trial_id, attempt, lease, token_id)
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

    def drop_finished_checkpoints(self) -> list[str]:
        """Forget the checkpoints of finished (and pruned) trials (a re-run needed them until
        the trial ended); return their sha256s, for the caller to delete the files no longer
        used."""
        with self.transaction() as conn:
            shas = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT checkpoint_sha256 FROM trials "
                    "WHERE status IN ('finished', 'pruned') AND checkpoint_sha256 IS NOT NULL"
                )
            ]
            if shas:
                conn.execute(
                    "UPDATE trials SET checkpoint_sha256 = NULL "
                    "WHERE status IN ('finished', 'pruned') AND checkpoint_sha256 IS NOT NULL"
                )
        return shas

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


def _lease_lost(message: str, trial_id: str, attempt: int, current: int, status: str) -> Conflict:
    return Conflict(
        message,
        {
            "reason": LEASE_LOST,
            "trial_id": trial_id,
            "attempt": attempt,
            "current_attempt": current,
            "status": status,
        },
    )
