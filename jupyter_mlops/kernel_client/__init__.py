"""Kernel side of jupyter-mlops: turn a notebook into a training worker of the hub.

Typical notebook use::

    %load_ext jupyter_mlops
    from jupyter_mlops.kernel_client import start_worker
    worker = start_worker(run_trial, defaults=CONF_OBJ, name=NOTEBOOK_ID)

Its rooms: ``hub_client/`` (the one way to talk to the hub), ``worker/`` (the worker and
what a trial reports), ``panel/`` (the ipywidgets panel), ``demo/`` (the Voila demo).
"""

from __future__ import annotations

from jupyter_mlops.kernel_client.hub_client import (
    HubAuthError,
    HubError,
    HubInfo,
    HubNotFound,
    HubUnreachable,
    LeaseLost,
)
from jupyter_mlops.kernel_client.worker.callbacks import (
    Callback,
    CallbackList,
    TrialCancelled,
    TrialResult,
    as_callback_list,
)
from jupyter_mlops.kernel_client.worker.ray_executor import RayExecutor
from jupyter_mlops.kernel_client.worker.registry import (
    connect,
    current_worker,
    start_worker,
    stop_worker,
)
from jupyter_mlops.kernel_client.worker.worker import Worker

__all__ = [
    "Callback",
    "CallbackList",
    "HubAuthError",
    "HubError",
    "HubInfo",
    "HubNotFound",
    "HubUnreachable",
    "LeaseLost",
    "RayExecutor",
    "TrialCancelled",
    "TrialResult",
    "Worker",
    "as_callback_list",
    "connect",
    "current_worker",
    "start_worker",
    "stop_worker",
]
