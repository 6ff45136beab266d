"""The hub's jobs: validation, launch, dispatch of trials to idle workers, cancel, retry."""

from __future__ import annotations

from typing import Any

from jupyter_mlops.grid import GridResult, validate_grid
from jupyter_mlops.messages import CANCEL, JOB
from jupyter_mlops.serverext.errors import InvalidInput
from jupyter_mlops.serverext.feed import Message
from jupyter_mlops.serverext.hub.base import HubBase


class JobDispatch(HubBase):
    """Jobs are queued, their trials leased one at a time to idle workers."""

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
            # no worker known yet: nothing to check against
            return validate_grid(conf, None, self.max_trials)
        return validate_grid(conf, defaults, self.max_trials)

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
        job = self.store.get_job(job_id)
        self.feed.job(job)
        return job

    def retry(self, job_id: int) -> Message:
        """Re-run a job's failed trials."""
        self.store.retry_job(job_id)
        self._publish_job(job_id)
        self.dispatch_all()
        return self.store.get_job(job_id)
