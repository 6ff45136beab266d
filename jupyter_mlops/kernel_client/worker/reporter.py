"""The hub reporter: the callback that turns training hooks into outbox events."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from jupyter_mlops import messages as M
from jupyter_mlops.kernel_client.worker.callbacks import Callback
from jupyter_mlops.kernel_client.worker.outbox import Outbox


def as_number(value: Any) -> float | None:
    """A plain float for numbers and 0-d tensors/arrays; None for anything else or NaN."""
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, AttributeError):
        return None
    return number if math.isfinite(number) else None


def jsonable(value: Any) -> Any:
    """Metrics made JSON-safe: tensors and numpy numbers become floats, containers recurse;
    NaN and infinities become ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (see messages.py)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return M.finite_or_text(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    number = as_number(value)
    return number if number is not None else str(value)


class HubReporter(Callback):
    """Emits ``metric`` and ``progress`` events for one trial; cheap enough to call per batch.

    The loss of every ``log_every`` batches is a ``loss`` metric (step = batch count since the
    trial began); progress is sent at most every ``progress_interval`` seconds and at the end
    of each epoch; epoch metrics use the epoch number as step. Every event carries the
    ``attempt`` of the trial's assignment (its lease), when the hub gave one.
    """

    def __init__(
        self,
        outbox: Outbox,
        job_id: int,
        trial_id: str,
        *,
        log_every: int = 1,
        progress_interval: float = 0.5,
        attempt: int | None = None,
    ) -> None:
        self.outbox = outbox
        self.job_id = job_id
        self.trial_id = trial_id
        self._lease: dict[str, Any] = {"attempt": attempt} if attempt is not None else {}
        self.log_every = max(1, int(log_every))
        self.progress_interval = progress_interval
        self.epoch = 0
        self.epochs = 0
        self.batch = 0
        self.batches = 0
        self.metrics: dict[str, Any] = {}
        self._last_progress = 0.0

    def _progress(self) -> None:
        self._last_progress = time.monotonic()
        self.outbox.emit(
            M.PROGRESS,
            job_id=self.job_id,
            trial_id=self.trial_id,
            **self._lease,
            epoch=self.epoch,
            epochs=self.epochs,
            batch=self.batch,
            batches=self.batches,
        )

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        self.epoch, self.epochs, self.batch = epoch, epochs, 0
        self._progress()

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.epoch, self.batch, self.batches = epoch, batch, batches
        value = as_number(loss) if batch % self.log_every == 0 or batch == batches else None
        if value is not None:  # a NaN loss is no point to plot
            self.outbox.emit(
                M.METRIC,
                job_id=self.job_id,
                trial_id=self.trial_id,
                **self._lease,
                name="loss",
                step=(epoch - 1) * batches + batch,
                value=value,
            )
        if batch == batches or time.monotonic() - self._last_progress >= self.progress_interval:
            self._progress()

    def on_train_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self.on_metric(name, value, epoch)
        self._progress()

    def on_metric(self, name: str, value: float, step: int) -> None:
        number = as_number(value)
        if number is None:
            return
        self.metrics[name] = number
        self.outbox.emit(
            M.METRIC,
            job_id=self.job_id,
            trial_id=self.trial_id,
            **self._lease,
            name=name,
            step=int(step),
            value=number,
        )
