"""The public client of a jupyter-mlops hub: ``jupyter_mlops.Client(url, token)``.

Like ``MlflowClient``: every resource of the REST API as a method that returns typed
objects (:mod:`jupyter_mlops.records`: dataclasses with the fields the API documents; anything
newer stays in ``extra``). It is a thin layer over the kernel side's one hub client
(``hub_client.call``), so every failure is a ``HubError`` whose message says what to do, and
the token never appears in a repr or a log.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.hub_client import (
    TOKEN_ENV,
    URL_ENV,
    HubError,
    HubInfo,
    HubNotFound,
    call,
    discover,
)
from jupyter_mlops.kernel_client.hub_client.discovery import running_servers
from jupyter_mlops.kernel_client.hub_client.transfers import download_file
from jupyter_mlops.records import (
    Deployment,
    Job,
    Model,
    NewToken,
    SearchSummary,
    Token,
    Trial,
    Worker,
    build,
    job,
)

__all__ = [
    "Client",
    "Deployment",
    "Job",
    "Model",
    "NewToken",
    "SearchSummary",
    "Token",
    "Trial",
    "Worker",
    "find_hub",
    "running_servers",
]


def _has_api(hub: HubInfo) -> bool:
    try:
        call(hub, "GET", "credential", timeout=3)
    except HubError:
        return False
    return True


def find_hub(url: str | None = None, token: str | None = None) -> HubInfo:
    """The hub to talk to; raise :class:`HubNotFound` saying what to give when none is clear.

    In order: ``url``/``token``; ``JUPYTER_MLOPS_URL``/``JUPYTER_MLOPS_TOKEN``; the Jupyter
    server that started this kernel; the single Jupyter server of this user that runs the
    extension (``jupyter server list``). Nothing is checked until the first call.
    """
    if url or os.environ.get(URL_ENV):
        return discover(url, token, check=False)
    servers = running_servers()
    parent = [s for s in servers if s.get("pid") == os.getppid()]  # a kernel of the server
    servers = parent or servers
    if not servers:
        raise HubNotFound(
            f"no hub found: no Jupyter server of this user is running and {URL_ENV} is not "
            f"set. Start one (jupyter mlops start), or give --url URL --token TOKEN "
            f"(or set {URL_ENV} and {TOKEN_ENV})"
        )
    hubs = [
        HubInfo(s["url"], token or s.get("token", ""), source="running server") for s in servers
    ]
    if len(hubs) > 1:
        with_api = [hub for hub in hubs if _has_api(hub)]
        hubs = with_api or hubs
    if len(hubs) > 1:
        listed = "; ".join(
            f"{s['url']} (folder {s.get('root_dir', '?')}, pid {s.get('pid', '?')})"
            for s in servers
            if any(hub.url.rstrip("/") == s["url"].rstrip("/") for hub in hubs)
        )
        raise HubNotFound(
            f"{len(hubs)} Jupyter servers with jupyter-mlops are running: {listed}. Pick one "
            f"with --url URL (or {URL_ENV}); its token is in `jupyter server list`"
        )
    return hubs[0]


class Client:
    """A jupyter-mlops hub: ``Client(url, token)``, or found as :func:`find_hub` says.

    >>> client = Client()                       # the hub of this kernel, or this user's
    >>> job = client.launch({"LEARNING_RATE": [0.01, 0.1]}, worker="any")
    >>> client.wait(job.id).status
    'finished'
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30):
        self.hub: HubInfo = find_hub(url, token)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.hub.url!r})"

    @property
    def url(self) -> str:
        return self.hub.url

    def _get(self, path: str, **query: Any) -> Any:
        return call(self.hub, "GET", path, query=query or None, timeout=self.timeout)

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        return call(self.hub, method, path, json_body=body, timeout=self.timeout)

    def credential(self) -> dict[str, Any]:
        """What this client's token is to the hub: ``{"scope", "token_id", "name"}``."""
        return self._get("credential")

    # -- workers ------------------------------------------------------------------------------

    def workers(self) -> list[Worker]:
        """Every worker the hub knows (forgotten ones aside)."""
        return [build(Worker, w) for w in self._get("workers")["workers"]]

    def worker(self, name_or_id: str | int) -> Worker:
        """One worker, by name or id (``HubNotFound`` when there is none)."""
        for found in self.workers():
            if found.name == name_or_id or str(found.id) == str(name_or_id):
                return found
        raise HubNotFound(f"no worker named {name_or_id!r} (see: jupyter mlops workers)")

    def forget_worker(self, name_or_id: str | int) -> Worker:
        """Remove an offline worker from the list (its name is free again)."""
        found = self.worker(name_or_id)
        return build(Worker, self._send("DELETE", f"workers/{found.id}"))

    # -- jobs ---------------------------------------------------------------------------------

    def validate(self, conf: dict[str, Any], worker: str | list[str] = "any") -> dict[str, Any]:
        """What the hub makes of a conf: trial count, warnings, errors (nothing is launched)."""
        return self._send("POST", "grid/validate", {"conf": conf, "worker": worker})

    def launch(self, conf: dict[str, Any], worker: str | list[str] = "any") -> Job:
        """Launch a grid or search on a worker, a list of workers or ``"any"``."""
        return job(self._send("POST", "jobs", {"conf": conf, "worker": worker}))

    def jobs(self, status: str | None = None, worker: str | None = None) -> list[Job]:
        """Jobs, newest first; optionally only those of a status, or asked of or run by a
        worker."""
        jobs = [job(j) for j in self._get("jobs")["jobs"]]
        if status is not None:
            jobs = [j for j in jobs if j.status == status]
        if worker is not None:
            jobs = [j for j in jobs if worker in j.workers or _asked(j.worker, worker)]
        return jobs

    def job(self, job_id: int) -> Job:
        """One job with its trials."""
        return job(self._get(f"jobs/{int(job_id)}"))

    def cancel(self, job_id: int) -> Job:
        """Cancel a job: its running trials stop between two batches."""
        return job(self._send("POST", f"jobs/{int(job_id)}/cancel"))

    def retry(self, job_id: int) -> Job:
        """Put a job's failed trials back in the queue."""
        return job(self._send("POST", f"jobs/{int(job_id)}/retry"))

    def wait(
        self,
        job_id: int,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Block until the job has ended; return it (``TimeoutError`` after ``timeout`` s).

        ``on_update(job)`` is called with every state read (to show progress).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.job(job_id)
            if on_update is not None:
                on_update(current)
            if current.ended:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {current.status} after {timeout} s")
            time.sleep(poll)

    def logs(
        self, job_id: int, after: int = 0, follow: bool = False, poll: float = 1.0
    ) -> Iterator[dict[str, Any]]:
        """The job's log lines (``LogLine`` objects) after a cursor; with ``follow``, until
        the job has ended and every line is read."""
        while True:
            page = self._get(f"jobs/{int(job_id)}/logs", after=after)
            yield from page["lines"]
            after = page["last_seq"]
            if page["lines"]:
                continue
            if not follow:
                return
            if self.job(job_id).ended:
                # lines stored between the last page and the end
                page = self._get(f"jobs/{int(job_id)}/logs", after=after)
                yield from page["lines"]
                if not page["lines"]:
                    return
                after = page["last_seq"]
                continue
            time.sleep(poll)

    def metrics(self, job_id: int, after: int = 0) -> list[dict[str, Any]]:
        """Every metric point (``MetricPoint`` objects) of a job after a cursor."""
        points: list[dict[str, Any]] = []
        while True:
            page = self._get(f"jobs/{int(job_id)}/metrics", after=after)
            if not page["points"]:
                return points
            points += page["points"]
            after = page["last_seq"]

    def search(self, job_id: int) -> SearchSummary:
        """The job's standing on its metric (a search's, else ``test_accuracy``): the best
        trial so far, trials by status and, where the hub computed one, parameter importance."""
        found = self.job(job_id)
        spec: dict[str, Any] = _object(found.conf.get("search"))
        summary: dict[str, Any] = _object(found.extra.get("search"))
        metric = str(spec.get("metric") or "test_accuracy")
        direction = str(spec.get("direction") or "maximize")
        best: tuple[float, Trial] | None = None
        for trial in found.trials:
            value = (trial.metrics or {}).get(metric)
            if trial.status != "finished" or not _finite(value):
                continue
            score = float(value) if direction == "maximize" else -float(value)  # type: ignore[arg-type]
            if best is None or score > best[0]:
                best = (score, trial)
        return SearchSummary(
            job_id=found.id,
            status=found.status,
            metric=metric,
            direction=direction,
            method=str(spec.get("method") or "grid"),
            trial_count=found.trial_count,
            by_status=dict(Counter(t.status for t in found.trials)),
            best_trial=best[1] if best else None,
            best_value=(best[1].metrics or {}).get(metric) if best else None,
            importance=dict(summary.get("importance") or {}),
            extra=summary,
        )

    # -- models and deployment ----------------------------------------------------------------

    def models(self, job_id: int | None = None) -> list[Model]:
        """Stored models (optionally of one job)."""
        models = [build(Model, m) for m in self._get("models")["models"]]
        return [m for m in models if job_id is None or m.job_id == int(job_id)]

    def model(self, model_id: str) -> Model:
        return build(Model, self._get(f"models/{model_id}"))

    def download(self, model_id: str, dest: str | Path = ".") -> Path:
        """Save a model file (a zip: the ONNX graph and its metadata) to ``dest`` (a file, or a
        folder for ``<model id>.zip``); its sha256 is checked before it appears there."""
        meta = self.model(model_id)
        target = Path(dest).expanduser()
        if target.is_dir():
            target = target / f"model-{model_id}.zip"
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        partial = Path(name)
        try:
            download_file(self.hub, f"models/{model_id}/file", partial, what="the download")
            digest = hashlib.sha256()
            with partial.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != meta.sha256:
                raise HubError(
                    f"model {model_id} arrived damaged (sha256 {digest.hexdigest()[:12]}..., "
                    f"expected {meta.sha256[:12]}...): nothing was saved; try again"
                )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def deployment(self) -> Deployment | None:
        """What is deployed now (None before the first deployment)."""
        found = self._get("deployment")["deployment"]
        return build(Deployment, found) if found else None

    def deploy(self, model_id: str) -> Deployment:
        """Deploy any stored model by hand (a rollback); ``extra["serving"]`` says what the
        hub serves."""
        return build(Deployment, self._send("POST", "deployment", {"model_id": model_id}))

    def history(self) -> list[Deployment]:
        """Every deployment, newest first."""
        return [build(Deployment, d) for d in self._get("deployment/history")["history"]]

    def predict(self, image: bytes | str | Path, top_k: int = 5) -> dict[str, Any]:
        """Classify an image (bytes or a path) with the served model."""
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        return call(
            self.hub, "POST", "predict", body=data, query={"top_k": top_k}, timeout=self.timeout
        )

    # -- tokens -------------------------------------------------------------------------------

    def tokens(self) -> list[Token]:
        """Scoped tokens, newest first (never their secrets)."""
        return [build(Token, t) for t in self._get("tokens")["tokens"]]

    def create_token(self, name: str, scope: str = "worker") -> NewToken:
        """Issue a ``worker`` or ``predict`` token: its secret is in the answer only."""
        answer = self._send("POST", "tokens", {"name": name, "scope": scope})
        return NewToken(build(Token, answer["token"]), answer["secret"], list(answer["setup"]))

    def revoke_token(self, token_id: int) -> Token:
        """Revoke a token: its workers' links close and their trials go back to the queue."""
        return build(Token, self._send("DELETE", f"tokens/{int(token_id)}"))


def _asked(requested: Any, worker: str) -> bool:
    return requested == worker or (isinstance(requested, list) and worker in requested)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
