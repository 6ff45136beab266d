"""The hub's state as a view needs it: read over REST, then kept live from ``/ws/events``.

REST is the truth: after every (re)connect the mirror re-reads what it holds, then applies
the live notifications. The ipywidgets panel and the demo both use it; each listens for the
parts it shows. Listeners get ``(kind, payload)`` in the socket's thread:
``status`` (state, error), ``refreshed`` (None), ``worker``, ``job``, ``models`` (None),
``deployment`` (the deployment or None), ``serving`` (what the hub serves, as
``GET /predict`` says), ``log`` and ``metric`` (the message).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from jupyter_mlops import messages as M
from jupyter_mlops.kernel_client.hub_client.client import HubClient
from jupyter_mlops.kernel_client.hub_client.errors import HubError

log = logging.getLogger(__name__)

Listener = Callable[[str, Any], None]
PARTS = frozenset({"workers", "jobs", "models", "deployment", "serving"})
JOBS_SHOWN = 20  # the newest jobs whose trials are read


def merge_trials(held: list[dict[str, Any]], changed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials held with those that changed put in (by id), in grid order."""
    if not changed:
        return held
    merged = list(held)
    for trial in changed:
        index = trial.get("index")
        if (  # held in grid order: put in place
            isinstance(index, int)
            and 0 <= index < len(merged)
            and merged[index].get("id") == trial["id"]
        ):
            merged[index] = trial
            continue
        merged = [t for t in merged if t.get("id") != trial["id"]] + [trial]
        merged.sort(key=lambda t: t.get("index") or 0)
    return merged


class HubMirror:
    """Workers, jobs, models and the deployment (the ``parts`` asked for), kept live."""

    def __init__(self, client: HubClient, parts: Iterable[str] = PARTS) -> None:
        self.client = client
        self.parts = frozenset(parts)
        unknown = self.parts - PARTS
        if unknown:
            raise ValueError(f"unknown parts {sorted(unknown)}; choose from {sorted(PARTS)}")
        self.workers: dict[int, dict[str, Any]] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.models: list[dict[str, Any]] = []
        self.groups: list[dict[str, Any]] = []
        self.deployment: dict[str, Any] | None = None
        self.serving: dict[str, Any] = {"model": None, "last_error": None}
        self.synced = threading.Event()  # set after the first complete REST read
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self.socket = client.websocket(
            "ws/events",
            on_message=self.apply,
            handshake=self._catch_up,
            on_state=lambda state, error: self._emit("status", (state, error)),
            name="mlops-events",
        )

    # -- life cycle ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> HubMirror:
        self.socket.start()
        return self

    def stop(self) -> None:
        self.socket.stop()

    @property
    def state(self) -> str:
        return self.socket.state

    @property
    def connected(self) -> bool:
        return self.socket.connected.is_set()

    def _emit(self, kind: str, payload: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                log.exception("mirror listener failed on %s", kind)

    # -- REST ---------------------------------------------------------------------------------

    async def _catch_up(self, ws: Any) -> bool:
        await asyncio.get_running_loop().run_in_executor(None, self.refresh)
        return True

    def refresh(self) -> None:
        """Re-read every part over REST; raises the HubError family when the hub fails."""
        get = self.client.request
        workers = get("GET", "/workers")["workers"] if "workers" in self.parts else None
        jobs = self._read_jobs() if "jobs" in self.parts else None
        models = get("GET", "/models") if "models" in self.parts else None
        deployment = get("GET", "/deployment")["deployment"] if "deployment" in self.parts else None
        serving = get("GET", "/predict") if "serving" in self.parts else None
        with self.lock:
            if workers is not None:
                self.workers = {w["id"]: w for w in workers}
            if jobs is not None:  # keep the trials held for jobs that did not change
                self.jobs = {j["id"]: {**self.jobs.get(j["id"], {}), **j} for j in jobs}
            if models is not None:
                self.models, self.groups = models["models"], models.get("groups", [])
            if "deployment" in self.parts:
                self.deployment = deployment
                self._mark_deployed()
            if serving is not None:
                self.serving = serving
        self.synced.set()
        self._emit("refreshed", None)

    def _read_jobs(self) -> list[dict[str, Any]]:
        """The job list, with trials for the shown jobs that run or changed status."""
        jobs = self.client.request("GET", "/jobs")["jobs"]
        for i, job in enumerate(jobs[:JOBS_SHOWN]):
            held = self.jobs.get(job["id"], {})
            if job.get("status") in ("queued", "running") or (
                held.get("trials") is not None and held.get("status") != job.get("status")
            ):
                jobs[i] = self.client.request("GET", f"/jobs/{job['id']}")
        return jobs

    def reload_models(self) -> None:
        """Re-read the model list (a ``model`` notification says only that it changed)."""
        try:
            models = self.client.request("GET", "/models")
        except HubError as exc:
            log.warning("reading models failed: %s", exc)
            return
        with self.lock:
            self.models, self.groups = models["models"], models.get("groups", [])
            self._mark_deployed()
        self._emit("models", None)

    # -- live notifications -------------------------------------------------------------------

    def apply(self, message: dict[str, Any]) -> None:
        """Apply one notification (also used for answers of the view's own actions)."""
        kind = message.get("type")
        if kind == M.WORKER_CHANGED and message.get("worker") and "workers" in self.parts:
            worker = message["worker"]
            with self.lock:
                if worker.get("forgotten"):  # DELETE /workers/{id}: gone from every view
                    self.workers.pop(worker["id"], None)
                else:
                    self.workers[worker["id"]] = worker
            self._emit("worker", worker)
        elif kind == M.JOB_CHANGED and message.get("job") and "jobs" in self.parts:
            self.apply_job(message["job"], changed_trials=True)
        elif kind == M.MODEL_CHANGED and "models" in self.parts:
            self.reload_models()
        elif kind == M.DEPLOYMENT_CHANGED and "deployment" in self.parts:
            self.apply_deployment(message.get("deployment"))
        elif kind == M.SERVING_CHANGED and "serving" in self.parts:
            with self.lock:
                self.serving = message.get("serving") or {"model": None, "last_error": None}
            self._emit("serving", self.serving)
        elif kind in (M.LOG_LINES, M.METRIC_POINTS):
            self._emit(str(kind), message)

    def apply_job(self, job: dict[str, Any], changed_trials: bool = False) -> None:
        """Take a newer view of a job: a REST answer, whose ``trials`` are all of them, or a
        ``job`` notification (``changed_trials``), whose ``trials`` are only those that changed:
        they are merged by id into the trials held. A notification for a job whose trials are
        not held yet reads the whole job over REST once."""
        if changed_trials:
            with self.lock:
                held = self.jobs.get(job["id"], {}).get("trials")
            if held is None and len(job.get("trials") or ()) < (job.get("trial_count") or 0):
                try:
                    job, changed_trials = self.client.request("GET", f"/jobs/{job['id']}"), False
                except HubError as exc:
                    log.warning("reading job %s failed: %s", job["id"], exc)
        with self.lock:
            old = self.jobs.get(job["id"], {})
            merged = {**old, **job}
            if changed_trials and old.get("trials") is not None:
                merged["trials"] = merge_trials(old["trials"], job.get("trials") or [])
            self.jobs[job["id"]] = merged
        self._emit("job", merged)

    def apply_deployment(self, deployment: dict[str, Any] | None) -> None:
        with self.lock:
            self.deployment = deployment
            self._mark_deployed()
        self._emit("deployment", deployment)

    def _mark_deployed(self) -> None:
        deployed_id = self.deployment.get("model_id") if self.deployment else None
        for model in self.models:
            model["deployed"] = model["id"] == deployed_id
