"""Store queries for searches: a random or TPE job's trials are recorded as its study asks
them, and pruned ones end ``pruned``.

A search job is created with no trial and ``trial_count`` = its budget; while it has fewer
trials than that (and no cancel) it is not ended (see ``jobs._derive_status``). Each trial
is ``<job>-<number>``, ``number`` being the study's trial number (also ``search_number``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from jupyter_mlops.messages import utc_now
from jupyter_mlops.serverext.errors import Conflict, NotFound
from jupyter_mlops.serverext.store.api import Row
from jupyter_mlops.serverext.store.trials import TrialQueries

#: Online workers that accept a job: named for it, in a list naming them, or "any"; and
#: declaring every key of its conf (unless they declare none), as dispatch requires.
_ACCEPTING = """
SELECT w.id FROM workers w JOIN jobs j ON j.id = ?1
WHERE w.online = 1 AND w.forgotten = 0
AND (
    j.requested_worker IN ('any', w.name)
    OR CASE WHEN j.requested_worker LIKE '[%' AND json_valid(j.requested_worker)
        THEN EXISTS (SELECT 1 FROM json_each(j.requested_worker) r WHERE r.value = w.name)
        ELSE 0 END
)
AND (
    coalesce(w.defaults, '{}') = '{}'
    OR NOT EXISTS (
        SELECT 1 FROM json_each(j.conf) c
        WHERE NOT EXISTS (SELECT 1 FROM json_each(w.defaults) d WHERE d.key = c.key)
    )
)
ORDER BY w.id
"""

_SAMPLED = "json_extract(j.search, '$.spec.method') IN ('random', 'tpe')"


class SearchQueries(TrialQueries):
    """Search jobs: their stored search, the trials their studies ask, pruning."""

    def job_search(self, job_id: int) -> Row | None:
        """The job's stored search (``spec``, ``space``, ``fixed``, ``study``), or None for a
        grid launched without a search section. NotFound for an unknown job."""
        row = self.db.conn.execute("SELECT search FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job with id {job_id}")
        return json.loads(row[0]) if row[0] else None

    def search_jobs(self, open_only: bool = True) -> list[Row]:
        """Random and TPE jobs (``open_only``: those still queued or running, not cancelled),
        oldest first: ``id``, ``search``, ``budget``, ``asked`` (trials recorded) and
        ``active`` (pending or running)."""
        where = "AND j.status IN ('queued', 'running') AND j.cancel_requested = 0"
        rows = self.db.conn.execute(
            "SELECT j.id, j.search, j.trial_count, "
            "(SELECT count(*) FROM trials t WHERE t.job_id = j.id), "
            "(SELECT count(*) FROM trials t WHERE t.job_id = j.id "
            " AND t.status IN ('pending', 'running')) "
            f"FROM jobs j WHERE {_SAMPLED} {where if open_only else ''} ORDER BY j.id"
        ).fetchall()
        return [
            {"id": r[0], "search": json.loads(r[1]), "budget": r[2], "asked": r[3], "active": r[4]}
            for r in rows
        ]

    def add_search_trial(self, job_id: int, number: int, params: dict[str, Any]) -> Row:
        """Record the trial the job's study asked (pending); return it. Conflict when the
        number is recorded already, or the job is no open search."""
        trial_id = f"{job_id}-{number}"
        with self.transaction() as conn:
            job = conn.execute(
                f"SELECT j.status, j.cancel_requested FROM jobs j WHERE j.id = ? AND {_SAMPLED}",
                (job_id,),
            ).fetchone()
            if job is None:
                self.get_job(job_id, trials=False)  # NotFound for an unknown job
                raise Conflict(f"job {job_id} is not a random or tpe search")
            if job[0] not in ("queued", "running") or job[1]:
                raise Conflict(f"job {job_id} is {job[0]}; it asks for no more trials")
            try:
                conn.execute(
                    "INSERT INTO trials (id, job_id, idx, params, status, search_number) "
                    "VALUES (?, ?, ?, ?, 'pending', ?)",
                    (trial_id, job_id, number, json.dumps(params), number),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"trial {trial_id} is recorded already") from None
            self._refresh_job(conn, job_id)
        return self.get_trial(trial_id)

    def prune_trial(self, trial_id: str, reason: str, epoch: int) -> Row | None:
        """End a running trial ``pruned`` at ``epoch`` (the step the pruner judged, though its
        progress may have gone on meanwhile; ``reason`` as its error; its log and metrics
        stay); its worker is free at once. Returns the trial, or None when it is not running
        or its model is stored already (its result exists: it is not pruned). NotFound."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT t.job_id, t.status, EXISTS (SELECT 1 FROM models m WHERE m.id = t.id) "
                "FROM trials t WHERE t.id = ?",
                (trial_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no trial with id {trial_id!r}")
            job_id, status, has_model = row
            if status != "running" or has_model:
                return None
            conn.execute(
                "UPDATE trials SET status = 'pruned', finished = ?, error = ?, epoch = ? "
                "WHERE id = ?",
                (utc_now(), reason, epoch, trial_id),
            )
            conn.execute(
                "UPDATE workers SET current_job = NULL, current_trial = NULL "
                "WHERE current_trial = ?",
                (trial_id,),
            )
            self._system_log(conn, job_id, trial_id, f"trial {trial_id} {reason}")
            self._refresh_job(conn, job_id)
        return self.get_trial(trial_id)

    def accepting_workers(self, job_id: int) -> list[int]:
        """Ids of the online workers that accept the job (as dispatch decides)."""
        return [r[0] for r in self.db.conn.execute(_ACCEPTING, (job_id,))]
