"""The ipywidgets control panel: workers, grid launcher, jobs, a job's trials and best trial,
models with Deploy and the deploy gate's decision on each, deployment (and why).

For notebooks without JupyterLab's side panel (Colab, classic, a remote box): ``panel()`` (and
``%mlops panel``) shows it, against the local hub or a remote one (``url``, ``token``). Its
state is a :class:`~jupyter_mlops.kernel_client.hub_client.HubMirror` (REST after each
(re)connect, then the events websocket), so it updates live without polling. Stable CSS
classes: ``mlops-panel`` and ``mlops-panel-<part>``.
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as W

from jupyter_mlops.kernel_client.hub_client import HubClient, HubError, HubMirror
from jupyter_mlops.kernel_client.hub_client.mirror import JOBS_SHOWN
from jupyter_mlops.kernel_client.panel.html_parts import (
    STYLE,
    cluster_html,
    decision_html,
    params_text,
    pill,
    text,
    when,
)
from jupyter_mlops.kernel_client.panel.rows import JobRow, ModelRow
from jupyter_mlops.kernel_client.panel.trials import TrialsView
from jupyter_mlops.messages import WORKER_CHANGED


class MLOpsPanel(W.VBox):
    """The control panel widget; ``close()`` stops its events connection."""

    def __init__(self, client: HubClient, *, start: bool = True) -> None:
        self.client = client
        self.mirror = HubMirror(client)
        self.validation: dict[str, Any] | None = None
        self._job_rows: dict[int, JobRow] = {}
        self._model_rows: dict[str, ModelRow] = {}
        self._group_headers: dict[Any, W.HTML] = {}

        self.status = W.HTML(_dom_classes=["mlops-panel-status"])
        self.message = W.HTML(_dom_classes=["mlops-panel-message"])
        self.deployed = W.HTML(_dom_classes=["mlops-panel-deployed"])
        self.workers_view = W.HTML(_dom_classes=["mlops-panel-workers"])
        self.forget_choice = W.Dropdown(
            options=[], description="Offline", _dom_classes=["mlops-panel-forget-choice"]
        )
        self.forget = W.Button(
            description="Forget", icon="trash", tooltip="Remove this offline worker from the list",
            _dom_classes=["mlops-panel-forget"],
        )  # fmt: skip
        self.forget.on_click(lambda _: self.forget_worker(self.forget_choice.value))
        self.forget_row = W.HBox([self.forget_choice, self.forget], layout=W.Layout(display="none"))
        self.conf = W.Textarea(
            placeholder='{"EPOCHS": 1, "LEARNING_RATE": [0.001, 0.002]}',
            continuous_update=False, layout=W.Layout(width="520px", height="110px"),
            _dom_classes=["mlops-panel-conf"],
        )  # fmt: skip
        self.conf_upload = W.FileUpload(
            accept=".json,application/json", description="Upload JSON",
            _dom_classes=["mlops-panel-conf-upload"],
        )  # fmt: skip
        self.worker = W.Dropdown(
            options=[("any worker", "any")], value="any", description="Worker",
            _dom_classes=["mlops-panel-worker"],
        )  # fmt: skip
        self.launch = W.Button(
            description="Launch", button_style="primary", disabled=True, icon="play",
            _dom_classes=["mlops-panel-launch"],
        )  # fmt: skip
        self.validation_view = W.HTML(_dom_classes=["mlops-panel-validation"])
        self.jobs_view = W.VBox(_dom_classes=["mlops-panel-jobs"])
        self._empty_jobs = W.HTML("<i>No jobs yet.</i>")
        self.trials_view = TrialsView()
        self.models_view = W.VBox(_dom_classes=["mlops-panel-models"])
        self._empty_models = W.HTML("<i>No models stored yet.</i>")

        self.conf.observe(lambda _: self.validate(), names="value")
        self.worker.observe(lambda _: self.validate(), names="value")
        self.conf_upload.observe(self._on_conf_upload, names="value")
        self.launch.on_click(lambda _: self.launch_job())
        launcher = W.VBox(
            [W.HBox([self.conf, W.VBox([self.conf_upload, self.worker, self.launch])]),
             self.validation_view],
            _dom_classes=["mlops-panel-launcher"],
        )  # fmt: skip
        section = lambda title: W.HTML(f"<h3>{title}</h3>")  # noqa: E731
        super().__init__(
            [W.HTML(STYLE), self.status, self.message, section("Deployed model"), self.deployed,
             section("Workers"), self.workers_view, self.forget_row,
             section("Launch a grid search"), launcher,
             section("Jobs"), self.jobs_view, section("Trials"), self.trials_view,
             section("Models"), self.models_view],
            _dom_classes=["mlops-panel"],
        )  # fmt: skip
        self._show_status("connecting", None)
        self.mirror.add_listener(self._on_change)
        if start:
            self.mirror.start()

    def close(self) -> None:
        """Stop following the hub and close the widgets."""
        self.mirror.stop()
        super().close()

    # --- hub calls -------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        css = "err" if error else ""
        self.message.value = f"<span class='{css}'>{text}</span>" if text else ""

    def action(self, method: str, path: str, body: Any = None) -> Any:
        """Call the hub; show a failure in the message line and return None."""
        try:
            return self.client.request(method, path, body)
        except HubError as exc:
            self._say(f"{method} {html.escape(path)} failed: {html.escape(str(exc))}", error=True)
            return None

    def validate(self) -> dict[str, Any] | None:
        """Validate the conf on the hub; show trial count, warnings and errors."""
        text = self.conf.value.strip()
        self.launch.disabled = True
        if not text:
            self.validation, self.validation_view.value = None, ""
            return None
        try:
            conf = json.loads(text)
        except ValueError as exc:
            self.validation_view.value = (
                f"<span class='err'>Not valid JSON: {html.escape(str(exc))}</span>"
            )
            return None
        result = self.action("POST", "/grid/validate", {"conf": conf, "worker": self.worker.value})
        self.validation = result
        if result is None:
            return None
        lines = [f"<b>{html.escape(str(result.get('trial_count', 0)))} trials</b>"]
        for kind, css in (("errors", "err"), ("warnings", "warn")):
            for problem in result.get(kind, []):
                key = f"{problem['key']}: " if problem.get("key") else ""
                said = html.escape(key + problem["message"])
                lines.append(f"<span class='{css}'>{kind[:-1]}: {said}</span>")
        self.validation_view.value = "<br>".join(lines)
        self.launch.disabled = not result.get("valid")
        return result

    def launch_job(self) -> dict[str, Any] | None:
        """POST the conf as a job for the picked worker."""
        try:
            conf = json.loads(self.conf.value)
        except ValueError:
            return None
        job = self.action("POST", "/jobs", {"conf": conf, "worker": self.worker.value})
        if job is not None:
            self._say(
                f"Launched job {text(job['id'])}: {text(job.get('trial_count'))} trials, "
                f"{text(job.get('status'))}."
            )
            self.mirror.apply_job(job)
        return job

    def retry_job(self, job_id: int) -> dict[str, Any] | None:
        """Put a job's failed trials back in the queue (``POST /jobs/{id}/retry``)."""
        job = self.action("POST", f"/jobs/{job_id}/retry")
        if job is not None:
            self._say(f"Retrying the failed trials of job {job_id}: {text(job.get('status'))}.")
            self.mirror.apply_job(job)
        return job

    def forget_worker(self, worker_id: int | None) -> dict[str, Any] | None:
        """Forget an offline worker (``DELETE /workers/{id}``): it leaves the list."""
        if worker_id is None:
            return None
        worker = self.action("DELETE", f"/workers/{int(worker_id)}")
        if worker is not None:
            self._say(f"Forgot worker {html.escape(str(worker.get('name')))}.")
            self.mirror.apply({"type": WORKER_CHANGED, "worker": worker})
        return worker

    def deploy(self, model_id: str) -> dict[str, Any] | None:
        """Deploy a model by hand (a rollback)."""
        deployment = self.action("POST", "/deployment", {"model_id": model_id})
        if deployment is not None:
            self._say(
                f"Deployed model {html.escape(model_id)} "
                f"(sha1 {text(str(deployment.get('sha1', ''))[:12])})."
            )
            self.mirror.apply_deployment(deployment)
        return deployment

    def _on_conf_upload(self, change: dict[str, Any]) -> None:
        files = change.get("new") or ()
        if files:
            self.conf.value = bytes(files[0]["content"]).decode("utf-8", errors="replace")
            self.conf_upload.value = ()

    # --- live changes (the mirror's thread) -------------------------------------------------
    def _on_change(self, kind: str, payload: Any) -> None:
        with self.mirror.lock:
            if kind == "status":
                self._show_status(*payload)
            elif kind == "refreshed":
                self._render_workers()
                self._render_jobs()
                self._render_models()
            elif kind == "worker":
                self._render_workers()
            elif kind == "job":
                self._render_jobs()
            elif kind in ("models", "deployment"):
                self._render_models()

    # --- rendering -------------------------------------------------------------------------
    def _show_status(self, state: str, error: str | None) -> None:
        if state == "connected":
            badge = "<span class='pill ok'>live</span>"
        else:
            text = f"{state}: {error}" if error else state
            badge = f"<span class='pill bad'>{html.escape(text)}</span>"
        self.status.value = (
            f"<b>jupyter-mlops</b> hub {html.escape(self.client.server_url)} {badge}"
        )

    def _render_workers(self) -> None:
        rows = []
        for w in sorted(
            self.mirror.workers.values(), key=lambda w: (not w.get("online"), w["name"])
        ):
            status = w.get("status") or ("idle" if w.get("online") else "offline")
            seen = "" if w.get("online") else f" (last seen {when(w.get('last_seen'))})"
            doing = (
                f"job {text(w['current_job'])} / trial {text(w.get('current_trial') or '-')}"
                if w.get("current_job")
                else ""
            )
            cluster = cluster_html(w)
            cluster = f"<br>{cluster}" if cluster else ""
            rows.append(
                f"<tr><td><b>{html.escape(w['name'])}</b></td><td>{pill(status)}{seen}</td>"
                f"<td>{html.escape(str(w.get('device') or ''))}{cluster}</td><td>{doing}</td>"
                f"<td><code>{html.escape(params_text(w.get('defaults')))}</code></td></tr>"
            )
        self.workers_view.value = (
            "<table><tr><th>worker</th><th>status</th><th>device</th><th>doing</th>"
            "<th>defaults</th></tr>" + "".join(rows) + "</table>"
            if rows
            else "<i>No worker yet: run <code>%load_ext jupyter_mlops</code> in a notebook.</i>"
        )  # fmt: skip
        options = [("any worker", "any")] + [
            (f"{w['name']} ({w.get('status', '?')})", w["name"])
            for w in self.mirror.workers.values()
        ]
        if list(self.worker.options) != options:
            current = self.worker.value
            self.worker.options = options
            self.worker.value = current if current in [v for _, v in options] else "any"
        offline = [(w["name"], w["id"]) for w in self.mirror.workers.values() if not w["online"]]
        if list(self.forget_choice.options) != offline:
            current = self.forget_choice.value
            self.forget_choice.options = offline
            ids = [worker_id for _, worker_id in offline]
            self.forget_choice.value = current if current in ids else (ids[0] if ids else None)
        self.forget_row.layout.display = None if offline else "none"

    def _render_jobs(self) -> None:
        children = []
        for job_id in sorted(self.mirror.jobs, reverse=True)[:JOBS_SHOWN]:
            row = self._job_rows.get(job_id)
            if row is None:
                row = self._job_rows[job_id] = JobRow(self, job_id)
            row.update(self.mirror.jobs[job_id])
            children.append(row)
        if tuple(children) != tuple(self.jobs_view.children):
            self.jobs_view.children = tuple(children) or (self._empty_jobs,)
        shown = sorted(self.mirror.jobs, reverse=True)[:JOBS_SHOWN]
        self.trials_view.update({job_id: self.mirror.jobs[job_id] for job_id in shown})

    def _render_models(self) -> None:
        d = self.mirror.deployment
        if d:
            self.deployed.value = (
                f"model <b>{html.escape(str(d['model_id']))}</b> &middot; sha1 "
                f"<code class='mlops-panel-deployed-sha1'>{text(d.get('sha1', ''))}</code> "
                f"&middot; {html.escape(str(d.get('reason', '')))} "
                f"at {when(d.get('time'))} UTC"
            )
            why = decision_html(d.get("decision"))
            if why:
                self.deployed.value += f"<div class='mlops-panel-decision'>{why}</div>"
        else:
            self.deployed.value = "<i>No model deployed yet.</i>"
        by_id = {m["id"]: m for m in self.mirror.models}
        groups = self.mirror.groups or [
            {"job_id": m["job_id"], "model_ids": [m["id"]]} for m in self.mirror.models
        ]
        children: list[W.Widget] = []
        for group in groups:
            job_id = group.get("job_id")
            if job_id not in self._group_headers:
                self._group_headers[job_id] = W.HTML(f"<div class='group'>job {text(job_id)}</div>")
            children.append(self._group_headers[job_id])
            for model_id in group.get("model_ids", []):
                model = by_id.get(model_id)
                if model is not None:
                    row = self._model_rows.get(model_id)
                    if row is None:
                        row = self._model_rows[model_id] = ModelRow(self, model_id)
                    row.update(model, newest_decision(model, d))
                    children.append(row)
        for gone in set(self._model_rows) - set(by_id):  # the store was cleared
            self._model_rows.pop(gone).close()
        if tuple(children) != tuple(self.models_view.children):
            self.models_view.children = tuple(children) or (self._empty_models,)


def newest_decision(model: dict[str, Any], deployment: dict[str, Any] | None) -> Any:
    """The model's latest deploy decision: its own, or the deployment's when that one is of
    this model and newer (a deploy by hand arrives as a deployment, before the model list is
    read again)."""
    own = model.get("decision")
    if not deployment or deployment.get("model_id") != model.get("id"):
        return own
    theirs = deployment.get("decision")
    if not isinstance(theirs, dict):
        return own
    if not isinstance(own, dict):
        return theirs
    newer = isinstance(theirs.get("id"), int) and isinstance(own.get("id"), int)
    return theirs if newer and theirs["id"] > own["id"] else own


def panel(url: str | None = None, token: str | None = None, display: bool = False) -> MLOpsPanel:
    """The control panel for the hub that started this kernel, or for ``url`` with ``token``.

    Returns the widget (the last expression of a cell shows it); ``display=True`` shows it now.
    """
    widget = MLOpsPanel(HubClient(url, token))
    if display:
        from IPython.display import display as show

        show(widget)
    return widget


show_panel = panel
