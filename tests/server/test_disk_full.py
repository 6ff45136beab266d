"""A full disk: clients get a JSON 507 that says "disk full", no temporary file is left,
everything else keeps working, and worker events that could not be stored are resent (the
link closes; the worker reconnects and resends from the hub's last seq).

With root the store lives on a real 20 MB tmpfs that is filled up; without root (or as well)
the disk is made full by making writes fail with ENOSPC in the in-process server.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tornado.websocket import WebSocketClosedError

from jupyter_mlops.serverext.store.events import EventApplier
from tests.support.api import call
from tests.support.fake_worker import FakeWorker, log_event
from tests.support.leases import leased_trials, put_model, release
from tests.support.models import make_model_file

pytestmark = pytest.mark.faults


def _fill(folder: Path) -> Path:
    """Write a file until the disk is full; return it (delete it to free the disk)."""
    filler = folder / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * (1 << 16))
            f.flush()
    return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace')}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def _send_lines(worker: FakeWorker, job_id: int, first: int, count: int) -> str | None:
    """Send ``count`` log events; return the hub's error if it refused them (None: acked)."""
    events = [log_event(first + i, job_id, f"line {first + i} " + "x" * 900) for i in range(count)]
    await worker.send({"type": "events", "events": events})
    while True:
        try:
            message = await worker.receive()
        except AssertionError:  # the hub closed the link
            return "closed"
        if message["type"] == "ack":
            return None
        if message["type"] == "error":
            return str(message["error"])


class TestOnATmpfs:
    @pytest.fixture
    def mlops_root(self, small_disk: Path) -> Path:
        return small_disk / "mlops"

    async def test_a_full_disk_is_507_and_nothing_else_breaks(
        self, jp_fetch, jp_ws_fetch, small_disk: Path, mlops_root: Path, tmp_path: Path
    ) -> None:
        models = [tmp_path / f"m{i}.zip" for i in range(2)]
        for i, path in enumerate(models):
            make_model_file(path, accuracy=0.5 + i / 10, seed=i)
        job, leases = await leased_trials(jp_fetch, jp_ws_fetch, 2)
        worker = leases[0].worker  # it works on the job: its job lines are stored
        assert worker is not None
        try:
            status, _ = await put_model(jp_fetch, leases[0], models[0].read_bytes())
            assert status == 201
            filler = _fill(small_disk)
            status, reply = await put_model(jp_fetch, leases[1], models[1].read_bytes())
            assert status == 507, reply
            assert reply["error"].startswith("disk full"), reply
            assert [
                p.name for p in (mlops_root / "blobs").iterdir() if p.name.startswith(".")
            ] == []
            for path in ("models", "jobs", f"jobs/{job['id']}", "workers", "deployment"):
                assert (await call(jp_fetch, "GET", path))[0] == 200, path
            # a worker's events while the disk is full: not stored, the link closes
            refused = None
            sent = 0
            while refused is None and sent < 20_000:
                refused = await _send_lines(worker, job["id"], sent + 1, 500)
                sent += 0 if refused else 500
            assert refused is not None and ("disk full" in refused or refused == "closed")
            filler.unlink()  # space again: the worker comes back and resends
            worker.close()
            worker, welcome = await FakeWorker.connect(
                jp_ws_fetch, "lessee-0", "lessee-0-session", defaults={"LR": 0}
            )
            assert welcome["last_seq"] == sent
            assert await _send_lines(worker, job["id"], sent + 1, 500) is None
            status, page = await call(
                jp_fetch, "GET", f"jobs/{job['id']}/logs", params={"limit": 100_000}
            )
            texts = [
                line["text"].split(" ")[1] for line in page["lines"] if "line " in line["text"]
            ]
            assert texts == [str(i) for i in range(1, sent + 501)]  # each once, in order
            status, _ = await put_model(jp_fetch, leases[1], models[1].read_bytes())
            assert status == 201
        finally:
            with contextlib.suppress(WebSocketClosedError):
                worker.close()
            release(leases)


async def test_enospc_on_upload_is_507_and_leaves_no_temp_file(
    jp_fetch, jp_ws_fetch, mlops_root: Path, tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "m.zip"
    make_model_file(path, accuracy=0.5)
    _, leases = await leased_trials(jp_fetch, jp_ws_fetch, 1)
    try:

        def no_space(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("jupyter_mlops.serverext.blobs.os.fsync", no_space)
        status, reply = await put_model(jp_fetch, leases[0], path.read_bytes())
        assert status == 507 and reply["error"].startswith("disk full"), reply
        assert list((mlops_root / "blobs").iterdir()) == []
        monkeypatch.undo()
        status, _ = await put_model(jp_fetch, leases[0], path.read_bytes())
        assert status == 201
    finally:
        release(leases)


async def test_events_a_full_disk_refused_are_resent(jp_fetch, jp_ws_fetch, monkeypatch) -> None:
    _, job = await call(jp_fetch, "POST", "jobs", {"worker": "any", "conf": {"EPOCHS": 1}})
    worker, _ = await FakeWorker.connect(jp_ws_fetch, "w", "w-session")
    assert (await worker.send_events([log_event(1, job["id"], "line 1")]))["seq"] == 1

    def full(self: EventApplier) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(EventApplier, "_flush", full)
    refused = await _send_lines(worker, job["id"], 2, 3)
    assert refused is not None and "disk full" in refused, refused
    with pytest.raises(AssertionError, match="closed"):
        await worker.receive()  # the link is closed: nothing after the refused batch is stored
    monkeypatch.undo()
    worker, welcome = await FakeWorker.connect(jp_ws_fetch, "w", "w-session")
    assert welcome["last_seq"] == 1
    assert await _send_lines(worker, job["id"], 2, 3) is None  # resent after reconnecting
    _, page = await call(jp_fetch, "GET", f"jobs/{job['id']}/logs")
    assert [line["text"].split(" ")[1] for line in page["lines"]] == ["1", "2", "3", "4"]
    worker.close()
