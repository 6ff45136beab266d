"""The hub: worker links, job dispatch and notifications, in pure Python.

Websocket handlers are thin adapters that call into the hub; a ``Link`` is anything with
``send(message)``. REST is the truth; what the hub publishes to subscribers are notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from jupyter_mlops.grid import GridResult, validate_grid
from jupyter_mlops.messages import ACK, CANCEL, JOB, WELCOME, encode
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.store import Store

Message = dict[str, Any]
Subscriber = Callable[[str], None]  # receives the encoded frame


class Link(Protocol):
    """A worker's open connection."""

    def send(self, message: Message) -> None: ...


class Timer(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Timer]


class Hub:
    """Routes between workers, the store and subscribers."""

    def __init__(
        self,
        store: Store,
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
        self.subscribers: set[Subscriber] = set()
        self._grace: dict[int, Timer] = {}

    def start(self) -> None:
        """After a restart no worker is connected: give running jobs' workers a grace period."""
        self.store.mark_all_workers_offline()
        for job in self.store.running_jobs():
            self._start_grace(job["worker_id"])

    # ------------------------------------------------------------ subscribers
    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def publish(self, message: Message) -> None:
        """Encode once, then hand the frame to every subscriber."""
        if not self.subscribers:
            return
        frame = encode(message)
        for subscriber in list(self.subscribers):
            try:
                subscriber(frame)
            except Exception:  # a dead socket must not stop the others
                self.log.debug("dropping a subscriber that failed", exc_info=True)
                self.subscribers.discard(subscriber)

    def _publish_worker(self, worker_id: int) -> None:
        self.publish({"type": "worker", "worker": self.store.get_worker(worker_id)})

    def _publish_job(self, job_id: int) -> None:
        self.publish({"type": "job", "job": self.store.get_job(job_id)})

    # ---------------------------------------------------------------- workers
    def connect_worker(self, link: Link, hello: Message) -> int:
        """Register a worker from its ``hello``; send ``welcome``; return its id."""
        problems = [key for key in ("name", "session") if not _nonempty_str(hello.get(key))]
        if not isinstance(hello.get("defaults", {}), dict):
            problems.append("defaults")
        if problems:
            raise InvalidInput(f"hello needs {', '.join(problems)} (see docs/API.md)")
        worker, orphaned = self.store.register_worker(
            name=hello["name"].strip(),
            session=hello["session"],
            notebook=str(hello.get("notebook") or ""),
            defaults=hello.get("defaults") or {},
            device=str(hello.get("device") or "cpu"),
            versions=hello.get("versions") or {},
        )
        worker_id = worker["id"]
        self.links[worker_id] = link
        timer = self._grace.pop(worker_id, None)
        if timer is not None:
            timer.cancel()
        for job_id in orphaned:
            self.store.end_job(job_id, "interrupted", "the worker's kernel restarted mid-job")
            self._publish_job(job_id)
        link.send(
            {
                "type": WELCOME,
                "worker_id": worker_id,
                "name": worker["name"],
                "last_seq": worker["last_seq"],
            }
        )
        self._publish_worker(worker_id)
        if worker["current_job"] is not None:
            job = self.store.get_job(worker["current_job"], trials=False)
            if job["cancel_requested"]:
                link.send({"type": CANCEL, "job_id": job["id"]})
        self.dispatch(worker_id)
        return worker_id

    def worker_events(self, worker_id: int, link: Link, events: list[Any]) -> None:
        """Persist a batch of events, ack it, and notify subscribers."""
        last_seq, notifications = self.store.apply_events(worker_id, events)
        link.send({"type": ACK, "seq": last_seq})
        for message in notifications:
            self.publish(message)
        if any(
            m["type"] == "job" and m["job"]["status"] not in ("queued", "running")
            for m in notifications
        ):
            self._publish_worker(worker_id)
            self.dispatch(worker_id)

    def disconnect_worker(self, worker_id: int, link: Link) -> None:
        """The link closed: offline now; its running job waits out the grace period."""
        if self.links.get(worker_id) is not link:
            return  # a newer link replaced this one
        del self.links[worker_id]
        worker = self.store.set_worker_offline(worker_id)
        self.publish({"type": "worker", "worker": worker})
        if worker["current_job"] is not None:
            self._start_grace(worker_id)

    def _start_grace(self, worker_id: int) -> None:
        if worker_id in self._grace:
            return
        self._grace[worker_id] = self.schedule(
            self.grace_seconds, lambda: self._grace_expired(worker_id)
        )

    def _grace_expired(self, worker_id: int) -> None:
        self._grace.pop(worker_id, None)
        if worker_id in self.links:
            return
        worker = self.store.get_worker(worker_id)
        if worker["current_job"] is None:
            return
        reason = (
            f"worker {worker['name']} went offline at {worker['last_seen']} and did "
            f"not come back within {self.grace_seconds:g} s"
        )
        self.store.end_job(worker["current_job"], "interrupted", reason)
        self._publish_job(worker["current_job"])
        self._publish_worker(worker_id)

    # ------------------------------------------------------------------- jobs
    def validate(self, worker: str, conf: Any) -> GridResult:
        """Validate a conf against the named worker's defaults (or every worker's, for any)."""
        if worker == "any":
            defaults: dict[str, Any] = {}
            for row in self.store.list_workers():
                defaults = {**row["defaults"], **defaults}
            return validate_grid(conf, defaults or None)
        return validate_grid(conf, self.store.find_worker(worker)["defaults"])

    def launch(self, worker: str, conf: Any) -> Message:
        """Queue a job for a worker (or any) and hand it out if a worker is idle."""
        result = self.validate(worker, conf)
        if not result.valid:
            raise InvalidInput(
                "the conf is invalid; fix the keys listed in detail.errors", result.to_json()
            )
        job = self.store.create_job(worker, result.conf, result.trials)
        self._publish_job(job["id"])
        for worker_id in list(self.links):
            if self.dispatch(worker_id) == job["id"]:
                break
        return self.store.get_job(job["id"])

    def dispatch(self, worker_id: int) -> int | None:
        """Send the worker its next queued job, if it is idle; return the job id."""
        link = self.links.get(worker_id)
        if link is None:
            return None
        job = self.store.assign_next_job(worker_id)
        if job is None:
            return None
        trials = [
            {"id": t["id"], "index": t["index"], "params": t["params"]} for t in job["trials"]
        ]
        link.send({"type": JOB, "job": {"id": job["id"], "conf": job["conf"], "trials": trials}})
        self.publish({"type": "job", "job": job})
        self._publish_worker(worker_id)
        return job["id"]

    def cancel(self, job_id: int) -> Message:
        job = self.store.request_cancel(job_id)
        if job["status"] == "running":
            link = self.links.get(job["worker_id"])
            if link is not None:
                link.send({"type": CANCEL, "job_id": job_id})
            else:
                job = self.store.end_job(
                    job_id, "cancelled", "cancelled while the worker was offline"
                )
        self.publish({"type": "job", "job": job})
        if job["worker_id"] is not None:
            self._publish_worker(job["worker_id"])
        return job

    # ----------------------------------------------------- models, deployment
    def model_stored(self, model: Message) -> None:
        """Notify, then let the deployment policy decide (compare-and-set in the store)."""
        self.publish({"type": "model", "action": "stored", "model": model})
        deployment = self.policy.after_model_stored(self.store, model["id"])
        if deployment is not None:
            self.publish({"type": "deployment", "deployment": deployment})

    def deploy(self, model_id: str) -> Message:
        deployment = self.policy.deploy(self.store, model_id)
        self.publish({"type": "deployment", "deployment": deployment})
        return deployment

    def clear_models(self) -> int:
        """Delete every model, its file and the deployment history (demo reset)."""
        count, shas = self.store.delete_all_models()
        for sha in shas:
            self.blobs.delete(sha)
        self.publish({"type": "model", "action": "cleared", "model": None})
        self.publish({"type": "deployment", "deployment": None})
        return count


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
