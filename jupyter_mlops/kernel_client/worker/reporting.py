"""Report from any training code: ``jupyter_mlops.log``, ``log_text``, ``should_stop``, ...

Like ``wandb.log``: while a trial runs on this worker, these functions report to it from
anywhere in the training code (any module, any depth, the trial's own thread or threads it
starts); outside a trial they do nothing and warn once. The worker activates the trial's
:class:`ActiveTrial` around the training function.

A training function may then return just its model (or ``(model, metrics)``): the example
input that the model file needs comes from :func:`watch` (the first batch the model sees) or
the model's ``example_input_array``; the metrics stored with the model are the last value of
each one reported, overridden by those returned (see ``TrialResult.coerce``).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.kernel_client.worker.callbacks import CallbackList


@dataclass
class ActiveTrial:
    """The trial running on this worker and what reports go through."""

    trial_id: str
    params: Mapping[str, Any]
    callbacks: CallbackList
    write: Callable[[str], object]  # one line to the trial's log (file and hub)
    steps: dict[str, int] = field(default_factory=dict)
    example_input: Any = None  # the first input batch seen by a watched model
    watched: list[Any] = field(default_factory=list)


_lock = threading.Lock()
_active: ActiveTrial | None = None
_warned = False


@contextmanager
def active_trial(trial: ActiveTrial) -> Iterator[ActiveTrial]:
    """Make ``trial`` the target of the module functions while inside."""
    global _active
    with _lock:
        _active = trial
    try:
        yield trial
    finally:
        for handle in trial.watched:
            handle.remove()
        with _lock:
            _active = None


def active() -> ActiveTrial | None:
    """The running trial, if any (no warning)."""
    return _active


def current() -> ActiveTrial | None:
    """The running trial, if any; warns once when there is none."""
    global _warned
    trial = _active
    if trial is None and not _warned:
        _warned = True
        warnings.warn(
            "jupyter_mlops: no trial is running on this kernel's worker; reports are ignored "
            "(they count while a job's trial runs)",
            stacklevel=3,
        )
    return trial


def log(step: int | None = None, **metrics: Any) -> None:
    """Report numbers of the running trial, e.g. ``log(step=epoch, val_loss=0.3)``.

    Without ``step``, each name counts its own steps (0, 1, 2, ...). Non-numbers are ignored.
    """
    trial = current()
    if trial is None:
        return
    for name, value in metrics.items():
        at = step if step is not None else trial.steps.get(name, -1) + 1
        trial.steps[name] = int(at)
        trial.callbacks.on_metric(name, value, int(at))


def log_text(text: str) -> None:
    """Write text to the running trial's log (shown live in the panels), from any thread."""
    trial = current()
    if trial is not None:
        for line in str(text).split("\n"):
            trial.write(line)


def should_stop() -> bool:
    """Whether the running trial was asked to stop (cancel, lease lost, pruned)."""
    trial = _active
    return bool(trial and trial.callbacks.should_stop)


def save_checkpoint(state: Mapping[str, Any]) -> None:
    """Hand a checkpoint (``epoch``, ``step``, state dicts, ...) to the worker to upload."""
    trial = current()
    if trial is None:
        return
    if not isinstance(state, Mapping) or "epoch" not in state:
        raise ValueError("a checkpoint is a dict with at least 'epoch' (completed epochs, >= 1)")
    trial.callbacks.on_checkpoint(state)


def resume_state() -> dict[str, Any] | None:
    """The checkpoint the running trial resumes from, or None."""
    trial = _active
    return trial.callbacks.resume_state if trial else None


def watch(model: Any, example_input: Any = None) -> Any:
    """Tell the worker which model this trial trains; returns ``model``.

    The model file needs an example input (its shape and dtype): ``example_input`` when given,
    else the first batch the model's ``forward`` sees (two rows of it, kept on the CPU). With
    it the training function may return just the model.
    """
    trial = current()
    if trial is None:
        return model
    if example_input is not None:
        trial.example_input = _rows(example_input)
        return model
    if not hasattr(model, "register_forward_pre_hook"):
        return model

    def first_batch(module: Any, args: tuple[Any, ...]) -> None:
        if trial.example_input is None and args and hasattr(args[0], "detach"):
            trial.example_input = _rows(args[0])

    trial.watched.append(model.register_forward_pre_hook(first_batch))
    return model


def _rows(batch: Any) -> Any:
    """The first two rows of a batch tensor, detached, on the CPU."""
    if not hasattr(batch, "detach"):
        raise TypeError(f"an example input must be a tensor, not {type(batch).__name__}")
    return batch[:2].detach().cpu().clone()
