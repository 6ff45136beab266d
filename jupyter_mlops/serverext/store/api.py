"""The storage interface: what the hub, the deployment policy and the handlers ask a store.

``MLOpsApp.store_class`` must name a subclass (the default, ``Store``, keeps everything in
SQLite). A store is built with its root folder, ``store_class(root)``. Methods are grouped by
entity; each raises ``NotFound`` for an unknown id, ``Conflict`` when the request contradicts
what is stored and ``InvalidInput`` for a malformed argument (see ``errors.py``). Rows are
plain JSON-ready dicts, shaped as docs/API.md describes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

Row = dict[str, Any]
#: A lease: (job id, trial id), or (worker id, trial id) where a method says so.
Lease = tuple[int, str]
#: The deploy gate as the store calls it: ``judge(model, champion)`` with both Models and their
#: full ``evaluation`` (champion None when nothing is deployed) returns the decision's fields
#: (``deployed``, ``reason``, ``metric``, ... as the Decision object in docs/API.md).
Judge = Callable[[Row, Row | None], Row]


class Applied(NamedTuple):
    """What applying a batch of worker events changed."""

    last_seq: int
    notifications: list[Row]  # ``log``, ``metric`` and ``job`` messages for subscribers
    jobs_changed: set[int]
    idle: bool  # the worker has room for another trial now (a plain worker: it holds none)
    handed_back: bool  # it gave a trial back without a job cancel (it is stopping)
    problems: list[str]  # events skipped as malformed
    #: (job, trial, step, value) of every stored point of a search's metric, in order (the
    #: hub reports them to the search's pruner)
    reports: tuple[tuple[int, str, int, float], ...] = ()
    capacity_changed: bool = False  # it said how many trials it runs at once now


class MLOpsStore(ABC):
    """Workers, jobs, trials (leases), logs, metrics, models and deployments."""

    # ---------------------------------------------------------------- lifecycle
    @abstractmethod
    def close(self) -> None:
        """Release the store's files (the server is stopping)."""

    # ------------------------------------------------------------------ workers
    @abstractmethod
    def register_worker(
        self,
        *,
        name: str,
        session: str,
        notebook: str,
        defaults: dict[str, Any],
        device: str,
        versions: dict[str, Any],
        token_id: int | None = None,
        capacity: int = 1,
        cluster: dict[str, Any] | None = None,
    ) -> tuple[Row, list[Lease]]:
        """Bring a worker session online; return the Worker and the (job, trial) leases it
        dropped (a new session taking over an offline worker of the same name). ``session``
        is the worker's secret (kept hashed), bound to ``token_id`` (None: the Jupyter
        credential): Forbidden when it was registered with another credential. ``capacity``:
        how many trials it runs at once (``cluster``: a cluster's worker's description)."""

    @abstractmethod
    def set_worker_offline(self, worker_id: int) -> Row:
        """Mark the worker offline now; return it. NotFound for an unknown id."""

    @abstractmethod
    def mark_all_workers_offline(self) -> None:
        """At start-up no link is open: every worker is offline."""

    @abstractmethod
    def get_worker(self, worker_id: int) -> Row:
        """The Worker with this id; NotFound otherwise."""

    @abstractmethod
    def find_worker(self, name: str) -> Row:
        """The Worker with this name; NotFound otherwise."""

    @abstractmethod
    def list_workers(self) -> list[Row]:
        """Every Worker not forgotten, online ones first."""

    @abstractmethod
    def forget_worker(self, worker_id: int) -> tuple[Row, list[Lease]]:
        """Forget an offline worker; return it and the (job, trial) leases it released.
        NotFound, or Conflict while it is online."""

    # --------------------------------------------------------------------- jobs
    @abstractmethod
    def create_job(
        self,
        requested_worker: str | list[str],
        conf: dict[str, Any],
        trials: list[dict[str, Any]],
        search: dict[str, Any] | None = None,
        budget: int | None = None,
    ) -> Row:
        """Queue a job with one pending trial per params dict; return the Job. ``search`` is
        kept with it (see ``job_search``); a random or TPE search is created with no trial
        and ``budget`` as its ``trial_count``."""

    @abstractmethod
    def get_job(self, job_id: int, trials: bool = True) -> Row:
        """The Job (with its ``trials`` unless ``trials=False``); NotFound otherwise."""

    @abstractmethod
    def job_update(self, job_id: int, trial_ids: Iterable[str] | None = None) -> Row:
        """What a ``job`` notification carries: the Job without its ``conf`` and with only the
        trials named in ``trial_ids``; the whole Job when None. NotFound for an unknown job."""

    @abstractmethod
    def list_jobs(self, limit: int = 200) -> list[Row]:
        """Jobs newest first, without their trials."""

    @abstractmethod
    def request_cancel(self, job_id: int) -> tuple[Row, list[Lease]]:
        """Cancel a job's pending trials; return the Job and the (worker, trial) leases to
        stop. NotFound for an unknown job, Conflict when it already ended."""

    @abstractmethod
    def cancel_trial(self, trial_id: str, reason: str) -> None:
        """End a running trial as cancelled from the hub's side. NotFound for an unknown id."""

    @abstractmethod
    def retry_job(self, job_id: int) -> Row:
        """Put the job's failed trials back to pending; return the Job. NotFound, or Conflict
        when none failed."""

    @abstractmethod
    def job_logs(self, job_id: int, after: int = 0, limit: int = 10_000) -> list[Row]:
        """The job's LogLines with ``seq > after``, in order. NotFound for an unknown job."""

    @abstractmethod
    def job_metrics(self, job_id: int, after: int = 0, limit: int = 100_000) -> list[Row]:
        """The job's MetricPoints with ``seq > after``, in order. NotFound for an unknown job."""

    # ------------------------------------------------------------ trial leases
    @abstractmethod
    def assign_next_trial(self, worker_id: int) -> tuple[Row, Row] | None:
        """Lease the oldest pending trial this idle worker accepts; return (Job without its
        trials, Trial), or None when the worker is busy or offline or nothing fits."""

    @abstractmethod
    def leased_workers(self) -> list[int]:
        """Ids of the workers that hold a running trial."""

    @abstractmethod
    def held_trials(self, worker_id: int) -> list[tuple[str, int]]:
        """(trial id, attempt) of every running trial leased to the worker."""

    @abstractmethod
    def release_worker_trials(self, worker_id: int, reason: str) -> list[Lease]:
        """Put the worker's running trials back to pending; return their (job, trial) ids."""

    @abstractmethod
    def check_lease(
        self,
        trial_id: str,
        attempt: int | None,
        lease: str | None,
        token_id: int | None = None,
        sha256: str | None = None,
    ) -> Row:
        """The Trial when ``attempt`` and the ``lease`` secret are the current lease of the
        running trial. NotFound; Forbidden when no lease is shown or ``token_id`` is not the
        holder's credential; else Conflict with ``detail.reason == "lease_lost"``. With
        ``sha256`` (a model upload) the same file again from the lease that stored it passes."""

    @abstractmethod
    def set_checkpoint(
        self,
        trial_id: str,
        attempt: int | None,
        lease: str | None,
        epoch: int,
        sha256: str,
        token_id: int | None = None,
    ) -> tuple[Row, str | None]:
        """Record the trial's newest checkpoint; return the Trial and the sha256 it replaced.
        As ``check_lease`` otherwise."""

    @abstractmethod
    def drop_finished_checkpoints(self) -> list[str]:
        """Forget the checkpoints of finished trials; return their sha256s."""

    @abstractmethod
    def checkpoint_of(self, trial_id: str) -> tuple[str, int]:
        """(sha256, epoch) of the trial's checkpoint; NotFound when it has none."""

    @abstractmethod
    def blob_in_use(self, sha256: str) -> bool:
        """Whether a model or a checkpoint still refers to this file."""

    # ------------------------------------------------------------ worker events
    @abstractmethod
    def apply_events(self, worker_id: int, events: list[Any], notify: bool = True) -> Applied:
        """Persist a worker's event batch at once (a resend is harmless); return what changed
        (subscriber messages only when ``notify``). NotFound for an unknown worker."""

    # ----------------------------------------------------------------- searches
    @abstractmethod
    def job_search(self, job_id: int) -> Row | None:
        """The job's stored search (``spec``, ``space``, ``fixed``, ``study``), or None.
        NotFound for an unknown job."""

    @abstractmethod
    def search_jobs(self, open_only: bool = True) -> list[Row]:
        """Random and TPE jobs, oldest first (``open_only``: queued or running and not
        cancelled): ``id``, ``search``, ``budget``, ``asked`` and ``active`` trial counts."""

    @abstractmethod
    def add_search_trial(self, job_id: int, number: int, params: dict[str, Any]) -> Row:
        """Record a pending trial ``<job>-<number>`` that the job's study asked; return it.
        NotFound; Conflict when recorded already or the job is no open search."""

    @abstractmethod
    def prune_trial(self, trial_id: str, reason: str, epoch: int) -> Row | None:
        """End a running trial without a stored model ``pruned`` at ``epoch`` (the step the
        pruner judged), its worker free at once; return it, or None when it is not running or
        has a model. NotFound otherwise."""

    @abstractmethod
    def accepting_workers(self, job_id: int) -> list[int]:
        """Ids of the online workers that accept the job."""

    # ------------------------------------------------------------------- models
    @abstractmethod
    def check_model_id(self, model_id: str) -> Row:
        """The Trial a model upload is for. InvalidInput for a malformed id, NotFound."""

    @abstractmethod
    def add_model(
        self,
        trial_id: str,
        sha256: str,
        size: int,
        metadata: dict[str, Any],
        attempt: int | None,
        lease: str | None,
        token_id: int | None = None,
    ) -> tuple[Row, bool]:
        """Record a trial's model from its current lease; return (Model, created). As
        ``check_lease`` otherwise (a different file for a trial with a model: lease_lost)."""

    @abstractmethod
    def get_model(self, model_id: str, evaluation: bool = False) -> Row:
        """The Model, its ``evaluation`` only ``{n, fingerprint}`` unless ``evaluation`` (then
        with the per-example results); NotFound otherwise."""

    @abstractmethod
    def model_decisions(self, model_id: str) -> list[Row]:
        """Every Decision on the model, newest first. NotFound for an unknown model."""

    @abstractmethod
    def list_models(self) -> list[Row]:
        """Every Model, newest job first, then by trial index."""

    @abstractmethod
    def delete_all_models(self) -> tuple[int, list[str]]:
        """Delete every model and the deployment history; return (count, freed sha256s)."""

    # ------------------------------------------------------------------- tokens
    @abstractmethod
    def create_token(self, name: str, scope: str) -> tuple[Row, str]:
        """Issue a scoped token ("worker" or "predict"); return the Token and its secret (only
        its hash is kept). InvalidInput for a bad name or scope."""

    @abstractmethod
    def get_token(self, token_id: int) -> Row:
        """The Token (never its secret); NotFound otherwise."""

    @abstractmethod
    def list_tokens(self) -> list[Row]:
        """Every Token, newest first."""

    @abstractmethod
    def revoke_token(self, token_id: int) -> tuple[Row, list[int]]:
        """Revoke a token; return it and the ids of the workers registered with it."""

    @abstractmethod
    def token_for_secret(self, secret: str) -> Row | None:
        """The valid Token with this secret, or None; its ``last_used`` is updated."""

    # -------------------------------------------------------------- consistency
    @abstractmethod
    def consistency_problems(self) -> list[str]:
        """What contradicts itself (a job's status and its trials, a trial and its model,
        a deployment and its model); empty when the store is consistent."""

    # -------------------------------------------------------------------- files
    @abstractmethod
    def stored_files(self) -> list[Row]:
        """Every file the store refers to: ``kind`` ("model" or "checkpoint"), ``id`` (the
        model or trial), ``sha256``, ``size`` (None for checkpoints), ``damaged``."""

    @abstractmethod
    def mark_model_damaged(self, model_id: str, reason: str | None) -> Row:
        """Record why the model's file cannot be used (None: it is fine); return the Model.
        A damaged model is never served, deployed or downloaded. NotFound otherwise."""

    @abstractmethod
    def forget_checkpoint(self, trial_id: str) -> None:
        """Forget a trial's checkpoint (its file is gone): it resumes from the start."""

    # -------------------------------------------------------------- deployments
    @abstractmethod
    def deploy(self, model_id: str, judge: Judge) -> Row:
        """Deploy the model by hand, whatever ``judge`` says against the champion; record its
        decision (kind "manual", ``deployed`` true); return the Deployment. NotFound, or
        Conflict for a legacy or damaged model."""

    @abstractmethod
    def judge_and_deploy(self, model_id: str, judge: Judge) -> tuple[Row, Row | None]:
        """Compare-and-set in one transaction: load the champion (the model deployed now),
        ``judge(model, champion)``, record the decision (kind "auto") and deploy the model
        when it says ``deployed``; return (Decision, Deployment or None). NotFound."""

    @abstractmethod
    def current_deployment(self) -> Row | None:
        """The latest Deployment, or None."""

    @abstractmethod
    def deployment_history(self, limit: int = 1000) -> list[Row]:
        """Deployments newest first."""
