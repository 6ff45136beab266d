"""The server extension: settings (traitlets) and wiring of store, hub and routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Bool, Enum, Float, Int, List, TraitError, Type, Unicode, default, validate

from jupyter_mlops.grid import MAX_TRIALS
from jupyter_mlops.messages import API_PREFIX
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.errors import MLOpsError
from jupyter_mlops.serverext.gate import GATES
from jupyter_mlops.serverext.handlers.base import Context
from jupyter_mlops.serverext.handlers.damaged import DamagedStoreHandler
from jupyter_mlops.serverext.handlers.openapi import build_openapi
from jupyter_mlops.serverext.hub import Hub, Timer
from jupyter_mlops.serverext.routes import ROUTES, url_pattern
from jupyter_mlops.serverext.search import SearchRunner
from jupyter_mlops.serverext.serving import ModelServer
from jupyter_mlops.serverext.store import MLOpsStore, Store
from jupyter_mlops.serverext.storecheck import startup_damage


class MLOpsApp(ExtensionApp):
    """Model store and job hub for notebook workers."""

    name = "jupyter_mlops"

    root_dir = Unicode(config=True, help="Folder of the store: mlops.db, blobs/ and logs/.")
    deploy_policy = Enum(
        ["auto", "manual"],
        "auto",
        config=True,
        help="auto: deploy a new model when it beats the deployed one; manual: never.",
    )
    deploy_metric = Unicode("test_accuracy", config=True, help="Metric that decides auto deploy.")
    deploy_higher_is_better = Bool(True, config=True, help="False for losses.")
    deploy_gate = Enum(
        list(GATES),
        "significant",
        config=True,
        help="significant: auto deploy a new model only when it is better than the deployed "
        "one on the same test set beyond chance (exact McNemar test on per-example results, "
        "at deploy_alpha); better: when its deploy_metric is better, however slightly.",
    )
    deploy_alpha = Float(
        0.05,
        config=True,
        help="Significance level of the significant deploy gate (one-sided p-value below it).",
    )
    max_upload_bytes = Int(1 << 30, config=True, help="Largest model file accepted, in bytes.")
    max_predict_bytes = Int(
        20 << 20, config=True, help="Largest body POST /predict accepts (an image), in bytes."
    )
    max_subscriber_bytes = Int(
        16 << 20,
        config=True,
        help="Notifications (bytes) an events subscriber may leave unread; past this it is "
        "disconnected and catches up over REST when it reconnects.",
    )
    max_trials_per_job = Int(
        MAX_TRIALS,
        config=True,
        help="Most trials one job may have; a larger grid is refused with its trial count.",
    )
    serving_threads = Int(2, config=True, help="Threads that load and run the served model.")
    visitor_kernel_grace_seconds = Float(
        10.0,
        config=True,
        help="Shut down a Voila page's kernel this long after its page is closed (0: never).",
    )
    worker_grace_seconds = Float(
        60.0,
        config=True,
        help="How long a running job waits for its disconnected worker before it is interrupted.",
    )
    store_class = Type(
        Store,
        klass=MLOpsStore,
        config=True,
        help="The store implementation: a subclass of store.api.MLOpsStore, built with the root.",
    )
    autostart_notebooks = List(
        Unicode(),
        config=True,
        help="Notebooks (paths under the server root) to run in kernels of this server at start.",
    )

    @validate("deploy_alpha")
    def _check_alpha(self, proposal: Any) -> float:
        alpha = float(proposal["value"])
        if not 0.0 < alpha < 1.0:
            raise TraitError(f"deploy_alpha must be between 0 and 1 (exclusive), got {alpha}")
        return alpha

    @default("root_dir")
    def _default_root_dir(self) -> str:
        return str(Path(jupyter_data_dir()) / "mlops")

    def initialize_settings(self) -> None:
        root = Path(self.root_dir).expanduser()
        #: why the store was not opened (every route then answers 503 with it), or None
        self.damage: str | None = None
        try:
            store = self.store_class(root)
        except MLOpsError as exc:  # StoreDamaged, or DiskFull while creating it
            self._refuse_store(root, exc.message)
            return
        blobs = BlobStore(root / "blobs")
        problems = startup_damage(store, blobs)
        if problems:
            store.close()
            shown = "; ".join(problems[:5]) + (
                f"; and {len(problems) - 5} more" if problems[5:] else ""
            )
            self._refuse_store(
                root, f"{len(problems)} stored file(s) are missing or damaged: {shown}"
            )
            return
        policy = DeploymentPolicy(
            self.deploy_policy,
            self.deploy_metric,
            self.deploy_higher_is_better,
            self.deploy_gate,
            self.deploy_alpha,
        )
        hub = Hub(
            store,
            blobs,
            policy,
            grace_seconds=self.worker_grace_seconds,
            schedule=_call_later,
            log=self.log,
            max_trials=self.max_trials_per_job,
            searches=SearchRunner(root),
        )
        server = ModelServer(
            blobs,
            max_graph_bytes=self.max_upload_bytes,
            threads=self.serving_threads,
            on_change=hub.feed.serving,
            log=self.log,
        )
        hub.deployment_listeners.append(server.follow)
        hub.start()
        self.context = Context(
            store=store,
            blobs=blobs,
            hub=hub,
            server=server,
            max_upload_bytes=self.max_upload_bytes,
            max_predict_bytes=self.max_predict_bytes,
            openapi=build_openapi(API_PREFIX, ROUTES),
            max_subscriber_bytes=self.max_subscriber_bytes,
        )
        self.log.info(
            "jupyter_mlops: store at %s (policy %s on %s, gate %s)",
            root,
            self.deploy_policy,
            self.deploy_metric,
            self.deploy_gate,
        )

    def _refuse_store(self, root: Path, reason: str) -> None:
        """Keep the store closed: log why, and answer every route with it (503)."""
        self.damage = (
            f"the jupyter-mlops store at {root} was not opened: {reason}. "
            f"Check it with the server stopped: python -m jupyter_mlops.check {root} "
            "(add --repair to repair what can be repaired)"
        )
        self.log.error("jupyter_mlops: %s", self.damage)

    def initialize_handlers(self) -> None:
        # The demo page hands an image (up to max_predict_bytes, base64) to its kernel in one
        # websocket message: raise tornado's 10 MiB default for that, no further. The
        # extension's own websockets keep their own limits.
        assert self.serverapp is not None
        settings = self.serverapp.web_app.settings
        wanted = self.max_predict_bytes * 4 // 3 + (1 << 20)
        settings["websocket_max_message_size"] = max(
            settings.get("websocket_max_message_size", 10 << 20), wanted
        )
        if self.damage is not None:
            self.handlers.extend(
                (url_pattern(template), DamagedStoreHandler, {"reason": self.damage})
                for template, _ in ROUTES
            )
            return
        self.handlers.extend(
            (url_pattern(template), handler, {"ctx": self.context}) for template, handler in ROUTES
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if self.damage is None:
            self.context.server.follow(self.context.store.current_deployment())
        if self.visitor_kernel_grace_seconds > 0:
            from jupyter_mlops.serverext.visitors import VisitorReaper

            reaper = VisitorReaper(
                serverapp.kernel_manager, grace=self.visitor_kernel_grace_seconds, log=self.log
            )
            every_ms = max(500.0, 1000 * min(5.0, self.visitor_kernel_grace_seconds / 2))
            self._reaper = PeriodicCallback(reaper.check, every_ms)
            self._reaper.start()
        if self.autostart_notebooks:
            from jupyter_mlops.serverext.autostart import start_notebooks

            IOLoop.current().spawn_callback(
                start_notebooks, serverapp, self.autostart_notebooks, self.log
            )

    async def stop_extension(self) -> None:
        reaper = getattr(self, "_reaper", None)
        if reaper is not None:
            reaper.stop()
        if getattr(self, "context", None) is None:
            return  # the store was never opened
        self.context.hub.stop()
        self.context.server.close()
        self.context.store.close()


def _call_later(delay: float, callback: Any) -> Timer:
    loop = IOLoop.current()
    handle = loop.call_later(delay, callback)

    class _Handle:
        def cancel(self) -> None:
            loop.remove_timeout(handle)

    return _Handle()
