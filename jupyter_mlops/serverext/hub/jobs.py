"""The hub's jobs: validation, launch, dispatch of trials to idle workers, cancel, retry."""

from __future__ import annotations

import uuid
from typing import Any

from jupyter_mlops.messages import CANCEL, JOB
from jupyter_mlops.search_space import SearchResult, SearchSpec, space_to_json, validate_conf
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.feed import Message
from jupyter_mlops.serverext.hub.base import HubBase


class JobDispatch(HubBase):
    """Jobs are queued, their trials leased to workers with room (one at a time each, up to the
    worker's capacity)."""

    def validate(self, worker: str | list[str], conf: Any) -> SearchResult:
        """Validate a conf (a grid, or a search: see ``search_space``) against the defaults of
        the named worker(s), or every worker's."""
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
            # no worker known yet: nothing to check against
            return validate_conf(conf, None, self.max_trials)
        return validate_conf(conf, defaults, self.max_trials)

    def launch(self, worker: str | list[str], conf: Any) -> Message:
        """Queue a job for a worker, a set of workers or any; hand its trials to idle ones."""
        result = self.validate(worker, conf)
        if not result.valid:
            raise InvalidInput(
                "the conf is invalid; fix the keys listed in detail.errors", result.to_json()
            )
        spec = result.search
        search: dict[str, Any] | None = None
        if spec.samples:  # its trials are asked from its study as there is room
            search = {
                "spec": spec.to_json(),
                "space": space_to_json(result.space),
                "fixed": result.fixed,
                "study": f"search-{uuid.uuid4().hex}",
            }
        elif spec != SearchSpec():  # a grid with a search section (its metric, direction)
            search = {"spec": spec.to_json()}
        job = self.store.create_job(
            worker, result.conf, result.trials, search, spec.budget if spec.samples else None
        )
        self._publish_job(job["id"])
        self.dispatch_all()
        return self.store.get_job(job["id"])

    def dispatch_all(self) -> None:
        """Offer pending trials to every connected worker (idle ones take one each), after
        the searches with room asked for new ones."""
        self._fill_searches()
        for worker_id in list(self.links):
            self.dispatch(worker_id)

    def dispatch(self, worker_id: int) -> int | None:
        """Lease pending trials to the worker while it has room (a plain worker: one, if it is
        idle), each in its own ``job`` message; return the last one's job id."""
        last: int | None = None
        while (job_id := self._dispatch_one(worker_id)) is not None:
            last = job_id
        return last

    def _dispatch_one(self, worker_id: int) -> int | None:
        """Lease the next pending trial to the worker, if it has room; return the job id."""
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
                    "trial_count": job.get("trial_count"),  # the worker shows "trial k/n"
                    "trials": [
                        {
                            "id": trial["id"],
                            "index": trial["index"],
                            "params": trial["params"],
                            "attempt": trial["attempt"],
                            "lease": trial["lease"],
                            "checkpoint": checkpoint,
                        }
                    ],
                },
            }
        )
        self._publish_job(job["id"], [trial["id"]])
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
        self._sync_searches([job_id])
        job = self.store.get_job(job_id)
        self.feed.job(job)
        return job

    def retry(self, job_id: int) -> Message:
        """Re-run a job's failed trials."""
        self.store.retry_job(job_id)
        self._publish_job(job_id)
        self.dispatch_all()
        return self.store.get_job(job_id)
