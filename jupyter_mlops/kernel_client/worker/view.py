"""The worker's live view in its notebook: what ``start_worker(...)`` shows when displayed.

An ipywidgets box with the worker's status (link to the hub, device, what it runs), the
trial it trains (``trial k/n`` of the job), epoch and batch progress bars, its latest metrics
and a small loss curve. It is fed by the worker itself, never by polling the hub: a
:class:`~.callbacks.Callback` added to the worker's callbacks hears every batch and metric,
and the worker's listeners hear link, job and trial changes. Widgets are updated at most every
``interval`` seconds (and once more after the last change), so a fast loop cannot flood the
notebook. Every text that came from elsewhere is escaped; colours are the shared theme vocabulary
(:mod:`jupyter_mlops.kernel_client.theme`: JupyterLab's theme variables with light fallbacks), so
the view reads in dark themes too.
"""

from __future__ import annotations

import collections
import html
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from jupyter_mlops.kernel_client.theme import variables
from jupyter_mlops.kernel_client.worker.callbacks import Callback

if TYPE_CHECKING:
    from jupyter_mlops.kernel_client.worker.worker import Worker

#: Points of the loss curve kept (older ones are thinned out, never the newest).
CURVE_POINTS = 400
#: The curve's series, in order of preference: the per-batch loss, else a logged loss.
CURVE_NAMES = ("loss", "train_loss")

STYLE = (
    "<style>\n"
    + variables(".mlops-worker-view")
    + """.mlops-worker-view { font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: 13px; color: var(--mlops-text); max-width: 640px; }
.mlops-worker-view .pill { display: inline-block; padding: 0 8px; border-radius: 999px;
  font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.mlops-worker-view .ok { color: var(--mlops-ok-text); }
.mlops-worker-view .busy { color: var(--mlops-busy-text); }
.mlops-worker-view .off { color: var(--mlops-muted); }
.mlops-worker-view .bad { color: var(--mlops-bad-text); }
.mlops-worker-view .muted { color: var(--mlops-muted); }
.mlops-worker-view svg { background: var(--mlops-page); border: 1px solid var(--mlops-border); }
</style>"""
)


class WorkerView(W.VBox):
    """The live view of one worker; see the module docs. ``refresh()`` redraws it now."""

    def __init__(self, worker: Worker, *, interval: float = 0.5) -> None:
        self.worker = worker
        self.interval = interval
        self.header = W.HTML(_dom_classes=["mlops-worker-header"])
        self.trial = W.HTML(_dom_classes=["mlops-worker-trial"])
        self.epoch = W.IntProgress(
            value=0, min=0, max=1, description="epoch", _dom_classes=["mlops-worker-epoch"]
        )
        self.epoch_text = W.Label()
        self.batch = W.IntProgress(
            value=0, min=0, max=1, description="batch", _dom_classes=["mlops-worker-batch"]
        )
        self.batch_text = W.Label()
        self.metrics = W.HTML(_dom_classes=["mlops-worker-metrics"])
        self.curve = W.HTML(_dom_classes=["mlops-worker-curve"])
        self.bars = W.VBox(
            [W.HBox([self.epoch, self.epoch_text]), W.HBox([self.batch, self.batch_text])]
        )
        super().__init__(
            [W.HTML(STYLE), self.header, self.trial, self.bars, self.metrics, self.curve],
            _dom_classes=["mlops-worker-view"],
        )
        self.series: dict[str, collections.deque[tuple[int, float]]] = {}
        self.last_error: str | None = None
        #: the latest metrics seen, kept after the trial ends (until the next one starts)
        self.last_metrics: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._series_lock = threading.Lock()  # the training thread adds, a timer draws
        self._shown_at = -math.inf
        self._timer: threading.Timer | None = None
        self.watcher = _Watcher(self)
        worker.callbacks.append(self.watcher)
        worker.listeners.append(lambda what: self.changed())
        self.refresh()

    # -- updates ------------------------------------------------------------------------------

    def changed(self) -> None:
        """Something changed: redraw now, or at the end of the current interval."""
        with self._lock:
            wait = self._shown_at + self.interval - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._late)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._shown_at = time.monotonic()
        self.refresh()

    def _late(self) -> None:
        with self._lock:
            self._timer = None
            self._shown_at = time.monotonic()
        self.refresh()

    def add_point(self, name: str, step: int, value: Any) -> None:
        """A point of a curve (a batch loss or a reported metric)."""
        try:
            number = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            return
        if not math.isfinite(number):
            return
        with self._series_lock:
            points = self.series.setdefault(name, collections.deque())
            points.append((int(step), number))
            if len(points) > CURVE_POINTS:  # thin out the older half, keep the newest points
                kept = list(points)
                half = len(kept) // 2
                points.clear()
                points.extend(kept[:half:2] + kept[half:])

    def clear(self) -> None:
        """A new trial: its curve starts empty."""
        with self._series_lock:
            self.series.clear()
        self.last_error = None
        self.last_metrics = {}

    def points(self) -> tuple[str | None, list[tuple[int, float]]]:
        """The curve shown: its name and points."""
        with self._series_lock:
            name = next((n for n in CURVE_NAMES if self.series.get(n)), None)
            return name, list(self.series[name]) if name else []

    def refresh(self) -> None:
        """Redraw every part from the worker's state (any thread)."""
        status = self.worker.status()
        self.header.value = header_html(status)
        self.trial.value = trial_html(status, self.last_error)
        epoch, epochs = status["epoch"] or (0, 0)
        batch, batches = status["batch"] or (0, 0)
        self.bars.layout.display = "" if epochs or batches else "none"
        set_bar(self.epoch, self.epoch_text, epoch, epochs)
        set_bar(self.batch, self.batch_text, batch, batches)
        if status["metrics"]:
            self.last_metrics = dict(status["metrics"])
        self.metrics.value = metrics_html(self.last_metrics)
        name, points = self.points()
        self.curve.value = curve_svg(name, points) if name else ""


class _Watcher(Callback):
    """The view's ears inside the training loop (one of the worker's callbacks)."""

    def __init__(self, view: WorkerView) -> None:
        self.view = view

    def on_trial_start(self, trial_id: str | None, params: Mapping[str, Any]) -> None:
        self.view.clear()
        self.view.changed()

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        self.view.changed()

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.view.add_point("loss", (epoch - 1) * batches + batch, loss)
        self.view.changed()

    def on_metric(self, name: str, value: float, step: int) -> None:
        self.view.last_metrics[name] = value
        if name != "loss":  # a reported "loss" must not mix with the batch losses
            self.view.add_point(name, step, value)
        self.view.changed()

    def on_train_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.view.changed()

    def on_trial_end(self, trial_id: str | None, metrics: Mapping[str, Any]) -> None:
        self.view.changed()

    def on_exception(self, exc: BaseException) -> None:
        self.view.last_error = f"{type(exc).__name__}: {exc}"
        self.view.changed()


# -- HTML (every outside value escaped) ------------------------------------------------------

_STATE_CSS = {"open": "ok", "connecting": "busy", "stopped": "off"}


def _e(value: Any) -> str:
    return html.escape(str(value))


def header_html(status: Mapping[str, Any]) -> str:
    state = str(status.get("connection") or "?")
    shown = {"open": "connected"}.get(state, state)
    css = _STATE_CSS.get(state, "bad")
    error = status.get("last_error") if state != "open" else None
    parts = [
        f"<b>{_e(status.get('name'))}</b>",
        f"<span class='pill {css}'>{_e(shown)}</span>",
        f"<span class='muted'>{_e(status.get('device'))} &middot; "
        f"hub {_e(status.get('hub'))}</span>",
    ]
    line = " ".join(parts)
    return line + (f"<br><span class='bad'>{_e(error)}</span>" if error else "")


def trial_html(status: Mapping[str, Any], error: str | None) -> str:
    job, trial = status.get("job"), status.get("trial")
    done = status.get("jobs_done") or 0
    if job is None:
        waiting = "waiting for a job" + (f" ({done} assignment(s) done)" if done else "")
        return f"<span class='muted'>{_e(waiting)}</span>"
    index, count = status.get("trial_index"), status.get("trial_count")
    position = (
        f"trial {index + 1}/{count}"
        if isinstance(index, int) and isinstance(count, int)
        else "trial"
    )
    attempt = status.get("attempt")
    facts = [f"job {_e(job)}", f"<b>{_e(position)}</b> <code>{_e(trial)}</code>"]
    if isinstance(attempt, int) and attempt > 1:
        facts.append(f"attempt {_e(attempt)}")
    if status.get("uploads"):
        facts.append("<span class='busy'>model waiting to upload</span>")
    line = " &middot; ".join(facts)
    return line + (f"<br><span class='bad'>{_e(error)}</span>" if error else "")


def set_bar(bar: W.IntProgress, label: W.Label, value: int, total: int) -> None:
    bar.max = max(1, int(total or 0))
    bar.value = min(max(0, int(value or 0)), bar.max)
    label.value = f"{value}/{total}" if total else ""


def metrics_html(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return ""
    cells = []
    for name, value in list(metrics.items())[:8]:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        cells.append(f"{_e(name)} <b>{_e(shown)}</b>")
    return "<span class='muted'>" + " &middot; ".join(cells) + "</span>"


def curve_svg(
    name: str, points: list[tuple[int, float]], width: int = 320, height: int = 90
) -> str:
    """A small line chart of ``points`` (step, value) as inline SVG; numbers only inside."""
    if not points:
        return ""
    steps = [s for s, _ in points]
    values = [v for _, v in points]
    x0, x1 = min(steps), max(steps)
    y0, y1 = min(values), max(values)
    pad = 4

    def x(step: int) -> float:
        return pad + (width - 2 * pad) * ((step - x0) / (x1 - x0) if x1 > x0 else 1.0)

    def y(value: float) -> float:
        return pad + (height - 2 * pad) * (1 - ((value - y0) / (y1 - y0) if y1 > y0 else 0.5))

    line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
    return (
        f"<div class='muted'>{_e(name)}: {values[-1]:.4g} (min {y0:.4g}, max {y1:.4g}, "
        f"{len(points)} points)</div>"
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
        f"<polyline fill='none' style='stroke: var(--jp-brand-color1, #1976d2)' "
        f"stroke-width='1.5' points='{line}'/></svg>"
    )
