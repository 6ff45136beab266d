"""The worker: receives assignments from the hub and runs their trials in a background thread.

The hub assigns trials (usually one per ``job`` message, each with its lease ``attempt`` and
maybe a checkpoint to resume from). For each trial: fetch the checkpoint if there is one, call
the notebook's training function with the trial's hyperparameters and a
:class:`~.callbacks.CallbackList` (hub reporter, checkpoint saver, stop Event, resume state),
export the returned model with :func:`jupyter_mlops.modelfile.save_model_file`, upload it, and
report ``trial_finished``. An exception in the training code fails that trial (traceback in
the job log). When the assignment's trials are done the worker sends ``job_finished`` (or
``job_cancelled``). Every event about a trial carries its ``attempt``; when the hub says the
lease is gone (a ``cancel`` naming the trial, or a 409 on an upload) the worker drops the
trial's result. Everything a trial prints goes to ``<dir>/logs/<job>.log`` and to the hub.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.callbacks import (
    Callback,
    CallbackList,
    TrialCancelled,
    TrialResult,
)
from jupyter_mlops.kernel_client.checkpoint import CheckpointSaver, fetch_checkpoint
from jupyter_mlops.kernel_client.connection import HubConnection
from jupyter_mlops.kernel_client.discovery import HubInfo
from jupyter_mlops.kernel_client.logtee import JobLog, capture_output
from jupyter_mlops.kernel_client.outbox import Outbox
from jupyter_mlops.kernel_client.reporter import HubReporter, jsonable
from jupyter_mlops.kernel_client.upload import LeaseLost, upload_model

log = logging.getLogger(__name__)

TrainFunction = Callable[[dict[str, Any], CallbackList], Any]
DIR_ENV = "JUPYTER_MLOPS_WORKER_DIR"


def default_local_dir() -> Path:
    """Where a worker keeps its outbox, job logs, checkpoints and model files."""
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


@dataclass
class TrialRun:
    """One assigned trial: its lease (``attempt``), checkpoint to resume, and stop state."""

    job_id: int
    trial_id: str
    index: int
    params: dict[str, Any]
    attempt: int | None
    checkpoint_epoch: int
    stop: threading.Event = field(default_factory=threading.Event)
    stopped_by: str | None = None  # "hub", "lease" or "worker" once asked to stop

    @classmethod
    def from_message(cls, job_id: int, trial: Mapping[str, Any]) -> TrialRun:
        checkpoint = trial.get("checkpoint") or {}
        attempt = trial.get("attempt")
        return cls(
            job_id=job_id,
            trial_id=str(trial["id"]),
            index=int(trial.get("index") or 0),
            params=dict(trial.get("params") or {}),
            attempt=int(attempt) if attempt is not None else None,
            checkpoint_epoch=int(checkpoint.get("epoch") or 0),
        )

    @property
    def lease(self) -> dict[str, int]:
        """The ``attempt`` field every event about this trial carries (none from old hubs)."""
        return {"attempt": self.attempt} if self.attempt is not None else {}

    def request_stop(self, by: str) -> None:
        if self.stopped_by is None:
            self.stopped_by = by
        self.stop.set()


class Worker:
    """A notebook's training worker connected to one hub; see :func:`start_worker`.

    ``checkpoint_every`` saves and uploads a checkpoint every that many epochs (0: never), if
    the training function calls ``callbacks.on_checkpoint``.
    """

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
        checkpoint_every: int = 1,
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
        self.checkpoint_every = checkpoint_every
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
        self.current_run: TrialRun | None = None
        self.reporter: HubReporter | None = None
        self.jobs_done: list[dict[str, Any]] = []
        self._jobs: queue.Queue[dict[str, Any]] = queue.Queue()
        self._seen_assignments: set[tuple[str, int | None]] = set()
        self._logged_jobs: set[int] = set()
        self._cancelled_jobs: set[int] = set()
        self._cancelled_trials: set[str] = set()
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
        """Stop the running trial, flush what is unsent, close the link. Idempotent.

        A trial stopped this way is abandoned, not reported: its lease runs out after the hub's
        grace period and another worker resumes it from its last checkpoint.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        atexit.unregister(self.stop)
        run = self.current_run
        if run is not None:
            run.request_stop("worker")
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
            job_id = int(job["id"])
            keys = {
                (str(t["id"]), t.get("attempt"))
                for t in job.get("trials") or []
                if isinstance(t, dict) and "id" in t
            }
            if keys and keys <= self._seen_assignments:
                log.info(
                    "assignment %s of job %s is already known; ignoring the resend", keys, job_id
                )
                return
            self._seen_assignments |= keys
            self._cancelled_jobs.discard(job_id)  # the hub hands out no cancelled job's trials
            self._cancelled_trials -= {trial for trial, _ in keys}
            self._jobs.put(job)
        elif msg["type"] == "cancel":
            job_id = int(msg.get("job_id") or 0)
            trial_id = msg.get("trial_id")
            run = self.current_run
            if trial_id:
                self._cancelled_trials.add(str(trial_id))
                if run is not None and run.trial_id == str(trial_id):
                    run.request_stop("lease")
            else:
                self._cancelled_jobs.add(job_id)
                if run is not None and run.job_id == job_id:
                    run.request_stop("hub")

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
                log.exception("assignment of job %s failed inside the worker", job.get("id"))
                self.outbox.emit("job_finished", urgent=True, job_id=job.get("id"))

    def _joblog(self, job_id: int, attempts: dict[str, int | None]) -> JobLog:
        """The job's local log; a later assignment of the same job appends to it."""

        def report(stream: str, trial: str | None, text: str) -> None:
            attempt = attempts.get(trial) if trial is not None else None
            lease: dict[str, Any] = {"attempt": attempt} if attempt is not None else {}
            self.outbox.emit(
                "log", job_id=job_id, trial_id=trial, **lease, stream=stream, text=text
            )

        append = job_id in self._logged_jobs
        self._logged_jobs.add(job_id)
        return JobLog(self.local_dir / "logs" / f"{job_id}.log", report, append=append)

    def _run_job(self, job: dict[str, Any]) -> None:
        """Run one assignment: its trials in order, then ``job_finished``/``job_cancelled``."""
        job_id = int(job["id"])
        runs = [TrialRun.from_message(job_id, t) for t in job.get("trials") or []]
        attempts = {run.trial_id: run.attempt for run in runs}
        joblog = self._joblog(job_id, attempts)
        self.current_job = job
        outcomes: list[str] = []
        try:
            ids = ", ".join(run.trial_id for run in runs) or "none"
            leases = f" (attempt {runs[0].attempt})" if len(runs) == 1 and runs[0].attempt else ""
            noun = "trial" if len(runs) == 1 else "trials"
            joblog.system(
                f"assignment: {noun} {ids} of job {job_id}{leases} on {self.name} ({self.device})"
            )
            for run in runs:
                outcomes.append(self._run_trial(run, joblog))
            cancelled = job_id in self._cancelled_jobs
            summary = ", ".join(
                f"trial {r.trial_id} {o}" for r, o in zip(runs, outcomes, strict=True)
            )
            if self._stopping.is_set() and not cancelled:
                joblog.system(f"assignment of job {job_id} abandoned: the worker is stopping")
            elif cancelled:
                joblog.system(f"job {job_id} cancelled by the hub ({summary})")
                self.outbox.emit("job_cancelled", urgent=True, job_id=job_id)
            else:
                joblog.system(f"assignment done: job {job_id}, {summary or 'no trials'}")
                self.outbox.emit("job_finished", urgent=True, job_id=job_id)
        finally:
            joblog.close()
            self.jobs_done.append(
                {"id": job_id, "trials": [r.trial_id for r in runs], "outcomes": outcomes}
            )
            self.current_job = None
            self.current_trial = None
            self.current_run = None

    def _run_trial(self, run: TrialRun, joblog: JobLog) -> str:
        """Run one trial; returns finished, failed, cancelled, lost or abandoned."""
        job_id, trial_id = run.job_id, run.trial_id
        self.current_run = run
        self.current_trial = trial_id
        joblog.trial_id = trial_id
        if job_id in self._cancelled_jobs:
            run.request_stop("hub")
        elif trial_id in self._cancelled_trials:
            run.request_stop("lease")
        elif self._stopping.is_set():
            run.request_stop("worker")
        if run.stop.is_set():
            return self._stopped(run, joblog, started=False)

        params = {**self.defaults, **run.params}
        resume_state = self._fetch_checkpoint(run, joblog) if run.checkpoint_epoch else None
        resumed = int(resume_state["epoch"]) if resume_state else 0
        note = lambda text: joblog.system(text, trial_id)  # noqa: E731
        saver = CheckpointSaver(
            self.hub,
            trial_id,
            run.attempt or 0,
            self.local_dir / "checkpoints",
            every=self.checkpoint_every if run.attempt is not None else 0,
            note=note,
            on_lease_lost=lambda reason: run.request_stop("lease"),
            resume_epoch=resumed,
        )
        self.reporter = reporter = HubReporter(
            self.outbox, job_id, trial_id, log_every=self.log_every, attempt=run.attempt
        )
        callbacks = CallbackList(
            [reporter, saver, *self.callbacks], stop_event=run.stop, resume_state=resume_state
        )
        extra = {"resumed_from_epoch": resumed} if resumed else {}
        self.outbox.emit(
            "trial_started", urgent=True, job_id=job_id, trial_id=trial_id, **run.lease, **extra
        )
        how = [f"attempt {run.attempt}"] if run.attempt and run.attempt > 1 else []
        how += [f"from the checkpoint at epoch {resumed}"] if resumed else []
        joblog.system(
            f"trial {trial_id} started{' (' + ', '.join(how) + ')' if how else ''}: {params}"
        )
        try:
            try:
                with capture_output(joblog.sink, echo=self.echo):
                    callbacks.on_trial_start(trial_id, params)
                    result = TrialResult.coerce(self.train_fn(params, callbacks))
            finally:
                saver.close(wait=not run.stop.is_set())
        except TrialCancelled as exc:
            callbacks.on_exception(exc)
            return self._stopped(run, joblog, started=True, saver=saver)
        except Exception as exc:
            callbacks.on_exception(exc)
            if run.stopped_by in ("lease", "worker"):
                return self._stopped(run, joblog, started=True, saver=saver)
            self._fail(run, exc, joblog, "the training function raised")
            return "failed"
        if run.stop.is_set():  # stopped after the last batch: no result to store
            return self._stopped(run, joblog, started=True, saver=saver)
        try:
            model = self._store_model(run, params, result, joblog)
        except LeaseLost as exc:
            joblog.system(
                f"trial {trial_id} stopped: the hub refused its model, the lease was lost "
                f"({exc}); its result is dropped"
            )
            return "lost"
        except Exception as exc:
            if self._stopping.is_set():
                return self._stopped(run, joblog, started=True, saver=saver)
            self._fail(run, exc, joblog, "storing the model failed")
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
            **run.lease,
            model_id=model.get("id", trial_id),
            metrics=metrics,
        )
        return "finished"

    def _stopped(
        self,
        run: TrialRun,
        joblog: JobLog,
        *,
        started: bool,
        saver: CheckpointSaver | None = None,
    ) -> str:
        """Log and report a trial that was asked to stop; returns its outcome."""
        trial_id = run.trial_id
        lease = {"job_id": run.job_id, "trial_id": trial_id, **run.lease}
        if run.stopped_by == "worker" or (self._stopping.is_set() and run.stopped_by is None):
            # Handed back: the hub re-queues the trial at once and offers this stopping worker
            # nothing more, so another worker resumes it without waiting for the grace period.
            kept = f"epoch {saver.stored[-1]}" if saver and saver.stored else "the start"
            joblog.system(
                f"trial {trial_id} handed back: the worker is stopping; another worker "
                f"resumes it from {kept}"
            )
            self.outbox.emit("trial_cancelled", urgent=True, **lease)
            return "abandoned"
        if run.stopped_by == "lease":
            if saver is not None and saver.lease_lost:
                joblog.system(
                    f"trial {trial_id} stopped: the lease was lost ({saver.lease_lost}); "
                    "its result is dropped"
                )
                return "lost"
            joblog.system(
                f"trial {trial_id} stopped by the hub (the job was cancelled, or the trial's "
                "lease went to another worker); no result is stored"
            )
            self.outbox.emit("trial_cancelled", urgent=True, **lease)  # ignored for an old lease
            return "cancelled"
        joblog.system(f"trial {trial_id} cancelled" + ("" if started else " before it started"))
        self.outbox.emit("trial_cancelled", urgent=True, **lease)
        return "cancelled"

    def _fetch_checkpoint(self, run: TrialRun, joblog: JobLog) -> dict[str, Any] | None:
        """The assignment's checkpoint, loaded; None (start over) when it cannot be had."""
        try:
            state = fetch_checkpoint(self.hub, run.trial_id, self.local_dir / "checkpoints")
        except Exception as exc:
            joblog.system(
                f"trial {run.trial_id}: the checkpoint at epoch {run.checkpoint_epoch} could "
                f"not be fetched ({type(exc).__name__}: {exc}); starting from epoch 1"
            )
            return None
        joblog.system(f"trial {run.trial_id}: checkpoint at epoch {state['epoch']} fetched")
        return state

    def _fail(self, run: TrialRun, exc: BaseException, joblog: JobLog, what: str) -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        for line in tb.rstrip("\n").split("\n"):
            joblog.line("stderr", line)
        error = f"{what}: {type(exc).__name__}: {exc}"
        joblog.system(f"trial {run.trial_id} failed: {error}")
        self.outbox.emit(
            "trial_failed",
            urgent=True,
            job_id=run.job_id,
            trial_id=run.trial_id,
            **run.lease,
            error=error,
            traceback=tb,
        )

    def _store_model(
        self, run: TrialRun, params: dict[str, Any], result: TrialResult, joblog: JobLog
    ) -> dict[str, Any]:
        from jupyter_mlops.modelfile import save_model_file

        trial_id = run.trial_id
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
            extra={"trial_id": trial_id, "job_id": run.job_id, **result.extra},
        )
        joblog.system(
            f"model exported ({metadata['program']}, {metadata['param_count']} parameters, "
            f"{path.stat().st_size} bytes, sha1 {metadata['sha1']})"
        )
        try:
            model = upload_model(
                self.hub,
                trial_id,
                path,
                metadata["sha256"],
                attempt=run.attempt,
                attempts=self.upload_attempts,
                abort=self._stopping,
                note=joblog.system,
            )
        finally:
            if not self.keep_model_files:
                path.unlink(missing_ok=True)
        joblog.system(f"model {model.get('id', trial_id)} stored (sha256 {metadata['sha256']})")
        return model

    # -- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``%mlops status`` shows: link, current job and trial, progress."""
        link = self.connection
        job = self.current_job
        run = self.current_run
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
            "attempt": run.attempt if run is not None else None,
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
