"""The hub's shared state: links, timers, the feed, and what its parts call on each other.

The hub is pure Python (websocket handlers are thin adapters; a ``Link`` is anything with
``send(message)``). Its parts live in their own modules: ``workers`` (links, presence,
grace periods, credentials), ``jobs`` (validation, launch, dispatch, cancel), ``models``
(stored models and deployment), ``searches`` (random and TPE searches with their studies).
REST is the truth; what the hub publishes are notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from jupyter_mlops.grid import MAX_TRIALS
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.feed import Feed, Message, Subscriber
from jupyter_mlops.serverext.search import SearchRunner
from jupyter_mlops.serverext.store.api import Lease, MLOpsStore

#: After a hub restart, lease holders get at least this long to reconnect (their reconnect
#: backoff reaches ~12 s), however short ``grace_seconds`` is.
RESTART_GRACE_SECONDS = 30.0


class Link(Protocol):
    """A worker's open connection."""

    def send(self, message: Message) -> None: ...

    def close(self) -> None:
        """Close the connection (its credential was revoked, or a newer link replaced it)."""


class Timer(Protocol):
    """A scheduled callback that can be called off."""

    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Timer]


class HubBase:
    """State every part of the hub shares; the parts call each other through these names."""

    def __init__(
        self,
        store: MLOpsStore,
        blobs: BlobStore,
        policy: DeploymentPolicy,
        *,
        grace_seconds: float,
        schedule: Scheduler,
        log: logging.Logger | None = None,
        max_trials: int = MAX_TRIALS,
        searches: SearchRunner | None = None,
    ) -> None:
        self.store, self.blobs, self.policy = store, blobs, policy
        #: the studies of random and TPE searches (None: kept in memory, lost on restart)
        self.searches = searches if searches is not None else SearchRunner(None)
        self._search_cache: dict[int, Any] = {}  # job -> its Search (None: a grid)
        self.max_trials = max_trials  # per job
        self.grace_seconds = grace_seconds
        self.schedule = schedule
        self.log = log or logging.getLogger(__name__)
        self.links: dict[int, Link] = {}
        self.feed = Feed(self.log)
        self._grace: dict[int, Timer] = {}
        self._lost: dict[int, list[Lease]] = {}  # leases taken while away
        self._stopped = False
        self._draining: set[int] = set()  # workers that handed a trial back
        #: leases a worker's hello did not claim (its kernel restarted, or an assignment was
        #: lost on the way): released once its events up to the hello's seq are stored
        self._stale: dict[int, tuple[int, set[tuple[str, int]]]] = {}
        #: called with the new deployment (or None) after every change of what is deployed
        self.deployment_listeners: list[Callable[[Message | None], object]] = []

    def start(self) -> None:
        """After a restart no worker is connected: give lease holders a grace period, at
        least ``RESTART_GRACE_SECONDS`` (workers retry with a backoff of up to ~12 s)."""
        self.store.mark_all_workers_offline()
        for worker_id in self.store.leased_workers():
            self._start_grace(worker_id, max(self.grace_seconds, RESTART_GRACE_SECONDS))
        self._resume_searches()

    def stop(self) -> None:
        """The server is shutting down: sockets closing now are not workers going away."""
        self._stopped = True
        for timer in self._grace.values():
            timer.cancel()
        self._grace.clear()
        self.feed.clear()

    # ------------------------------------------------------------ subscribers
    def subscribe(self, subscriber: Subscriber) -> None:
        self.feed.subscribe(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.feed.unsubscribe(subscriber)

    def publish(self, message: Message) -> None:
        """Hand a notification to every subscriber."""
        self.feed.publish(message)

    def _publish_worker(self, worker_id: int) -> None:
        self.feed.worker(self.store.get_worker(worker_id))

    def _publish_job(self, job_id: int, trial_ids: Iterable[str] | None = None) -> None:
        """Tell subscribers the job changed, with the trials named (all when None)."""
        self.feed.job(self.store.job_update(job_id, trial_ids))

    # -- what one part calls on another (implemented in that part) ---------------------------
    def dispatch_all(self) -> None:
        """Offer pending trials to every connected worker (``jobs``)."""
        raise NotImplementedError

    def _start_grace(self, worker_id: int, seconds: float | None = None) -> None:
        """Give a worker's leases a grace period (``workers``)."""
        raise NotImplementedError

    def _drop_finished_checkpoints(self) -> None:
        """Delete checkpoints of finished trials (``models``)."""
        raise NotImplementedError

    def _fill_searches(self) -> None:
        """Ask open searches for new trials where they have room (``searches``)."""
        raise NotImplementedError

    def _search_events(
        self, job_ids: Iterable[int], reports: Iterable[tuple[int, str, int, float]]
    ) -> bool:
        """Feed a search's metric points to its pruner (pruning trials), then tell studies
        the trials of ``job_ids`` that ended; return whether a trial was pruned
        (``searches``)."""
        raise NotImplementedError

    def _sync_searches(self, job_ids: Iterable[int]) -> None:
        """Tell the studies of these jobs every trial that ended (``searches``)."""
        raise NotImplementedError

    def _resume_searches(self) -> None:
        """After a restart: fail study trials the store never recorded, tell the rest
        (``searches``)."""
        raise NotImplementedError
