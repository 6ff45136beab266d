"""Store queries for models and deployments (the append-only history)."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from jupyter_mlops.messages import utc_now
from jupyter_mlops.modelfile import PROGRAM
from jupyter_mlops.serverext.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.serverext.store.api import Row
from jupyter_mlops.serverext.store.trials import TrialQueries


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
        The trial's checkpoint stays until the trial is finished.
        """
        with self.transaction() as conn:
            trial = self.check_lease(trial_id, attempt, lease, token_id, sha256=sha256)
            if self._one("models", "SELECT id FROM models WHERE id = ?", (trial_id,)):
                return self.get_model(trial_id), False  # check_lease saw the same file
            conn.execute(
                "INSERT INTO models (id, job_id, trial_id, worker, sha1, sha256, size, "
                "param_count, metrics, hyperparameters, classes, input_size, normalization, "
                "program, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        # models of the first format are executable programs: listed, never loaded or served
        row["legacy"] = row["program"] != PROGRAM
        return row

    def get_model(self, model_id: str) -> Row:
        """The model; NotFound otherwise."""
        row = self._one("models", f"{self._MODEL_SELECT} WHERE m.id = ?", (model_id,))
        if row is None:
            raise NotFound(f"no model with id {model_id!r}; GET /mlops/api/models lists them")
        return self._model_view(row)

    def list_models(self) -> list[Row]:
        """Every model, newest job first, then by trial index."""
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
            if model["legacy"]:
                raise Conflict(
                    f"model {model_id} is a legacy model file (an executable torch program, "
                    "not loadable as data) and cannot be deployed; re-train it",
                    {"reason": "legacy_model"},
                )
            if model.get("damaged"):
                raise Conflict(
                    f"model {model_id} cannot be deployed: {model['damaged']}",
                    {"reason": "damaged_model", "model_id": model_id},
                )
            self._insert_deployment(conn, model, reason, metric)
        return self.current_deployment()  # type: ignore[return-value]

    def deploy_if_better(self, model_id: str, metric: str, higher_is_better: bool) -> Row | None:
        """Compare-and-set: deploy when the model beats what is deployed now (one transaction).

        A model without the metric never wins; with nothing deployed, any model with it does.
        """
        with self.transaction() as conn:
            model = self.get_model(model_id)
            value = model["metrics"].get(metric)
            if (
                not isinstance(value, (int, float))
                or not math.isfinite(value)  # a diverged model (NaN) never wins
                or model["legacy"]
                or model.get("damaged")
            ):
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
                utc_now(),
                reason,
                metric,
                value if isinstance(value, (int, float)) else None,
            ),
        )

    def current_deployment(self) -> Row | None:
        """The latest deployment, or None."""
        rows = self.deployment_history(limit=1)
        return rows[0] if rows else None

    def deployment_history(self, limit: int = 1000) -> list[Row]:
        """Deployments newest first, each with its model."""
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
