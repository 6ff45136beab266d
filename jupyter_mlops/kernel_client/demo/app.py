"""The demo classifier page (``demo_voila.ipynb``, served by Voilà): a light client of the hub.

The page shows the model the hub serves (its sha1) and follows deployments live through a
:class:`~jupyter_mlops.kernel_client.hub_client.HubMirror`; an image (uploaded, or dropped
anywhere on the page) is classified by the hub's ``POST /mlops/api/predict``. The kernel
never imports torch and never loads a model. Stable CSS classes for tests and styling:
``mlops-demo`` (the page), ``mlops-demo-status``, ``mlops-demo-sha1`` (the full sha1 as
text), ``mlops-demo-model`` (with ``mlops-demo-decision``: why that model is deployed, the
deploy decision's sentence), ``mlops-demo-notice``, ``mlops-demo-load-error``,
``mlops-demo-upload``, ``mlops-demo-busy``, ``mlops-demo-result``, ``mlops-demo-bar``,
``mlops-demo-error``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
import json
import logging
import threading
import time
from typing import Any

import ipywidgets as W

from jupyter_mlops.kernel_client.demo import render
from jupyter_mlops.kernel_client.demo.style import PAGE_SCRIPT, STYLE, UPLOAD_BUTTON
from jupyter_mlops.kernel_client.hub_client import (
    HubClient,
    HubError,
    HubMirror,
    HubNotFound,
    HubRequestError,
)

log = logging.getLogger(__name__)
logging.getLogger("jupyter_mlops").addHandler(logging.NullHandler())  # no log noise on the page

MAX_IMAGE_BYTES = 20 * 1024 * 1024


class DemoApp(W.VBox):
    """The demo page: the served model, an image upload, predictions, live model swaps."""

    def __init__(self, client: HubClient | None, mirror: HubMirror | None) -> None:
        self.client = client
        self.mirror = mirror
        self._lock = threading.RLock()
        self._served: tuple[Any, Any] | None = None  # (sha1, deployment id) shown now
        header = W.HTML(
            STYLE + "<h1>Demo classifier</h1><div class='sub'>Classifies an image "
            "with the model deployed from the model store; swaps to a newly deployed model "
            "live. Drop an image anywhere on this page, or choose one.</div>"
        )
        self.status = W.HTML(_dom_classes=["mlops-demo-status"])
        self.notice = W.HTML(_dom_classes=["mlops-demo-notice"], layout=W.Layout(display="none"))
        self.load_error = W.HTML(
            _dom_classes=["mlops-demo-load-error"], layout=W.Layout(display="none")
        )
        self.sha1 = W.HTML(_dom_classes=["mlops-demo-sha1"])
        self.model_info = W.HTML(_dom_classes=["mlops-demo-model"])
        title = W.HTML("<div class='title'>Deployed model &middot; sha1 of its parameters</div>")
        self.card = W.VBox([title, self.sha1, self.model_info], _dom_classes=["mlops-demo-card"])
        self.upload = W.HTML(UPLOAD_BUTTON)
        self.drop = W.Textarea(_dom_classes=["mlops-demo-drop"], layout=W.Layout(display="none"))
        self.busy = W.HTML(_dom_classes=["mlops-demo-busy"], layout=W.Layout(display="none"))
        hint = W.HTML("<span class='sub'>PNG, JPEG, GIF, BMP, WebP, TIFF &middot; any size</span>")
        row = W.HBox([self.upload, self.busy, hint], _dom_classes=["mlops-demo-upload-row"])
        self.error = W.HTML(_dom_classes=["mlops-demo-error"], layout=W.Layout(display="none"))
        self.result = W.HTML(_dom_classes=["mlops-demo-result"], layout=W.Layout(display="none"))
        super().__init__(
            [header, self.status, self.notice, self.load_error, self.card, row, self.drop,
             self.error, self.result],
            _dom_classes=["mlops-demo"],
        )  # fmt: skip
        self.drop.observe(self._on_file, names="value")
        if mirror is not None:
            mirror.add_listener(self._on_change)

    # --- rendering -------------------------------------------------------------------------
    @staticmethod
    def _toggle(widget: W.DOMWidget, visible: bool) -> None:
        widget.layout.display = "" if visible else "none"

    def show_status(self, connected: bool, text: str) -> None:
        self.status.value = render.status_html(connected, text)

    def show_model(self) -> None:
        """Render the deployment and what the hub serves; announce a swap once in sync."""
        assert self.mirror is not None
        with self.mirror.lock:
            deployment = self.mirror.deployment
            serving = self.mirror.serving or {}
        served = serving.get("model") if deployment is not None else None
        error = serving.get("last_error") if deployment is not None else None
        with self._lock:
            self.model_info.value = render.model_html(deployment, served)
            self.sha1.value = html.escape(str((served or {}).get("sha1") or ""))
            if error:
                keep = f"; still serving sha1 {render.short(served['sha1'])}" if served else ""
                self.load_error.value = f"<b>New model not served.</b> {html.escape(error)}{keep}"
            self._toggle(self.load_error, bool(error))
            now = (served or {}).get("sha1"), (served or {}).get("deployment_id")
            previous, self._served = self._served, now
            if previous is None or previous == now or not self.mirror.synced.is_set():
                return
            self.result.add_class("stale")  # the shown result came from the previous model
            self._announce(deployment, served, previous[0])

    def _announce(self, deployment: Any, served: Any, previous_sha1: Any) -> None:
        clock = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S UTC")
        if served is None:
            text = "The model store was cleared: no model is deployed now."
        else:
            reason = (deployment or {}).get("reason") or "deployed"
            was = f", replacing sha1 {render.short(previous_sha1)}" if previous_sha1 else ""
            text = (
                f"<b>Model updated</b> at {clock}: now serving model "
                f"{html.escape(str(served.get('model_id')))} (sha1 {render.short(served['sha1'])}"
                f", {html.escape(str(reason))}){was}. No page reload needed."
            )
        if self.result.layout.display != "none":
            text += " The result below came from the previous model."
        self.notice.value = text
        self._toggle(self.notice, True)

    # --- events ----------------------------------------------------------------------------
    def _on_change(self, kind: str, payload: Any) -> None:
        if kind == "status":
            state, error = payload
            connected = state == "connected"
            if connected or state in ("starting", "connecting", "handshake"):
                self.show_status(connected, "live" if connected else "connecting")
            else:
                self.show_status(False, f"{state}: {error}" if error else state)
        elif kind in ("refreshed", "deployment", "serving"):
            self.show_model()

    def _on_file(self, change: dict[str, Any]) -> None:
        """A file chosen or dropped on the page (JSON from the page script)."""
        text = str(change.get("new") or "")
        if not text:
            return
        self.drop.value = ""
        try:
            message = json.loads(text)
            name = str(message.get("name") or "image")
        except (ValueError, AttributeError):
            self._show_error("The file could not be read; try again.")
            return
        if "size" in message:
            self._too_large(name, float(message["size"]))
            return
        try:
            data = base64.b64decode(str(message.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            self._show_error(f"<b>{html.escape(name)}</b>: the file could not be read.")
            return
        self.classify(name, data)

    def _too_large(self, name: str, size: float) -> None:
        self._show_error(
            f"<b>{html.escape(name)}</b>: the file is {size / 2**20:.1f} MB; images up to "
            f"{MAX_IMAGE_BYTES / 2**20:.0f} MB are accepted. Try another image."
        )

    def classify(self, name: str, data: bytes) -> None:
        """Send the image to the hub's predict endpoint and show the answer or the problem."""
        with self._lock:
            self.busy.value = f"<span class='spinner'></span>Classifying {html.escape(name)}..."
            self._toggle(self.busy, True)
            self._toggle(self.error, False)
        if len(data) > MAX_IMAGE_BYTES:
            self._too_large(name, len(data))
            self._toggle(self.busy, False)
            return
        try:
            if self.client is None:
                raise HubNotFound("no hub is connected")
            started = time.perf_counter()
            answer = self.client.predict_image(data)
            elapsed = 1e3 * (time.perf_counter() - started)
        except HubRequestError as exc:
            hint = " Try another image." if exc.status in (400, 413) else ""
            self._show_error(f"<b>{html.escape(name)}</b>: {html.escape(exc.error)}.{hint}")
        except HubError as exc:
            self._show_error(f"<b>{html.escape(name)}</b>: {html.escape(str(exc))}")
        else:
            with self._lock:
                self.result.value = render.result_html(name, data, answer, elapsed)
                self.result.remove_class("stale")
                self._toggle(self.result, True)
        finally:
            with self._lock:
                self._toggle(self.busy, False)

    def _show_error(self, message: str) -> None:
        with self._lock:
            self.error.value = message
            self._toggle(self.error, True)
            self._toggle(self.result, False)


def page_script() -> Any:
    """The page's file-handling script, as an output to display once (widget HTML cannot run
    scripts; a notebook output can)."""
    from IPython.display import HTML

    return HTML(PAGE_SCRIPT % {"limit": MAX_IMAGE_BYTES})


def demo_app(url: str | None = None, token: str | None = None, wait: float = 10.0) -> DemoApp:
    """Build the demo page for the hub that started this kernel (or ``url``).

    Displays the page's script (choosing or dropping a file anywhere) as a side effect.
    """
    from IPython.display import display

    display(page_script())
    try:
        client = HubClient(url, token)
    except HubNotFound as exc:
        app = DemoApp(None, None)
        app.show_status(False, str(exc))
        return app
    mirror = HubMirror(client, parts={"deployment", "serving"})
    app = DemoApp(client, mirror)
    app.show_status(False, "connecting")
    mirror.start()
    mirror.synced.wait(wait)  # show the deployed model on first paint, not a notice later
    app.show_model()
    return app
