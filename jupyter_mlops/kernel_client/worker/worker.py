"""The worker: its link to the hub, its queue of assignments, and its status.

The hub assigns trials (usually one per ``job`` message, each with its lease ``attempt``);
a background thread runs them in order with :class:`~.trial.TrialExecution`, then sends
``job_finished`` (or ``job_cancelled``) for the assignment. A ``cancel`` naming a trial (its
lease moved on) or a job (cancelled) stops the running trial between batches. Everything a
trial prints goes to ``<dir>/logs/<job>.log`` and to the hub.

A worker's data outlives its kernel: its outbox is keyed by its name in its folder (see
:mod:`.outbox`), so a restarted kernel continues the same session and resends what the dead
one had not delivered; each ``hello`` names the trials this kernel really runs, and the hub
releases the others (the dead kernel's) once it has stored everything up to the hello's seq.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import platform
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops import messages as M
from jupyter_mlops.kernel_client.hub_client import Backoff, HubInfo
from jupyter_mlops.kernel_client.worker.callbacks import Callback, CallbackList
from jupyter_mlops.kernel_client.worker.link import WorkerLink
from jupyter_mlops.kernel_client.worker.logtee import JobLog
from jupyter_mlops.kernel_client.worker.outbox import DEFAULT_LIMIT_BYTES, open_outbox
from jupyter_mlops.kernel_client.worker.reporter import HubReporter, jsonable
from jupyter_mlops.kernel_client.worker.trial import TrialExecution, TrialRun
from jupyter_mlops.private import private_dir

if TYPE_CHECKING:
    from jupyter_mlops.kernel_client.worker.ray_executor import RayExecutor

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


class Worker:
    """A notebook's training worker connected to one hub; see :func:`start_worker`.

    ``checkpoint_every`` saves and uploads a checkpoint every that many epochs (0: never), if
    the training function calls ``callbacks.on_checkpoint``. A trained model is uploaded for
    as long as it takes (``upload_attempts`` None; retries back off up to ``upload_backoff``
    and start again at once when the link to the hub is back) while the trial's lease holds;
    a model that cannot be stored stays on disk and the job log says where.
    ``outbox_limit_bytes`` bounds the events kept for the hub (see :mod:`.outbox`).
    ``executor`` (a :class:`~.ray_executor.RayExecutor`) runs the trials on a Ray cluster,
    several at once (each assignment in its own thread here); None runs them one at a time in
    this kernel.
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
        upload_attempts: int | None = None,
        upload_backoff: Backoff = Backoff(1.0, 30.0),
        checkpoint_every: int = 1,
        outbox_limit_bytes: int = DEFAULT_LIMIT_BYTES,
        executor: RayExecutor | None = None,
    ) -> None:
        self.train_fn = train_fn
        self.defaults = dict(jsonable(dict(defaults)))
        self.name = name
        self.hub = hub
        # 0700: its logs, outbox, checkpoints and models are for this user only
        self.local_dir = private_dir(local_dir if local_dir is not None else default_local_dir())
        self.callbacks = list(callbacks)
        self.notebook = notebook or os.environ.get("JPY_SESSION_NAME") or name
        self.echo = echo
        self.log_every = log_every
        self.keep_model_files = keep_model_files
        self.upload_attempts = upload_attempts
        self.upload_backoff = upload_backoff
        self.checkpoint_every = checkpoint_every
        self.device = device_description()
        self.outbox = open_outbox(self.local_dir, name, limit_bytes=outbox_limit_bytes)
        #: set when the link to the hub is (re)welcomed or the worker stops: a waiting model
        #: upload retries at once
        self.upload_wake = threading.Event()
        #: models waiting to be stored by the hub, by trial id (shown by ``%mlops status``)
        self.uploads: dict[str, dict[str, Any]] = {}
        self._held: dict[str, int | None] = {}  # trials assigned to this kernel, not yet ended
        self._held_lock = threading.Lock()
        self.connection = WorkerLink(
            hub,
            self.outbox,
            self._hello,
            self._on_message,
            flush_interval=flush_interval,
            backoff_max=backoff_max,
        )
        self.current_job: dict[str, Any] | None = None
        self.current_trial: str | None = None
        self.current_run: TrialRun | None = None
        self.reporter: HubReporter | None = None
        self.jobs_done: list[dict[str, Any]] = []
        #: called with what changed ("connection", "job", "trial") in the thread that changed
        #: it; the notebook's live view listens (see :meth:`view`)
        self.listeners: list[Callable[[str], object]] = []
        self.connection.socket.on_state = lambda state, error: self._notify("connection")
        self._view: Any = None
        self._jobs: queue.Queue[dict[str, Any]] = queue.Queue()
        self._seen_assignments: set[tuple[str, int | None]] = set()
        self._cancelled_jobs: set[int] = set()
        self._cancelled_trials: set[str] = set()
        self.stopping = threading.Event()
        self.executor = executor
        self._trials: TrialExecution = (
            executor.execution(self) if executor is not None else TrialExecution(self)
        )
        self._runs: dict[str, TrialRun] = {}  # the trials running now, by id
        self._assignments: list[threading.Thread] = []  # a cluster's worker: one per assignment
        self._thread = threading.Thread(target=self._job_loop, name="mlops-worker", daemon=True)

    def _hello(self) -> dict[str, Any]:
        """The hello of each connect: who this is, what it runs, its newest event's seq."""
        with self._held_lock:  # read before the seq: a trial that ends meanwhile is either
            running = [  # listed here or its end event is at or below ``seq``
                {"trial_id": trial, "attempt": attempt}
                for trial, attempt in self._held.items()
                if attempt is not None
            ]
        return {
            "type": M.HELLO,
            "name": self.name,
            "session": self.outbox.session,
            "notebook": self.notebook,
            "defaults": self.defaults,
            "device": self.device,
            "versions": versions(),
            "running": running,
            "seq": self.outbox.last_seq,
            **(self.executor.hello() if self.executor is not None else {}),
        }

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, wait: float = 10.0) -> Worker:
        """Connect and start the job thread; wait up to ``wait`` s for the hub's welcome."""
        if self.executor is not None:
            self.executor.start(self)  # joins the cluster: the hello says its capacity
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
        if self.stopping.is_set():
            return
        self.stopping.set()
        atexit.unregister(self.stop)
        for run in self._running():
            run.request_stop("worker")
        self.upload_wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for thread in list(self._assignments):
            thread.join(timeout)
        if self.executor is not None:
            self.executor.stop()
        self.connection.flush(min(timeout, 3.0))
        self.connection.stop(timeout=2.0)
        self.outbox.close()

    @property
    def session(self) -> str:
        """This worker's secret session id (kept in its outbox: it outlives the kernel)."""
        return self.outbox.session

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return self._thread.is_alive() and not self.stopping.is_set()

    # -- messages from the hub (link thread: never block) -------------------------------------

    def _on_message(self, msg: dict[str, Any]) -> None:
        if msg["type"] == M.WELCOME:
            if msg.get("name"):
                self.name = msg["name"]
            self.upload_wake.set()  # the hub is back: a waiting upload tries now
        elif msg["type"] == M.JOB:
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
            with self._held_lock:
                self._held.update(keys)
            self._cancelled_jobs.discard(job_id)  # the hub hands out no cancelled job's trials
            self._cancelled_trials -= {trial for trial, _ in keys}
            self._jobs.put(job)
        elif msg["type"] == M.CANCEL:
            job_id = int(msg.get("job_id") or 0)
            trial_id = msg.get("trial_id")
            if trial_id:
                self._cancelled_trials.add(str(trial_id))
                for run in self._running():
                    if run.trial_id == str(trial_id):
                        reason = msg.get("reason")
                        run.stop_reason = reason[:500] if isinstance(reason, str) else None
                        run.request_stop("lease")
            else:
                self._cancelled_jobs.add(job_id)
                for run in self._running():
                    if run.job_id == job_id:
                        run.request_stop("hub")

    def _running(self) -> list[TrialRun]:
        """The trials running now (a notebook worker: at most its current one)."""
        runs = list(self._runs.values())
        run = self.current_run
        return runs if run is None or run in runs else [*runs, run]

    # -- the job thread -----------------------------------------------------------------------

    def _job_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            if self.executor is None:
                self._run_job_safely(job)
                continue
            # a cluster's worker runs its assignments at once (the hub sends it up to its
            # capacity); each waits on its Ray task in a thread of its own
            self._assignments = [t for t in self._assignments if t.is_alive()]
            thread = threading.Thread(
                target=self._run_job_safely,
                args=(job,),
                name=f"mlops-assignment-{job.get('id')}",
                daemon=True,
            )
            self._assignments.append(thread)
            thread.start()

    def _run_job_safely(self, job: dict[str, Any]) -> None:
        try:
            self._run_job(job)
        except Exception:  # a bug here must not kill the worker
            log.exception("assignment of job %s failed inside the worker", job.get("id"))
            self.outbox.emit(M.JOB_FINISHED, urgent=True, job_id=job.get("id"))

    def _joblog(self, job_id: int, attempts: dict[str, int | None]) -> JobLog:
        """The job's local log (appended to, never truncated), each line also reported."""

        def emit(stream: str, trial: str | None, text: str, time: str, **partial: bool) -> None:
            attempt = attempts.get(trial) if trial is not None else None
            lease: dict[str, Any] = {"attempt": attempt} if attempt is not None else {}
            self.outbox.emit(
                M.LOG,
                job_id=job_id,
                trial_id=trial,
                **lease,
                stream=stream,
                text=text,
                time=time,
                **partial,
            )

        def report(stream: str, trial: str | None, text: str, time: str) -> None:
            emit(stream, trial, text, time)

        def live(stream: str, trial: str | None, text: str, time: str) -> None:
            """A progress bar's latest state: shown by the panels, not stored by the hub."""
            emit(stream, trial, text, time, partial=True)

        return JobLog(self.local_dir / "logs" / f"{job_id}.log", report, live)

    def _run_job(self, job: dict[str, Any]) -> None:
        """Run one assignment: its trials in order, then ``job_finished``/``job_cancelled``."""
        job_id = int(job["id"])
        runs = [TrialRun.from_message(job_id, t) for t in job.get("trials") or []]
        attempts = {run.trial_id: run.attempt for run in runs}
        joblog = self._joblog(job_id, attempts)
        self.current_job = job
        self._notify("job")
        outcomes: list[str] = []
        try:
            ids = ", ".join(run.trial_id for run in runs) or "none"
            leases = f" (attempt {runs[0].attempt})" if len(runs) == 1 and runs[0].attempt else ""
            noun = "trial" if len(runs) == 1 else "trials"
            joblog.system(
                f"assignment: {noun} {ids} of job {job_id}{leases} on {self.name} ({self.device})"
            )
            for run in runs:
                try:
                    outcomes.append(self._run_trial(run, joblog))
                finally:
                    self._runs.pop(run.trial_id, None)
                self._release(run)
            cancelled = job_id in self._cancelled_jobs
            summary = ", ".join(
                f"trial {r.trial_id} {o}" for r, o in zip(runs, outcomes, strict=True)
            )
            if self.stopping.is_set() and not cancelled:
                joblog.system(f"assignment of job {job_id} abandoned: the worker is stopping")
            elif cancelled:
                joblog.system(f"job {job_id} cancelled by the hub ({summary})")
                self.outbox.emit(M.JOB_CANCELLED, urgent=True, job_id=job_id)
            else:
                joblog.system(f"assignment done: job {job_id}, {summary or 'no trials'}")
                self.outbox.emit(M.JOB_FINISHED, urgent=True, job_id=job_id)
        finally:
            for run in runs:
                self._release(run)
            joblog.close()
            self.jobs_done.append(
                {"id": job_id, "trials": [r.trial_id for r in runs], "outcomes": outcomes}
            )
            # a cluster's worker goes on showing one of the trials it still runs
            left = list(self._runs.values())
            self.current_run = left[-1] if left else None
            self.current_trial = self.current_run.trial_id if self.current_run else None
            if not left:
                self.current_job = None
            self._notify("job")

    def _release(self, run: TrialRun) -> None:
        """The trial ended here (its end event, if any, is in the outbox): not held any more."""
        with self._held_lock:
            if self._held.get(run.trial_id, -1) == run.attempt:
                del self._held[run.trial_id]

    def _run_trial(self, run: TrialRun, joblog: JobLog) -> str:
        """Run one trial unless it was cancelled meanwhile; returns its outcome."""
        self._runs[run.trial_id] = run
        self.current_run = run
        self.current_trial = run.trial_id
        joblog.trial_id = run.trial_id
        self._notify("trial")
        if run.job_id in self._cancelled_jobs:
            run.request_stop("hub")
        elif run.trial_id in self._cancelled_trials:
            run.request_stop("lease")
        elif self.stopping.is_set():
            run.request_stop("worker")
        return self._trials.run(run, joblog)

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
            "connection": link.state if not self.stopping.is_set() else "stopped",
            "last_error": link.last_error,
            "device": self.device,
            "unacked_events": self.outbox.waiting,
            "outbox": self.outbox.status(),
            "uploads": [dict(upload) for upload in list(self.uploads.values())],
            "job": job["id"] if job else None,
            "trial": self.current_trial,
            "attempt": run.attempt if run is not None else None,
            "trials": len(job.get("trials") or []) if job else 0,
            "trial_index": run.index if run is not None else None,
            "trial_count": job.get("trial_count") if job else None,
            "epoch": (reporter.epoch, reporter.epochs) if reporter else None,
            "batch": (reporter.batch, reporter.batches) if reporter else None,
            "metrics": dict(reporter.metrics) if reporter else {},
            "jobs_done": len(self.jobs_done),
            "log_dir": str(self.local_dir / "logs"),
        }

    def _notify(self, what: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(what)
            except Exception:  # a view must never break the worker
                log.exception("a worker listener failed on %s", what)

    def view(self) -> Any:
        """This worker's live ipywidgets view (one per worker; see :mod:`.view`)."""
        if self._view is None:
            from jupyter_mlops.kernel_client.worker.view import WorkerView

            self._view = WorkerView(self)
        return self._view

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """In a notebook the worker shows as its live view (status, progress, loss curve)."""
        bundle = dict(self.view()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        s = self.status()
        return f"<Worker {s['name']!r} {s['connection']} job={s['job']} trial={s['trial']}>"
