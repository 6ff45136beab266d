"""The worker websocket: hello/welcome, jobs handed out, events persisted and acked, resend."""

from __future__ import annotations

import asyncio

from tests.support.api import call
from tests.support.fake_worker import FakeWorker, log_event

CONF = {"EPOCHS": 1, "LEARNING_RATE": [0.1, 0.2]}


async def test_queued_job_is_delivered_when_the_worker_connects(jp_fetch, jp_ws_fetch) -> None:
    status, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": CONF})
    assert status == 201 and job["status"] == "queued" and job["trial_count"] == 2
    worker, welcome = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    assert welcome["name"] == "cifar" and welcome["last_seq"] == 0
    pushed = await worker.receive_type("job")
    assert pushed["job"]["id"] == job["id"]
    assert [t["id"] for t in pushed["job"]["trials"]] == [f"{job['id']}-0", f"{job['id']}-1"]
    assert pushed["job"]["trials"][1]["params"]["LEARNING_RATE"] == 0.2
    _, workers = await call(jp_fetch, "GET", "workers")
    assert workers["workers"][0]["online"] is True
    assert workers["workers"][0]["current_job"] == job["id"]
    _, running = await call(jp_fetch, "GET", f"jobs/{job['id']}")
    assert running["status"] == "running" and running["worker_id"] == welcome["worker_id"]
    worker.close()


async def test_events_are_persisted_acked_and_never_duplicated_on_resend(
    jp_fetch, jp_ws_fetch
) -> None:
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "cifar", "conf": CONF})
    await worker.receive_type("job")
    jid, trial = job["id"], f"{job['id']}-0"
    first = [{"seq": 1, "type": "trial_started", "job_id": jid, "trial_id": trial}]
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
    _, tail = await call(
        jp_fetch, "GET", f"jobs/{jid}/logs", params={"after": logs["lines"][3]["seq"]}
    )
    assert [line["text"] for line in tail["lines"]] == ["line 7", "line 8", "line 9"]
    _, metrics = await call(jp_fetch, "GET", f"jobs/{jid}/metrics")
    assert [(p["name"], p["value"]) for p in metrics["points"]] == [("loss", 2.3)]
    _, state = await call(jp_fetch, "GET", f"jobs/{jid}")
    assert state["trials"][0]["status"] == "running"

    done = [
        {
            "seq": 10,
            "type": "trial_finished",
            "job_id": jid,
            "trial_id": trial,
            "metrics": {"test_accuracy": 0.4},
        },
        {
            "seq": 11,
            "type": "trial_failed",
            "job_id": jid,
            "trial_id": f"{jid}-1",
            "error": "ValueError: boom",
        },
        {"seq": 12, "type": "job_finished", "job_id": jid},
    ]
    assert (await worker.send_events(done))["seq"] == 12
    _, state = await call(jp_fetch, "GET", f"jobs/{jid}")
    assert state["status"] == "finished" and state["progress"] == 1.0
    assert [t["status"] for t in state["trials"]] == ["finished", "failed"]
    assert state["trials"][0]["metrics"] == {"test_accuracy": 0.4}
    _, workers = await call(jp_fetch, "GET", "workers")
    assert workers["workers"][0]["status"] == "idle"
    worker.close()


async def test_subscribers_see_logs_and_job_changes(jp_fetch, jp_ws_fetch) -> None:
    import json

    events = await jp_ws_fetch("mlops", "api", "ws", "events")
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": CONF})
    await worker.receive_type("job")
    await worker.send_events([log_event(1, job["id"], "hello hub")])
    seen = []
    while not any(m["type"] == "log" for m in seen):
        seen.append(json.loads(await asyncio.wait_for(events.read_message(), 10)))
    kinds = {m["type"] for m in seen}
    assert {"worker", "job", "log"} <= kinds
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
    first.close()
    second.close()


async def test_a_worker_that_stays_away_interrupts_its_job(jp_fetch, jp_ws_fetch) -> None:
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "cifar", "s1")
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "cifar", "conf": CONF})
    await worker.receive_type("job")
    worker.close()
    for _ in range(50):  # the grace period is 1 s in tests
        await asyncio.sleep(0.1)
        _, state = await call(jp_fetch, "GET", f"jobs/{job['id']}")
        if state["status"] != "running":
            break
    assert state["status"] == "interrupted"
    assert "did not come back" in state["error"]
    _, workers = await call(jp_fetch, "GET", "workers")
    assert workers["workers"][0]["online"] is False


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
    assert flagged["cancel_requested"] is True
    assert (await worker.receive_type("cancel"))["job_id"] == running["id"]
    await worker.send_events([{"seq": 1, "type": "job_cancelled", "job_id": running["id"]}])
    _, state = await call(jp_fetch, "GET", f"jobs/{running['id']}")
    assert state["status"] == "cancelled"
    status, again = await call(jp_fetch, "POST", f"jobs/{running['id']}/cancel")
    assert status == 409 and "already cancelled" in again["error"]
    worker.close()
