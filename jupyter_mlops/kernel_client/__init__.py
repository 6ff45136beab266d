"""Kernel side of jupyter-mlops: turn a notebook into a training worker of the hub.

Typical notebook use::

    %load_ext jupyter_mlops
    from jupyter_mlops.kernel_client import start_worker
    worker = start_worker(run_trial, defaults=CONF_OBJ, name=NOTEBOOK_ID)
"""

from __future__ import annotations

from jupyter_mlops.kernel_client.callbacks import (
    Callback,
    CallbackList,
    TrialCancelled,
    TrialResult,
)
from jupyter_mlops.kernel_client.discovery import (
    HubAuthError,
    HubError,
    HubInfo,
    HubNotFound,
    HubUnreachable,
)
from jupyter_mlops.kernel_client.session import (
    connect,
    current_worker,
    start_worker,
    stop_worker,
)
from jupyter_mlops.kernel_client.worker import Worker

__all__ = [
    "Callback",
    "CallbackList",
    "HubAuthError",
    "HubError",
    "HubInfo",
    "HubNotFound",
    "HubUnreachable",
    "TrialCancelled",
    "TrialResult",
    "Worker",
    "connect",
    "current_worker",
    "start_worker",
    "stop_worker",
]
