"""The ipywidgets page of the demo classifier (``demo_voila.ipynb``, served by Voilà).

Stable CSS classes for tests and styling: ``mlops-demo`` (the page), ``mlops-demo-status``,
``mlops-demo-sha1`` (the full sha1 as text), ``mlops-demo-model``, ``mlops-demo-notice``,
``mlops-demo-load-error``, ``mlops-demo-upload``, ``mlops-demo-busy``, ``mlops-demo-result``,
``mlops-demo-bar``, ``mlops-demo-error``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import threading
from typing import Any

import ipywidgets as W

from jupyter_mlops.kernel_client.demo.classifier import (
    ActiveModel,
    ClassifierService,
    DemoError,
    ImageError,
    Prediction,
)
from jupyter_mlops.kernel_client.demo.follower import DeploymentFollower
from jupyter_mlops.kernel_client.hub_client import HubClient, HubNotFound

log = logging.getLogger(__name__)
logging.getLogger("jupyter_mlops").addHandler(logging.NullHandler())  # no log noise on the page

STYLE = """<style>
.mlops-demo { max-width: 760px; margin: 0 auto; font-family: system-ui, -apple-system, "Segoe UI",
  Roboto, sans-serif; color: #1f2933; gap: 12px; }
.mlops-demo h1 { font-size: 26px; margin: 8px 0 0 0; font-weight: 650; }
.mlops-demo .sub { color: #52606d; font-size: 14px; margin-top: 2px; }
.mlops-demo-status .pill { display: inline-block; padding: 2px 10px; border-radius: 999px;
  font-size: 12px; font-weight: 600; }
.mlops-demo-status .live { background: #e3f9e5; color: #1f7a33; }
.mlops-demo-status .down { background: #fff3c4; color: #8d6a00; }
.mlops-demo-card { border: 1px solid #d9e2ec; border-radius: 10px; padding: 14px 16px;
  background: #f8fafc; }
.mlops-demo-card .title { font-size: 12px; letter-spacing: .06em; text-transform: uppercase;
  color: #627d98; font-weight: 700; margin-bottom: 6px; }
.mlops-demo-sha1 { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 15px;
  font-weight: 600; word-break: break-all; }
.mlops-demo-card .grid { display: grid; grid-template-columns: 130px 1fr; row-gap: 4px;
  font-size: 14px; margin-top: 6px; }
.mlops-demo-card .k { color: #627d98; }
.mlops-demo .badge { display: inline-block; padding: 1px 8px; border-radius: 6px; font-size: 12px;
  font-weight: 700; margin-left: 6px; }
.mlops-demo .auto { background: #e0e8f9; color: #2c3e9f; }
.mlops-demo .manual { background: #ffe8d9; color: #9c3d10; }
.mlops-demo .chip { display: inline-block; padding: 1px 8px; margin: 2px 4px 2px 0;
  border-radius: 999px; background: #e4e7eb; font-size: 13px; }
.mlops-demo-empty { color: #52606d; font-size: 15px; }
.mlops-demo-notice { border-radius: 8px; padding: 10px 14px; background: #e3f9e5;
  border: 1px solid #91d89e; color: #14532d; font-size: 14px; }
.mlops-demo-load-error, .mlops-demo-error { border-radius: 8px; padding: 10px 14px;
  background: #ffe3e3; border: 1px solid #f29b9b; color: #8a1c1c; font-size: 14px; }
.mlops-demo-upload-row { align-items: center; gap: 12px; }
.mlops-demo-busy .spinner { display: inline-block; width: 16px; height: 16px;
  border: 3px solid #cbd2d9; border-top-color: #2f80ed; border-radius: 50%;
  animation: mlops-spin .8s linear infinite; vertical-align: middle; margin-right: 8px; }
@keyframes mlops-spin { to { transform: rotate(360deg); } }
.mlops-demo-result .box { display: flex; gap: 18px; align-items: flex-start;
  border: 1px solid #d9e2ec; border-radius: 10px; padding: 14px 16px; }
.mlops-demo-result img { max-width: 160px; max-height: 160px; border-radius: 6px;
  image-rendering: auto; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
.mlops-demo-result .bars { flex: 1; }
.mlops-demo-result .headline { font-size: 20px; font-weight: 650; margin-bottom: 8px; }
.mlops-demo-bar { display: grid; grid-template-columns: 110px 1fr 64px; align-items: center;
  gap: 8px; margin: 5px 0; font-size: 14px; }
.mlops-demo-bar .track { background: #e4e7eb; border-radius: 4px; height: 14px; overflow: hidden; }
.mlops-demo-bar .fill { background: #2f80ed; height: 100%; border-radius: 4px; }
.mlops-demo-bar.best .fill { background: #1f9d55; }
.mlops-demo-bar .pct { text-align: right; font-variant-numeric: tabular-nums; }
.mlops-demo-result.stale { opacity: .5; }
.mlops-demo-result .meta { color: #627d98; font-size: 12px; margin-top: 8px; }
</style>"""


def _when(iso: str | None) -> str:
    if not iso:
        return "unknown time"
    try:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return html.escape(iso)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(sha1: str | None) -> str:
    return html.escape((sha1 or "?")[:12])


def _metrics_html(metrics: dict[str, Any]) -> str:
    parts = []
    for name, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        text = f"{100 * value:.1f}%" if "accuracy" in name else f"{value:.4g}"
        parts.append(f"{html.escape(name.replace('_', ' '))} <b>{text}</b>")
    return " &middot; ".join(parts) or "none recorded"


def _thumbnail(data: bytes) -> str:
    """A small PNG data URI of the uploaded image ('' when it cannot be made)."""
    try:
        from PIL import Image

        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", (320, 320))
        image = opened.convert("RGB")
        image.thumbnail((160, 160))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
    except Exception:
        return ""
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class DemoApp(W.VBox):
    """The demo page: the deployed model, an image upload, predictions, live model swaps."""

    def __init__(self, service: ClassifierService, follower: DeploymentFollower | None) -> None:
        self.service = service
        self.follower = follower
        self._render_lock = threading.RLock()
        header = W.HTML(
            STYLE + "<h1>Demo classifier</h1><div class='sub'>Classifies an image with the model "
            "deployed from the model store; swaps to a newly deployed model live.</div>"
        )
        self.status = W.HTML(_dom_classes=["mlops-demo-status"])
        self.notice = W.HTML(_dom_classes=["mlops-demo-notice"], layout=W.Layout(display="none"))
        self.load_error = W.HTML(
            _dom_classes=["mlops-demo-load-error"], layout=W.Layout(display="none")
        )
        self.sha1 = W.HTML(_dom_classes=["mlops-demo-sha1"])
        self.model_info = W.HTML(_dom_classes=["mlops-demo-model"])
        card_title = W.HTML(
            "<div class='title'>Deployed model &middot; sha1 of its parameters</div>"
        )
        self.card = W.VBox(
            [card_title, self.sha1, self.model_info], _dom_classes=["mlops-demo-card"]
        )
        self.upload = W.FileUpload(
            accept="image/*", multiple=False, description="Choose an image",
            button_style="primary", _dom_classes=["mlops-demo-upload"],
            layout=W.Layout(width="auto"),
        )  # fmt: skip
        self.busy = W.HTML(_dom_classes=["mlops-demo-busy"], layout=W.Layout(display="none"))
        hint = W.HTML("<span class='sub'>PNG, JPEG, GIF, BMP, WebP, TIFF &middot; any size</span>")
        upload_row = W.HBox([self.upload, self.busy, hint], _dom_classes=["mlops-demo-upload-row"])
        self.error = W.HTML(_dom_classes=["mlops-demo-error"], layout=W.Layout(display="none"))
        self.result = W.HTML(_dom_classes=["mlops-demo-result"], layout=W.Layout(display="none"))
        super().__init__(
            [header, self.status, self.notice, self.load_error, self.card, upload_row,
             self.error, self.result],
            _dom_classes=["mlops-demo"],
        )  # fmt: skip
        self.upload.observe(self._on_upload, names="value")
        self._show_status(follower.connected if follower else False,
                          follower.status_text if follower else "no hub")  # fmt: skip
        self._show_model(service.active)
        if follower is not None:
            follower.add_listener(self._on_event)

    # --- rendering -------------------------------------------------------------------------
    @staticmethod
    def _toggle(widget: W.DOMWidget, visible: bool) -> None:
        widget.layout.display = "" if visible else "none"

    def _show_status(self, connected: bool, text: str) -> None:
        css = "live" if connected else "down"
        label = "&#9679; live: following the model store" if connected else html.escape(text)
        self.status.value = f"<span class='pill {css}'>{label}</span>"

    def _show_model(self, active: ActiveModel | None) -> None:
        if active is None:
            self.sha1.value = ""
            self.model_info.value = (
                "<div class='mlops-demo-empty'>No model deployed yet. Launch a job from the "
                "panel: the first trained model is deployed automatically and appears here.</div>"
            )
            return
        meta = active.metadata
        deployment = active.deployment or {}
        reason = deployment.get("reason")
        badge = (
            f"<span class='badge {html.escape(reason)}'>{html.escape(reason)}</span>"
            if reason
            else ""
        )
        how = {"auto": "automatically (it beat the deployed model)", "manual": "by hand (rollback)"}
        classes = "".join(f"<span class='chip'>{html.escape(c)}</span>" for c in active.classes)
        c, h, w = active.channels, active.height, active.width
        rows = [
            ("model", f"{html.escape(str(active.model_id or '?'))}{badge}"),
            ("deployed", f"{_when(deployment.get('time'))}, {how.get(reason or '', 'by the hub')}"
             if deployment else "loaded from a file"),
            ("metrics", _metrics_html(meta.get("metrics") or {})),
            ("input", f"{w}&times;{h} {'grayscale' if c == 1 else 'RGB'}, "
                      f"{meta.get('param_count', '?'):,} parameters"
                      if isinstance(meta.get("param_count"), int) else f"{w}&times;{h}"),
            ("classes", classes),
        ]  # fmt: skip
        self.sha1.value = html.escape(active.sha1)
        self.model_info.value = (
            "<div class='grid'>"
            + "".join(f"<div class='k'>{k}</div><div>{v}</div>" for k, v in rows)
            + "</div>"
        )

    def _show_result(self, name: str, data: bytes, result: Prediction) -> None:
        best, best_p = result.top[0]
        bars = "".join(
            f"<div class='mlops-demo-bar{' best' if i == 0 else ''}'>"
            f"<span class='name'>{html.escape(label)}</span>"
            f"<div class='track'><div class='fill' style='width:{100 * p:.1f}%'></div></div>"
            f"<span class='pct'>{100 * p:.1f}%</span></div>"
            for i, (label, p) in enumerate(result.top)
        )
        thumb = _thumbnail(data)
        image = f"<img src='{thumb}' alt='uploaded image'>" if thumb else ""
        self.result.value = (
            f"<div class='box'>{image}<div class='bars'><div class='headline'>"
            f"{html.escape(best)} <span class='sub'>{100 * best_p:.1f}%</span></div>{bars}"
            f"<div class='meta'>{html.escape(name)} &middot; model "
            f"{html.escape(str(result.model_id or '?'))} (sha1 {_short(result.sha1)}) &middot; "
            f"{result.elapsed_ms:.1f} ms</div></div></div>"
        )

    # --- events ----------------------------------------------------------------------------
    def _on_event(self, kind: str, info: dict[str, Any]) -> None:
        with self._render_lock:
            if kind == "status":
                self._show_status(info["connected"], info["text"])
            elif kind == "model":
                self._on_model(info["active"], info["previous"])
            elif kind == "error":
                active = self.service.active
                keep = f"; still serving sha1 {_short(active.sha1)}" if active else ""
                self.load_error.value = (
                    f"<b>New model not loaded.</b> {html.escape(info['message'])}{keep}"
                )
                self._toggle(self.load_error, True)

    def _on_model(self, active: ActiveModel | None, previous: ActiveModel | None) -> None:
        self._show_model(active)
        self._toggle(self.load_error, False)
        self.result.add_class("stale")  # the shown result came from the previous model
        synced = self.follower is not None and self.follower.synced.is_set()
        if not synced:
            return
        now = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S UTC")
        if active is None:
            text = "The model store was cleared: no model is deployed now."
        else:
            reason = (active.deployment or {}).get("reason", "")
            was = f", replacing sha1 {_short(previous.sha1)}" if previous else ""
            text = (
                f"<b>Model updated</b> at {now}: now serving model "
                f"{html.escape(str(active.model_id))} (sha1 {_short(active.sha1)}, "
                f"{html.escape(reason or 'deployed')}){was}. No page reload needed."
            )
        if self.result.layout.display != "none":
            text += " The result below came from the previous model."

        self.notice.value = text
        self._toggle(self.notice, True)

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change.get("new") or ()
        if not files:
            return
        item = files[0]
        name, data = str(item.get("name", "image")), bytes(item.get("content", b""))
        with self._render_lock:
            self.busy.value = f"<span class='spinner'></span>Classifying {html.escape(name)}..."
            self._toggle(self.busy, True)
            self._toggle(self.error, False)
        try:
            result = self.service.predict(data)
        except ImageError as exc:
            self._show_error(
                f"<b>{html.escape(name)}</b>: {html.escape(str(exc))} Try another image."
            )
        except DemoError as exc:
            self._show_error(f"<b>{html.escape(name)}</b>: {html.escape(str(exc))}")
        except Exception as exc:  # the page must keep working whatever the model does
            log.exception("prediction failed")
            reason = html.escape(str(exc))
            self._show_error(f"<b>{html.escape(name)}</b>: the model failed on it ({reason}).")
        else:
            with self._render_lock:
                self._show_result(name, data, result)
                self.result.remove_class("stale")
                self._toggle(self.result, True)
        finally:
            with self._render_lock:
                self._toggle(self.busy, False)
            self.upload.value = ()

    def _show_error(self, message: str) -> None:
        with self._render_lock:
            self.error.value = message
            self._toggle(self.error, True)
            self._toggle(self.result, False)


def demo_app(
    url: str | None = None, token: str | None = None, wait: float = 10.0, threads: int | None = 1
) -> DemoApp:
    """Build the demo page, following the hub that started this kernel (or ``url``).

    ``threads``: torch intra-op threads of this kernel. One image through a small CNN is
    fastest on one thread, and the demo shares the machine with the server and training
    kernels, where more threads only contend (None keeps torch's default).
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    service = ClassifierService()
    try:
        client = HubClient(url, token)
    except HubNotFound as exc:
        app = DemoApp(service, None)
        app._show_status(False, str(exc))
        return app
    follower = DeploymentFollower(service, client)
    app = DemoApp(service, follower)
    follower.start()
    follower.synced.wait(wait)  # show the deployed model on first paint, not a notice later
    with app._render_lock:
        app._show_model(service.active)
    return app
