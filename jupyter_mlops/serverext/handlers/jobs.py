"""REST handlers for workers, grid validation and jobs (with their logs and metrics)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_mlops.serverext.handlers.base import (
    OBJECT,
    WORKER,
    MLOpsHandler,
    parse_id,
    parse_job_id,
)


class WorkersHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        """List workers: name, online, last_seen, defaults, device, current job."""
        self.reply({"workers": self.ctx.store.list_workers()})


class WorkerHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def delete(self, worker_id: str) -> None:
        """Forget an offline worker (409 while it is online); its trials keep naming it."""
        self.reply(self.ctx.hub.forget_worker(parse_id(worker_id, "worker")))


class GridValidateHandler(MLOpsHandler):
    body_schema = {"conf": OBJECT, "worker": WORKER}

    @web.authenticated
    @authorized
    def post(self) -> None:
        """Validate a conf (a grid or a search): normalized conf, trial count, problems.

        A search's trial count is its budget."""
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


class JobSearchHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        """The job's search: its settings, its best trial so far, parameter importances."""
        self.reply(self.ctx.hub.search_summary(parse_job_id(job_id)))


class JobRetryHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def post(self, job_id: str) -> None:
        """Re-run a job's failed trials."""
        self.reply(self.ctx.hub.retry(parse_job_id(job_id)))


class _CursorPage(MLOpsHandler):
    """Rows of a job after a cursor: ``?after=SEQ&limit=N`` -> ``{job_id, <key>, last_seq}``."""

    key = ""
    default_limit = maximum = 0

    def rows(self, job_id: int, after: int, limit: int) -> list[dict]:
        raise NotImplementedError

    def reply_page(self, raw_job_id: str) -> None:
        job_id, after = parse_job_id(raw_job_id), self.int_argument("after", 0)
        rows = self.rows(
            job_id, after, self.int_argument("limit", self.default_limit, self.maximum)
        )
        self.reply(
            {"job_id": job_id, self.key: rows, "last_seq": rows[-1]["seq"] if rows else after}
        )


class JobLogsHandler(_CursorPage):
    key, default_limit, maximum = "lines", 10_000, 100_000

    def rows(self, job_id: int, after: int, limit: int) -> list[dict]:
        return self.ctx.store.job_logs(job_id, after, limit)

    @web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        """Persisted log lines after a cursor (``after``), for replay after a reconnect."""
        self.reply_page(job_id)


class JobMetricsHandler(_CursorPage):
    key, default_limit, maximum = "points", 100_000, 1_000_000

    def rows(self, job_id: int, after: int, limit: int) -> list[dict]:
        return self.ctx.store.job_metrics(job_id, after, limit)

    @web.authenticated
    @authorized
    def get(self, job_id: str) -> None:
        """Metric points after a cursor (``after``): loss per step, accuracy per epoch."""
        self.reply_page(job_id)
