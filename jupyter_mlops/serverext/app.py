"""The server extension: settings (traitlets) and wiring of store, hub and routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from traitlets import Bool, Enum, Float, Int, List, Type, Unicode, default

from jupyter_mlops.messages import API_PREFIX
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.handlers.base import Context
from jupyter_mlops.serverext.handlers.openapi import build_openapi
from jupyter_mlops.serverext.hub import Hub, Timer
from jupyter_mlops.serverext.routes import ROUTES, url_pattern
from jupyter_mlops.serverext.store import MLOpsStore, Store


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
    max_upload_bytes = Int(1 << 30, config=True, help="Largest model file accepted, in bytes.")
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

    @default("root_dir")
    def _default_root_dir(self) -> str:
        return str(Path(jupyter_data_dir()) / "mlops")

    def initialize_settings(self) -> None:
        root = Path(self.root_dir).expanduser()
        store = self.store_class(root)
        blobs = BlobStore(root / "blobs")
        policy = DeploymentPolicy(
            self.deploy_policy, self.deploy_metric, self.deploy_higher_is_better
        )
        hub = Hub(
            store,
            blobs,
            policy,
            grace_seconds=self.worker_grace_seconds,
            schedule=_call_later,
            log=self.log,
        )
        hub.start()
        self.context = Context(
            store=store,
            blobs=blobs,
            hub=hub,
            max_upload_bytes=self.max_upload_bytes,
            openapi=build_openapi(API_PREFIX, ROUTES),
        )
        self.log.info(
            "jupyter_mlops: store at %s (policy %s on %s)",
            root,
            self.deploy_policy,
            self.deploy_metric,
        )

    def initialize_handlers(self) -> None:
        # Voila sends a dropped file to its kernel in one websocket message: let a demo image
        # over tornado's 10 MiB default through, so the demo can refuse it with a clear message.
        assert self.serverapp is not None
        self.serverapp.web_app.settings.setdefault("websocket_max_message_size", 256 << 20)
        self.handlers.extend(
            (url_pattern(template), handler, {"ctx": self.context}) for template, handler in ROUTES
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if self.autostart_notebooks:
            from jupyter_mlops.serverext.autostart import start_notebooks

            IOLoop.current().spawn_callback(
                start_notebooks, serverapp, self.autostart_notebooks, self.log
            )

    async def stop_extension(self) -> None:
        self.context.hub.stop()
        self.context.store.close()


def _call_later(delay: float, callback: Any) -> Timer:
    loop = IOLoop.current()
    handle = loop.call_later(delay, callback)

    class _Handle:
        def cancel(self) -> None:
            loop.remove_timeout(handle)

    return _Handle()
