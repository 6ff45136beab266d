"""Ray benchmark: one notebook worker driving a two-node Ray cluster vs plain notebook workers.

One run prints a markdown table. Every scenario runs the same job on a fresh real ``jupyter
server`` with the extension (127.0.0.1): ``--trials`` trials of ``--epochs`` epochs of the
tests' synthetic torch trial (``tests/support/synthetic.py``: sleep-bound epochs of
``--epoch-seconds``, a checkpoint after each epoch, an ONNX export at the end).

  * plain x1: one notebook worker (a worker process, as ``tests/e2e`` use), one trial at a time
  * ray 2 nodes: one notebook worker (in this process) with ``RayExecutor`` on a local Ray
    cluster of two 1-CPU nodes (``ray.cluster_utils.Cluster``, loopback only)
  * plain x3: three notebook workers, for reference
  * ray, node killed: as "ray 2 nodes", and the worker node is killed once a trial on it has
    stored its first checkpoint; that trial is re-queued and resumes from it on the head node

Wall time runs from the launch to the job's end as REST reports it. Parallel efficiency is the
trials' sleep-bound work (trials x epochs x epoch seconds) divided by wall time x trials that
can run at once. Work lost is what the killed node's trial trained past its last checkpoint
(epochs redone), and the extra wall time against the run without a kill.

Ray needs ``pip install "jupyter_mlops[ray]"``; Ray reads its loopback settings at import, so
``tests.support.ray_cluster`` is imported first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's tests.support
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import loadavg

from tests.support import ray_cluster as cluster_support  # Ray on loopback: before ray
from tests.support.server import MLOpsServer
from tests.support.synthetic import DEFAULTS, WorkerProcess, synthetic_trial
from tests.support.workers import job_ended, job_state, launch, online


def conf(args: argparse.Namespace) -> dict[str, Any]:
    """A grid of ``--trials`` trials (SEED varies) of ``--epochs`` epochs."""
    return {
        "SEED": list(range(args.trials)),
        "EPOCHS": args.epochs,
        "EPOCH_SECONDS": args.epoch_seconds,
    }


def run_job(server: MLOpsServer, job_conf: dict[str, Any], worker: str | list[str]) -> dict:
    """Launch, wait for the end; return the job with ``wall`` (seconds) added."""
    start = time.monotonic()
    job = launch(server, job_conf, worker)
    done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=1800, interval=0.2)
    done["wall"] = time.monotonic() - start
    if done["status"] != "finished":
        raise RuntimeError(f"job {job['id']} ended {done['status']}")
    return done


def plain(args: argparse.Namespace, base: Path, count: int) -> dict:
    """``count`` plain notebook workers (warmed up: their first ONNX export is done)."""
    server = MLOpsServer(base / f"plain{count}", grace_seconds=5).start()
    workers: list[WorkerProcess] = []
    try:
        names = [f"plain-{i}" for i in range(count)]
        workers = [WorkerProcess(server.env, n, base / "workers", warm_up=True) for n in names]
        server.wait_for(lambda: online(server, *names), timeout=180)
        return run_job(server, conf(args), names if count > 1 else names[0])
    finally:
        for worker in workers:
            worker.stop()
        server.stop()


def with_ray(args: argparse.Namespace, base: Path, kill: bool) -> dict:
    """One notebook worker with a RayExecutor on a fresh two-node cluster."""
    import ray

    from jupyter_mlops.kernel_client import HubInfo, RayExecutor, Worker

    name = "ray-kill" if kill else "ray"
    server = MLOpsServer(base / name, grace_seconds=5).start()
    cluster = cluster_support.start_cluster()
    worker = None
    try:
        worker = Worker(
            synthetic_trial,
            DEFAULTS,
            "ray",
            HubInfo(server.url, server.token),
            local_dir=base / name / "worker",
            echo=False,
            executor=RayExecutor(address=cluster.address, monitor_interval=0.5),
        ).start()
        server.wait_for(lambda: online(server, "ray"), timeout=60)
        if not kill:
            return run_job(server, conf(args), "ray")
        other = next(n for n in cluster.list_all_nodes() if n is not cluster.head_node)
        start = time.monotonic()
        job = launch(server, conf(args), "ray")

        def victim() -> dict | None:
            return next(
                (
                    t
                    for t in job_state(server, job["id"])["trials"]
                    if t["status"] == "running"
                    and (t["node"] or "").endswith(":" + other.node_id[:8])
                    and (t["checkpoint_epoch"] or 0) >= 1
                ),
                None,
            )

        hit = server.wait_for(victim, timeout=600, interval=0.2)
        at_kill = job_state(server, job["id"])
        progress = next(t for t in at_kill["trials"] if t["id"] == hit["id"])
        cluster.remove_node(other, allow_graceful=False)
        done = server.wait_for(lambda: job_ended(server, job["id"]), timeout=1800, interval=0.2)
        done["wall"] = time.monotonic() - start
        if done["status"] != "finished":
            raise RuntimeError(f"job {job['id']} ended {done['status']}")
        resumed = next(t for t in done["trials"] if t["id"] == hit["id"])
        # the epoch it was in when its node died, less the epochs its checkpoint kept
        done["lost_epochs"] = (progress["epoch"] or 0) - 1 - (resumed["resumed_from_epoch"] or 0)
        done["lost_partial"] = (progress["batch"] or 0) / max(1, progress["batches"] or 1)
        done["victim"] = resumed
        return done
    finally:
        if worker is not None:
            worker.stop(timeout=20.0)
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--epoch-seconds", type=float, default=1.5)
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    work = args.trials * args.epochs * args.epoch_seconds
    before = loadavg()
    rows: list[tuple[str, int, dict]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
        base = Path(folder)
        rows.append(("plain worker x1", 1, plain(args, base, 1)))
        rows.append(("ray worker, 2-node cluster", 2, with_ray(args, base, kill=False)))
        rows.append(("plain workers x3 (reference)", 3, plain(args, base, 3)))
        if not args.skip_kill:
            rows.append(("ray worker, worker node killed", 2, with_ray(args, base, kill=True)))
    after = loadavg()
    print(
        f"\n{args.trials} trials x {args.epochs} epochs x {args.epoch_seconds:g} s of sleep-bound "
        f"work ({work:g} s of trial work in all); load average {before} -> {after}\n"
    )
    print(
        "| setup | trials at once | wall (s) | speed-up vs x1 | parallel efficiency | work lost |"
    )
    print("|---|---|---|---|---|---|")
    base_wall = rows[0][2]["wall"]
    ray_wall = rows[1][2]["wall"]
    for label, slots, job in rows:
        lost = "-"
        if "lost_epochs" in job:
            victim = job["victim"]
            lost = (
                f"{job['lost_epochs'] + job['lost_partial']:.2f} epoch(s) redone "
                f"({(job['lost_epochs'] + job['lost_partial']) * args.epoch_seconds:.1f} s), "
                f"resumed from epoch {victim['resumed_from_epoch']}, attempt "
                f"{victim['attempt']}; +{job['wall'] - ray_wall:.1f} s wall vs no kill"
            )
        print(
            f"| {label} | {slots} | {job['wall']:.1f} | {base_wall / job['wall']:.2f}x | "
            f"{work / (job['wall'] * slots):.0%} | {lost} |"
        )


if __name__ == "__main__":
    main()
