"""Store queries for workers: registration, presence, lookup, and their event batches."""

from __future__ import annotations

import json
from typing import Any

from jupyter_mlops.messages import JOB_CHANGED, utc_now
from jupyter_mlops.serverext.errors import Conflict, Forbidden, NotFound
from jupyter_mlops.serverext.store.api import Applied, Lease, Row
from jupyter_mlops.serverext.store.base import digest
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
        token_id: int | None = None,
        capacity: int = 1,
        cluster: dict[str, Any] | None = None,
    ) -> tuple[Row, list[Lease]]:
        """Bring a worker session online; return it and the (job, trial) leases it dropped.

        ``session`` is a secret only that worker holds (stored as its sha256); ``token_id`` is
        the credential it connects with (None: the Jupyter credential). The same session with
        the same credential keeps its row (and its ``last_seq``); with another credential it
        is Forbidden. ``capacity`` is how many trials it runs at once (``cluster``: what a
        cluster's worker says of its cluster). A new session takes over an offline worker of
        the same name and the same credential (its running trials are released); any other
        name in use gets a ``-NN`` suffix. So a ``hello`` can never take over another
        credential's worker.
        """
        fields = {
            "notebook": notebook,
            "defaults": json.dumps(defaults),
            "device": device,
            "versions": json.dumps(versions),
            "capacity": max(1, int(capacity)),
            "cluster": json.dumps(cluster) if cluster is not None else None,
            "online": 1,
            "last_seen": utc_now(),
        }
        orphaned: list[Lease] = []
        hashed = digest(session)
        with self.transaction() as conn:
            if (
                token_id is not None
                and not conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM tokens WHERE id = ? AND revoked IS NULL)",
                    (token_id,),
                ).fetchone()[0]
            ):
                raise Forbidden("the token of this link was revoked", {"reason": "revoked"})
            row = self._one(
                "workers",
                "SELECT * FROM workers WHERE session_hash = ? AND forgotten = 0",
                (hashed,),
            )
            if row is not None and row["token_id"] != token_id:
                raise Forbidden(
                    "this worker session was registered with another credential; a worker "
                    "keeps the credential it first connected with",
                    {"reason": "other_credential"},
                )
            if row is None:
                holder = self._one(
                    "workers", "SELECT * FROM workers WHERE name = ? AND forgotten = 0", (name,)
                )
                if holder is not None and not holder["online"] and holder["token_id"] == token_id:
                    orphaned = self._release(
                        conn, holder["id"], "the worker's kernel restarted mid-trial"
                    )
                    fields.update(
                        session_hash=hashed, last_seq=0, current_job=None, current_trial=None
                    )
                    row = holder
                else:
                    final = name if holder is None else self._free_name(name)
                    cur = conn.execute(
                        "INSERT INTO workers (name, session_hash, token_id, created) "
                        "VALUES (?, ?, ?, ?)",
                        (final, hashed, token_id, utc_now()),
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
            for r in self.db.query(
                "SELECT name FROM workers WHERE name LIKE ? AND forgotten = 0", (f"{name}-%",)
            )
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
        row = self._one(
            "workers", "SELECT * FROM workers WHERE name = ? AND forgotten = 0", (name,)
        )
        if row is None:
            raise NotFound(f"no worker named {name!r}; GET /mlops/api/workers lists them")
        return self._worker_view(row)

    def list_workers(self) -> list[Row]:
        """Every worker, online ones first, most recently seen first."""
        return [
            self._worker_view(r)
            for r in self._all(
                "workers",
                "SELECT * FROM workers WHERE forgotten = 0 ORDER BY online DESC, last_seen DESC",
            )
        ]

    def forget_worker(self, worker_id: int) -> tuple[Row, list[Lease]]:
        """Forget an offline worker: gone from the list, its name free again, its session no
        longer recognised; its trials keep naming it. Return it (``forgotten``: true) and the
        (job, trial) leases it still held, released. NotFound, or Conflict while it is online.
        """
        with self.transaction() as conn:
            worker = self.get_worker(worker_id)
            if worker["forgotten"]:
                raise NotFound(f"no worker with id {worker_id}")
            if worker["online"]:
                raise Conflict(
                    f"worker {worker['name']} is online; stop it first (%mlops stop), then "
                    "forget it",
                    {"reason": "online"},
                )
            leases = self._release(conn, worker_id, f"worker {worker['name']} was forgotten")
            conn.execute(
                "UPDATE workers SET forgotten = 1, session_hash = NULL WHERE id = ?", (worker_id,)
            )
        return self.get_worker(worker_id), leases

    def held_trials(self, worker_id: int) -> list[tuple[str, int]]:
        """(trial id, attempt) of every running trial leased to the worker."""
        return [
            (r[0], r[1])
            for r in self.db.conn.execute(
                "SELECT id, attempt FROM trials WHERE worker_id = ? AND status = 'running'",
                (worker_id,),
            )
        ]

    def apply_events(self, worker_id: int, events: list[Any], notify: bool = True) -> Applied:
        """Persist a worker's events in one transaction (a resend is harmless).

        Events whose ``seq`` is already stored are skipped. The result says what subscribers
        must hear (only built when ``notify``: nobody listening costs nothing), which jobs
        changed, whether the worker has room for a trial now, whether it handed a trial back
        and whether it said how many trials it runs at once.
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
            worker = self._one("workers", "SELECT * FROM workers WHERE id = ?", (worker_id,))
            idle = worker is not None and self._has_room(conn, worker)
        notifications = applier.notifications() if notify else []
        if notify:
            notifications += [  # only the trials that changed: a big job stays a small message
                {"type": JOB_CHANGED, "job": self.job_update(j, applier.trials_changed.get(j, ()))}
                for j in applier.jobs_changed
            ]
        return Applied(
            applier.last_seq,
            notifications,
            applier.jobs_changed,
            idle,
            applier.handed_back,
            applier.problems,
            tuple(applier.reports),
            applier.capacity_changed,
        )

    @staticmethod
    def _worker_view(row: Row) -> Row:
        row.pop("session_hash", None)  # a session id is a secret: it never leaves the hub
        row["forgotten"] = bool(row.get("forgotten"))
        row["online"] = bool(row["online"])
        row["status"] = (
            "offline"
            if not row["online"]
            else ("busy" if row["current_job"] is not None else "idle")
        )
        return row
