"""One trial's run on a worker: resume, train, export, upload, report.

:class:`TrialRun` is an assignment from the hub (its lease ``attempt`` and maybe a checkpoint
to resume from). :class:`TrialExecution` runs it: fetch the checkpoint, call the notebook's
training function with the trial's hyperparameters and a :class:`~.callbacks.CallbackList`
(hub reporter, checkpoint saver, stop Event, resume state), with the trial active for
``jupyter_mlops.log`` and its kin (:mod:`.reporting`); complete what it returned
(:meth:`~.result.TrialResult.coerce`), export the model with
:func:`jupyter_mlops.modelfile.save_model_file`, upload it and report ``trial_finished``. An
exception in the training code fails the trial (traceback in the job log). When the hub says
the lease is gone (a ``cancel`` naming the trial, or a 409 on an upload) the result is dropped.

A trained model is never thrown away: its upload is retried for as long as the hub is
unreachable (``%mlops status`` shows it waiting), at once when the link is back, while the
trial's lease holds. A model the hub did not store stays on disk and the job log says where.
"""

from __future__ import annotations

import inspect
import threading
import traceback
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops import messages as M
from jupyter_mlops.kernel_client.hub_client import Abandoned, LeaseLost
from jupyter_mlops.kernel_client.hub_client.http import LEASE_HEADER
from jupyter_mlops.kernel_client.hub_client.transfers import upload_file
from jupyter_mlops.kernel_client.worker.callbacks import CallbackList, TrialCancelled
from jupyter_mlops.kernel_client.worker.checkpoints import CheckpointSaver, fetch_checkpoint
from jupyter_mlops.kernel_client.worker.logtee import JobLog, capture_output
from jupyter_mlops.kernel_client.worker.reporter import HubReporter, jsonable
from jupyter_mlops.kernel_client.worker.reporting import ActiveTrial, active_trial
from jupyter_mlops.kernel_client.worker.result import TrialResult, TrialResultError
from jupyter_mlops.private import private_dir

if TYPE_CHECKING:
    from jupyter_mlops.kernel_client.worker.worker import Worker


@dataclass
class TrialRun:
    """One assigned trial: its lease (``attempt`` and ``secret``), checkpoint to resume, and
    stop state. The secret goes with every file of the trial (``X-MLOps-Lease``), nowhere else.
    """

    job_id: int
    trial_id: str
    index: int
    params: dict[str, Any]
    attempt: int | None
    checkpoint_epoch: int
    secret: str | None = field(default=None, repr=False)
    stop: threading.Event = field(default_factory=threading.Event)
    stopped_by: str | None = None  # "hub", "lease" or "worker" once asked to stop
    stop_reason: str | None = None  # what the hub said (a search's pruner: why it pruned)

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
            secret=trial["lease"] if isinstance(trial.get("lease"), str) else None,
        )

    @property
    def lease(self) -> dict[str, int]:
        """The ``attempt`` field every event about this trial carries (none from old hubs)."""
        return {"attempt": self.attempt} if self.attempt is not None else {}

    @property
    def lease_headers(self) -> dict[str, str]:
        """The header that proves this lease on an upload or a checkpoint download."""
        return {LEASE_HEADER: self.secret} if self.secret else {}

    def request_stop(self, by: str) -> None:
        if self.stopped_by is None:
            self.stopped_by = by
        self.stop.set()


def call_training_function(train_fn: Any, params: dict[str, Any], callbacks: CallbackList) -> Any:
    """``train_fn(params, callbacks)``, or ``train_fn(params)`` for a function of one parameter
    (one that reports through ``jupyter_mlops.log`` and its kin)."""
    try:
        inspect.signature(train_fn).bind(params, callbacks)
    except TypeError:
        return train_fn(params)
    except ValueError:  # no signature to read (some builtins): the documented call
        pass
    return train_fn(params, callbacks)


class TrialExecution:
    """Runs trials for one worker, using its hub, outbox, folder and settings."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def run(self, run: TrialRun, joblog: JobLog) -> str:
        """Run one trial; returns finished, failed, cancelled, lost or abandoned."""
        job_id, trial_id = run.job_id, run.trial_id
        if run.stop.is_set():
            return self._stopped(run, joblog, started=False)

        params = {**self.worker.defaults, **run.params}
        resume_state = self._fetch_checkpoint(run, joblog) if run.checkpoint_epoch else None
        if run.stop.is_set():  # the lease went while the checkpoint was fetched
            return self._stopped(run, joblog, started=False)
        resumed = int(resume_state["epoch"]) if resume_state else 0
        note = lambda text: joblog.system(text, trial_id)  # noqa: E731
        saver = CheckpointSaver(
            self.worker.hub,
            trial_id,
            run.attempt or 0,
            self.worker.local_dir / "checkpoints",
            every=self.worker.checkpoint_every if run.attempt is not None else 0,
            note=note,
            on_lease_lost=lambda reason: run.request_stop("lease"),
            resume_epoch=resumed,
            lease=run.secret,
        )
        self.worker.reporter = reporter = HubReporter(
            self.worker.outbox,
            job_id,
            trial_id,
            log_every=self.worker.log_every,
            attempt=run.attempt,
        )
        callbacks = CallbackList(
            [reporter, saver, *self.worker.callbacks],
            stop_event=run.stop,
            resume_state=resume_state,
        )
        extra = {"resumed_from_epoch": resumed} if resumed else {}
        self.worker.outbox.emit(
            M.TRIAL_STARTED, urgent=True, job_id=job_id, trial_id=trial_id, **run.lease, **extra
        )
        how = [f"attempt {run.attempt}"] if run.attempt and run.attempt > 1 else []
        how += [f"from the checkpoint at epoch {resumed}"] if resumed else []
        joblog.system(
            f"trial {trial_id} started{' (' + ', '.join(how) + ')' if how else ''}: {params}"
        )
        active = ActiveTrial(
            trial_id, params, callbacks, write=lambda text: joblog.line("stdout", text, trial_id)
        )
        try:
            try:
                with capture_output(joblog.sink, echo=self.worker.echo), active_trial(active):
                    callbacks.on_trial_start(trial_id, params)
                    returned = call_training_function(self.worker.train_fn, params, callbacks)
            finally:
                # the model supersedes a checkpoint still uploading: it is not waited for
                saver.close(wait=False)
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
            with capture_output(joblog.sink, echo=self.worker.echo):
                result = TrialResult.coerce(
                    returned, example_input=active.example_input, logged=reporter.metrics
                )
        except TrialResultError as exc:
            self._fail(run, exc, joblog, "the training function's result cannot be stored")
            return "failed"
        try:
            model = self._store_model(run, params, result, joblog)
        except LeaseLost as exc:
            joblog.system(
                f"trial {trial_id} stopped: the hub refused its model, the lease was lost "
                f"({exc}); its result is dropped"
            )
            return "lost"
        except Exception as exc:
            if self.worker.stopping.is_set() or run.stop.is_set():
                return self._stopped(run, joblog, started=True, saver=saver)
            self._fail(run, exc, joblog, "storing the model failed")
            return "failed"
        metrics = jsonable(result.metrics)
        callbacks.on_trial_end(trial_id, metrics)
        summary = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        joblog.system(f"trial {trial_id} finished: {summary}")
        self.worker.outbox.emit(
            M.TRIAL_FINISHED,
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
        if run.stopped_by == "worker" or (self.worker.stopping.is_set() and run.stopped_by is None):
            # Handed back: the hub re-queues the trial at once and offers this stopping worker
            # nothing more, so another worker resumes it without waiting for the grace period.
            kept = f"epoch {saver.stored[-1]}" if saver and saver.stored else "the start"
            joblog.system(
                f"trial {trial_id} handed back: the worker is stopping; another worker "
                f"resumes it from {kept}"
            )
            self.worker.outbox.emit(M.TRIAL_CANCELLED, urgent=True, **lease)
            return "abandoned"
        if run.stopped_by == "lease":
            if saver is not None and saver.lease_lost:
                joblog.system(
                    f"trial {trial_id} stopped: the lease was lost ({saver.lease_lost}); "
                    "its result is dropped"
                )
                return "lost"
            why = run.stop_reason or (
                "the job was cancelled, or the trial's lease went to another worker"
            )
            joblog.system(f"trial {trial_id} stopped by the hub ({why}); no result is stored")
            self.worker.outbox.emit(
                M.TRIAL_CANCELLED, urgent=True, **lease
            )  # ignored for an old lease
            return "cancelled"
        joblog.system(f"trial {trial_id} cancelled" + ("" if started else " before it started"))
        self.worker.outbox.emit(M.TRIAL_CANCELLED, urgent=True, **lease)
        return "cancelled"

    def _fetch_checkpoint(self, run: TrialRun, joblog: JobLog) -> dict[str, Any] | None:
        """The assignment's checkpoint, loaded; None (start over) when it cannot be had."""
        try:
            state = fetch_checkpoint(
                self.worker.hub,
                run.trial_id,
                self.worker.local_dir / "checkpoints",
                attempt=run.attempt,
                headers=run.lease_headers,
            )
        except LeaseLost as exc:
            joblog.system(f"trial {run.trial_id}: the lease is gone ({exc}); it is dropped")
            run.request_stop("lease")
            return None
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
        self._report_failure(run, joblog, f"{what}: {type(exc).__name__}: {exc}", tb)

    def _report_failure(self, run: TrialRun, joblog: JobLog, error: str, tb: str) -> None:
        """The trial failed: its traceback into its log, ``trial_failed`` to the hub."""
        for line in tb.rstrip("\n").split("\n"):
            joblog.line("stderr", line, run.trial_id)
        joblog.system(f"trial {run.trial_id} failed: {error}", run.trial_id)
        self.worker.outbox.emit(
            M.TRIAL_FAILED,
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
        trial_id = run.trial_id
        name = f"{trial_id}-a{run.attempt}.zip" if run.attempt is not None else f"{trial_id}.zip"
        path = private_dir(self.worker.local_dir / "models") / name
        metadata = result.save(path, params, trial_id, run.job_id)
        joblog.system(
            f"model exported ({metadata['program']}, {metadata['param_count']} parameters, "
            f"{path.stat().st_size} bytes, sha1 {metadata['sha1']})"
        )
        query: dict[str, Any] = {"sha256": metadata["sha256"], "attempt": run.attempt}
        model = self._upload_model(run, path, query, joblog)
        if not self.worker.keep_model_files:
            path.unlink(missing_ok=True)
        joblog.system(f"model {model.get('id', trial_id)} stored (sha256 {metadata['sha256']})")
        return model

    def _upload_model(
        self, run: TrialRun, path: Path, query: dict[str, Any], joblog: JobLog
    ) -> dict[str, Any]:
        """Upload the model until the hub stores it; the file stays on disk if it does not."""
        trial_id = run.trial_id
        waiting: dict[str, Any] = {
            "trial_id": trial_id,
            "attempt": run.attempt,
            "path": str(path),
            "bytes": path.stat().st_size,
            "since": None,
            "tries": 0,
            "last_error": None,
        }

        def note(text: str) -> None:
            waiting["tries"] += 1
            waiting["last_error"] = text
            if waiting["since"] is None:
                waiting["since"] = M.utc_now()
                self.worker.uploads[trial_id] = waiting
                joblog.system(
                    f"model of trial {trial_id} waiting to upload: {text}; it stays at {path} "
                    "and is uploaded when the hub answers"
                )
            elif waiting["tries"] in (2, 3) or waiting["tries"] % 10 == 0:
                joblog.system(text)

        try:
            answer = upload_file(
                self.worker.hub,
                f"models/{urllib.parse.quote(trial_id)}/file",
                path,
                query,
                what="model upload",
                content_type="application/zip",
                attempts=self.worker.upload_attempts,
                backoff=self.worker.upload_backoff,
                abort=run.stop,
                wake=self.worker.upload_wake,
                note=note,
                headers=run.lease_headers,
            )
        except (LeaseLost, Abandoned) as exc:
            why = "the trial's lease is gone" if isinstance(exc, LeaseLost) else "it was stopped"
            joblog.system(f"model of trial {trial_id} not stored ({why}); the file stays at {path}")
            raise
        except Exception as exc:
            joblog.system(
                f"model of trial {trial_id} not stored ({type(exc).__name__}: {exc}); the file "
                f"stays at {path}"
            )
            raise
        finally:
            self.worker.uploads.pop(trial_id, None)
        return answer if isinstance(answer, dict) else {"id": trial_id}
