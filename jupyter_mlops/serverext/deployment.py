"""Deployment policy: when a stored model is deployed automatically, and manual deploys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jupyter_mlops.serverext.store.api import MLOpsStore


@dataclass(frozen=True)
class DeploymentPolicy:
    """``auto``: deploy a new model that beats the one deployed now; ``manual``: never."""

    mode: str = "auto"
    metric: str = "test_accuracy"
    higher_is_better: bool = True

    def after_model_stored(self, store: MLOpsStore, model_id: str) -> dict[str, Any] | None:
        """Run the policy on a freshly stored model; return the new deployment, if any."""
        if self.mode != "auto":
            return None
        return store.deploy_if_better(model_id, self.metric, self.higher_is_better)

    def deploy(self, store: MLOpsStore, model_id: str) -> dict[str, Any]:
        """Deploy any stored model by hand: a rollback (or roll forward)."""
        return store.deploy(model_id, "manual", self.metric)
