"""The hub: worker links, job dispatch, models and deployment, and notifications.

Pure Python: the websocket handlers are thin adapters that call into it, and the tests drive
it with a fake link and a manual clock. ``base`` holds the shared state, ``workers``,
``jobs``, ``models`` and ``searches`` one part each.
"""

from __future__ import annotations

from jupyter_mlops.serverext.hub.base import (
    RESTART_GRACE_SECONDS,
    HubBase,
    Link,
    Scheduler,
    Timer,
)
from jupyter_mlops.serverext.hub.jobs import JobDispatch
from jupyter_mlops.serverext.hub.models import ModelEvents
from jupyter_mlops.serverext.hub.searches import SearchJobs
from jupyter_mlops.serverext.hub.workers import WorkerLinks, hello_problems

__all__ = [
    "RESTART_GRACE_SECONDS",
    "Hub",
    "HubBase",
    "Link",
    "Scheduler",
    "Timer",
    "hello_problems",
]


class Hub(WorkerLinks, JobDispatch, ModelEvents, SearchJobs):
    """Routes between workers, the store and subscribers."""
