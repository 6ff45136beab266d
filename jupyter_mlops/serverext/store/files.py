"""Store queries about the files the store refers to: listing them, and recording damage.

Every model and every trial checkpoint names a file of the blob folder by its sha256. The
server checks at start that each one exists (and has its recorded size); a download re-hashes
the file; ``python -m jupyter_mlops.check`` does both and repairs what it can. A model whose
file is missing or damaged is kept (the deployment history refers to it) and says why in
``damaged``: it is never served, deployed or downloaded.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_mlops.messages import utc_now
from jupyter_mlops.serverext.errors import NotFound
from jupyter_mlops.serverext.store.api import Row
from jupyter_mlops.serverext.store.models import ModelQueries


class FileQueries(ModelQueries):
    """The files models and checkpoints refer to."""

    def stored_files(self) -> list[Row]:
        """Every file the store refers to: ``kind`` ("model" or "checkpoint"), ``id`` (the
        model or trial), ``sha256``, ``size`` (None for checkpoints) and ``damaged``."""
        files = [
            {"kind": "model", "id": r[0], "sha256": r[1], "size": r[2], "damaged": r[3]}
            for r in self.db.conn.execute("SELECT id, sha256, size, damaged FROM models")
        ]
        files += [
            {"kind": "checkpoint", "id": r[0], "sha256": r[1], "size": None, "damaged": None}
            for r in self.db.conn.execute(
                "SELECT id, checkpoint_sha256 FROM trials WHERE checkpoint_sha256 IS NOT NULL"
            )
        ]
        return files

    def mark_model_damaged(self, model_id: str, reason: str | None) -> Row:
        """Record why the model's file cannot be used (None: it is fine again)."""
        with self.transaction() as conn:
            if not conn.execute(
                "UPDATE models SET damaged = ? WHERE id = ?", (reason, model_id)
            ).rowcount:
                raise NotFound(f"no model with id {model_id!r}")
        return self.get_model(model_id)

    def forget_checkpoint(self, trial_id: str) -> None:
        """Forget the trial's checkpoint (its file is gone): it resumes from the start."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE trials SET checkpoint_sha256 = NULL, checkpoint_epoch = NULL WHERE id = ?",
                (trial_id,),
            )

    def recover_model(self, sha256: str, size: int, metadata: dict[str, Any]) -> str | None:
        """Re-create a model (and its job and trial, when missing) from its file's metadata,
        after the database was lost; return its id, or None when its id is already taken."""
        trial_id = metadata.get("trial_id")
        job_id = metadata.get("job_id")
        if not (isinstance(trial_id, str) and isinstance(job_id, int)):
            return None
        index = trial_id.rpartition("-")[2]
        stamp = str(metadata.get("created") or utc_now())
        params = json.dumps(metadata.get("hyperparameters") or {})
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM models WHERE id = ?", (trial_id,)).fetchone():
                return None
            conn.execute(
                "INSERT OR IGNORE INTO jobs (id, requested_worker, conf, status, error, created, "
                "trial_count) VALUES (?, 'any', '{}', 'finished', ?, ?, 0)",
                (job_id, "recovered from its model files after the database was lost", stamp),
            )
            conn.execute(
                "INSERT OR IGNORE INTO trials (id, job_id, idx, params, status, finished, "
                "metrics, attempt) VALUES (?, ?, ?, ?, 'finished', ?, ?, 1)",
                (
                    trial_id,
                    job_id,
                    int(index) if index.isdigit() else 10_000 + size % 10_000,
                    params,
                    stamp,
                    json.dumps(metadata.get("metrics") or {}),
                ),
            )
            conn.execute(
                "INSERT INTO models (id, job_id, trial_id, worker, sha1, sha256, size, "
                "param_count, metrics, hyperparameters, classes, input_size, normalization, "
                "program, created) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial_id,
                    job_id,
                    trial_id,
                    metadata.get("sha1"),
                    sha256,
                    size,
                    metadata.get("param_count"),
                    json.dumps(metadata.get("metrics") or {}),
                    params,
                    json.dumps(metadata.get("classes") or []),
                    json.dumps(metadata.get("input_size") or []),
                    json.dumps(metadata.get("normalization") or {}),
                    metadata.get("program") or "onnx",
                    stamp,
                ),
            )
            conn.execute("UPDATE trials SET model_id = ? WHERE id = ?", (trial_id, trial_id))
            conn.execute(
                "UPDATE jobs SET trial_count = (SELECT count(*) FROM trials WHERE job_id = ?) "
                "WHERE id = ?",
                (job_id, job_id),
            )
            self._refresh_job(conn, job_id)
        return trial_id
