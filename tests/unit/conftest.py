"""Fixtures for the unit tier, built as a chain: store root -> store -> hub.

The hub runs on a real Store in ``tmp_path`` with fakes around it: a ``FakeLink`` per worker
that records what the hub sends, a ``ManualClock`` whose timers the test fires by hand, and a
subscriber that records every notification. No sockets, no sleeps.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.messages import (
    CANCEL,
    HELLO,
    JOB,
    JOB_FINISHED,
    LOG,
    METRIC,
    PROGRESS,
    TRIAL_FINISHED,
    TRIAL_STARTED,
)
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.deployment import DeploymentPolicy
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.store import Store
from tests.support.fake_hub import FakeHub

Message = dict[str, Any]
DEFAULTS = {"EPOCHS": 1, "LR": 0.01}
GRACE_SECONDS = 60.0


class FakeLink:
    """A worker's link: records every message the hub sends on it."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.closed = False

    def send(self, message: Message) -> None:
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True

    def of_type(self, kind: str) -> list[Message]:
        return [m for m in self.sent if m["type"] == kind]


class ManualTimer:
    """A timer that runs only when the test fires it."""

    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback = delay, callback
        self.cancelled = self.fired = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        assert not self.cancelled and not self.fired
        self.fired = True
        self.callback()


class ManualClock:
    """The hub's ``schedule(delay, callback)``: keeps the timers for the test to fire."""

    def __init__(self) -> None:
        self.timers: list[ManualTimer] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(delay, callback)
        self.timers.append(timer)
        return timer

    @property
    def pending(self) -> list[ManualTimer]:
        return [t for t in self.timers if not t.cancelled and not t.fired]

    def fire_all(self) -> None:
        for timer in self.pending:
            timer.fire()


class Subscriber:
    """An events-websocket subscriber: decodes and keeps every frame."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, frame: str) -> None:
        self.messages.append(json.loads(frame))

    def of_type(self, kind: str) -> list[Message]:
        return [m for m in self.messages if m["type"] == kind]


class ScriptedWorker:
    """A worker driven by the test through the Hub API, with its own ``seq`` counter."""

    def __init__(self, hub: Hub, name: str, defaults: dict[str, Any] | None = None) -> None:
        self.hub, self.name, self.session = hub, name, f"session-{name}"
        self.defaults = DEFAULTS if defaults is None else defaults
        self.seq = 0
        self.link = FakeLink()
        self.id = self.connect()

    def connect(self) -> int:
        hello = {"type": HELLO, "name": self.name, "session": self.session}
        return self.hub.connect_worker(self.link, {**hello, "defaults": self.defaults})

    def reconnect(self) -> None:
        """A new link for the same session (the old one closed)."""
        self.link = FakeLink()
        self.id = self.connect()

    def disconnect(self) -> None:
        self.hub.disconnect_worker(self.id, self.link)

    def event(self, kind: str, trial: Message | None = None, **fields: Any) -> Message:
        """One event about ``trial`` (an assignment entry) or the current job."""
        self.seq += 1
        job_id = fields.pop("job_id", None)
        event = {"seq": self.seq, "type": kind, **fields}
        if trial is not None:
            job_id = int(trial["id"].split("-")[0])
            event.update(trial_id=trial["id"], attempt=trial["attempt"])
        event["job_id"] = job_id
        return event

    def send(self, *events: Message) -> None:
        self.hub.worker_events(self.id, self.link, list(events))

    def assignments(self) -> list[Message]:
        """Every trial handed to this link, in order (``id``, ``attempt``, ...)."""
        return [t for m in self.link.of_type(JOB) for t in m["job"]["trials"]]

    def cancels(self) -> list[tuple[int, str]]:
        return [(m["job_id"], m["trial_id"]) for m in self.link.of_type(CANCEL)]

    def run(self, trial: Message, accuracy: float = 0.5) -> None:
        """Train ``trial`` to the end: started, a log line, a metric, progress, finished."""
        self.send(
            self.event(TRIAL_STARTED, trial),
            self.event(LOG, trial, stream="stdout", text=f"training {trial['id']}"),
            self.event(METRIC, trial, name="loss", step=1, value=0.25),
            self.event(PROGRESS, trial, epoch=1, epochs=1, batch=1, batches=1),
            self.event(
                TRIAL_FINISHED,
                trial,
                model_id=trial["id"],
                metrics={"test_accuracy": accuracy},
            ),
        )
        self.send(self.event(JOB_FINISHED, job_id=int(trial["id"].split("-")[0])))


def register(store: Store, name: str, defaults: dict[str, Any] | None = None) -> int:
    """Bring a worker online in the store alone; return its id."""
    worker, _ = store.register_worker(
        name=name,
        session=f"session-{name}",
        notebook=f"{name}.ipynb",
        defaults=DEFAULTS if defaults is None else defaults,
        device="cpu",
        versions={},
    )
    return worker["id"]


def model_metadata(**metrics: float) -> dict[str, Any]:
    """What ``read_metadata`` returns for an uploaded model file, minus the file."""
    return {
        "sha1": hashlib.sha1(json.dumps(metrics).encode()).hexdigest(),
        "classes": ["cat", "dog"],
        "input_size": [3, 16, 16],
        "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3},
        "program": "onnx",
        "param_count": 10,
        "metrics": metrics,
    }


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def mlops_root(tmp_path: Path) -> Path:
    """The store's root folder (mlops.db, blobs/)."""
    return tmp_path / "mlops"


@pytest.fixture
def mlops_store(mlops_root: Path) -> Iterator[Store]:
    """A real SQLite store on a fresh root."""
    store = Store(mlops_root)
    yield store
    store.close()


@pytest.fixture
def mlops_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def mlops_subscriber() -> Subscriber:
    return Subscriber()


@pytest.fixture
def mlops_hub(
    mlops_store: Store, mlops_root: Path, mlops_clock: ManualClock, mlops_subscriber: Subscriber
) -> Iterator[Hub]:
    """A started Hub on the store, auto-deploying on test_accuracy, with one subscriber."""
    hub = Hub(
        mlops_store,
        BlobStore(mlops_root / "blobs"),
        DeploymentPolicy(),
        grace_seconds=GRACE_SECONDS,
        schedule=mlops_clock,
        log=logging.getLogger("tests.unit.hub"),
    )
    hub.start()
    hub.subscribe(mlops_subscriber)
    yield hub
    hub.stop()


@pytest.fixture
def mlops_worker(mlops_hub: Hub) -> Callable[..., ScriptedWorker]:
    """Connect a scripted worker by name: ``mlops_worker("a")``."""

    def connect(name: str, defaults: dict[str, Any] | None = None) -> ScriptedWorker:
        return ScriptedWorker(mlops_hub, name, defaults)

    return connect


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """An in-process fake of the hub's worker side (tests/support/fake_hub.py), for real
    Worker objects."""
    fake = FakeHub().start()
    yield fake
    fake.stop()
