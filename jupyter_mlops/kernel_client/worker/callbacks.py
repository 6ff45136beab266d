"""Training hooks: typed no-op callbacks that the training code calls, Lightning style.

Training code knows nothing of Jupyter or the hub: it receives a :class:`CallbackList` and
calls its hooks. Reporting to the hub is one callback; stopping is a ``threading.Event``
that :meth:`CallbackList.on_train_batch_end` checks between batches.

Checkpoints: at the end of each epoch the training code calls
``callbacks.on_checkpoint({"epoch": E, "step": S, "model": ..., "optimizer": ...})``; the
worker saves it (``torch.save``) and uploads it. When a trial resumes on another worker,
``callbacks.resume_state`` is that dict (tensors on the CPU), else None: load the states and
continue at epoch ``E + 1``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from jupyter_mlops.kernel_client.worker.result import TrialResult, TrialResultError

__all__ = [
    "Callback",
    "CallbackList",
    "TrialCancelled",
    "TrialResult",
    "TrialResultError",
    "as_callback_list",
]

log = logging.getLogger(__name__)


class TrialCancelled(Exception):
    """Raised between batches when the trial was asked to stop (hub cancel or worker stop)."""


class Callback:
    """Base class of training hooks; every hook does nothing unless overridden."""

    def on_trial_start(self, trial_id: str | None, params: Mapping[str, Any]) -> None:
        """A trial is about to build and train its model."""

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        """A training epoch (1-based) begins."""

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        """A training batch (1-based within the epoch) is done; ``loss`` is its loss."""

    def on_train_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """An epoch is done; ``metrics`` are its numbers (train loss, test accuracy, ...)."""
        self.on_epoch_end(epoch, metrics)

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """The older name of :meth:`on_train_epoch_end`; override either one."""

    def on_metric(self, name: str, value: float, step: int) -> None:
        """The training code reports any other named number."""

    def on_test_end(self, metrics: Mapping[str, Any]) -> None:
        """The final evaluation on the test set is done."""

    def on_checkpoint(self, state: Mapping[str, Any]) -> None:
        """An epoch is done and ``state`` can resume the trial after it.

        ``state`` holds at least ``epoch`` (completed epochs, >= 1) and ``step`` (the global
        step), plus whatever the training code needs (``model`` and ``optimizer`` state
        dicts, RNG states); it must load with ``torch.load(weights_only=True)``: tensors,
        numbers, strings and containers of them.
        """

    def on_trial_end(self, trial_id: str | None, metrics: Mapping[str, Any]) -> None:
        """The trial finished without error."""

    def on_exception(self, exc: BaseException) -> None:
        """The training code raised ``exc`` (including :class:`TrialCancelled`)."""


class CallbackList(Callback):
    """Calls each hook on every callback in order and carries the trial's stop Event.

    The training loop checks for a stop between batches and at epoch boundaries: once the
    trial is asked to stop, those hooks raise :class:`TrialCancelled`.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] = (),
        stop_event: threading.Event | None = None,
        resume_state: Mapping[str, Any] | None = None,
    ) -> None:
        self.callbacks: list[Callback] = list(callbacks)
        self.stop_event = stop_event or threading.Event()
        self._resume_state = dict(resume_state) if resume_state is not None else None

    @property
    def resume_state(self) -> dict[str, Any] | None:
        """The checkpoint this trial resumes from (what :meth:`on_checkpoint` got), or None."""
        return self._resume_state

    @property
    def resume_epoch(self) -> int:
        """The completed epochs of :attr:`resume_state` (0 when starting from scratch)."""
        return int(self._resume_state.get("epoch", 0)) if self._resume_state else 0

    @property
    def should_stop(self) -> bool:
        """True once the trial was asked to stop."""
        return self.stop_event.is_set()

    def check_stop(self) -> None:
        """Raise :class:`TrialCancelled` when the trial was asked to stop."""
        if self.stop_event.is_set():
            raise TrialCancelled("the trial was cancelled")

    def _dispatch(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_trial_start(self, trial_id: str | None, params: Mapping[str, Any]) -> None:
        self._dispatch("on_trial_start", trial_id, params)

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        self._dispatch("on_train_epoch_start", epoch, epochs)
        self.check_stop()

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self._dispatch("on_train_batch_end", epoch, batch, batches, loss)
        self.check_stop()

    def on_train_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self._dispatch("on_train_epoch_end", epoch, metrics)
        self.check_stop()

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.on_train_epoch_end(epoch, metrics)

    def on_metric(self, name: str, value: float, step: int) -> None:
        self._dispatch("on_metric", name, value, step)

    def on_test_end(self, metrics: Mapping[str, Any]) -> None:
        self._dispatch("on_test_end", metrics)

    def on_checkpoint(self, state: Mapping[str, Any]) -> None:
        self._dispatch("on_checkpoint", state)

    def on_trial_end(self, trial_id: str | None, metrics: Mapping[str, Any]) -> None:
        self._dispatch("on_trial_end", trial_id, metrics)

    def on_exception(self, exc: BaseException) -> None:
        for callback in self.callbacks:
            try:
                callback.on_exception(exc)
            except Exception:  # a failing hook must not hide the original error
                log.exception("callback %r failed in on_exception", callback)


def as_callback_list(callbacks: Callback | Iterable[Callback] | None) -> CallbackList:
    """Wrap None, one callback or several into a CallbackList (returned as is when it is one)."""
    if isinstance(callbacks, CallbackList):
        return callbacks
    if callbacks is None:
        return CallbackList()
    if isinstance(callbacks, Callback):
        return CallbackList([callbacks])
    return CallbackList(callbacks)
