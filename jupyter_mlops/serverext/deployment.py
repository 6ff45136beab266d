"""Deployment policy: when a stored model is deployed automatically, and manual deploys.

The policy judges (``gate.decide``); the store records the judgement and switches the
deployment in the same transaction (a compare-and-set), so two models stored at once can never
both replace the champion, and every decision names the champion it was judged against.
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyter_mlops.serverext.gate import decide
from jupyter_mlops.serverext.store.api import MLOpsStore, Row


@dataclass(frozen=True)
class DeploymentPolicy:
    """``auto``: deploy a new model that the gate lets past the one deployed now; ``manual``:
    never (the gate's verdict is still recorded). ``gate``: ``significant`` (better on the same
    test set beyond chance, at ``alpha``) or ``better`` (the metric alone)."""

    mode: str = "auto"
    metric: str = "test_accuracy"
    higher_is_better: bool = True
    gate: str = "significant"
    alpha: float = 0.05

    def judge(self, model: Row, champion: Row | None) -> Row:
        """The gate's decision on ``model`` against ``champion`` (both with their evidence)."""
        found = decide(
            model,
            champion,
            gate=self.gate,
            metric=self.metric,
            higher_is_better=self.higher_is_better,
            alpha=self.alpha,
        ).to_json()
        if model.get("legacy") or model.get("damaged"):
            why = "it is a legacy model file" if model.get("legacy") else model["damaged"]
            found.update(deployed=False, reason=f"not deployed: it cannot be served ({why})")
        return found

    def auto_judge(self, model: Row, champion: Row | None) -> Row:
        """What a freshly stored model gets: the gate's decision, or under ``manual`` mode the
        same judgement recorded without deploying."""
        found = self.judge(model, champion)
        if self.mode != "auto" and found["deployed"]:
            found.update(
                deployed=False,
                reason="not deployed: automatic deploys are off (deploy_policy manual); the "
                f"gate said: {found['reason']}",
            )
        return found

    def manual_judge(self, model: Row, champion: Row | None) -> Row:
        """A deploy by hand is always allowed; the decision says whether it bypassed the gate."""
        found = self.judge(model, champion)
        if champion is not None and champion["id"] == model["id"]:
            reason = "deployed by hand: it was already deployed (deployed again)"
            bypassed = False
        elif found["deployed"]:
            reason, bypassed = f"deployed by hand (the gate agreed: {found['reason']})", False
        else:
            reason = f"deployed by hand: the gate was bypassed (it had said: {found['reason']})"
            bypassed = True
        found.update(deployed=True, reason=reason, bypassed=bypassed)
        return found

    def after_model_stored(self, store: MLOpsStore, model_id: str) -> tuple[Row, Row | None]:
        """Judge a freshly stored model and deploy it when the gate says so (one transaction);
        return (its Decision, the new Deployment or None)."""
        return store.judge_and_deploy(model_id, self.auto_judge)

    def deploy(self, store: MLOpsStore, model_id: str) -> Row:
        """Deploy any stored model by hand (a rollback, or past the gate); return the
        Deployment, whose ``decision`` records what the gate would have said."""
        return store.deploy(model_id, self.manual_judge)
