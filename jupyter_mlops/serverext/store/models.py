"""Store queries for models and deployments (the append-only history)."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from jupyter_mlops.evidence import summary
from jupyter_mlops.messages import utc_now
from jupyter_mlops.modelfile import PROGRAM
from jupyter_mlops.serverext.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.serverext.store.api import Judge, Row
from jupyter_mlops.serverext.store.trials import TrialQueries

#: The columns of a decision row, in the order of the gate's Decision (see gate.py).
DECISION_FIELDS = (
    "deployed", "gate", "reason", "metric", "value", "champion_id", "champion_value",
    "n", "b", "c", "p_value", "test", "alpha", "bypassed",
)  # fmt: skip
#: A decision row ``d`` as one JSON object, so that a model or deployment query brings its
#: decision along without a query per row.
_DECISION_KEYS = ("id", "model_id", "time", "kind", *DECISION_FIELDS)
_DECISION_PAIRS = ", ".join(f"'{key}', d.{key}" for key in _DECISION_KEYS)
_DECISION_JSON = f"json_object({_DECISION_PAIRS})"


def _decision(raw: str | None) -> Row | None:
    """A decision as the API shows it (SQLite's JSON has 0/1 for booleans)."""
    if raw is None:
        return None
    row: Row = json.loads(raw)
    row["deployed"], row["bypassed"] = bool(row["deployed"]), bool(row["bypassed"])
    return row


class ModelQueries(TrialQueries):
    """Models (one per trial) and deployments."""

    def add_model(
        self,
        trial_id: str,
        sha256: str,
        size: int,
        metadata: dict[str, Any],
        attempt: int | None,
        lease: str | None,
        token_id: int | None = None,
    ) -> tuple[Row, bool]:
        """Record a trial's model; return (model, created).

        Only the current lease of the running trial may store its model (see ``check_lease``),
        so a trial has exactly one result; the same file again from that lease is harmless.
        The trial's checkpoint stays until the trial is finished. ``metadata["evaluation"]``
        (the per-example test results, checked by ``modelfile.read_metadata``) is kept with it.
        """
        with self.transaction() as conn:
            trial = self.check_lease(trial_id, attempt, lease, token_id, sha256=sha256)
            if self._one("models", "SELECT id FROM models WHERE id = ?", (trial_id,)):
                return self.get_model(trial_id), False  # check_lease saw the same file
            conn.execute(
                "INSERT INTO models (id, job_id, trial_id, worker, sha1, sha256, size, "
                "param_count, metrics, hyperparameters, classes, input_size, normalization, "
                "program, created, evaluation) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial_id,
                    trial["job_id"],
                    trial_id,
                    trial["worker_name"],
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
                    utc_now(),
                    json.dumps(metadata["evaluation"]) if metadata.get("evaluation") else None,
                ),
            )
            conn.execute("UPDATE trials SET model_id = ? WHERE id = ?", (trial_id, trial_id))
        return self.get_model(trial_id), True

    _MODEL_SELECT = (
        "SELECT m.*, (m.id = (SELECT model_id FROM deployments ORDER BY id DESC LIMIT 1)) "
        f"AS deployed, t.idx AS trial_index, (SELECT {_DECISION_JSON} FROM decisions d "
        "WHERE d.model_id = m.id ORDER BY d.id DESC LIMIT 1) AS decision "
        "FROM models m JOIN trials t ON t.id = m.trial_id"
    )

    def _model_view(self, row: Row, evaluation: bool = False) -> Row:
        row["deployed"] = bool(row["deployed"])
        # models of the first format are executable programs: listed, never loaded or served
        row["legacy"] = row["program"] != PROGRAM
        if not evaluation:  # lists show what the results are of, not the bits
            row["evaluation"] = summary(row.get("evaluation"))
        row["decision"] = _decision(row["decision"])
        return row

    def get_model(self, model_id: str, evaluation: bool = False) -> Row:
        """The model (``evaluation``: with its per-example results); NotFound otherwise."""
        row = self._one("models", f"{self._MODEL_SELECT} WHERE m.id = ?", (model_id,))
        if row is None:
            raise NotFound(f"no model with id {model_id!r}; GET /mlops/api/models lists them")
        return self._model_view(row, evaluation)

    def list_models(self) -> list[Row]:
        """Every model, newest job first, then by trial index."""
        return [
            self._model_view(r)
            for r in self._all("models", f"{self._MODEL_SELECT} ORDER BY m.job_id DESC, t.idx")
        ]

    def model_decisions(self, model_id: str) -> list[Row]:
        """Every decision on the model, newest first. NotFound for an unknown model."""
        self.get_model(model_id)
        rows = self.db.conn.execute(
            f"SELECT {_DECISION_JSON} FROM decisions d WHERE d.model_id = ? ORDER BY d.id DESC",
            (model_id,),
        )
        return [_decision(raw) for (raw,) in rows.fetchall()]  # type: ignore[misc]

    def _decision_by_id(self, decision_id: int | None) -> Row | None:
        row = self.db.conn.execute(
            f"SELECT {_DECISION_JSON} FROM decisions d WHERE d.id = ?", (decision_id,)
        ).fetchone()
        return None if row is None else _decision(row[0])

    def delete_all_models(self) -> tuple[int, list[str]]:
        """Delete every model and the deployment history; return (count, freed sha256s)."""
        with self.transaction() as conn:
            shas = [r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM models")]
            conn.execute("DELETE FROM deployments")
            conn.execute("DELETE FROM decisions")
            count = conn.execute("DELETE FROM models").rowcount
            conn.execute("UPDATE trials SET model_id = NULL")
        return count, shas

    # -------------------------------------------------------------- deployments
    def _deployable(self, model: Row) -> None:
        if model["legacy"]:
            raise Conflict(
                f"model {model['id']} is a legacy model file (an executable torch program, "
                "not loadable as data) and cannot be deployed; re-train it",
                {"reason": "legacy_model"},
            )
        if model.get("damaged"):
            raise Conflict(
                f"model {model['id']} cannot be deployed: {model['damaged']}",
                {"reason": "damaged_model", "model_id": model["id"]},
            )

    def _champion(self, conn: sqlite3.Connection) -> Row | None:
        """The model deployed now, with its per-example results (inside the transaction)."""
        current = conn.execute(
            "SELECT model_id FROM deployments ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if current is None else self.get_model(current[0], evaluation=True)

    def judge_and_deploy(self, model_id: str, judge: Judge) -> tuple[Row, Row | None]:
        """Compare-and-set: judge the model against the champion of this moment, record the
        decision and deploy the model when it says so, all in one transaction."""
        with self.transaction() as conn:
            model = self.get_model(model_id, evaluation=True)
            decision = judge(model, self._champion(conn))
            if decision["deployed"]:
                self._deployable(model)  # the judge refuses these; never deploy one anyway
            decision_id = self._insert_decision(conn, model_id, "auto", decision)
            if decision["deployed"]:
                self._insert_deployment(conn, model, "auto", decision["metric"], decision_id)
        return self._decision_by_id(decision_id), (  # type: ignore[return-value]
            self.current_deployment() if decision["deployed"] else None
        )

    def deploy(self, model_id: str, judge: Judge) -> Row:
        """Deploy a model by hand (a rollback, or past the gate), recording the decision."""
        with self.transaction() as conn:
            model = self.get_model(model_id, evaluation=True)
            self._deployable(model)
            decision = {**judge(model, self._champion(conn)), "deployed": True}
            decision_id = self._insert_decision(conn, model_id, "manual", decision)
            self._insert_deployment(conn, model, "manual", decision["metric"], decision_id)
        return self.current_deployment()  # type: ignore[return-value]

    def _insert_decision(
        self, conn: sqlite3.Connection, model_id: str, kind: str, decision: Row
    ) -> int:
        values = {name: decision.get(name) for name in DECISION_FIELDS}
        values["deployed"], values["bypassed"] = bool(values["deployed"]), bool(values["bypassed"])
        for name in ("value", "champion_value", "p_value", "alpha"):
            number = values[name]
            if not isinstance(number, (int, float)) or not math.isfinite(number):
                values[name] = None
        columns = ("model_id", "time", "kind", *DECISION_FIELDS)
        cursor = conn.execute(
            f"INSERT INTO decisions ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            (model_id, utc_now(), kind, *values.values()),
        )
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def _insert_deployment(
        self, conn: sqlite3.Connection, model: Row, reason: str, metric: str, decision_id: int
    ) -> None:
        value = model["metrics"].get(metric)
        finite = isinstance(value, (int, float)) and math.isfinite(value)
        conn.execute(
            "INSERT INTO deployments (model_id, sha1, sha256, time, reason, metric, "
            "metric_value, decision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                model["id"],
                model["sha1"],
                model["sha256"],
                utc_now(),
                reason,
                metric,
                value if finite else None,
                decision_id,
            ),
        )

    def current_deployment(self) -> Row | None:
        """The latest deployment, or None."""
        rows = self.deployment_history(limit=1)
        return rows[0] if rows else None

    def deployment_history(self, limit: int = 1000) -> list[Row]:
        """Deployments newest first, each with its model."""
        rows = self._all(
            "deployments",
            f"SELECT p.*, (SELECT {_DECISION_JSON} FROM decisions d WHERE d.id = p.decision_id) "
            "AS decision FROM deployments p ORDER BY p.id DESC LIMIT ?",
            (limit,),
        )
        for row in rows:
            row["model"] = self.get_model(row["model_id"])
            row["decision"] = _decision(row.pop("decision"))
            row.pop("decision_id", None)
        return rows

    def check_model_id(self, model_id: str) -> Row:
        """The trial a model upload is for (the model id is the trial id)."""
        if not isinstance(model_id, str) or not model_id:
            raise InvalidInput("model_id must be a string like '7-0'")
        return self.get_trial(model_id)
