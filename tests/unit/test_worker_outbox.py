"""The outbox: seq numbering, write-through persistence until ack, a worker's data outliving its
kernel (same name and folder: same session, unacked events found again), the size bound, and
never blocking the producer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jupyter_mlops.kernel_client.worker.outbox import Outbox, open_outbox


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def events_in(path: Path) -> list[int]:
    return [r["seq"] for r in lines(path) if "outbox" not in r]


def test_events_are_numbered_written_at_once_and_kept_until_acked(tmp_path: Path) -> None:
    path = tmp_path / "outbox" / "w.jsonl"
    box = Outbox(path)
    seqs = [
        box.emit("log", job_id=1, trial_id="1-0", stream="stdout", text=f"line {i}")
        for i in range(5)
    ]
    assert seqs == [1, 2, 3, 4, 5]
    assert events_in(path) == seqs  # on disk before any sender ran: a kill loses nothing
    assert [s for s, _ in box.after(2)] == [3, 4, 5]
    assert all(e["time"] and e["type"] == "log" for e in box.unacked())
    assert box.ack(3) == 3
    assert [e["seq"] for e in box.unacked()] == [4, 5]
    assert box.ack(5) == 2 and box.waiting == 0
    box.close()
    (header,) = lines(path)  # every event acked: only the worker's identity is left
    assert header["session"] == box.session and header["seq"] == 5 and header["acked"] == 5


def test_a_restarted_kernel_continues_the_session_and_finds_unsent_events(tmp_path: Path) -> None:
    box = open_outbox(tmp_path, "cifar worker")
    for i in range(10):
        box.emit("metric", job_id=1, trial_id="1-0", name="loss", step=i, value=1.0 / (i + 1))
    box.ack(4)
    session = box.session
    box._lock_file.close()  # the kernel is killed: no close(), the lock goes with the process
    again = open_outbox(tmp_path, "cifar worker")
    assert again.session == session and again.path == box.path
    # acked events may still be in the file; the hub's welcome (last_seq) drops them
    assert [e["seq"] for e in again.unacked()][-6:] == [5, 6, 7, 8, 9, 10]
    assert again.replayed >= 6
    again.ack(4)
    assert [e["seq"] for e in again.unacked()] == [5, 6, 7, 8, 9, 10]
    assert again.emit("log", job_id=1, text="next") == 11
    again.ack(11)
    again.close()
    third = open_outbox(tmp_path, "cifar worker")
    assert third.session == session and third.emit("log", job_id=1, text="x") == 12
    third.close()


def test_two_live_kernels_with_one_name_get_two_identities(tmp_path: Path) -> None:
    first = open_outbox(tmp_path, "w")
    second = open_outbox(tmp_path, "w")
    assert first.path != second.path and first.session != second.session
    other = open_outbox(tmp_path, "w/other")
    assert other.path not in (first.path, second.path)
    first.close()
    back = open_outbox(tmp_path, "w")
    assert back.path == first.path and back.session == first.session
    for box in (second, other, back):
        box.close()


def test_a_hub_that_knows_a_later_seq_is_never_given_a_seq_twice(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "w.jsonl")
    box.emit("log", job_id=1, text="a")
    box.ack(40)  # e.g. the outbox file was restored from an older copy
    assert box.emit("log", job_id=1, text="b") == 41


def test_compaction_rewrites_the_file_without_acked_events(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("jupyter_mlops.kernel_client.worker.outbox.COMPACT_AFTER", 10)
    path = tmp_path / "s.jsonl"
    box = Outbox(path)
    for i in range(30):
        box.emit("log", job_id=1, text=str(i))
    box.ack(20)
    assert events_in(path) == list(range(21, 31))
    box.emit("log", job_id=1, text="after")
    assert events_in(path)[-1] == 31
    assert Outbox(path).session == box.session


def test_a_full_outbox_keeps_state_changes_and_counts_the_rest(tmp_path: Path, caplog) -> None:
    box = Outbox(tmp_path / "w.jsonl", limit_bytes=4000)
    n = 0
    while not box.full:
        n = box.emit("log", job_id=3, trial_id="3-0", stream="stdout", text="x" * 100)
    assert "outbox is full" in caplog.text and "over 80%" in caplog.text
    assert box.emit("log", job_id=3, trial_id="3-0", stream="stdout", text="lost?") == 0
    assert box.emit("metric", job_id=3, trial_id="3-0", name="loss", step=1, value=0.1) == 0
    finished = box.emit("trial_finished", job_id=3, trial_id="3-0", model_id="3-0", metrics={})
    assert finished == n + 1
    status = box.status()
    assert status["full"] and status["not_sent"] == {"log": 1, "metric": 1}
    box.ack(finished)  # the hub is back
    assert not box.full
    (note,) = box.unacked()  # the hub is told what it did not get
    assert note["stream"] == "system" and note["job_id"] == 3
    assert "1 log line(s), 1 metric point(s)" in note["text"] and "local job log" in note["text"]


def test_emit_never_blocks_on_the_hub(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "s.jsonl")
    started = time.perf_counter()
    for i in range(10_000):
        box.emit("metric", job_id=1, trial_id="1-0", name="loss", step=i, value=0.5)
    per_event = (time.perf_counter() - started) / 10_000
    assert per_event < 500e-6
    assert [e["seq"] for e in box.unacked()] == list(range(1, 10_001))
    assert len(events_in(tmp_path / "s.jsonl")) == 10_000


def test_a_disk_error_keeps_events_in_memory(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "s.jsonl")

    class Broken:
        closed = False

        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None: ...

        def close(self) -> None: ...

    box._file = Broken()  # type: ignore[assignment]
    assert box.emit("log", job_id=1, text="kept") == 1
    assert "No space left" in (box.status()["disk_error"] or "")
    assert [e["text"] for e in box.unacked()] == ["kept"]


@pytest.mark.parametrize("name", ["a", "a b/c", "ü" * 80])
def test_any_worker_name_makes_a_file_name(tmp_path: Path, name: str) -> None:
    box = open_outbox(tmp_path, name)
    assert box.path is not None and box.path.parent == tmp_path / "outbox"
    box.close()


def test_a_new_identity_keeps_the_unsent_events(tmp_path: Path) -> None:
    box = open_outbox(tmp_path, "w")
    for i in range(2):
        box.emit("log", job_id=1, text=str(i))
    old = box.session
    new = box.new_session()  # the hub knows the old one under another credential
    assert new != old and [e["seq"] for e in box.unacked()] == [1, 2]
    box.close()
    again = open_outbox(tmp_path, "w")
    assert again.session == new and again.emit("log", job_id=1, text="x") == 3
    again.close()
