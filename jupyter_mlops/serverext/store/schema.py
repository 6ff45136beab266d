"""The store's schema, as sqlite-utils migrations (applied in order, each once)."""

from __future__ import annotations

import hashlib

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("jupyter_mlops")

JSON_COLUMNS = {
    "workers": ("defaults", "versions", "cluster"),
    "jobs": ("conf", "search"),
    "trials": ("params", "metrics"),
    "models": (
        "metrics",
        "hyperparameters",
        "classes",
        "input_size",
        "normalization",
        "evaluation",
    ),
}


@migrations()
def m001_initial(db: Database) -> None:
    db.table("workers").create(
        {
            "id": int,
            "name": str,
            "session": str,
            "last_seq": int,
            "online": int,
            "last_seen": str,
            "notebook": str,
            "defaults": str,
            "device": str,
            "versions": str,
            "created": str,
            "current_job": int,
            "current_trial": str,
        },
        pk="id",
        not_null={"name", "session"},
        defaults={"last_seq": 0, "online": 0},
    )
    db.table("workers").create_index(["name"], unique=True)
    db.table("workers").create_index(["session"], unique=True)
    db.table("jobs").create(
        {
            "id": int,
            "requested_worker": str,
            "worker_id": int,
            "conf": str,
            "status": str,
            "error": str,
            "created": str,
            "started": str,
            "finished": str,
            "trial_count": int,
            "cancel_requested": int,
        },
        pk="id",
        defaults={"cancel_requested": 0},
    )
    db.table("jobs").create_index(["status"])
    db.table("trials").create(
        {
            "id": str,
            "job_id": int,
            "idx": int,
            "params": str,
            "status": str,
            "started": str,
            "finished": str,
            "error": str,
            "model_id": str,
            "epoch": int,
            "epochs": int,
            "batch": int,
            "batches": int,
            "metrics": str,
        },
        pk="id",
    )
    db.table("trials").create_index(["job_id", "idx"], unique=True)
    for table in ("logs", "metrics"):
        columns = {"seq": int, "job_id": int, "trial_id": str, "time": str}
        if table == "logs":
            columns.update({"stream": str, "text": str})
        else:
            columns.update({"name": str, "step": int, "value": float})
        db.table(table).create(columns, pk="seq")
        db.table(table).create_index(["job_id", "seq"])
    db.table("models").create(
        {
            "id": str,
            "job_id": int,
            "trial_id": str,
            "worker": str,
            "sha1": str,
            "sha256": str,
            "size": int,
            "param_count": int,
            "metrics": str,
            "hyperparameters": str,
            "classes": str,
            "input_size": str,
            "normalization": str,
            "program": str,
            "created": str,
        },
        pk="id",
    )
    db.table("deployments").create(
        {
            "id": int,
            "model_id": str,
            "sha1": str,
            "sha256": str,
            "time": str,
            "reason": str,
            "metric": str,
            "metric_value": float,
        },
        pk="id",
    )


@migrations()
def m002_trial_leases(db: Database) -> None:
    """Trials are leased to workers one at a time and can resume from a checkpoint."""
    trials = db.table("trials")
    trials.add_column("worker_id", int)
    trials.add_column("attempt", int, not_null_default=0)
    trials.add_column("checkpoint_sha256", str)
    trials.add_column("checkpoint_epoch", int)
    trials.add_column("resumed_from_epoch", int)
    db.execute(
        "UPDATE trials SET worker_id = (SELECT worker_id FROM jobs WHERE jobs.id = trials.job_id)"
    )
    db.table("trials").create_index(["status", "worker_id"])


@migrations()
def m003_credentials(db: Database) -> None:
    """Scoped tokens; worker sessions kept as their sha256 and bound to the credential that
    registered them; forgettable workers; each trial lease has a secret (its sha256 here)."""
    db.table("tokens").create(
        {
            "id": int,
            "name": str,
            "scope": str,
            "secret_hash": str,
            "created": str,
            "last_used": str,
            "revoked": str,
        },
        pk="id",
        not_null={"name", "scope", "secret_hash", "created"},
    )
    db.table("tokens").create_index(["secret_hash"], unique=True)
    workers = db.table("workers")
    sessions = [(row["id"], row["session"]) for row in workers.rows]
    workers.transform(rename={"session": "session_hash"}, not_null={"session_hash": False})
    for worker_id, session in sessions:
        db.execute(
            "UPDATE workers SET session_hash = ? WHERE id = ?",
            (hashlib.sha256(session.encode()).hexdigest(), worker_id),
        )
    workers.add_column("token_id", int)  # NULL: registered with the Jupyter credential
    workers.add_column("forgotten", int, not_null_default=0)
    # a forgotten worker's name is free again
    db.execute("DROP INDEX IF EXISTS idx_workers_name")
    db.execute("CREATE UNIQUE INDEX idx_workers_name ON workers (name) WHERE forgotten = 0")
    db.table("trials").add_column("lease_hash", str)


@migrations()
def m004_durability(db: Database) -> None:
    """Metric points carry the attempt (lease) that produced them; a model whose file was
    found damaged or missing says why."""
    db.table("metrics").add_column("attempt", int)
    db.table("models").add_column("damaged", str)


@migrations()
def m005_searches(db: Database) -> None:
    """A search job keeps its search (spec, space, fixed values, study name) as JSON; each of
    its trials the number the study gave it."""
    db.table("jobs").add_column("search", str)
    db.table("trials").add_column("search_number", int)


@migrations()
def m006_decisions(db: Database) -> None:
    """The deploy gate: a model keeps its per-example test results (``evaluation``, JSON);
    every decision on a model is a row (the gate's verdict against the champion of that
    moment, with its numbers and sentence: auto when stored, manual when deployed by hand);
    a deployment names the decision that led to it."""
    db.table("models").add_column("evaluation", str)
    db.table("decisions").create(
        {
            "id": int,
            "model_id": str,
            "time": str,
            "kind": str,  # "auto" | "manual"
            "deployed": int,
            "bypassed": int,
            "gate": str,
            "reason": str,
            "metric": str,
            "value": float,
            "champion_id": str,
            "champion_value": float,
            "n": int,
            "b": int,
            "c": int,
            "p_value": float,
            "test": str,
            "alpha": float,
        },
        pk="id",
        not_null={"model_id", "time", "kind", "reason"},
        defaults={"deployed": 0, "bypassed": 0},
    )
    db.table("decisions").create_index(["model_id", "id"])
    db.table("deployments").add_column("decision_id", int)


@migrations()
def m007_capacity(db: Database) -> None:
    """A worker says how many trials it runs at once (``capacity``; a Ray worker: as many as
    its cluster holds) and describes its cluster (``cluster``, JSON); a trial keeps the node
    it runs on (``node``, a cluster's worker only)."""
    workers = db.table("workers")
    workers.add_column("capacity", int, not_null_default=1)
    workers.add_column("cluster", str)
    db.table("trials").add_column("node", str)
