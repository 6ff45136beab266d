"""Bad worker frames: each is answered with an ``error`` message and the link stays open.

Before, seven kinds of frame closed the worker's link with no word (an uncaught exception in
the handler): events that are not objects, missing or mistyped fields, integers the store
cannot hold, non-finite numbers, deep nesting and unknown types. NaN is not an error: it is
kept and sent back as the text ``"NaN"``, so every REST answer stays valid JSON.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.support.api import call
from tests.support.fake_worker import FakeWorker, log_event

CONF = {"EPOCHS": 1, "LEARNING_RATE": [0.1, 0.2]}


def strict_json(raw: bytes | str) -> Any:
    """Parse as a browser's ``JSON.parse`` would: a bare NaN or Infinity is an error."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(raw, parse_constant=refuse)


async def strict_get(jp_fetch: Any, path: str) -> Any:
    response = await jp_fetch("mlops", "api", *path.split("/"), method="GET")
    return strict_json(response.body)


class Session:
    """A fake worker holding the first trial of a job; every event gets the next seq."""

    def __init__(self, worker: FakeWorker, job_id: int) -> None:
        self.worker, self.job_id, self.trial_id = worker, job_id, f"{job_id}-0"
        self.seqs = itertools.count(1)

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        base = {"seq": next(self.seqs), "type": kind, "job_id": self.job_id}
        base.update(trial_id=self.trial_id, attempt=1)
        return {**base, **fields}

    async def error_for(self, frame: str) -> dict[str, Any]:
        """Send a raw frame; return the hub's ``error`` answer (acks before it are skipped)."""
        await self.worker.ws.write_message(frame)
        return await self.worker.receive_type("error")

    async def still_open(self, text: str) -> None:
        """The link still works: a log line is acked and stored."""
        ack = await self.worker.send_events([self.event("log", text=text, stream="stdout")])
        assert ack["type"] == "ack"


async def open_session(jp_fetch: Any, jp_ws_fetch: Any) -> Session:
    """A worker ``w`` holding the first trial of a fresh job."""
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "w", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "w", "conf": CONF})
    assert (await worker.receive_type("job"))["job"]["id"] == job["id"]
    return Session(worker, job["id"])


def _events(*events: Any) -> str:
    return json.dumps({"type": "events", "events": list(events)})


BAD_EVENTS: dict[str, Any] = {
    "non-object events": lambda s: _events(1, "x", None, [1]),
    "events not a list": lambda s: json.dumps({"type": "events", "events": {"seq": 1}}),
    "missing trial_id": lambda s: _events(s.event("progress", trial_id=None, epoch=1)),
    "missing job_id": lambda s: _events({"seq": next(s.seqs), "type": "log", "text": "x"}),
    "unhashable type": lambda s: _events(s.event(["log"], text="x")),
    "unhashable trial id": lambda s: _events(s.event("progress", trial_id=[1], epoch=1)),
    "object epoch": lambda s: _events(s.event("progress", epoch={"a": 1}, epochs=2)),
    "text epoch": lambda s: _events(s.event("progress", epoch="<b>1</b>", epochs=2)),
    "object model id": lambda s: _events(s.event("trial_failed", error="x", model_id={})),
    "list error": lambda s: _events(s.event("trial_failed", error=["x"])),
    "huge job id": lambda s: _events({**s.event("log", text="x"), "job_id": 2**64}),
    "huge seq": lambda s: _events({**s.event("log", text="x"), "seq": 2**63}),
    "huge step": lambda s: _events(s.event("metric", name="loss", step=2**70, value=1.0)),
    "huge value": lambda s: _events(s.event("metric", name="loss", step=1, value=10**400)),
    "4301-digit seq": lambda s: '{"type": "events", "events": [{"seq": ' + "9" * 4301 + "}]}",
    "deep frame": lambda s: "[" * 100_000 + "]" * 100_000,
    "deep metrics": lambda s: _events(
        s.event("trial_finished", metrics=json.loads("[" * 500 + "]" * 500))
    ),
    "unknown event type": lambda s: _events(s.event("bogus")),
    "unknown frame type": lambda s: json.dumps({"type": "bogus"}),
    "a second hello": lambda s: json.dumps({"type": "hello", "name": "w", "session": "s1"}),
}


@pytest.mark.parametrize("kind", list(BAD_EVENTS))
async def test_a_bad_frame_gets_an_error_and_the_link_stays_open(
    jp_fetch: Any, jp_ws_fetch: Any, kind: str
) -> None:
    session = await open_session(jp_fetch, jp_ws_fetch)
    error = await session.error_for(BAD_EVENTS[kind](session))
    assert error["error"], error
    await session.still_open(f"after {kind}")
    _, logs = await call(jp_fetch, "GET", f"jobs/{session.job_id}/logs")
    assert [line["text"] for line in logs["lines"]] == [f"after {kind}"]
    job = await strict_get(jp_fetch, f"jobs/{session.job_id}")
    trial = job["trials"][0]
    assert trial["status"] == "running" and trial["epoch"] is None  # nothing bad was stored
    session.worker.close()


async def test_non_finite_numbers_are_kept_as_text_and_every_answer_stays_json(
    jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    session = await open_session(jp_fetch, jp_ws_fetch)
    frame = _events(
        session.event("metric", name="loss", step=1, value=1.5),
        session.event("metric", name="loss", step=2, value="@NAN@"),
        session.event("metric", name="grad", step=2, value="@INF@"),
        session.event("trial_finished", metrics={"test_loss": "@NAN@", "test_accuracy": 0.5}),
    )
    frame = frame.replace('"@NAN@"', "NaN").replace('"@INF@"', "-Infinity")
    await session.worker.ws.write_message(frame)
    ack = await session.worker.receive_type("ack")
    assert ack["seq"] == 4
    metrics = await strict_get(jp_fetch, f"jobs/{session.job_id}/metrics")
    assert [(p["name"], p["value"]) for p in metrics["points"]] == [
        ("loss", 1.5),
        ("loss", "NaN"),
        ("grad", "-Infinity"),
    ]
    job = await strict_get(jp_fetch, f"jobs/{session.job_id}")
    assert job["trials"][0]["metrics"] == {"test_loss": "NaN", "test_accuracy": 0.5}
    assert job["trials"][0]["status"] == "finished"
    session.worker.close()


async def test_a_worker_whose_defaults_hold_nan_does_not_break_workers(
    jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    ws = await jp_ws_fetch("mlops", "api", "ws", "worker")
    hello = {"type": "hello", "name": "nan", "session": "s-nan", "defaults": {"LR": "@"}}
    await ws.write_message(json.dumps(hello).replace('"@"', "NaN"))
    assert json.loads(await ws.read_message())["type"] == "welcome"
    workers = await strict_get(jp_fetch, "workers")
    assert workers["workers"][0]["defaults"] == {"LR": "NaN"}
    # a float conf for that key is still accepted: "NaN" stands for a float default
    status, result = await call(
        jp_fetch, "POST", "grid/validate", {"worker": "nan", "conf": {"LR": [0.1]}}
    )
    assert status == 200 and result["valid"], result
    ws.close()


@pytest.mark.parametrize(
    "hello",
    [
        {"name": "x", "session": "s", "defaults": [1]},
        {"name": "x", "session": "s", "notebook": {"a": 1}},
        {"name": "x", "session": "s", "device": "d" * 5000},
        {"name": "x", "session": "s", "versions": json.loads("[" * 50 + "]" * 50)},
    ],
)
async def test_a_bad_hello_gets_an_error_and_the_link_stays_open(
    jp_ws_fetch: Any, hello: dict[str, Any]
) -> None:
    worker = FakeWorker(await jp_ws_fetch("mlops", "api", "ws", "worker"))
    await worker.send({"type": "hello", **hello})
    error = await worker.receive_type("error")
    assert "hello needs" in error["error"]
    await worker.send({"type": "hello", "name": "good", "session": "s-good"})
    assert (await worker.receive())["type"] == "welcome"
    assert (await worker.send_events([log_event(1, 1, "x")]))["seq"] == 1
    worker.close()
