"""Store queries for jobs: create, list, get, cancel, retry, and a job's derived status.

A job's status is derived from its trials (see ``_refresh_job``); so are ``progress``,
``workers`` (who holds or held its trials' leases) and ``retryable``. Leases live in
``trials.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from jupyter_mlops.messages import utc_now
from jupyter_mlops.serverext.errors import Conflict, NotFound
from jupyter_mlops.serverext.store.api import Lease, Row
from jupyter_mlops.serverext.store.base import StoreBase

ENDED = ("finished", "failed", "cancelled")
#: Trial states after which a trial changes no more (unless a retry re-queues a failed one).
TRIAL_ENDED = ("finished", "failed", "cancelled", "pruned")


def _requested(wanted: str) -> str | list[str]:
    """The requested worker as stored: "any", a name, or a JSON list of names (a name may
    itself start with "[")."""
    if wanted.startswith("["):
        try:
            names = json.loads(wanted)
        except ValueError:
            return wanted
        if isinstance(names, list):
            return names
    return wanted


class JobQueries(StoreBase):
    """Jobs and the trials they are made of; logs and metrics of a job."""

    # ``workers``: distinct (first trial index, name) pairs of the trials' lease holders (the
    # current or last one of each trial), sorted in ``_job_view``; ``retryable``: a failed
    # trial that POST /jobs/{id}/retry would re-queue.
    _JOB_SELECT = (
        "SELECT j.*, "
        "(SELECT count(*) FROM trials t WHERE t.job_id = j.id "
        " AND t.status IN ('finished', 'failed', 'cancelled', 'pruned')) AS trials_done, "
        "(SELECT json_group_array(json_array(first, name)) FROM "
        " (SELECT min(t.idx) AS first, w.name AS name FROM trials t "
        "  JOIN workers w ON w.id = t.worker_id WHERE t.job_id = j.id GROUP BY w.id)) AS workers, "
        "EXISTS (SELECT 1 FROM trials t WHERE t.job_id = j.id AND t.status = 'failed') "
        "AS retryable "
        "FROM jobs j"
    )
    _TRIAL_SELECT = (
        "SELECT t.*, w.name AS worker_name FROM trials t LEFT JOIN workers w ON w.id = t.worker_id"
    )

    def create_job(
        self,
        requested_worker: str | list[str],
        conf: dict[str, Any],
        trials: list[dict[str, Any]],
        search: dict[str, Any] | None = None,
        budget: int | None = None,
    ) -> Row:
        """Queue a job and its trials (ids ``<job>-<index>``); a search job starts with no
        trial and its ``trial_count`` is its ``budget`` (see ``searches.py``)."""
        wanted = (
            requested_worker if isinstance(requested_worker, str) else json.dumps(requested_worker)
        )
        count = len(trials) if budget is None else budget
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO jobs (requested_worker, conf, status, created, trial_count, search) "
                "VALUES (?, ?, 'queued', ?, ?, ?)",
                (wanted, json.dumps(conf), utc_now(), count, _json_or_null(search)),
            )
            job_id = cur.lastrowid
            conn.executemany(
                "INSERT INTO trials (id, job_id, idx, params, status) "
                "VALUES (?, ?, ?, ?, 'pending')",
                [(f"{job_id}-{i}", job_id, i, json.dumps(p)) for i, p in enumerate(trials)],
            )
        return self.get_job(job_id)  # type: ignore[arg-type]

    def _refresh_job(self, conn: sqlite3.Connection, job_id: int) -> None:
        """Derive the job's status from its trials (and a pending cancel, and whether a
        search may still ask for trials)."""
        counts = dict(
            conn.execute(
                "SELECT status, count(*) FROM trials WHERE job_id = ? GROUP BY status", (job_id,)
            )
        )
        cancel, budget = conn.execute(
            "SELECT cancel_requested, trial_count FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if cancel and counts.get("pending"):
            conn.execute(
                "UPDATE trials SET status = 'cancelled' WHERE job_id = ? AND status = 'pending'",
                (job_id,),
            )
            counts["cancelled"] = counts.get("cancelled", 0) + counts.pop("pending")
        status = _derive_status(counts, bool(cancel), sum(counts.values()) < (budget or 0))
        conn.execute(
            "UPDATE jobs SET status = ?, finished = CASE WHEN ? THEN coalesce(finished, ?) "
            "ELSE NULL END WHERE id = ?",
            (status, status in ENDED, utc_now(), job_id),
        )

    def get_job(self, job_id: int, trials: bool = True) -> Row:
        """The job (with its trials unless ``trials=False``); NotFound otherwise."""
        row = self._one("jobs", f"{self._JOB_SELECT} WHERE j.id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no job with id {job_id}")
        job = self._job_view(row)
        if trials:
            job["trials"] = self.job_trials(job_id)
        return job

    def job_update(self, job_id: int, trial_ids: Iterable[str] | None = None) -> Row:
        """The job with only the trials named, and without its ``conf`` (it never changes,
        and a grid's conf can be large): what a ``job`` notification carries; subscribers
        merge it into what they hold, trials by id. ``trial_ids`` None: the whole job."""
        if trial_ids is None:
            return self.get_job(job_id)
        job = self.get_job(job_id, trials=False)
        del job["conf"]
        rows = self._all(
            "trials",
            f"{self._TRIAL_SELECT} WHERE t.job_id = ? "
            "AND t.id IN (SELECT value FROM json_each(?)) ORDER BY t.idx",
            (job_id, json.dumps(sorted(set(trial_ids)))),
        )
        job["trials"] = [self._trial_view(r) for r in rows]
        return job

    @staticmethod
    def _job_view(row: Row) -> Row:
        wanted = row.pop("requested_worker")
        row["worker"] = _requested(wanted)
        row.pop("worker_id", None)
        row["cancel_requested"] = bool(row["cancel_requested"])
        row["progress"] = row["trials_done"] / row["trial_count"] if row["trial_count"] else 1.0
        row["workers"] = [name for _, name in sorted(json.loads(row["workers"] or "[]"))]
        row["retryable"] = bool(row["retryable"])
        search = row.get("search")
        row["search"] = search.get("spec") if isinstance(search, dict) else None
        return row

    def list_jobs(self, limit: int = 200) -> list[Row]:
        """Jobs newest first, without their trials."""
        return [
            self._job_view(r)
            for r in self._all("jobs", f"{self._JOB_SELECT} ORDER BY j.id DESC LIMIT ?", (limit,))
        ]

    @staticmethod
    def _trial_view(row: Row) -> Row:
        row.pop("lease_hash", None)  # the lease secret never leaves the hub but to its worker
        row["index"] = row.pop("idx")
        if row.pop("checkpoint_sha256", None) is None:
            row["checkpoint_epoch"] = None  # dropped once the trial finished
        return row

    def job_trials(self, job_id: int) -> list[Row]:
        """The job's trials in grid order."""
        return [
            self._trial_view(r)
            for r in self._all(
                "trials", f"{self._TRIAL_SELECT} WHERE t.job_id = ? ORDER BY t.idx", (job_id,)
            )
        ]

    def get_trial(self, trial_id: str) -> Row:
        """The trial; NotFound otherwise."""
        row = self._one("trials", f"{self._TRIAL_SELECT} WHERE t.id = ?", (trial_id,))
        if row is None:
            raise NotFound(f"no trial with id {trial_id!r} (ids look like '<job>-<index>')")
        return self._trial_view(row)

    def request_cancel(self, job_id: int) -> tuple[Row, list[Lease]]:
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
        """End a running trial as cancelled from the hub's side (its worker is offline); one
        whose model is stored ends finished (its result exists)."""
        with self.transaction() as conn:
            trial = self.get_trial(trial_id)
            has_model = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM models WHERE id = ?)", (trial_id,)
            ).fetchone()[0]
            conn.execute(
                "UPDATE trials SET status = ?, finished = ?, error = ? "
                "WHERE id = ? AND status = 'running'",
                ("finished" if has_model else "cancelled", utc_now(),
                 None if has_model else reason, trial_id),
            )  # fmt: skip
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
                "finished = NULL, lease_hash = NULL WHERE job_id = ? AND status = 'failed' "
                "AND model_id IS NULL",
                (job_id,),
            ).rowcount
            if not changed:
                raise Conflict(f"job {job_id} has no failed trial to retry")
            conn.execute(
                "UPDATE jobs SET cancel_requested = 0, error = NULL WHERE id = ?", (job_id,)
            )
            self._refresh_job(conn, job_id)
        return self.get_job(job_id)

    def consistency_problems(self) -> list[str]:
        """What contradicts itself in the store (empty when all is well): a job whose status
        is not the one its trials give, a trial whose model is stored yet is not running or
        finished, a trial naming a model that does not exist, a deployment of a missing model.
        """
        problems: list[str] = []
        for job_id, status, cancel, budget in self.db.conn.execute(
            "SELECT id, status, cancel_requested, trial_count FROM jobs"
        ).fetchall():
            counts = dict(
                self.db.conn.execute(
                    "SELECT status, count(*) FROM trials WHERE job_id = ? GROUP BY status",
                    (job_id,),
                )
            )
            if cancel and counts.get("pending"):
                problems.append(f"job {job_id} is cancelled yet has pending trials")
            if status != _derive_status(counts, bool(cancel), sum(counts.values()) < (budget or 0)):
                problems.append(f"job {job_id} is {status} but its trials say {counts}")
        for trial_id, status in self.db.conn.execute(
            "SELECT t.id, t.status FROM trials t JOIN models m ON m.id = t.id "
            "WHERE t.status NOT IN ('running', 'finished')"
        ):  # a pruned trial included: a pruned trial has no model
            problems.append(f"trial {trial_id} has a stored model yet is {status}")
        for (trial_id,) in self.db.conn.execute(
            "SELECT id FROM trials WHERE model_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM models m WHERE m.id = trials.model_id)"
        ):
            problems.append(f"trial {trial_id} names a model that is not stored")
        for (model_id,) in self.db.conn.execute(
            "SELECT model_id FROM deployments "
            "WHERE NOT EXISTS (SELECT 1 FROM models m WHERE m.id = deployments.model_id)"
        ):
            problems.append(f"a deployment names model {model_id}, which is not stored")
        return problems

    def job_logs(self, job_id: int, after: int = 0, limit: int = 10_000) -> list[Row]:
        """The job's log lines after the ``after`` cursor."""
        self.get_job(job_id, trials=False)
        return self._all(
            "logs",
            "SELECT * FROM logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )

    def job_metrics(self, job_id: int, after: int = 0, limit: int = 100_000) -> list[Row]:
        """The job's metric points after the ``after`` cursor."""
        self.get_job(job_id, trials=False)
        return self._all(
            "metrics",
            "SELECT * FROM metrics WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )


def _derive_status(counts: dict[str, int], cancel: bool, more: bool = False) -> str:
    """A job's status from its trials' status counts, whether a cancel was asked and whether
    a search may still ask for more trials (``more``: fewer trials than its budget). A pruned
    trial ended as a search meant it to: it counts like a finished one."""
    if counts.get("running"):
        return "running"
    if counts.get("pending") or (more and not cancel):
        return "queued"
    done = counts.get("finished", 0) + counts.get("pruned", 0)
    if cancel or (counts.get("cancelled") and not done and not counts.get("failed")):
        return "cancelled"
    return "finished" if done else "failed"


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
