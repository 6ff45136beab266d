"""The typed objects :class:`jupyter_mlops.Client` returns, one per resource of the REST API.

Each is a dataclass with the fields ``docs/API.md`` documents; anything the hub sends that a
class does not name (a newer field) stays in ``extra``, so an older client never drops it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

#: Job statuses after which nothing changes any more.
ENDED = ("finished", "failed", "cancelled")


def build(cls: type[T], data: dict[str, Any]) -> T:
    """An instance of the dataclass ``cls`` from an API object (unknown keys go to ``extra``)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    known = {k: v for k, v in data.items() if k in names and k != "extra"}
    extra = {k: v for k, v in data.items() if k not in names}
    return cls(**known, extra=extra)  # type: ignore[call-arg]


@dataclasses.dataclass
class Worker:
    """A notebook (or Ray) worker of the hub."""

    id: int
    name: str
    online: bool = False
    status: str = "offline"
    device: str = ""
    notebook: str | None = None
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    current_job: int | None = None
    current_trial: str | None = None
    last_seen: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Trial:
    """One grid point (or search trial) of a job."""

    id: str
    job_id: int
    index: int
    status: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    worker_name: str | None = None
    attempt: int = 0
    epoch: int | None = None
    epochs: int | None = None
    batch: int | None = None
    batches: int | None = None
    error: str | None = None
    model_id: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Job:
    """A grid or search launched on the hub; ``trials`` only from ``Client.job``."""

    id: int
    status: str
    worker: Any = "any"
    conf: dict[str, Any] = dataclasses.field(default_factory=dict)
    trial_count: int = 0
    trials_done: int = 0
    progress: float = 0.0
    error: str | None = None
    workers: list[str] = dataclasses.field(default_factory=list)
    created: str | None = None
    finished: str | None = None
    trials: list[Trial] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ended(self) -> bool:
        """Whether the job has ended (finished, failed or cancelled)."""
        return self.status in ENDED


def job(data: dict[str, Any]) -> Job:
    """A :class:`Job` with its :class:`Trial` objects."""
    built = build(Job, {k: v for k, v in data.items() if k != "trials"})
    built.trials = [build(Trial, t) for t in data.get("trials") or []]
    return built


@dataclasses.dataclass
class Model:
    """A stored model (one per trial)."""

    id: str
    job_id: int
    sha1: str
    sha256: str
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    hyperparameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    deployed: bool = False
    size: int = 0
    param_count: int | None = None
    classes: list[str] = dataclasses.field(default_factory=list)
    created: str | None = None
    damaged: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Deployment:
    """One row of the deployment history (the newest is what is deployed)."""

    id: int
    model_id: str
    sha1: str
    reason: str
    time: str
    metric: str | None = None
    metric_value: Any = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Token:
    """A scoped token (``worker`` or ``predict``); its secret is never listed."""

    id: int
    name: str
    scope: str
    created: str | None = None
    last_used: str | None = None
    revoked: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class NewToken:
    """A token just issued: its ``secret`` (shown this once) and the lines to paste."""

    token: Token
    secret: str = dataclasses.field(repr=False)
    setup: list[str] = dataclasses.field(default_factory=list, repr=False)


@dataclasses.dataclass
class SearchSummary:
    """Where a job stands against its metric: the best trial so far and the counts."""

    job_id: int
    status: str
    metric: str
    direction: str
    method: str
    trial_count: int
    by_status: dict[str, int]
    best_trial: Trial | None = None
    best_value: float | None = None
    importance: dict[str, float] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
