"""This kernel's jupyter-mlops globals: the hub it talks to and its one worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jupyter_mlops.kernel_client.hub_client import HubInfo, discover
from jupyter_mlops.kernel_client.worker.callbacks import Callback
from jupyter_mlops.kernel_client.worker.worker import TrainFunction, Worker

log = logging.getLogger(__name__)

_hub: HubInfo | None = None
_worker: Worker | None = None
#: Makes the executor of a worker started without one (``jupyter mlops worker --ray``).
_default_executor: Callable[[], Any] | None = None


def use_executor_by_default(make: Callable[[], Any] | None) -> None:
    """Workers started later in this kernel without an ``executor`` get ``make()``'s (None:
    trials run in the kernel, as by default)."""
    global _default_executor
    _default_executor = make


def connect(url: str | None = None, token: str | None = None) -> HubInfo:
    """Find and check the hub (see ``hub_client.discover``); later workers use it."""
    global _hub
    _hub = discover(url, token)
    return _hub


def current_hub() -> HubInfo | None:
    """The hub set by :func:`connect`, if any."""
    return _hub


def current_worker() -> Worker | None:
    """The worker started by :func:`start_worker`, if it still runs."""
    return _worker


def start_worker(
    train_fn: TrainFunction,
    defaults: Mapping[str, Any],
    name: str,
    *,
    url: str | None = None,
    token: str | None = None,
    callbacks: Iterable[Callback] = (),
    wait: float = 10.0,
    **options: Any,
) -> Worker:
    """Start this kernel's worker: ``train_fn(params, callbacks)`` runs each trial.

    ``defaults`` are the hyperparameters a grid overrides (the tutorial's ``CONF_OBJ``);
    ``name`` is how the worker appears in the hub. The hub is ``url``/``token`` when given,
    else the one from ``%mlops connect``, else found as ``hub_client.discover`` says.
    A worker already running in this kernel is stopped first. Other ``options`` go to
    :class:`~.worker.Worker` (``local_dir``, ``echo``, ``log_every``, ...).
    """
    global _worker
    hub = connect(url, token) if url or _hub is None else _hub
    if _worker is not None:
        log.info("stopping the previous worker %s", _worker.name)
        _worker.stop()
    if options.get("executor") is None and _default_executor is not None:
        options["executor"] = _default_executor()
    _worker = Worker(train_fn, defaults, name, hub, callbacks=callbacks, **options)
    return _worker.start(wait=wait)


def stop_worker(timeout: float = 10.0) -> bool:
    """Stop this kernel's worker; False when none was running."""
    global _worker
    worker, _worker = _worker, None
    if worker is None:
        return False
    worker.stop(timeout)
    return True


def reset() -> None:
    """Stop the worker and forget the hub (used when the extension is unloaded)."""
    global _hub
    stop_worker()
    _hub = None
