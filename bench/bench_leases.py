"""Benchmark: a 12-trial grid on 1, 2 and 3 workers, and the work one killed worker costs.

One run prints a table. Workers are plain processes running the Worker class with the
synthetic trial of ``tests/synthetic.py`` (a real torch model; each epoch is a fixed amount of
sleep-bound work, so the numbers measure the hub and the worker, not the CPU). Scaling: wall
time (the hub's job ``created`` to ``finished``) of a 12-trial, 3-epoch grid on 1, 2, 3
workers (each configuration ``--repeats`` times, median; every worker process exports one
model before it joins, so torch.export's first-call cost stays out), and parallel efficiency
T1 / (n * Tn). Loss: 3 workers; one is killed (SIGKILL) at
the same point of its first trial (mid-epoch 3 of 3); the trial goes back to pending after the
grace period and another worker finishes it, resuming from the checkpoint of epoch 2, or from
epoch 0 when checkpoints are off. Work lost = epochs trained at the kill - epoch resumed from.

    python bench/bench_leases.py [--epoch-seconds 1.0] [--grace 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import MLOpsServer  # noqa: E402
from tests.support.synthetic import WorkerProcess  # noqa: E402

TRIALS, EPOCHS, BATCHES = 12, 3, 4
#: pings every 0.5 s so a dead link is seen at once (SIGKILL closes it anyway)
FAST_PING = {"ServerApp": {"tornado_settings": {"ws_ping_interval": 500, "ws_ping_timeout": 1500}}}


def seconds(job: dict[str, Any]) -> float:
    """The job's wall time by the hub's clock: created -> finished."""
    start = dt.datetime.fromisoformat(job["created"])
    end = dt.datetime.fromisoformat(job["finished"])
    return (end - start).total_seconds()


def online(server: MLOpsServer) -> set[str]:
    return {w["name"] for w in server.api("GET", "workers")[1]["workers"] if w["online"]}


def run_grid(server: MLOpsServer, epoch_seconds: float) -> dict[str, Any]:
    conf = {
        "SEED": list(range(TRIALS)),
        "EPOCHS": EPOCHS,
        "BATCHES": BATCHES,
        "EPOCH_SECONDS": epoch_seconds,
    }
    status, job = server.api("POST", "jobs", {"conf": conf, "worker": "any"})
    assert status == 201, job
    return job


def wait_done(server: MLOpsServer, job_id: int, timeout: float = 600) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = server.api("GET", f"jobs/{job_id}")[1]
        return job if job["status"] in ("finished", "failed", "cancelled") else None

    job = server.wait_for(done, timeout=timeout, interval=0.1)
    assert job["status"] == "finished", job
    assert all(t["status"] == "finished" for t in job["trials"]), job["trials"]
    return job


def scaling(
    base: Path, epoch_seconds: float, grace: float, repeats: int
) -> list[tuple[int, list[float]]]:
    server = MLOpsServer(base / "scaling", grace_seconds=grace, extra_config=FAST_PING).start()
    procs: list[WorkerProcess] = []
    rows = []
    try:
        for n in (1, 2, 3):
            procs.append(WorkerProcess(server.env, f"w{n}", base / "scaling-workers", warm_up=True))
            server.wait_for(lambda n=n: len(online(server)) == n, timeout=60)
            walls = []
            for _ in range(repeats):
                job = wait_done(server, run_grid(server, epoch_seconds)["id"])
                names = {t["worker_name"] for t in job["trials"]}
                assert len(names) == n, names
                walls.append(seconds(job))
                print(f"scaling: {n} worker(s) {walls[-1]:.1f} s", file=sys.stderr)
            rows.append((n, walls))
    finally:
        for proc in procs:
            proc.stop()
        server.stop()
    return rows


def killed(base: Path, epoch_seconds: float, grace: float, every: int) -> dict[str, Any]:
    """3 workers, the grid, one worker killed mid-epoch 3 of its first trial."""
    name = f"kill-every-{every}"
    server = MLOpsServer(base / name, grace_seconds=grace, extra_config=FAST_PING).start()
    procs = [
        WorkerProcess(
            server.env, f"k{i}", base / f"{name}-workers", checkpoint_every=every, warm_up=True
        )
        for i in (1, 2, 3)
    ]
    try:
        server.wait_for(lambda: len(online(server)) == 3, timeout=60)
        job = run_grid(server, epoch_seconds)

        def at_kill_point() -> dict[str, Any] | None:
            trials = server.api("GET", f"jobs/{job['id']}")[1]["trials"]
            for trial in trials:
                mid_last = trial["epoch"] == EPOCHS and (trial["batch"] or 0) >= BATCHES // 2
                if trial["worker_name"] == "k1" and trial["status"] == "running" and mid_last:
                    return trial
            return None

        trial = server.wait_for(at_kill_point, timeout=120, interval=0.02)
        procs[0].signal(signal.SIGKILL)
        killed_at = time.monotonic()
        at_kill = (trial["epoch"] - 1) + trial["batch"] / trial["batches"]
        done = wait_done(server, job["id"])
        again = next(t for t in done["trials"] if t["id"] == trial["id"])
        assert again["attempt"] == 2 and again["worker_name"] != "k1", again
        resumed = again["resumed_from_epoch"] or 0
        models = server.api("GET", "models")[1]["models"]
        assert len(models) == TRIALS
        return {
            "every": every,
            "wall": seconds(done),
            "at_kill": at_kill,
            "resumed": resumed,
            "lost": at_kill - resumed,
            "kill_to_done": time.monotonic() - killed_at,
            "retrained": EPOCHS - resumed,
        }
    finally:
        for proc in procs:
            proc.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epoch-seconds", type=float, default=1.0)
    parser.add_argument("--grace", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-leases-"))
    load_before = os.getloadavg()[0]
    rows = scaling(base, args.epoch_seconds, args.grace, args.repeats)
    losses = [killed(base, args.epoch_seconds, args.grace, every) for every in (1, 0)]
    work = TRIALS * EPOCHS * args.epoch_seconds

    print(
        f"\n{TRIALS}-trial grid, {EPOCHS} epochs of {args.epoch_seconds:g} s sleep-bound work "
        f"({BATCHES} batches, a 98-parameter torch model, exported and uploaded per trial); "
        f"pure training work {work:.0f} s; grace {args.grace:g} s; {os.cpu_count()} CPUs, "
        f"load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print(
        f"\n| workers | wall time (median of {args.repeats}) | min .. max | ideal (work / n) "
        "| speed-up | parallel efficiency |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    one = statistics.median(rows[0][1])
    for n, walls in rows:
        wall = statistics.median(walls)
        print(
            f"| {n} | {wall:.1f} s | {min(walls):.1f} .. {max(walls):.1f} s | {work / n:.1f} s | "
            f"{one / wall:.2f}x | {one / (n * wall):.0%} |"
        )
    print(
        "\n| one of 3 workers killed mid-epoch 3 | resumed from epoch | epochs trained at the "
        "kill | work lost | epochs retrained | kill -> job done | job wall time |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for loss in losses:
        label = "checkpoint every epoch" if loss["every"] else "no checkpoints (restart at 0)"
        print(
            f"| {label} | {loss['resumed']} | {loss['at_kill']:.2f} | "
            f"{loss['lost']:.2f} epochs ({loss['lost'] * args.epoch_seconds:.1f} s) | "
            f"{loss['retrained']} | {loss['kill_to_done']:.1f} s | {loss['wall']:.1f} s |"
        )


if __name__ == "__main__":
    main()
