"""REST handlers for workers, grid validation and jobs (with their logs and metrics)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_mlops.serverext.handlers.base import OBJECT, WORKER, MLOpsHandler, parse_job_id


class WorkersHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        """List workers: name, online, last_seen, defaults, device, current job."""
        self.reply({"workers": self.ctx.store.list_workers()})


class GridValidateHandler(MLOpsHandler):
    body_schema = {"conf": OBJECT, "worker": WORKER}

    @web.authenticated
    @authorized
    def post(self) -> None:
        """Validate a conf: normalized conf, trial count, warnings and errors."""
        body = self.json_body({"conf": object}, {"worker": (str, list)})
        self.reply(self.ctx.hub.validate(body.get("worker", "any"), body["conf"]).to_json())


class JobsHandler(MLOpsHandler):
    body_schema = {"conf": OBJECT, "worker": WORKER}

    @web.authenticated
    @authorized
    def get(self) -> None:
        """List jobs, newest first."""
        self.reply({"jobs": self.ctx.store.list_jobs()})

    @web.authenticated
    @authorized
    def post(self) -> None:
        """Launch a job on a worker or "any"; queued while no matching worker is idle."""
        body = self.json_body({"conf": object}, {"worker": (str, list)})
        self.reply(self.ctx.hub.launch(body.get("worker", "any"), body["conf"]), status=201)


class JobHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        """A job with its trials and progress."""
        self.reply(self.ctx.store.get_job(parse_job_id(job_id)))


class JobCancelHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def post(self, job_id: str) -> None:
        """Cancel a queued or running job."""
        self.reply(self.ctx.hub.cancel(parse_job_id(job_id)))


class JobRetryHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def post(self, job_id: str) -> None:
        """Re-run a job's failed trials."""
        self.reply(self.ctx.hub.retry(parse_job_id(job_id)))


class JobLogsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        """Persisted log lines after a cursor (``after``), for replay after a reconnect."""
        after = self.int_argument("after", 0)
        lines = self.ctx.store.job_logs(
            parse_job_id(job_id), after, self.int_argument("limit", 10_000, 100_000)
        )
        self.reply(
            {
                "job_id": int(job_id),
                "lines": lines,
                "last_seq": lines[-1]["seq"] if lines else after,
            }
        )


class JobMetricsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        """Metric points after a cursor (``after``): loss per step, accuracy per epoch."""
        after = self.int_argument("after", 0)
        points = self.ctx.store.job_metrics(
            parse_job_id(job_id), after, self.int_argument("limit", 100_000, 1_000_000)
        )
        self.reply(
            {
                "job_id": int(job_id),
                "points": points,
                "last_seq": points[-1]["seq"] if points else after,
            }
        )
