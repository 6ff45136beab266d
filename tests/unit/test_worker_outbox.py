"""The outbox: seq numbering, persistence until ack, pruning, and never blocking the producer."""

from __future__ import annotations

import json
import time
from pathlib import Path

from jupyter_mlops.kernel_client.worker.outbox import Outbox


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_events_are_numbered_and_kept_on_disk_until_acked(tmp_path: Path) -> None:
    path = tmp_path / "outbox" / "s1.jsonl"
    box = Outbox(path)
    seqs = [
        box.emit("log", job_id=1, trial_id="1-0", stream="stdout", text=f"line {i}")
        for i in range(5)
    ]
    assert seqs == [1, 2, 3, 4, 5]
    assert not path.read_text()  # emit does no IO
    drained = box.drain()
    assert [e["seq"] for e in drained] == seqs
    assert [e["seq"] for e in lines(path)] == seqs
    assert all(e["time"] and e["type"] == "log" for e in drained)
    assert box.ack(3) == 3
    assert [e["seq"] for e in box.unacked()] == [4, 5]
    assert box.ack(5) == 2
    assert path.read_text() == ""  # everything acked: the file is pruned
    box.close()
    assert not path.exists()


def test_unacked_events_survive_a_new_outbox_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    box = Outbox(path)
    for i in range(10):
        box.emit("metric", job_id=1, trial_id="1-0", name="loss", step=i, value=1.0 / (i + 1))
    box.drain()
    box.ack(4)
    box._file.close()  # a crash: no close(), nothing more written
    again = Outbox(path)
    # acked events may still be in the file until it is pruned; welcome.last_seq drops them
    assert [e["seq"] for e in again.unacked()][-6:] == [5, 6, 7, 8, 9, 10]
    again.ack(4)
    assert [e["seq"] for e in again.unacked()] == [5, 6, 7, 8, 9, 10]
    assert again.emit("log", job_id=1, text="next") == 11


def test_compaction_rewrites_the_file_without_acked_events(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("jupyter_mlops.kernel_client.worker.outbox.COMPACT_AFTER", 10)
    path = tmp_path / "s.jsonl"
    box = Outbox(path)
    for i in range(30):
        box.emit("log", job_id=1, text=str(i))
    box.drain()
    box.ack(20)
    assert [e["seq"] for e in lines(path)] == list(range(21, 31))
    box.emit("log", job_id=1, text="after")
    box.drain()
    assert lines(path)[-1]["seq"] == 31


def test_emit_never_blocks_and_spills_to_disk_when_nobody_drains(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    box = Outbox(path, max_pending=100)
    started = time.perf_counter()
    for i in range(10_000):
        box.emit("metric", job_id=1, trial_id="1-0", name="loss", step=i, value=0.5)
    per_event = (time.perf_counter() - started) / 10_000
    assert per_event < 200e-6
    box.drain()
    assert [e["seq"] for e in box.unacked()] == list(range(1, 10_001))
    assert len(lines(path)) == 10_000
