"""Store queries for workers: registration, presence, lookup, and their event batches."""

from __future__ import annotations

import json
from typing import Any

from jupyter_mlops.messages import JOB_CHANGED, utc_now
from jupyter_mlops.serverext.errors import NotFound
from jupyter_mlops.serverext.store.api import Applied, Lease, Row
from jupyter_mlops.serverext.store.events import EventApplier
from jupyter_mlops.serverext.store.trials import TrialQueries


class WorkerQueries(TrialQueries):
    """Workers, their sessions and the events they send."""

    def register_worker(
        self,
        *,
        name: str,
        session: str,
        notebook: str,
        defaults: dict[str, Any],
        device: str,
        versions: dict[str, Any],
    ) -> tuple[Row, list[Lease]]:
        """Bring a worker session online; return it and the (job, trial) leases it dropped.

        The same session reconnecting keeps its row (and its ``last_seq``). A new session
        takes over an offline worker of the same name (its running jobs are orphaned); a name
        held by an online worker gets a ``-NN`` suffix. Dropped leases go back to pending.
        """
        fields = {
            "notebook": notebook,
            "defaults": json.dumps(defaults),
            "device": device,
            "versions": json.dumps(versions),
            "online": 1,
            "last_seen": utc_now(),
        }
        orphaned: list[Lease] = []
        with self.transaction() as conn:
            row = self._one("workers", "SELECT * FROM workers WHERE session = ?", (session,))
            if row is None:
                holder = self._one("workers", "SELECT * FROM workers WHERE name = ?", (name,))
                if holder is not None and not holder["online"]:
                    orphaned = self._release(
                        conn, holder["id"], "the worker's kernel restarted mid-trial"
                    )
                    fields.update(session=session, last_seq=0, current_job=None, current_trial=None)
                    row = holder
                else:
                    final = name if holder is None else self._free_name(name)
                    cur = conn.execute(
                        "INSERT INTO workers (name, session, created) VALUES (?, ?, ?)",
                        (final, session, utc_now()),
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

    def set_worker_offline(self, worker_id: int) -> Row:
        """Mark the worker offline now; return it."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE workers SET online = 0, last_seen = ? WHERE id = ?", (utc_now(), worker_id)
            )
        return self.get_worker(worker_id)

    def mark_all_workers_offline(self) -> None:
        """At start-up no socket is open yet, so no worker is online."""
        with self.transaction() as conn:
            conn.execute("UPDATE workers SET online = 0 WHERE online = 1")

    def get_worker(self, worker_id: int) -> Row:
        """The worker with this id; NotFound otherwise."""
        row = self._one("workers", "SELECT * FROM workers WHERE id = ?", (worker_id,))
        if row is None:
            raise NotFound(f"no worker with id {worker_id}")
        return self._worker_view(row)

    def find_worker(self, name: str) -> Row:
        """The worker with this name; NotFound otherwise."""
        row = self._one("workers", "SELECT * FROM workers WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no worker named {name!r}; GET /mlops/api/workers lists them")
        return self._worker_view(row)

    def list_workers(self) -> list[Row]:
        """Every worker, online ones first, most recently seen first."""
        return [
            self._worker_view(r)
            for r in self._all(
                "workers", "SELECT * FROM workers ORDER BY online DESC, last_seen DESC"
            )
        ]

    def apply_events(self, worker_id: int, events: list[Any], notify: bool = True) -> Applied:
        """Persist a worker's events in one transaction (a resend is harmless).

        Events whose ``seq`` is already stored are skipped. The result says what subscribers
        must hear (only built when ``notify``: nobody listening costs nothing), which jobs
        changed, whether the worker holds no lease now and whether it handed a trial back.
        """
        with self.transaction() as conn:
            last = conn.execute(
                "SELECT last_seq FROM workers WHERE id = ?", (worker_id,)
            ).fetchone()
            if last is None:
                raise NotFound(f"no worker with id {worker_id}")
            applier = EventApplier(conn, worker_id, last[0], notify)
            applier.apply(events)
            for job_id in applier.jobs_changed:
                self._refresh_job(conn, job_id)
            conn.execute(
                "UPDATE workers SET last_seq = ?, last_seen = ? WHERE id = ?",
                (applier.last_seq, utc_now(), worker_id),
            )
            idle = conn.execute(
                "SELECT current_trial IS NULL FROM workers WHERE id = ?", (worker_id,)
            ).fetchone()[0]
        notifications = applier.notifications() if notify else []
        if notify:
            notifications += [
                {"type": JOB_CHANGED, "job": self.get_job(j)} for j in applier.jobs_changed
            ]
        return Applied(
            applier.last_seq,
            notifications,
            applier.jobs_changed,
            idle == 1,
            applier.handed_back,
            applier.problems,
        )

    @staticmethod
    def _worker_view(row: Row) -> Row:
        row["online"] = bool(row["online"])
        row["status"] = (
            "offline"
            if not row["online"]
            else ("busy" if row["current_job"] is not None else "idle")
        )
        return row
