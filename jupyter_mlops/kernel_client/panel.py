"""The ipywidgets control panel: workers, grid launcher, jobs, models with Deploy, deployment.

For notebooks without JupyterLab's side panel (Colab, classic, a remote box): ``panel()`` (and
``%mlops panel``) shows it, against the local hub or a remote one (``url``, ``token``). It reads
everything over REST after each (re)connect and then follows the hub's events websocket, so it
updates live without polling. Stable CSS classes: ``mlops-panel`` and ``mlops-panel-<part>``.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from typing import Any

import ipywidgets as W

from jupyter_mlops.kernel_client._hub import EventStream, HubClient, HubError

log = logging.getLogger(__name__)

STYLE = """<style>
.mlops-panel { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 13px; gap: 6px; max-width: 980px; }
.mlops-panel h3 { margin: 10px 0 2px 0; font-size: 14px; text-transform: uppercase;
  letter-spacing: .05em; color: #486581; }
.mlops-panel table { border-collapse: collapse; width: 100%; }
.mlops-panel th, .mlops-panel td { text-align: left; padding: 3px 8px;
  border-bottom: 1px solid #e4e7eb; vertical-align: top; }
.mlops-panel th { color: #627d98; font-weight: 600; }
.mlops-panel code { font-size: 12px; }
.mlops-panel .pill { display: inline-block; padding: 0 8px; border-radius: 999px;
  font-size: 12px; font-weight: 600; }
.mlops-panel .ok { background: #e3f9e5; color: #1f7a33; }
.mlops-panel .busy { background: #e0e8f9; color: #2c3e9f; }
.mlops-panel .off { background: #e4e7eb; color: #52606d; }
.mlops-panel .bad { background: #ffe3e3; color: #8a1c1c; }
.mlops-panel .warn { color: #8d6a00; }
.mlops-panel .err { color: #b42318; }
.mlops-panel-job-trials td { padding: 1px 8px; font-size: 12px; }
.mlops-panel-models .group { margin-top: 6px; font-weight: 600; color: #334e68; }
</style>"""

_STATUS_CSS = {
    "idle": "ok", "online": "ok", "finished": "ok", "deployed": "ok",
    "busy": "busy", "running": "busy",
    "queued": "off", "pending": "off", "offline": "off", "cancelled": "off", "failed": "bad",
}  # fmt: skip


_JOBS_SHOWN = 20  # newest jobs listed


def _pill(text: str) -> str:
    return f"<span class='pill {_STATUS_CSS.get(text, 'off')}'>{html.escape(text)}</span>"


def _when(iso: Any) -> str:
    """``2026-11-26T18:20:19.172+00:00`` -> ``2026-11-26 18:20:19``."""
    return html.escape(str(iso or "")[:19].replace("T", " "))


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else "-"


def _params(params: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (params or {}).items())


def job_workers(job: dict[str, Any]) -> list[str]:
    """The distinct workers of a job's trials (lease holders or last ones), in trial order."""
    names: list[str] = []
    for trial in job.get("trials") or ():
        name = trial.get("worker_name")
        if name and name not in names:
            names.append(name)
    return names


def job_workers_text(job: dict[str, Any]) -> str:
    """``w1, w2 (any)``; the requested worker ("any" or a name) while no trial was leased."""
    names = job_workers(job)
    requested = str(job.get("worker") or "any")
    if not names:
        return requested
    return ", ".join(names) + (" (any)" if requested == "any" else "")


def has_failed_trials(job: dict[str, Any]) -> bool:
    """Whether a job has failed trials to retry (without its trials: whether it failed)."""
    trials = job.get("trials")
    if trials is None:
        return job.get("status") == "failed"
    return any(t.get("status") == "failed" for t in trials)


def _trial_line(trial: dict[str, Any]) -> str:
    """One table row: id, status, worker, attempt, epoch, checkpoint, resume, error."""
    status = str(trial.get("status") or "?")
    worker = trial.get("worker_name")
    facts = [f"on <b>{html.escape(str(worker))}</b>" if worker else "<i>not leased yet</i>"]
    if (trial.get("attempt") or 0) > 1:
        facts.append(f"attempt {trial['attempt']}")
    if status == "running" and trial.get("epochs"):
        facts.append(f"epoch {trial.get('epoch') or 0}/{trial['epochs']}")
    if trial.get("resumed_from_epoch") is not None:
        facts.append(f"resumed from epoch {trial['resumed_from_epoch']}")
    if trial.get("checkpoint_epoch") is not None:
        facts.append(f"checkpoint: epoch {trial['checkpoint_epoch']}")
    accuracy = (trial.get("metrics") or {}).get("test_accuracy")
    if isinstance(accuracy, (int, float)):
        facts.append(f"accuracy {_pct(accuracy)}")
    error = trial.get("error")
    note = ""
    if error:
        css = "warn" if status == "pending" else "err"  # pending: why it was re-queued
        note = f" <span class='{css}'>{html.escape(str(error))}</span>"
    return (
        f"<tr><td>{html.escape(str(trial.get('id', '')))}</td><td>{_pill(status)}</td>"
        f"<td>{' &middot; '.join(facts)}{note}</td></tr>"
    )


class _JobRow(W.VBox):
    """One job: label, progress bar, status, Cancel, Retry failed; then its trials."""

    def __init__(self, panel: MLOpsPanel, job_id: int) -> None:
        self.job_id = job_id
        self.label = W.HTML(layout=W.Layout(width="400px"))
        self.bar = W.FloatProgress(min=0.0, max=1.0, layout=W.Layout(width="220px"))
        self.status = W.HTML(layout=W.Layout(width="260px"))
        self.cancel = W.Button(description="Cancel", layout=W.Layout(width="80px"))
        self.cancel.on_click(lambda _: panel._action("POST", f"/jobs/{job_id}/cancel"))
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
            f"<b>job {job['id']}</b> on {html.escape(job_workers_text(job))} &middot; "
            f"<code>{html.escape(json.dumps(job.get('conf', {}))[:48])}</code>"
        )
        self.bar.value = float(job.get("progress") or 0.0)
        done, total = job.get("trials_done", 0), job.get("trial_count", 0)
        error = (
            f" <span class='err'>{html.escape(str(job['error']))}</span>"
            if job.get("error")
            else ""
        )
        self.status.value = f"{_pill(job.get('status', '?'))} trial {done}/{total}{error}"
        self.cancel.disabled = job.get("status") not in ("queued", "running")
        self.retry.layout.display = None if has_failed_trials(job) else "none"
        trials = job.get("trials") or []
        self.trials.value = (
            "<table>" + "".join(_trial_line(t) for t in trials) + "</table>" if trials else ""
        )


class _ModelRow(W.HBox):
    """One stored model: its facts and a Deploy button."""

    def __init__(self, panel: MLOpsPanel, model_id: str) -> None:
        self.mlops_model_id = model_id
        self.info = W.HTML(layout=W.Layout(width="760px"))
        self.button = W.Button(layout=W.Layout(width="100px"), tooltip=f"Deploy model {model_id}")
        self.button.mlops_model_id = model_id
        self.button.on_click(lambda _: panel.deploy(model_id))
        super().__init__([self.info, self.button])
        self.add_class("mlops-panel-model")

    def update(self, model: dict[str, Any]) -> None:
        metrics = model.get("metrics") or {}
        deployed = bool(model.get("deployed"))
        self.info.value = (
            f"<b>{html.escape(model['id'])}</b> {_pill('deployed') if deployed else ''} &middot; "
            f"accuracy {_pct(metrics.get('test_accuracy'))} &middot; "
            f"{model.get('param_count') or 0:,} params &middot; "
            f"{(model.get('size') or 0) / 1024:.0f} KB "
            f"&middot; sha1 <code>{html.escape(str(model.get('sha1', ''))[:12])}</code> &middot; "
            f"<code>{html.escape(_params(model.get('hyperparameters')))}</code>"
        )
        self.button.description = "Deployed" if deployed else "Deploy"
        self.button.disabled = deployed
        self.button.button_style = "success" if deployed else ""


class MLOpsPanel(W.VBox):
    """The control panel widget; ``close()`` stops its events connection."""

    def __init__(self, client: HubClient, *, start: bool = True) -> None:
        self.client = client
        self.workers: dict[int, dict[str, Any]] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.models: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.deployment: dict[str, Any] | None = None
        self.validation: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._job_rows: dict[int, _JobRow] = {}
        self._model_rows: dict[str, _ModelRow] = {}
        self._group_headers: dict[Any, W.HTML] = {}

        self.status = W.HTML(_dom_classes=["mlops-panel-status"])
        self.message = W.HTML(_dom_classes=["mlops-panel-message"])
        self.deployed = W.HTML(_dom_classes=["mlops-panel-deployed"])
        self.workers_view = W.HTML(_dom_classes=["mlops-panel-workers"])
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
             section("Workers"), self.workers_view, section("Launch a grid search"), launcher,
             section("Jobs"), self.jobs_view, section("Models"), self.models_view],
            _dom_classes=["mlops-panel"],
        )  # fmt: skip
        self._show_status(False, "connecting")
        self.stream = EventStream(
            client,
            on_message=self._on_message,
            on_connect=self.refresh,
            on_status=self._show_status,
        )
        if start:
            self.stream.start()

    def close(self) -> None:
        """Stop following the hub and close the widgets."""
        self.stream.stop()
        super().close()

    # --- hub calls -------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        css = "err" if error else ""
        self.message.value = f"<span class='{css}'>{text}</span>" if text else ""

    def _action(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return self.client.request(method, path, body)
        except HubError as exc:
            self._say(f"{method} {html.escape(path)} failed: {html.escape(str(exc))}", error=True)
            return None

    def refresh(self) -> None:
        """Re-read everything over REST (after each connect; REST is the truth)."""
        try:
            workers = self.client.request("GET", "/workers")["workers"]
            jobs = self.client.request("GET", "/jobs")["jobs"]
            # the list has no trials: read them for the jobs shown that run or may have moved
            for i, job in enumerate(jobs[:_JOBS_SHOWN]):
                held = self.jobs.get(job["id"], {})
                if job.get("status") in ("queued", "running") or (
                    held.get("trials") is not None and held.get("status") != job.get("status")
                ):
                    jobs[i] = self.client.request("GET", f"/jobs/{job['id']}")
            models = self.client.request("GET", "/models")
            deployment = self.client.request("GET", "/deployment")["deployment"]
        except HubError as exc:
            self._say(f"cannot read the hub: {html.escape(str(exc))}", error=True)
            return
        with self._lock:
            self.workers = {w["id"]: w for w in workers}
            # keep the trials held for the others (they did not change)
            self.jobs = {j["id"]: {**self.jobs.get(j["id"], {}), **j} for j in jobs}
            self.models, self.groups = models["models"], models.get("groups", [])
            self.deployment = deployment
            self._render_workers()
            self._render_jobs()
            self._render_models()

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
        result = self._action("POST", "/grid/validate", {"conf": conf, "worker": self.worker.value})
        self.validation = result
        if result is None:
            return None
        lines = [f"<b>{result.get('trial_count', 0)} trials</b>"]
        for kind, css in (("errors", "err"), ("warnings", "warn")):
            for problem in result.get(kind, []):
                key = f"{problem['key']}: " if problem.get("key") else ""
                text = html.escape(key + problem["message"])
                lines.append(f"<span class='{css}'>{kind[:-1]}: {text}</span>")
        self.validation_view.value = "<br>".join(lines)
        self.launch.disabled = not result.get("valid")
        return result

    def launch_job(self) -> dict[str, Any] | None:
        """POST the conf as a job for the picked worker."""
        try:
            conf = json.loads(self.conf.value)
        except ValueError:
            return None
        job = self._action("POST", "/jobs", {"conf": conf, "worker": self.worker.value})
        if job is not None:
            self._say(
                f"Launched job {job['id']}: {job.get('trial_count')} trials, {job.get('status')}."
            )
            self._apply_job(job)
        return job

    def retry_job(self, job_id: int) -> dict[str, Any] | None:
        """Put a job's failed trials back in the queue (``POST /jobs/{id}/retry``)."""
        job = self._action("POST", f"/jobs/{job_id}/retry")
        if job is not None:
            self._say(f"Retrying the failed trials of job {job_id}: {job.get('status')}.")
            self._apply_job(job)
        return job

    def deploy(self, model_id: str) -> dict[str, Any] | None:
        """Deploy a model by hand (a rollback)."""
        deployment = self._action("POST", "/deployment", {"model_id": model_id})
        if deployment is not None:
            self._say(
                f"Deployed model {html.escape(model_id)} (sha1 {deployment.get('sha1', '')[:12]})."
            )
            self._apply_deployment(deployment)
        return deployment

    def _on_conf_upload(self, change: dict[str, Any]) -> None:
        files = change.get("new") or ()
        if files:
            self.conf.value = bytes(files[0]["content"]).decode("utf-8", errors="replace")
            self.conf_upload.value = ()

    # --- live events -----------------------------------------------------------------------
    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        with self._lock:
            if kind == "worker" and message.get("worker"):
                worker = message["worker"]
                self.workers[worker["id"]] = worker
                self._render_workers()
            elif kind == "job" and message.get("job"):
                self._apply_job(message["job"])
            elif kind == "model":
                self._reload_models()
            elif kind == "deployment":
                self._apply_deployment(message.get("deployment"))

    def _apply_job(self, job: dict[str, Any]) -> None:
        with self._lock:
            self.jobs[job["id"]] = {**self.jobs.get(job["id"], {}), **job}
            self._render_jobs()

    def _apply_deployment(self, deployment: dict[str, Any] | None) -> None:
        with self._lock:
            self.deployment = deployment
            deployed_id = deployment.get("model_id") if deployment else None
            for model in self.models:
                model["deployed"] = model["id"] == deployed_id
            self._render_models()

    def _reload_models(self) -> None:
        try:
            models = self.client.request("GET", "/models")
        except HubError as exc:
            log.warning("reading models failed: %s", exc)
            return
        with self._lock:
            self.models, self.groups = models["models"], models.get("groups", [])
            self._render_models()

    # --- rendering -------------------------------------------------------------------------
    def _show_status(self, connected: bool, text: str) -> None:
        pill = (
            "<span class='pill ok'>live</span>"
            if connected
            else f"<span class='pill bad'>{html.escape(text)}</span>"
        )
        self.status.value = f"<b>jupyter-mlops</b> hub {html.escape(self.client.server_url)} {pill}"

    def _render_workers(self) -> None:
        rows = []
        for w in sorted(self.workers.values(), key=lambda w: (not w.get("online"), w["name"])):
            status = w.get("status") or ("idle" if w.get("online") else "offline")
            seen = "" if w.get("online") else f" (last seen {_when(w.get('last_seen'))})"
            doing = (
                f"job {w['current_job']} / trial {w.get('current_trial') or '-'}"
                if w.get("current_job")
                else ""
            )
            rows.append(
                f"<tr><td><b>{html.escape(w['name'])}</b></td><td>{_pill(status)}{seen}</td>"
                f"<td>{html.escape(str(w.get('device') or ''))}</td><td>{doing}</td>"
                f"<td><code>{html.escape(_params(w.get('defaults')))}</code></td></tr>"
            )
        self.workers_view.value = (
            "<table><tr><th>worker</th><th>status</th><th>device</th><th>doing</th>"
            "<th>defaults</th></tr>" + "".join(rows) + "</table>"
            if rows
            else "<i>No worker yet: run <code>%load_ext jupyter_mlops</code> in a notebook.</i>"
        )  # fmt: skip
        options = [("any worker", "any")] + [
            (f"{w['name']} ({w.get('status', '?')})", w["name"]) for w in self.workers.values()
        ]
        if list(self.worker.options) != options:
            current = self.worker.value
            self.worker.options = options
            self.worker.value = current if current in [v for _, v in options] else "any"

    def _render_jobs(self) -> None:
        children = []
        for job_id in sorted(self.jobs, reverse=True)[:_JOBS_SHOWN]:
            row = self._job_rows.get(job_id)
            if row is None:
                row = self._job_rows[job_id] = _JobRow(self, job_id)
            row.update(self.jobs[job_id])
            children.append(row)
        if tuple(children) != tuple(self.jobs_view.children):
            self.jobs_view.children = tuple(children) or (self._empty_jobs,)

    def _render_models(self) -> None:
        d = self.deployment
        if d:
            self.deployed.value = (
                f"model <b>{html.escape(str(d['model_id']))}</b> &middot; sha1 "
                f"<code class='mlops-panel-deployed-sha1'>{html.escape(d.get('sha1', ''))}</code> "
                f"&middot; {html.escape(str(d.get('reason', '')))} "
                f"at {_when(d.get('time'))} UTC"
            )
        else:
            self.deployed.value = "<i>No model deployed yet.</i>"
        by_id = {m["id"]: m for m in self.models}
        groups = self.groups or [
            {"job_id": m["job_id"], "model_ids": [m["id"]]} for m in self.models
        ]
        children: list[W.Widget] = []
        for group in groups:
            job_id = group.get("job_id")
            if job_id not in self._group_headers:
                self._group_headers[job_id] = W.HTML(f"<div class='group'>job {job_id}</div>")
            children.append(self._group_headers[job_id])
            for model_id in group.get("model_ids", []):
                model = by_id.get(model_id)
                if model is not None:
                    row = self._model_rows.get(model_id)
                    if row is None:
                        row = self._model_rows[model_id] = _ModelRow(self, model_id)
                    row.update(model)
                    children.append(row)
        for gone in set(self._model_rows) - set(by_id):  # the store was cleared
            self._model_rows.pop(gone).close()
        if tuple(children) != tuple(self.models_view.children):
            self.models_view.children = tuple(children) or (self._empty_models,)


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
