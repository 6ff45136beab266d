"""The worker: receives jobs from the hub and runs their trials in a background thread.

For each trial: call the notebook's training function with the trial's hyperparameters and a
:class:`~.callbacks.CallbackList` (hub reporter, stop Event), export the returned model with
:func:`jupyter_mlops.modelfile.save_model_file`, upload it, and report ``trial_finished``.
An exception in the training code fails that trial (traceback in the job log) and the next
trial runs. Everything the trial prints goes to ``<dir>/logs/<job>.log`` and to the hub.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import platform
import queue
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.callbacks import (
    Callback,
    CallbackList,
    TrialCancelled,
    TrialResult,
)
from jupyter_mlops.kernel_client.connection import HubConnection
from jupyter_mlops.kernel_client.discovery import HubInfo
from jupyter_mlops.kernel_client.logtee import JobLog, capture_output
from jupyter_mlops.kernel_client.outbox import Outbox
from jupyter_mlops.kernel_client.reporter import HubReporter, jsonable
from jupyter_mlops.kernel_client.upload import upload_model

log = logging.getLogger(__name__)

TrainFunction = Callable[[dict[str, Any], CallbackList], Any]
DIR_ENV = "JUPYTER_MLOPS_WORKER_DIR"


def default_local_dir() -> Path:
    """Where a worker keeps its outbox, job logs and model files."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV])
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "mlops-worker"


def device_description() -> str:
    """``cuda:0 (GPU name)`` when CUDA is available, else ``cpu``."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    except Exception:  # torch missing or broken: the worker still reports
        pass
    return "cpu"


def versions() -> dict[str, str]:
    """Versions the hub shows for this worker."""
    from jupyter_mlops import __version__

    found = {"python": platform.python_version(), "jupyter_mlops": __version__}
    for name in ("torch", "torchvision"):
        with contextlib.suppress(Exception):
            found[name] = __import__(name).__version__
    return found


class Worker:
    """A notebook's training worker connected to one hub; see :func:`start_worker`."""

    def __init__(
        self,
        train_fn: TrainFunction,
        defaults: Mapping[str, Any],
        name: str,
        hub: HubInfo,
        *,
        local_dir: str | os.PathLike[str] | None = None,
        callbacks: Iterable[Callback] = (),
        notebook: str | None = None,
        echo: bool = True,
        log_every: int = 1,
        keep_model_files: bool = False,
        flush_interval: float = 0.25,
        backoff_max: float = 10.0,
        upload_attempts: int = 12,
    ) -> None:
        self.train_fn = train_fn
        self.defaults = dict(jsonable(dict(defaults)))
        self.name = name
        self.hub = hub
        self.local_dir = Path(local_dir) if local_dir is not None else default_local_dir()
        self.callbacks = list(callbacks)
        self.notebook = notebook or os.environ.get("JPY_SESSION_NAME") or name
        self.echo = echo
        self.log_every = log_every
        self.keep_model_files = keep_model_files
        self.upload_attempts = upload_attempts
        self.session = uuid.uuid4().hex
        self.device = device_description()
        self.outbox = Outbox(self.local_dir / "outbox" / f"{self.session}.jsonl")
        self.connection = HubConnection(
            hub,
            self.outbox,
            self._hello(),
            self._on_message,
            flush_interval=flush_interval,
            backoff_max=backoff_max,
        )
        self.current_job: dict[str, Any] | None = None
        self.current_trial: str | None = None
        self.reporter: HubReporter | None = None
        self.jobs_done: list[dict[str, Any]] = []
        self._jobs: queue.Queue[dict[str, Any]] = queue.Queue()
        self._seen_jobs: set[int] = set()
        self._cancelled_jobs: set[int] = set()
        self._trial_stop: threading.Event | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._job_loop, name="mlops-worker", daemon=True)

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "name": self.name,
            "session": self.session,
            "notebook": self.notebook,
            "defaults": self.defaults,
            "device": self.device,
            "versions": versions(),
        }

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, wait: float = 10.0) -> Worker:
        """Connect and start the job thread; wait up to ``wait`` s for the hub's welcome."""
        self.connection.start()
        self._thread.start()
        atexit.register(self.stop, timeout=3.0)
        if wait and not self.connection.welcomed.wait(wait):
            log.warning("no welcome from the hub yet (%s); retrying", self.connection.last_error)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running trial, flush what is unsent, close the link. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        atexit.unregister(self.stop)
        if self._trial_stop is not None:
            self._trial_stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.connection.flush(min(timeout, 3.0))
        self.connection.stop(timeout=2.0)
        self.outbox.close()

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return self._thread.is_alive() and not self._stopping.is_set()

    # -- messages from the hub (link thread: never block) -------------------------------------

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg["type"] == "welcome" and msg.get("name"):
            self.name = msg["name"]
        elif msg["type"] == "job":
            job = msg["job"]
            if job["id"] in self._seen_jobs:
                log.info("job %s is already known to this worker; ignoring the resend", job["id"])
                return
            self._seen_jobs.add(job["id"])
            self._jobs.put(job)
        elif msg["type"] == "cancel":
            job_id = int(msg.get("job_id") or 0)
            self._cancelled_jobs.add(job_id)
            current = self.current_job
            if current is not None and current["id"] == job_id and self._trial_stop is not None:
                self._trial_stop.set()

    # -- the job thread -----------------------------------------------------------------------

    def _job_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._run_job(job)
            except Exception:  # a bug here must not kill the worker
                log.exception("job %s failed inside the worker", job.get("id"))
                self.outbox.emit(
                    "job_failed", urgent=True, job_id=job.get("id"), error="worker error"
                )

    def _run_job(self, job: dict[str, Any]) -> None:
        job_id = int(job["id"])
        trials = list(job.get("trials") or [])
        joblog = JobLog(
            self.local_dir / "logs" / f"{job_id}.log",
            lambda stream, trial, text: self.outbox.emit(
                "log", job_id=job_id, trial_id=trial, stream=stream, text=text
            ),
        )
        self.current_job = job
        outcomes: list[str] = []
        try:
            joblog.system(f"job {job_id}: {len(trials)} trial(s) on {self.name} ({self.device})")
            for number, trial in enumerate(trials, 1):
                if job_id in self._cancelled_jobs or self._stopping.is_set():
                    self.outbox.emit("trial_cancelled", job_id=job_id, trial_id=trial["id"])
                    outcomes.append("cancelled")
                    continue
                outcomes.append(self._run_trial(job_id, trial, number, len(trials), joblog))
            joblog.trial_id = None
            if job_id in self._cancelled_jobs or self._stopping.is_set():
                why = "by the hub" if job_id in self._cancelled_jobs else "the worker was stopped"
                joblog.system(f"job {job_id} cancelled ({why})")
                self.outbox.emit("job_cancelled", urgent=True, job_id=job_id)
            elif trials and all(o == "failed" for o in outcomes):
                error = f"all {len(trials)} trial(s) failed"
                joblog.system(f"job {job_id} failed: {error}")
                self.outbox.emit("job_failed", urgent=True, job_id=job_id, error=error)
            else:
                done = outcomes.count("finished")
                joblog.system(f"job {job_id} finished: {done}/{len(trials)} trial(s) finished")
                self.outbox.emit("job_finished", urgent=True, job_id=job_id)
        finally:
            joblog.close()
            self.jobs_done.append({"id": job_id, "outcomes": outcomes})
            self.current_job = None
            self.current_trial = None

    def _run_trial(
        self, job_id: int, trial: dict[str, Any], number: int, count: int, joblog: JobLog
    ) -> str:
        trial_id = str(trial["id"])
        params = {**self.defaults, **(trial.get("params") or {})}
        self.current_trial = trial_id
        joblog.trial_id = trial_id
        self._trial_stop = stop = threading.Event()
        if job_id in self._cancelled_jobs or self._stopping.is_set():
            stop.set()  # a cancel that came in between trials
        self.reporter = reporter = HubReporter(
            self.outbox, job_id, trial_id, log_every=self.log_every
        )
        callbacks = CallbackList([reporter, *self.callbacks], stop_event=stop)
        self.outbox.emit("trial_started", urgent=True, job_id=job_id, trial_id=trial_id)
        joblog.system(f"trial {trial_id} ({number}/{count}) started: {params}")
        try:
            with capture_output(joblog.sink, echo=self.echo):
                callbacks.on_trial_start(trial_id, params)
                result = TrialResult.coerce(self.train_fn(params, callbacks))
        except TrialCancelled as exc:
            callbacks.on_exception(exc)
            joblog.system(f"trial {trial_id} cancelled")
            self.outbox.emit("trial_cancelled", urgent=True, job_id=job_id, trial_id=trial_id)
            return "cancelled"
        except Exception as exc:
            callbacks.on_exception(exc)
            self._fail(job_id, trial_id, exc, joblog, "the training function raised")
            return "failed"
        try:
            model = self._store_model(job_id, trial_id, params, result, joblog)
        except Exception as exc:
            self._fail(job_id, trial_id, exc, joblog, "storing the model failed")
            return "failed"
        metrics = jsonable(result.metrics)
        callbacks.on_trial_end(trial_id, metrics)
        summary = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        joblog.system(f"trial {trial_id} finished: {summary}")
        self.outbox.emit(
            "trial_finished",
            urgent=True,
            job_id=job_id,
            trial_id=trial_id,
            model_id=model.get("id", trial_id),
            metrics=metrics,
        )
        return "finished"

    def _fail(
        self, job_id: int, trial_id: str, exc: BaseException, joblog: JobLog, what: str
    ) -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        for line in tb.rstrip("\n").split("\n"):
            joblog.line("stderr", line)
        error = f"{what}: {type(exc).__name__}: {exc}"
        joblog.system(f"trial {trial_id} failed: {error}")
        self.outbox.emit(
            "trial_failed", urgent=True, job_id=job_id, trial_id=trial_id, error=error, traceback=tb
        )

    def _store_model(
        self,
        job_id: int,
        trial_id: str,
        params: dict[str, Any],
        result: TrialResult,
        joblog: JobLog,
    ) -> dict[str, Any]:
        from jupyter_mlops.modelfile import save_model_file

        path = self.local_dir / "models" / f"{trial_id}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = save_model_file(
            result.model,
            path,
            example_input=result.example_input,
            classes=list(result.classes),
            normalization=result.normalization,
            hyperparameters=params,
            metrics=jsonable(result.metrics),
            extra={"trial_id": trial_id, "job_id": job_id, **result.extra},
        )
        joblog.system(
            f"model exported ({metadata['program']}, {metadata['param_count']} parameters, "
            f"{path.stat().st_size} bytes, sha1 {metadata['sha1']})"
        )
        model = upload_model(
            self.hub,
            trial_id,
            path,
            metadata["sha256"],
            attempts=self.upload_attempts,
            abort=self._stopping,
            note=joblog.system,
        )
        joblog.system(f"model {model.get('id', trial_id)} stored (sha256 {metadata['sha256']})")
        if not self.keep_model_files:
            path.unlink(missing_ok=True)
        return model

    # -- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``%mlops status`` shows: link, current job and trial, progress."""
        link = self.connection
        job = self.current_job
        reporter = self.reporter if self.current_trial else None
        return {
            "name": self.name,
            "worker_id": link.worker_id,
            "hub": self.hub.url,
            "connection": link.state if not self._stopping.is_set() else "stopped",
            "last_error": link.last_error,
            "device": self.device,
            "unacked_events": self.outbox.waiting,
            "job": job["id"] if job else None,
            "trial": self.current_trial,
            "trials": len(job.get("trials") or []) if job else 0,
            "epoch": (reporter.epoch, reporter.epochs) if reporter else None,
            "batch": (reporter.batch, reporter.batches) if reporter else None,
            "metrics": dict(reporter.metrics) if reporter else {},
            "jobs_done": len(self.jobs_done),
            "log_dir": str(self.local_dir / "logs"),
        }

    def __repr__(self) -> str:
        s = self.status()
        return f"<Worker {s['name']!r} {s['connection']} job={s['job']} trial={s['trial']}>"
