"""The model store: workers, jobs, trials, logs, metrics, models and deployments in SQLite.

This package is the only place that speaks SQL. ``api.py`` is the interface the rest of the
server uses; the query modules implement it, one entity each (jobs, trials, workers and their
events, models and deployments). Methods raise NotFound, Conflict or InvalidInput.
"""

from __future__ import annotations

from jupyter_mlops.serverext.store.api import Applied, MLOpsStore, Row
from jupyter_mlops.serverext.store.files import FileQueries
from jupyter_mlops.serverext.store.models import ModelQueries
from jupyter_mlops.serverext.store.searches import SearchQueries
from jupyter_mlops.serverext.store.tokens import TokenQueries
from jupyter_mlops.serverext.store.workers import WorkerQueries

__all__ = ["Applied", "MLOpsStore", "Row", "Store"]


class Store(WorkerQueries, SearchQueries, FileQueries, ModelQueries, TokenQueries, MLOpsStore):
    """SQLite-backed store under ``root`` (``mlops.db``; model files live in the blob folder)."""
