"""The hub: worker links, job dispatch and notifications, in pure Python.

Websocket handlers are thin adapters that call into the hub; a ``Link`` is anything with
``send(message)``. REST is the truth; what the hub publishes to subscribers are notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from jupyter_mlops.grid import GridResult, validate_grid
from jupyter_mlops.messages import ACK, CANCEL, ERROR, JOB, WELCOME
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.feed import Feed, Message, Subscriber
from jupyter_mlops.serverext.store.api import Lease, MLOpsStore


class Link(Protocol):
    """A worker's open connection."""

    def send(self, message: Message) -> None: ...


class Timer(Protocol):
    """A scheduled callback that can be called off."""

    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Timer]


class Hub:
    """Routes between workers, the store and subscribers."""

    def __init__(
        self,
        store: MLOpsStore,
        blobs: BlobStore,
        policy: DeploymentPolicy,
        *,
        grace_seconds: float,
        schedule: Scheduler,
        log: logging.Logger | None = None,
    ) -> None:
        self.store, self.blobs, self.policy = store, blobs, policy
        self.grace_seconds = grace_seconds
        self.schedule = schedule
        self.log = log or logging.getLogger(__name__)
        self.links: dict[int, Link] = {}
        self.feed = Feed(self.log)
        self._grace: dict[int, Timer] = {}
        self._lost: dict[int, list[Lease]] = {}  # leases taken while away
        self._stopped = False
        self._draining: set[int] = set()  # workers that handed a trial back
        #: called with the new deployment (or None) after every change of what is deployed
        self.deployment_listeners: list[Callable[[Message | None], object]] = []

    def start(self) -> None:
        """After a restart no worker is connected: give lease holders a grace period."""
        self.store.mark_all_workers_offline()
        for worker_id in self.store.leased_workers():
            self._start_grace(worker_id)

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

    def _publish_job(self, job_id: int) -> None:
        self.feed.job(self.store.get_job(job_id))

    # ---------------------------------------------------------------- workers
    def connect_worker(self, link: Link, hello: Message) -> int:
        """Register a worker from its ``hello``; send ``welcome``; return its id."""
        problems = [key for key in ("name", "session") if not _nonempty_str(hello.get(key))]
        if not isinstance(hello.get("defaults", {}), dict):
            problems.append("defaults")
        if problems:
            raise InvalidInput(f"hello needs {', '.join(problems)} (see docs/API.md)")
        worker, dropped = self.store.register_worker(
            name=hello["name"].strip(),
            session=hello["session"],
            notebook=str(hello.get("notebook") or ""),
            defaults=hello.get("defaults") or {},
            device=str(hello.get("device") or "cpu"),
            versions=hello.get("versions") or {},
        )
        worker_id = worker["id"]
        self.links[worker_id] = link
        self._draining.discard(worker_id)
        timer = self._grace.pop(worker_id, None)
        if timer is not None:
            timer.cancel()
        link.send(
            {
                "type": WELCOME,
                "worker_id": worker_id,
                "name": worker["name"],
                "last_seq": worker["last_seq"],
            }
        )
        for job_id, trial_id in self._lost.pop(worker_id, []):
            link.send({"type": CANCEL, "job_id": job_id, "trial_id": trial_id})
        self._publish_worker(worker_id)
        for job_id in {job_id for job_id, _ in dropped}:
            self._publish_job(job_id)
        if worker["current_job"] is not None:
            job = self.store.get_job(worker["current_job"], trials=False)
            if job["cancel_requested"]:
                link.send(
                    {"type": CANCEL, "job_id": job["id"], "trial_id": worker["current_trial"]}
                )
        self.dispatch_all()
        return worker_id

    def worker_events(self, worker_id: int, link: Link, events: list[Any]) -> None:
        """Persist a batch of events, ack it, notify subscribers, hand out the next trial."""
        if self._stopped:
            return  # not acked: the worker resends after the restart
        applied = self.store.apply_events(worker_id, events, notify=bool(self.feed))
        link.send({"type": ACK, "seq": applied.last_seq})
        if applied.problems:  # skipped yet acked, so never resent: tell the worker why
            link.send(
                {
                    "type": ERROR,
                    "error": "malformed events were skipped",
                    "detail": applied.problems,
                }
            )
        for message in applied.notifications:
            self.publish(message)
        if applied.handed_back:
            self._draining.add(worker_id)  # it is stopping: offer it nothing until it returns
        if applied.idle and applied.jobs_changed:
            self._publish_worker(worker_id)
            self.dispatch_all()

    def disconnect_worker(self, worker_id: int, link: Link) -> None:
        """The link closed: offline now; its lease waits out the grace period."""
        if self._stopped or self.links.get(worker_id) is not link:
            return  # a newer link replaced this one
        del self.links[worker_id]
        worker = self.store.set_worker_offline(worker_id)
        self.feed.worker(worker)
        if worker["current_trial"] is not None:
            self._start_grace(worker_id)

    def _start_grace(self, worker_id: int) -> None:
        if worker_id in self._grace:
            return
        self._grace[worker_id] = self.schedule(
            self.grace_seconds, lambda: self._grace_expired(worker_id)
        )

    def _grace_expired(self, worker_id: int) -> None:
        """The worker stayed away: its trials go back to pending for another worker."""
        self._grace.pop(worker_id, None)
        if worker_id in self.links:
            return
        worker = self.store.get_worker(worker_id)
        reason = (
            f"worker {worker['name']} went offline at {worker['last_seen']} and did "
            f"not come back within {self.grace_seconds:g} s"
        )
        leases = self.store.release_worker_trials(worker_id, reason)
        if not leases:
            return
        self._lost[worker_id] = leases
        for job_id in {job_id for job_id, _ in leases}:
            self._publish_job(job_id)
        self._publish_worker(worker_id)
        self.dispatch_all()

    # ------------------------------------------------------------------- jobs
    def validate(self, worker: str | list[str], conf: Any) -> GridResult:
        """Validate a conf against the defaults of the named worker(s), or every worker's."""
        if worker == "any":
            rows = self.store.list_workers()
        elif isinstance(worker, str):
            rows = [self.store.find_worker(worker)]
        else:
            if not worker or not all(isinstance(name, str) for name in worker):
                raise InvalidInput('worker must be "any", a name, or a non-empty list of names')
            rows = [self.store.find_worker(name) for name in worker]
        defaults: dict[str, Any] = {}
        for row in rows:
            defaults = {**row["defaults"], **defaults}
        if worker == "any" and not defaults:
            return validate_grid(conf, None)  # no worker known yet: nothing to check against
        return validate_grid(conf, defaults)

    def launch(self, worker: str | list[str], conf: Any) -> Message:
        """Queue a job for a worker, a set of workers or any; hand its trials to idle ones."""
        result = self.validate(worker, conf)
        if not result.valid:
            raise InvalidInput(
                "the conf is invalid; fix the keys listed in detail.errors", result.to_json()
            )
        job = self.store.create_job(worker, result.conf, result.trials)
        self._publish_job(job["id"])
        self.dispatch_all()
        return self.store.get_job(job["id"])

    def dispatch_all(self) -> None:
        """Offer pending trials to every connected worker (idle ones take one each)."""
        for worker_id in list(self.links):
            self.dispatch(worker_id)

    def dispatch(self, worker_id: int) -> int | None:
        """Lease the next pending trial to the worker, if it is idle; return the job id."""
        link = self.links.get(worker_id)
        if link is None or worker_id in self._draining:
            return None
        assigned = self.store.assign_next_trial(worker_id)
        if assigned is None:
            return None
        job, trial = assigned
        checkpoint = (
            {"epoch": trial["checkpoint_epoch"]} if trial["checkpoint_epoch"] is not None else None
        )
        link.send(
            {
                "type": JOB,
                "job": {
                    "id": job["id"],
                    "conf": job["conf"],
                    "trials": [
                        {
                            "id": trial["id"],
                            "index": trial["index"],
                            "params": trial["params"],
                            "attempt": trial["attempt"],
                            "checkpoint": checkpoint,
                        }
                    ],
                },
            }
        )
        self.feed.job(job)
        self._publish_worker(worker_id)
        return job["id"]

    def cancel(self, job_id: int) -> Message:
        """Cancel a job: pending trials at once, running ones between batches."""
        job, leases = self.store.request_cancel(job_id)
        for worker_id, trial_id in leases:
            link = self.links.get(worker_id)
            if link is not None:
                link.send({"type": CANCEL, "job_id": job_id, "trial_id": trial_id})
            else:
                self.store.cancel_trial(trial_id, "cancelled while its worker was offline")
                self._publish_worker(worker_id)
        job = self.store.get_job(job_id)
        self.feed.job(job)
        return job

    def retry(self, job_id: int) -> Message:
        """Re-run a job's failed trials."""
        self.store.retry_job(job_id)
        self._publish_job(job_id)
        self.dispatch_all()
        return self.store.get_job(job_id)

    # ----------------------------------------------------- models, deployment
    def model_stored(self, model: Message, freed_checkpoint: str | None) -> None:
        """Notify, then let the deployment policy decide (compare-and-set in the store)."""
        self._drop_blob(freed_checkpoint)
        self.feed.model("stored", model)
        deployment = self.policy.after_model_stored(self.store, model["id"])
        if deployment is not None:
            self._deployed(deployment)

    def checkpoint_stored(self, trial: Message, replaced: str | None) -> None:
        """Drop the checkpoint file it replaced; subscribers re-read the job."""
        self._drop_blob(replaced)
        self._publish_job(trial["job_id"])

    def _drop_blob(self, sha256: str | None) -> None:
        if sha256 is not None and not self.store.blob_in_use(sha256):
            self.blobs.delete(sha256)

    def deploy(self, model_id: str) -> Message:
        """Deploy any stored model by hand (a rollback); notify subscribers."""
        deployment = self.policy.deploy(self.store, model_id)
        self._deployed(deployment)
        return deployment

    def clear_models(self) -> int:
        """Delete every model, its file and the deployment history (demo reset)."""
        count, shas = self.store.delete_all_models()
        for sha in shas:
            self._drop_blob(sha)
        self.feed.model("cleared", None)
        self._deployed(None)
        return count

    def _deployed(self, deployment: Message | None) -> None:
        self.feed.deployment(deployment)
        for listener in self.deployment_listeners:
            listener(deployment)


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
