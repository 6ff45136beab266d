"""The deployment follower: keeps a ClassifierService on the model the hub has deployed.

It reads ``GET /deployment`` after every (re)connect and follows ``deployment`` messages
(through a :class:`~jupyter_mlops.kernel_client.hub_client.HubMirror`), downloads the model
file and loads it in a background thread; the old model serves until the new one is ready.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.demo.classifier import ClassifierService
from jupyter_mlops.kernel_client.hub_client import HubClient, HubMirror

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]


class DeploymentFollower:
    """Keep a ClassifierService on the hub's deployed model, live.

    Listeners get ``(kind, info)``: ``"status"`` {connected, text}; ``"model"`` {active,
    previous} after a swap (active None when nothing is deployed); ``"error"`` {message,
    deployment} when a deployed model could not be loaded (the old one keeps serving).
    """

    def __init__(self, service: ClassifierService, client: HubClient) -> None:
        self.service = service
        self.client = client
        self.connected = False
        self.status_text = "connecting"
        self.synced = threading.Event()  # set once the first deployment read is applied
        self._listeners: list[Listener] = []
        self._wanted: dict[str, Any] | None = None
        self._wanted_set = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._loader: threading.Thread | None = None
        self.mirror = HubMirror(client, parts={"deployment"})
        self.mirror.add_listener(self._on_change)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, kind: str, info: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, info)
            except Exception:
                log.exception("demo listener failed")

    def start(self) -> DeploymentFollower:
        """Start following the hub (the events thread and the loader thread)."""
        self._stop.clear()
        self._loader = threading.Thread(
            target=self._load_loop, name="mlops-demo-loader", daemon=True
        )
        self._loader.start()
        self.mirror.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self.mirror.stop()

    def _on_change(self, kind: str, payload: Any) -> None:
        if kind == "status":
            state, error = payload
            self.connected = state == "connected"
            self.status_text = (
                "live" if self.connected else (f"{state}: {error}" if error else state)
            )
            self._emit("status", {"connected": self.connected, "text": self.status_text})
        elif kind in ("refreshed", "deployment"):
            self._want(self.mirror.deployment)  # REST after each connect, then live changes

    def _want(self, deployment: dict[str, Any] | None) -> None:
        with self._cond:
            self._wanted, self._wanted_set = deployment, True
            self._cond.notify_all()

    def _load_loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._wanted_set and not self._stop.is_set():
                    self._cond.wait(1.0)
                if self._stop.is_set():
                    return
                wanted, self._wanted_set = self._wanted, False
            try:
                self._apply(wanted)
            finally:
                self.synced.set()

    def _apply(self, deployment: dict[str, Any] | None) -> None:
        previous = self.service.active
        if deployment is None:
            if previous is not None:
                self.service.clear()
                self._emit("model", {"active": None, "previous": previous})
            return
        sha256 = deployment.get("sha256") or ""
        if previous is not None and sha256 and previous.sha256 == sha256:
            if previous.deployment != deployment:
                self.service.set_deployment(deployment)
                if (previous.deployment or {}).get("id") != deployment.get("id"):
                    self._emit("model", {"active": self.service.active, "previous": previous})
            return
        active = self.service.activate_cached(sha256, deployment) if sha256 else None
        if active is None:
            model_id = deployment.get("model_id")
            try:
                data = self._download(str(model_id))
                active = self.service.load(
                    data, deployment=deployment, expected_sha256=sha256 or None
                )
            except Exception as exc:
                message = f"Could not load model {model_id}: {exc}"
                log.warning("%s", message)
                self._emit("error", {"message": message, "deployment": deployment})
                return
        self._emit("model", {"active": active, "previous": previous})

    def _download(self, model_id: str) -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.zip"
            self.client.download(f"/models/{model_id}/file", path)
            return path.read_bytes()
