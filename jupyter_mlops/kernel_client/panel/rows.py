"""The panel's rows: one per job (progress, Cancel, Retry failed, its trials), one per model."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from jupyter_mlops.kernel_client.panel.html_parts import (
    count,
    decision_html,
    job_workers_text,
    params_text,
    pct,
    pill,
    text,
    trial_line,
)

if TYPE_CHECKING:
    from jupyter_mlops.kernel_client.panel.panel import MLOpsPanel


class JobRow(W.VBox):
    """One job: label, progress bar, status, Cancel, Retry failed; then its trials."""

    def __init__(self, panel: MLOpsPanel, job_id: int) -> None:
        self.job_id = job_id
        self.label = W.HTML(layout=W.Layout(width="400px"))
        self.bar = W.FloatProgress(min=0.0, max=1.0, layout=W.Layout(width="220px"))
        self.status = W.HTML(layout=W.Layout(width="260px"))
        self.cancel = W.Button(description="Cancel", layout=W.Layout(width="80px"))
        self.cancel.on_click(lambda _: panel.action("POST", f"/jobs/{job_id}/cancel"))
        self.retry = W.Button(
            description="Retry failed", tooltip="Put the failed trials back in the queue",
            layout=W.Layout(width="110px", display="none"), _dom_classes=["mlops-panel-retry"],
        )  # fmt: skip
        self.retry.on_click(lambda _: panel.retry_job(job_id))
        self.trials = W.HTML(_dom_classes=["mlops-panel-job-trials"])
        super().__init__(
            [W.HBox([self.label, self.bar, self.status, self.cancel, self.retry]), self.trials]
        )
        self.add_class("mlops-panel-job")

    def update(self, job: dict[str, Any]) -> None:
        self.label.value = (
            f"<b>job {text(job['id'])}</b> on {html.escape(job_workers_text(job))} &middot; "
            f"<code>{html.escape(json.dumps(job.get('conf', {}))[:48])}</code>"
        )
        self.bar.value = float(job.get("progress") or 0.0)
        done, total = job.get("trials_done", 0), job.get("trial_count", 0)
        error = (
            f" <span class='err'>{html.escape(str(job['error']))}</span>"
            if job.get("error")
            else ""
        )
        status = pill(job.get("status", "?"))
        self.status.value = f"{status} trial {text(done)}/{text(total)}{error}"
        self.cancel.disabled = job.get("status") not in ("queued", "running")
        self.retry.layout.display = None if job.get("retryable") else "none"
        trials = job.get("trials") or []
        self.trials.value = (
            "<table>" + "".join(trial_line(t) for t in trials) + "</table>" if trials else ""
        )


class ModelRow(W.HBox):
    """One stored model: its facts, the deploy gate's decision on it, and a Deploy button."""

    def __init__(self, panel: MLOpsPanel, model_id: str) -> None:
        self.mlops_model_id = model_id
        self.info = W.HTML()
        self.decision = W.HTML(_dom_classes=["mlops-panel-decision"])
        self.button = W.Button(layout=W.Layout(width="100px"), tooltip=f"Deploy model {model_id}")
        self.button.mlops_model_id = model_id
        self.button.on_click(lambda _: panel.deploy(model_id))
        facts = W.VBox([self.info, self.decision], layout=W.Layout(width="760px"))
        super().__init__([facts, self.button])
        self.add_class("mlops-panel-model")

    def update(self, model: dict[str, Any], decision: Any = None) -> None:
        """Show ``model`` and ``decision`` (its latest deploy decision; the model's own
        ``decision`` when not given)."""
        metrics = model.get("metrics")
        if not isinstance(metrics, dict):
            metrics = {}
        deployed = bool(model.get("deployed"))
        self.info.value = (
            f"<b>{text(model['id'])}</b> {pill('deployed') if deployed else ''} &middot; "
            f"accuracy {pct(metrics.get('test_accuracy'))} &middot; "
            f"{count(model.get('param_count') or 0)} params &middot; "
            f"{(model.get('size') or 0) / 1024:.0f} KB "
            f"&middot; sha1 <code>{html.escape(str(model.get('sha1', ''))[:12])}</code> &middot; "
            f"<code>{html.escape(params_text(model.get('hyperparameters')))}</code>"
        )
        self.decision.value = decision_html(model.get("decision") if decision is None else decision)
        self.button.description = "Deployed" if deployed else "Deploy"
        self.button.disabled = deployed
        self.button.button_style = "success" if deployed else ""
