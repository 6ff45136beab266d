"""Run a worker's trials on a Ray cluster: ``start_worker(..., executor=RayExecutor(...))``.

The worker stays one notebook worker with one link to the hub, one outbox and one folder; only
where each trial trains changes. It tells the hub how many trials it runs at once (its
``capacity``: the alive nodes' resources divided by ``resources_per_trial``, checked every
``monitor_interval`` seconds, with a ``capacity`` event when that or the nodes change) and the
hub leases it that many, each with its own lease. Each trial is a Ray streaming-generator task
(:mod:`.ray_task`) running the notebook's training function unchanged; its hooks, printed lines
and checkpoints come back in batches and are replayed here into the usual hub reporter,
checkpoint saver and job log, so the outbox (and its resend) carries them to the hub; its model
is exported on the cluster and its bytes uploaded from here as any other.

Cancel, prune, lease loss or a stopping worker: ``ray.cancel`` (the trial stops between
batches), forced after ``cancel_grace`` seconds. A Ray system error (a node or its process
died) hands the trial back with ``node_lost``: the hub re-queues it and it resumes from its
last uploaded checkpoint on any worker. The notebook's main thread never waits on Ray.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops import messages as M
from jupyter_mlops.kernel_client.hub_client import Abandoned, LeaseLost
from jupyter_mlops.kernel_client.worker.checkpoints import CheckpointSaver
from jupyter_mlops.kernel_client.worker.logtee import JobLog
from jupyter_mlops.kernel_client.worker.reporter import HubReporter
from jupyter_mlops.kernel_client.worker.trial import TrialExecution, TrialRun
from jupyter_mlops.private import private_dir

if TYPE_CHECKING:
    from jupyter_mlops.kernel_client.worker.worker import Worker

log = logging.getLogger(__name__)

INSTALL_HINT = 'RayExecutor needs Ray: pip install "jupyter_mlops[ray]"'
MAX_NODES_SHOWN = 64


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


class NodeLost(Exception):
    """The trial's Ray task died with its node or process (not an error of the training code)."""


class RayExecutor:
    """Runs a worker's trials as Ray tasks on the cluster at ``address``.

    ``address``: None starts a local Ray (or joins the one this process already has), "auto"
    joins the cluster of this machine, "ray://host:port" or "host:port" another. ``init_options``
    go to ``ray.init``. Each trial reserves ``resources_per_trial`` (e.g. ``{"GPU": 1}``).
    """

    def __init__(
        self,
        address: str | None = None,
        resources_per_trial: Mapping[str, float] | None = None,
        *,
        init_options: Mapping[str, Any] | None = None,
        flush_interval: float = 0.25,
        cancel_grace: float = 10.0,
        monitor_interval: float = 2.0,
    ) -> None:
        self.ray = import_ray()
        self.address = address
        self.resources_per_trial = dict(resources_per_trial or {"CPU": 1})
        self.init_options = dict(init_options or {})
        self.flush_interval = flush_interval
        self.cancel_grace = cancel_grace
        self.monitor_interval = monitor_interval
        self.running: dict[str, str] = {}  # trial id -> the node it runs on
        self._owns_ray = False
        self._worker: Worker | None = None
        self._sent: tuple[int, int, int] | None = None
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._task: Any = None
        self._last: dict[str, Any] = {}  # the cluster as last read

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, worker: Worker) -> None:
        """Join (or start) the cluster and watch its size for the worker."""
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_options)
            self._owns_ray = True
        from jupyter_mlops.kernel_client.worker.ray_task import run_trial_task

        self._task = ray.remote(run_trial_task).options(
            num_returns="streaming",
            max_retries=0,  # the hub re-queues a lost trial; it resumes from its checkpoint
            num_cpus=self.resources_per_trial.get("CPU", 0),
            num_gpus=self.resources_per_trial.get("GPU", 0),
            resources={k: v for k, v in self.resources_per_trial.items() if k not in ("CPU", "GPU")}
            or None,
            scheduling_strategy="SPREAD",
        )
        self._worker = worker
        self._sent = self._key(self.cluster())
        self._monitor = threading.Thread(target=self._watch, name="mlops-ray-monitor", daemon=True)
        self._monitor.start()

    def stop(self) -> None:
        """Stop watching; leave the cluster when this executor joined it."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(5.0)
        if self._owns_ray:
            with contextlib.suppress(Exception):
                self.ray.shutdown()

    def execution(self, worker: Worker) -> RayTrialExecution:
        return RayTrialExecution(worker, self)

    # -- the cluster --------------------------------------------------------------------------

    def cluster(self) -> dict[str, Any]:
        """What the hub shows of the cluster (docs/API.md, Clusters), with ``capacity``."""
        ray = self.ray
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        total: dict[str, float] = {}
        for node in nodes:
            for name, amount in (node.get("Resources") or {}).items():
                total[name] = total.get(name, 0.0) + float(amount)
        try:
            available = ray.available_resources()
        except Exception:  # the cluster is changing: say nothing of what is free
            available = {}
        from jupyter_mlops.kernel_client.worker.ray_task import node_label

        return {
            "engine": "ray",
            "ray": ray.__version__,
            "address": str(self.address or "local"),
            "capacity": self.capacity_of(total),
            "nodes_alive": len(nodes),
            "nodes": [
                {
                    "node": node_label(str(n.get("NodeManagerAddress")), str(n.get("NodeID"))),
                    "alive": True,
                    "CPU": (n.get("Resources") or {}).get("CPU", 0),
                    "GPU": (n.get("Resources") or {}).get("GPU", 0),
                }
                for n in nodes[:MAX_NODES_SHOWN]
            ],
            "resources_total": {k: total.get(k, 0) for k in ("CPU", "GPU")},
            "resources_available": {k: available.get(k, 0) for k in ("CPU", "GPU")},
            "per_trial": dict(self.resources_per_trial),
            "trials_running": len(self.running),
            "updated": M.utc_now(),
        }

    def capacity_of(self, total: Mapping[str, float]) -> int:
        """How many trials fit in ``total`` at once (at least 1: a trial waits for room)."""
        fits = [
            math.floor(total.get(name, 0.0) / need)
            for name, need in self.resources_per_trial.items()
            if need > 0
        ]
        return max(1, min(fits)) if fits else 1

    @staticmethod
    def _key(cluster: Mapping[str, Any]) -> tuple[int, int, int]:
        return (cluster["capacity"], cluster["nodes_alive"], cluster["trials_running"])

    def hello(self) -> dict[str, Any]:
        """The ``capacity`` and ``cluster`` of the worker's hello (the last ones known when
        the cluster cannot be read now: the hello must not wait for Ray)."""
        try:
            self._last = self.cluster()
        except Exception:
            log.warning("the Ray cluster could not be read for the hello", exc_info=True)
        cluster = dict(self._last)
        return {"capacity": cluster.pop("capacity", 1), "cluster": cluster or None}

    def _watch(self) -> None:
        """Send a ``capacity`` event when the cluster's size, its nodes or the trials change."""
        while not self._stop.wait(self.monitor_interval):
            self.report()

    def report(self, force: bool = False) -> None:
        """Tell the hub the cluster now, if it changed (or ``force``)."""
        worker = self._worker
        if worker is None or worker.stopping.is_set():
            return
        try:
            cluster = self.cluster()
        except Exception:  # Ray is reconnecting: try again at the next tick
            log.debug("the Ray cluster could not be read", exc_info=True)
            return
        key = self._key(cluster)
        if force or key != self._sent:
            self._sent = key
            worker.outbox.emit(
                M.CAPACITY, urgent=True, capacity=cluster.pop("capacity"), cluster=cluster
            )

    # -- one trial ----------------------------------------------------------------------------

    def submit(self, train_fn: Any, params: dict[str, Any], run: TrialRun, resume: Any) -> Any:
        """Start the trial's task; return its stream (an ``ObjectRefGenerator``)."""
        return self._task.remote(
            train_fn, params, run.trial_id, run.job_id, resume, self.flush_interval
        )

    def next_item(self, stream: Any, run: TrialRun) -> dict[str, Any] | None:
        """The stream's next item, waiting while the trial runs; ``ray.cancel`` once the run
        is asked to stop (forced after ``cancel_grace`` s). None: the stream ended."""
        ray = self.ray
        cancelled_at: float | None = None
        while True:
            if run.stop.is_set() and cancelled_at is None:
                cancelled_at = time.monotonic()
                with contextlib.suppress(Exception):
                    ray.cancel(stream, force=False)
            elif cancelled_at is not None and time.monotonic() - cancelled_at > self.cancel_grace:
                with contextlib.suppress(Exception):
                    ray.cancel(stream, force=True)
                return None
            ready, _ = ray.wait([stream], timeout=0.25)
            if not ready:
                continue
            try:
                ref = next(stream)
            except StopIteration:
                return None
            try:
                item: dict[str, Any] = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                if run.stop.is_set():
                    return None  # the KeyboardInterrupt of our cancel
                raise RuntimeError(f"the trial's Ray task failed: {exc}") from exc
            except ray.exceptions.TaskCancelledError:
                return None
            except ray.exceptions.RayError as exc:
                if run.stop.is_set():
                    return None
                raise NodeLost(f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
            return item


class RayTrialExecution(TrialExecution):
    """Runs one trial as a Ray task: the usual reporter, saver and job log, fed from the
    task's stream; the model file comes back as bytes and is uploaded from here."""

    def __init__(self, worker: Worker, executor: RayExecutor) -> None:
        super().__init__(worker)
        self.executor = executor

    def run(self, run: TrialRun, joblog: JobLog) -> str:
        """Run one trial on the cluster; returns finished, failed, cancelled, lost, abandoned
        or handed back (its node was lost)."""
        worker, trial_id = self.worker, run.trial_id
        if run.stop.is_set():
            return self._stopped(run, joblog, started=False)
        params = {**worker.defaults, **run.params}
        resume_state = self._fetch_checkpoint(run, joblog) if run.checkpoint_epoch else None
        if run.stop.is_set():
            return self._stopped(run, joblog, started=False)
        resumed = int(resume_state["epoch"]) if resume_state else 0
        saver = CheckpointSaver(
            worker.hub,
            trial_id,
            run.attempt or 0,
            worker.local_dir / "checkpoints",
            every=worker.checkpoint_every if run.attempt is not None else 0,
            note=lambda text: joblog.system(text, trial_id),
            on_lease_lost=lambda reason: run.request_stop("lease"),
            resume_epoch=resumed,
            lease=run.secret,
        )
        worker.reporter = reporter = HubReporter(
            worker.outbox, run.job_id, trial_id, log_every=worker.log_every, attempt=run.attempt
        )
        local = [reporter, saver, *worker.callbacks]  # hooks replayed here, never stopping
        stream = self.executor.submit(worker.train_fn, params, run, resume_state)
        node: str | None = None
        try:
            first = self.executor.next_item(stream, run)
            if first is None:
                return self._stopped(run, joblog, started=False, saver=saver)
            node = str(first.get("node"))
            self.executor.running[trial_id] = node
            extra = {"resumed_from_epoch": resumed} if resumed else {}
            worker.outbox.emit(
                M.TRIAL_STARTED,
                urgent=True,
                job_id=run.job_id,
                trial_id=trial_id,
                **run.lease,
                node=node,
                **extra,
            )
            how = [f"attempt {run.attempt}"] if run.attempt and run.attempt > 1 else []
            how += [f"from the checkpoint at epoch {resumed}"] if resumed else []
            joblog.system(
                f"trial {trial_id} started on Ray node {node}"
                f"{' (' + ', '.join(how) + ')' if how else ''}: {params}",
                trial_id,
            )
            for callback in local:
                callback.on_trial_start(trial_id, params)
            outcome = self._follow(stream, run, joblog, local)
        except NodeLost as exc:
            saver.close(wait=True, timeout=60.0)  # its last checkpoint is where it resumes
            kept = f"epoch {saver.stored[-1]}" if saver.stored else "the start"
            joblog.system(
                f"trial {trial_id}: its Ray node {node or 'unknown'} was lost ({exc}); handed "
                f"back to the hub, to resume from {kept} on any worker",
                trial_id,
            )
            worker.outbox.emit(
                M.TRIAL_CANCELLED,
                urgent=True,
                job_id=run.job_id,
                trial_id=trial_id,
                **run.lease,
                node_lost=node or "unknown",
            )
            return "handed back"
        except Exception as exc:
            saver.close(wait=False)
            if run.stop.is_set() or worker.stopping.is_set():  # e.g. Ray shut down meanwhile
                return self._stopped(run, joblog, started=node is not None, saver=saver)
            self._fail(run, exc, joblog, "the trial could not run on the cluster")
            return "failed"
        finally:
            self.executor.running.pop(trial_id, None)
        saver.close(wait=False)  # the model supersedes a checkpoint still uploading
        if outcome is None or outcome.get("stopped") or run.stop.is_set():
            return self._stopped(run, joblog, started=True, saver=saver)
        if "error" in outcome:
            return self._remote_failure(run, outcome, joblog)
        return self._finish(run, outcome, local, joblog)

    def _follow(
        self, stream: Any, run: TrialRun, joblog: JobLog, local: list[Any]
    ) -> dict[str, Any] | None:
        """Replay the task's batches until its outcome (None: it stopped)."""
        while (item := self.executor.next_item(stream, run)) is not None:
            if "outcome" in item:
                return dict(item["outcome"])
            for entry in item.get("items") or []:
                self._replay(entry, run, joblog, local)
        return None

    def _replay(self, entry: tuple[Any, ...], run: TrialRun, joblog: JobLog, local: list) -> None:
        kind = entry[0]
        if kind == "line":
            joblog.line(str(entry[1]), str(entry[2]), run.trial_id)
        elif kind == "hook":
            for callback in local:
                getattr(callback, entry[1])(*entry[2])
        elif kind == "checkpoint":
            import io

            import torch

            state = torch.load(io.BytesIO(entry[2]), weights_only=True)
            for callback in local:
                callback.on_checkpoint(state)

    def _remote_failure(self, run: TrialRun, outcome: dict[str, Any], joblog: JobLog) -> str:
        tb = str(outcome.get("traceback") or "")
        self._report_failure(run, joblog, str(outcome["error"]), tb)
        return "failed"

    def _finish(
        self, run: TrialRun, outcome: dict[str, Any], local: list[Any], joblog: JobLog
    ) -> str:
        """Upload the model exported on the cluster; report the trial finished."""
        trial_id, metadata = run.trial_id, outcome["metadata"]
        name = f"{trial_id}-a{run.attempt}.zip" if run.attempt is not None else f"{trial_id}.zip"
        path = private_dir(self.worker.local_dir / "models") / name
        Path(path).write_bytes(outcome["model"])
        joblog.system(
            f"model exported on the cluster ({metadata.get('program')}, "
            f"{metadata.get('param_count')} parameters, {len(outcome['model'])} bytes, "
            f"sha1 {metadata.get('sha1')})",
            trial_id,
        )
        query: dict[str, Any] = {"sha256": metadata["sha256"], "attempt": run.attempt}
        try:
            model = self._upload_model(run, path, query, joblog)
        except LeaseLost as exc:
            joblog.system(
                f"trial {trial_id} stopped: the hub refused its model, the lease was lost "
                f"({exc}); its result is dropped",
                trial_id,
            )
            return "lost"
        except Exception as exc:
            if self.worker.stopping.is_set() or run.stop.is_set() or isinstance(exc, Abandoned):
                return self._stopped(run, joblog, started=True)
            self._fail(run, exc, joblog, "storing the model failed")
            return "failed"
        if not self.worker.keep_model_files:
            path.unlink(missing_ok=True)
        joblog.system(f"model {model.get('id', trial_id)} stored (sha256 {metadata['sha256']})")
        metrics = outcome.get("metrics") or {}
        for callback in local:
            callback.on_trial_end(trial_id, metrics)
        summary = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        joblog.system(f"trial {trial_id} finished: {summary}", trial_id)
        self.worker.outbox.emit(
            M.TRIAL_FINISHED,
            urgent=True,
            job_id=run.job_id,
            trial_id=trial_id,
            **run.lease,
            model_id=model.get("id", trial_id),
            metrics=metrics,
        )
        return "finished"
