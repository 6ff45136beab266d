"""The model store: workers, jobs, trials, logs, metrics, models and deployments in SQLite.

This package is the only place that speaks SQL. Its query modules are grouped by entity;
methods raise NotFound, Conflict or InvalidInput (see errors.py).
"""

from __future__ import annotations

from jupyter_mlops.serverext.store.base import Row, now
from jupyter_mlops.serverext.store.models import ModelQueries
from jupyter_mlops.serverext.store.workers import WorkerQueries

__all__ = ["Row", "Store", "now"]


class Store(WorkerQueries, ModelQueries):
    """SQLite-backed store under ``root`` (``mlops.db``; model files live in the blob folder)."""
