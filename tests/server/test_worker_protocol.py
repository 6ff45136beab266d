"""The worker websocket: hello/welcome, trials leased one at a time, events acked, resend."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.api import call
from tests.support.fake_worker import FakeWorker, log_event

CONF = {"EPOCHS": 1, "LEARNING_RATE": [0.1, 0.2]}


def ended(seq: int, kind: str, job_id: int, trial_id: str, **extra: object) -> dict:
    return {"seq": seq, "type": kind, "job_id": job_id, "trial_id": trial_id, "attempt": 1, **extra}


async def test_queued_job_is_delivered_when_the_worker_connects(jp_fetch, jp_ws_fetch) -> None:
    status, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": CONF})
    assert status == 201 and job["status"] == "queued" and job["trial_count"] == 2
    worker, welcome = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    assert welcome["name"] == "cifar" and welcome["last_seq"] == 0
    pushed = (await worker.receive_type("job"))["job"]
    assert pushed["id"] == job["id"]
    lease = pushed["trials"][0].pop("lease")  # the lease's secret, for this worker only
    assert isinstance(lease, str) and len(lease) >= 32
    assert pushed["trials"] == [
        {
            "id": f"{job['id']}-0",
            "index": 0,
            "attempt": 1,
            "checkpoint": None,
            "params": {"EPOCHS": 1, "LEARNING_RATE": 0.1},
        }
    ]
    _, workers = await call(jp_fetch, "GET", "workers")
    assert workers["workers"][0]["online"] is True
    assert workers["workers"][0]["current_trial"] == f"{job['id']}-0"
    _, running = await call(jp_fetch, "GET", f"jobs/{job['id']}")
    assert running["status"] == "running"
    assert [t["worker_name"] for t in running["trials"]] == ["cifar", None]
    worker.close()


async def test_events_are_persisted_acked_and_never_duplicated_on_resend(
    jp_fetch, jp_ws_fetch
) -> None:
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "cifar", "conf": CONF})
    await worker.receive_type("job")
    jid, trial = job["id"], f"{job['id']}-0"
    first = [ended(1, "trial_started", jid, trial)]
    first += [log_event(seq, jid, f"line {seq}", trial) for seq in range(2, 6)]
    first.append(
        {
            "seq": 6,
            "type": "metric",
            "job_id": jid,
            "trial_id": trial,
            "name": "loss",
            "step": 1,
            "value": 2.3,
        }
    )
    assert (await worker.send_events(first))["seq"] == 6
    worker.close()  # the link drops before the worker saw later acks

    worker, welcome = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    assert welcome["last_seq"] == 6 and welcome["name"] == "cifar"
    resend = [log_event(seq, jid, f"line {seq}", trial) for seq in range(4, 10)]
    assert (await worker.send_events(resend))["seq"] == 9
    _, logs = await call(jp_fetch, "GET", f"jobs/{jid}/logs")
    # seq 6 was the metric: its resend (as "line 6") is a duplicate and is dropped
    assert [line["text"] for line in logs["lines"]] == [f"line {n}" for n in (2, 3, 4, 5, 7, 8, 9)]
    after = logs["lines"][3]["seq"]
    _, tail = await call(jp_fetch, "GET", f"jobs/{jid}/logs", params={"after": after})
    assert [line["text"] for line in tail["lines"]] == ["line 7", "line 8", "line 9"]
    _, metrics = await call(jp_fetch, "GET", f"jobs/{jid}/metrics")
    assert [(p["name"], p["value"]) for p in metrics["points"]] == [("loss", 2.3)]

    finished = [
        ended(10, "trial_finished", jid, trial, metrics={"test_accuracy": 0.4}),
        {"seq": 11, "type": "job_finished", "job_id": jid},
    ]
    assert (await worker.send_events(finished))["seq"] == 11
    second = (await worker.receive_type("job"))["job"]["trials"][0]
    assert second["id"] == f"{jid}-1"
    failed = [
        ended(12, "trial_failed", jid, second["id"], error="ValueError: boom"),
        {"seq": 13, "type": "job_finished", "job_id": jid},
    ]
    assert (await worker.send_events(failed))["seq"] == 13
    _, state = await call(jp_fetch, "GET", f"jobs/{jid}")
    assert state["status"] == "finished" and state["progress"] == 1.0
    assert [t["status"] for t in state["trials"]] == ["finished", "failed"]
    assert state["trials"][0]["metrics"] == {"test_accuracy": 0.4}
    _, workers = await call(jp_fetch, "GET", "workers")
    assert workers["workers"][0]["status"] == "idle"
    worker.close()


async def test_trials_fan_out_over_idle_workers(jp_fetch, jp_ws_fetch) -> None:
    one, _ = await FakeWorker.connect(jp_ws_fetch, "one", "s1")
    two, _ = await FakeWorker.connect(jp_ws_fetch, "two", "s2")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": CONF})
    got = {
        (await one.receive_type("job"))["job"]["trials"][0]["id"],
        (await two.receive_type("job"))["job"]["trials"][0]["id"],
    }
    assert got == {f"{job['id']}-0", f"{job['id']}-1"}
    _, state = await call(jp_fetch, "GET", f"jobs/{job['id']}")
    assert sorted(t["worker_name"] for t in state["trials"]) == ["one", "two"]
    one.close()
    two.close()


async def test_a_worker_that_does_not_declare_the_keys_is_not_given_the_trial(
    jp_fetch, jp_ws_fetch
) -> None:
    cifar, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, busy = await call(jp_fetch, "POST", "jobs", {"worker": "cifar", "conf": {"EPOCHS": 1}})
    await cifar.receive_type("job")
    other, _ = await FakeWorker.connect(jp_ws_fetch, "other", "s2", defaults={"DEPTH": 3})
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": CONF})
    assert job["status"] == "queued"  # "other" is idle but does not declare EPOCHS
    await cifar.send_events([ended(1, "trial_finished", busy["id"], f"{busy['id']}-0")])
    assert (await cifar.receive_type("job"))["job"]["id"] == job["id"]
    other.close()
    cifar.close()


async def test_subscribers_see_logs_and_job_changes(jp_fetch, jp_ws_fetch) -> None:
    events = await jp_ws_fetch("mlops", "api", "ws", "events")
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": CONF})
    await worker.receive_type("job")
    await worker.send_events([log_event(1, job["id"], "hello hub")])
    seen = []
    while not any(m["type"] == "log" for m in seen):
        seen.append(json.loads(await asyncio.wait_for(events.read_message(), 10)))
    assert {"worker", "job", "log"} <= {m["type"] for m in seen}
    log = next(m for m in seen if m["type"] == "log")
    assert log["job_id"] == job["id"] and log["lines"][0]["text"] == "hello hub"
    events.close()
    worker.close()


async def test_a_taken_name_gets_a_suffix_and_bad_frames_get_errors(jp_ws_fetch) -> None:
    first, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    second, welcome = await FakeWorker.connect(jp_ws_fetch, "cifar", "s2")
    assert welcome["name"] == "cifar-01" and welcome["worker_id"] != 1
    await second.send({"type": "nonsense"})
    assert "unknown message type" in (await second.receive_type("error"))["error"]
    await second.ws.write_message("not json")
    assert "JSON" in (await second.receive_type("error"))["error"]
    ack = await second.send_events([{"seq": "x"}, {"seq": 1, "type": "log", "job_id": 999}])
    assert ack["seq"] == 1  # malformed events are skipped, never resent forever
    skipped = await second.receive_type("error")
    assert skipped["error"] == "malformed events were skipped"
    assert "positive integer seq" in skipped["detail"][0]
    first.close()
    second.close()


async def _wait_status(jp_fetch, job_id: int, status: str) -> dict:
    for _ in range(60):  # the grace period is 1 s in tests
        _, state = await call(jp_fetch, "GET", f"jobs/{job_id}")
        if state["status"] == status:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} is {state['status']}, expected {status}")


async def test_a_lost_worker_s_trial_goes_to_another_and_late_results_are_ignored(
    jp_fetch, jp_ws_fetch
) -> None:
    lost, _ = await FakeWorker.connect(jp_ws_fetch, "lost", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": {"LR": [1]}})
    jid, trial = job["id"], f"{job['id']}-0"
    await lost.receive_type("job")
    await lost.send_events([ended(1, "trial_started", jid, trial)])
    lost.close()
    state = await _wait_status(jp_fetch, jid, "queued")
    assert state["trials"][0]["status"] == "pending"
    assert "lost went offline" in state["trials"][0]["error"]
    _, logs = await call(jp_fetch, "GET", f"jobs/{jid}/logs")
    assert logs["lines"][-1]["stream"] == "system" and "re-queued" in logs["lines"][-1]["text"]

    taker, _ = await FakeWorker.connect(jp_ws_fetch, "taker", "s2")
    assignment = (await taker.receive_type("job"))["job"]["trials"][0]
    assert assignment["id"] == trial and assignment["attempt"] == 2

    lost, _ = await FakeWorker.connect(jp_ws_fetch, "lost", "s1")  # back, lease gone
    assert (await lost.receive_type("cancel")) == {
        "type": "cancel",
        "job_id": jid,
        "trial_id": trial,
    }
    late = [
        ended(2, "trial_finished", jid, trial, metrics={"test_accuracy": 0.9}),
        {
            "seq": 3,
            "type": "metric",
            "job_id": jid,
            "trial_id": trial,
            "attempt": 1,
            "name": "loss",
            "step": 9,
            "value": 9.0,
        },
    ]
    await lost.send_events(late)
    _, state = await call(jp_fetch, "GET", f"jobs/{jid}")
    assert state["trials"][0]["status"] == "running"
    assert state["trials"][0]["worker_name"] == "taker"
    assert (await call(jp_fetch, "GET", f"jobs/{jid}/metrics"))[1]["points"] == []
    own = [
        {**ended(1, "trial_finished", jid, trial, metrics={"test_accuracy": 0.5}), "attempt": 2},
        {"seq": 2, "type": "job_finished", "job_id": jid},
    ]
    await taker.send_events(own)
    state = await _wait_status(jp_fetch, jid, "finished")
    assert state["trials"][0]["metrics"] == {"test_accuracy": 0.5}
    lost.close()
    taker.close()


async def test_cancel_reaches_the_worker_and_queued_jobs_cancel_at_once(
    jp_fetch, jp_ws_fetch
) -> None:
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, running = await call(jp_fetch, "POST", "jobs", {"worker": "cifar", "conf": CONF})
    _, queued = await call(jp_fetch, "POST", "jobs", {"worker": "cifar", "conf": CONF})
    assert queued["status"] == "queued"
    await worker.receive_type("job")
    _, cancelled = await call(jp_fetch, "POST", f"jobs/{queued['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    assert {t["status"] for t in cancelled["trials"]} == {"cancelled"}
    _, flagged = await call(jp_fetch, "POST", f"jobs/{running['id']}/cancel")
    assert flagged["cancel_requested"] is True and flagged["status"] == "running"
    assert [t["status"] for t in flagged["trials"]] == ["running", "cancelled"]
    message = await worker.receive_type("cancel")
    assert message == {"type": "cancel", "job_id": running["id"], "trial_id": f"{running['id']}-0"}
    await worker.send_events(
        [
            ended(1, "trial_cancelled", running["id"], f"{running['id']}-0"),
            {"seq": 2, "type": "job_cancelled", "job_id": running["id"]},
        ]
    )
    await _wait_status(jp_fetch, running["id"], "cancelled")
    status, again = await call(jp_fetch, "POST", f"jobs/{running['id']}/cancel")
    assert status == 409 and "already cancelled" in again["error"]
    worker.close()


async def test_a_worker_that_stops_mid_trial_hands_it_back(jp_fetch, jp_ws_fetch) -> None:
    stopping, _ = await FakeWorker.connect(jp_ws_fetch, "stopping", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": {"LR": [1]}})
    await stopping.receive_type("job")
    await stopping.send_events([ended(1, "trial_cancelled", job["id"], f"{job['id']}-0")])
    state = await _wait_status(jp_fetch, job["id"], "queued")  # back at once, no grace wait
    assert state["trials"][0]["status"] == "pending"
    other, _ = await FakeWorker.connect(jp_ws_fetch, "other", "s2")
    again = (await other.receive_type("job"))["job"]["trials"][0]
    assert again["attempt"] == 2  # the stopping worker was not offered it again
    with pytest.raises(asyncio.TimeoutError):
        await stopping.receive_type("job", timeout=0.5)
    stopping.close()
    other.close()


async def test_retry_reruns_failed_trials_only(jp_fetch, jp_ws_fetch) -> None:
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": CONF})
    jid = job["id"]
    await worker.receive_type("job")
    await worker.send_events([ended(1, "trial_failed", jid, f"{jid}-0", error="boom")])
    await worker.receive_type("job")
    await worker.send_events([ended(2, "trial_finished", jid, f"{jid}-1")])
    await _wait_status(jp_fetch, jid, "finished")
    status, retried = await call(jp_fetch, "POST", f"jobs/{jid}/retry")
    assert status == 200 and retried["status"] in ("queued", "running")
    again = (await worker.receive_type("job"))["job"]["trials"]
    assert [(t["id"], t["attempt"]) for t in again] == [(f"{jid}-0", 2)]
    status, reply = await call(jp_fetch, "POST", f"jobs/{jid}/retry")
    assert status == 409 and "no failed trial" in reply["error"]
    worker.close()


async def test_a_job_for_a_set_of_workers_goes_only_to_them(jp_fetch, jp_ws_fetch) -> None:
    outsider, _ = await FakeWorker.connect(jp_ws_fetch, "outsider", "s0")
    one, _ = await FakeWorker.connect(jp_ws_fetch, "one", "s1")
    two, _ = await FakeWorker.connect(jp_ws_fetch, "two", "s2")
    body = {"worker": ["one", "two"], "conf": {"LEARNING_RATE": [0.1, 0.2, 0.3]}}
    status, job = await call(jp_fetch, "POST", "jobs", body)
    assert status == 201 and job["worker"] == ["one", "two"]
    await one.receive_type("job")
    await two.receive_type("job")
    with pytest.raises(asyncio.TimeoutError):
        await outsider.receive_type("job", timeout=0.5)
    _, state = await call(jp_fetch, "GET", f"jobs/{job['id']}")
    assert sorted(t["worker_name"] for t in state["trials"] if t["worker_name"]) == ["one", "two"]
    status, reply = await call(jp_fetch, "POST", "jobs", {"worker": ["one", "ghost"], "conf": {}})
    assert status == 404 and "ghost" in reply["error"]
    status, reply = await call(jp_fetch, "POST", "jobs", {"worker": [], "conf": {}})
    assert status == 400 and "list of names" in reply["error"]
    for worker in (outsider, one, two):
        worker.close()
