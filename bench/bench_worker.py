"""Benchmark: what the worker costs a training loop, and job launch to first stored model.

On a machine with few cores, a bare loop vs the same loop under the worker mostly measures
core contention: torch's threads, the worker's sender thread and the hub process fight for
the same CPUs and the ratio swings by 5-30 % between repeats. So this script isolates them:

* torch runs on one thread (``--torch-threads``), and the training thread (the main thread for
  the bare loop, the worker's job thread under the worker) pins itself to the first allowed CPU
  at the start of every timed epoch;
* everything else runs on the second CPU: the hub (the jupyter server's process tree, every
  thread of it) and every other Python thread of this process (the worker's link and sender
  thread "mlops-hub-link", checkpoint and upload threads, the main thread while it waits),
  pinned by native id at the start of every timed epoch.

What remains is the worker's cost on the training thread: its per-batch hook and the teed
prints. The CPU the sender thread and the hub spend is reported beside it, per batch.

For each batch size, ``--pairs`` measured pairs (after one warm-up pair) of one epoch bare
(``train_epoch`` with no callbacks) and one epoch inside a worker trial (every batch's loss sent
to a live hub as an event, prints teed to the job log), on a generated CIFAR-10-layout set.
The order within a pair alternates. The overhead is the median over pairs of (worker epoch
time / bare epoch time) - 1, with its IQR and min..max. Last, it times "job launched" (REST
POST of sample_conf.json) to "first trial's model stored" (GET /models lists it).

    python bench/bench_worker.py                  # ~4 min on 2 cores
    python bench/bench_worker.py --pairs 2 --batch-sizes 64 --launches 1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's jupyter_mlops and tests.support
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from _common import (  # noqa: E402
    median,
    percentile,
    pin_process_tree,
    thread_cpu_seconds,
    tree_cpu_seconds,
    wait_idle,
)

from jupyter_mlops.kernel_client import CallbackList, HubInfo, TrialResult, Worker  # noqa: E402
from jupyter_mlops.tutorial import (  # noqa: E402
    evaluate,
    load_data,
    make_loader,
    pick_device,
    run_trial,
    train_epoch,
    write_tiny_cifar,
)
from jupyter_mlops.tutorial.training import build_model  # noqa: E402
from tests.support.server import MLOpsServer  # noqa: E402

DEFAULTS = {"EPOCHS": 1, "BATCH_SIZE": 10, "LEARNING_RATE": 0.001, "KERNEL_SIZE": 3,
            "NUM_FILTERS": 20, "DENSE_WIDTH": 128}  # fmt: skip
SENDER_THREAD = "mlops-hub-link"  # WorkerLink's reconnecting websocket: link and sender
TARGET = 1.0  # per cent: the worker may slow the loop by at most this much


class Placement:
    """Which CPU trains and which runs everything else; pins threads by native id."""

    def __init__(self, enabled: bool) -> None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.enabled = enabled and len(cpus) >= 2
        self.train = {cpus[0]} if self.enabled else set(cpus)
        self.side = {cpus[1]} if self.enabled else set(cpus)
        self.hub_pid: int | None = None

    def describe(self) -> str:
        if not self.enabled:
            return "no pinning: training, worker threads and hub share every CPU"
        return (f"training thread on CPU {min(self.train)}; hub process tree and the other "
                f"threads of this process on CPU {min(self.side)}")  # fmt: skip

    def pin_hub(self) -> None:
        if self.enabled and self.hub_pid is not None:
            pin_process_tree(self.hub_pid, self.side)

    def pin_for_training(self) -> None:
        """Called on the training thread: it goes to the training CPU, the rest to the other."""
        if not self.enabled:
            return
        os.sched_setaffinity(threading.get_native_id(), self.train)
        me = threading.get_ident()
        for thread in threading.enumerate():
            if thread.ident != me and thread.native_id is not None:
                with contextlib.suppress(OSError):  # it may have ended meanwhile
                    os.sched_setaffinity(thread.native_id, self.side)


class TimedCallbacks(CallbackList):
    """The worker's callbacks, timing what the per-batch hook costs the training thread."""

    def __init__(self, inner: CallbackList) -> None:
        super().__init__(inner.callbacks, inner.stop_event)
        self.spent = 0.0
        self.calls = 0

    def on_train_batch_end(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        started = time.perf_counter()
        super().on_train_batch_end(epoch, batch, batches, loss)
        self.spent += time.perf_counter() - started
        self.calls += 1


def sender_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == SENDER_THREAD), None)


def thread_cpu(thread: threading.Thread | None) -> float:
    """CPU seconds of a live thread: its POSIX CPU clock (ns), else /proc (10 ms ticks)."""
    if thread is None or thread.ident is None or thread.native_id is None:
        return float("nan")
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (AttributeError, OSError):
        return thread_cpu_seconds(thread.native_id)


def timed_epoch(
    data: Any,
    params: dict[str, Any],
    callbacks: CallbackList | None,
    placement: Placement,
    hub_pid: int,
) -> dict[str, Any]:
    """Train one epoch from a fresh seeded model, on the calling (training) thread.

    Returns its wall time, the CPU time of the training thread, of the sender thread and of
    the hub's process tree over the epoch, the hook time (under the worker) and the model.
    """
    placement.pin_for_training()
    device = pick_device()
    torch.manual_seed(0)
    model = build_model(params, data).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["LEARNING_RATE"])
    loader = make_loader(data.train_x, data.train_y, params["BATCH_SIZE"], shuffle=True)
    timed = TimedCallbacks(callbacks) if callbacks is not None else None
    sender = sender_thread()
    sender_before = thread_cpu(sender)
    hub_before = tree_cpu_seconds(hub_pid)
    train_before = time.thread_time()
    started = time.perf_counter()
    train_epoch(model, loader, optimizer, device, 1, 1, timed)
    seconds = time.perf_counter() - started
    train_cpu = time.thread_time() - train_before
    hub_cpu = tree_cpu_seconds(hub_pid) - hub_before
    sender_cpu = thread_cpu(sender) - sender_before
    return {
        "seconds": seconds,
        "batches": len(loader),
        "train_cpu": train_cpu,
        "sender_cpu": sender_cpu,
        "hub_cpu": hub_cpu,
        "hook": timed.spent if timed is not None else 0.0,
        "model": model,
    }


def report_row(
    bs: int, bare: list[dict[str, Any]], under: list[dict[str, Any]], images: int
) -> tuple[str, str]:
    """One markdown table row and one verdict line for a batch size ("" if nothing ran)."""
    if not bare or not under:
        return "", ""
    n = bare[0]["batches"]
    pairs = list(zip(bare, under, strict=True))
    ratios = [w["seconds"] / b["seconds"] for b, w in pairs]
    over = [(r - 1) * 100 for r in ratios]
    over_cpu = [(w["train_cpu"] / b["train_cpu"] - 1) * 100 for b, w in pairs]
    noise = [abs(b["seconds"] / a["seconds"] - 1) * 100 for a, b in itertools.pairwise(bare)]
    noise_text = f"{median(noise):.2f} %" if noise else "n/a"
    # CPU per batch over all epochs together: one epoch's hub CPU may be a tick or two
    us = lambda rs, key: sum(r[key] for r in rs) / sum(r["batches"] for r in rs) * 1e6  # noqa: E731
    cells = [
        f"{bs}",
        f"{n}",
        f"{median([images / r['seconds'] for r in bare]):.0f}",
        f"{median([images / r['seconds'] for r in under]):.0f}",
        f"{median(over):+.2f} %",
        f"{percentile(over, 25):+.2f} .. {percentile(over, 75):+.2f} %",
        f"{min(over):+.2f} .. {max(over):+.2f} %",
        f"{median(over_cpu):+.2f} %",
        noise_text,
        f"{us(under, 'hook'):.1f}",
        f"{us(under, 'sender_cpu'):.1f} ({us(bare, 'sender_cpu'):.1f})",
        f"{us(under, 'hub_cpu'):.0f} ({us(bare, 'hub_cpu'):.0f})",
    ]
    met = "met" if median(over) <= TARGET else "NOT met"
    verdict = (
        f"batch size {bs}: <= {TARGET:g} % overhead {met} (median paired ratio "
        f"{median(ratios):.4f} over {len(ratios)} pairs; noise {noise_text})"
    )
    return "| " + " | ".join(cells) + " |", verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", "--repeats", dest="pairs", type=int, default=10,
                        help="measured (bare, worker) pairs per batch size, after one warm-up "
                        "pair (--repeats is the old name)")  # fmt: skip
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--batch-sizes", default="10,64,256")
    parser.add_argument("--launches", type=int, default=3,
                        help="launch-to-first-model timings (0 skips them)")  # fmt: skip
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="leave threads and the hub "
                        "unpinned (with --torch-threads 2: the old, noisy setup)")  # fmt: skip
    parser.add_argument("--json", help="also write the per-epoch numbers to this file")
    args = parser.parse_args()
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    torch.set_num_threads(args.torch_threads)
    with contextlib.suppress(RuntimeError):  # only before torch's first parallel work
        torch.set_num_interop_threads(args.torch_threads)
    placement = Placement(enabled=not args.no_pin)

    base = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    write_tiny_cifar(base / "data", per_batch=args.images // 5, test=500)
    with contextlib.redirect_stdout(io.StringIO()):
        data = load_data(base / "data", download=False)
    server = MLOpsServer(base / "server", grace_seconds=60).start()
    assert server.process is not None
    hub_pid = placement.hub_pid = server.process.pid
    placement.pin_hub()
    wait_idle(hub_pid, window=0.5, timeout=30)
    results: dict[str, Any] = {}
    done = threading.Event()

    def bench_trial(params: dict[str, Any], callbacks: CallbackList) -> TrialResult:
        results.clear()
        results.update(timed_epoch(data, params, callbacks, placement, hub_pid))
        done.set()
        model = results["model"]
        test = make_loader(data.test_x, data.test_y, 500, shuffle=False)
        return TrialResult(model, evaluate(model, test, pick_device(), data.classes),
                           data.classes, data.test_x[:2].clone(), data.normalization)  # fmt: skip

    hub = HubInfo(server.url, server.token)
    worker = Worker(bench_trial, DEFAULTS, "bench", hub, local_dir=base / "worker", echo=False)
    worker.start()
    runs: dict[int, dict[str, list[dict[str, Any]]]] = {
        bs: {"bare": [], "worker": []} for bs in sizes
    }
    load_before = os.getloadavg()[0]
    events = 0
    wall_start = time.monotonic()
    try:
        for pair in range(-1, args.pairs):  # pair -1 warms up and is not recorded
            placement.pin_hub()
            for index, bs in enumerate(sizes):
                params = {**DEFAULTS, "BATCH_SIZE": bs}
                order = ["bare", "worker"] if (pair + index) % 2 == 0 else ["worker", "bare"]
                for variant in order:
                    # the hub and the sender finish the previous epoch's work first
                    worker.connection.flush(10)
                    wait_idle(hub_pid, window=0.25, max_cores=0.05, timeout=10)
                    if variant == "bare":
                        with contextlib.redirect_stdout(io.StringIO()):
                            run = timed_epoch(data, params, None, placement, hub_pid)
                    else:
                        done.clear()
                        before = worker.outbox.last_seq
                        conf = {"BATCH_SIZE": bs, "EPOCHS": 1}
                        job = server.api("POST", "jobs", {"conf": conf, "worker": "bench"})[1]
                        if not done.wait(600):
                            raise RuntimeError(f"the worker did not train job {job['id']}")
                        run = dict(results)
                        server.wait_for(
                            lambda j=job: (
                                server.api("GET", f"jobs/{j['id']}")[1]["status"] == "finished"
                            ),
                            timeout=120,
                        )
                        if pair >= 0:
                            events += worker.outbox.last_seq - before
                    run.pop("model", None)
                    if pair >= 0:
                        runs[bs][variant].append(run)
            print(f"pair {pair + 1}/{args.pairs} done" if pair >= 0 else "warm-up done",
                  file=sys.stderr)  # fmt: skip
        measured_s = time.monotonic() - wall_start
        launch: list[float] = []
        conf = json.loads((ROOT / "sample_conf.json").read_text())
        worker.train_fn = lambda p, cb: run_trial(p, cb, data=data)
        for _ in range(args.launches):
            server.api("DELETE", "models")
            started = time.perf_counter()
            job = server.api("POST", "jobs", {"conf": conf, "worker": "bench"})[1]
            server.wait_for(lambda: server.api("GET", "models")[1]["models"], interval=0.05)
            launch.append(time.perf_counter() - started)
            server.wait_for(
                lambda j=job: server.api("GET", f"jobs/{j['id']}")[1]["status"] == "finished"
            )
    finally:
        worker.stop()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)

    print(f"\n{args.images} images 3x16x16, seed CNN (46,558 parameters), Adam, 1 epoch, "
          f"{torch.get_num_threads()} torch thread(s), device {pick_device()}; "
          f"{args.pairs} measured pairs per batch size (+1 warm-up), order alternating; "
          f"worker = every batch's loss as an event to a live hub (same machine); "
          f"{events} events sent by the measured worker trials; the pairs (and warm-up) "
          f"took {measured_s:.0f} s")  # fmt: skip
    print(f"placement: {placement.describe()}")
    print(f"load average (1 min) at start {load_before:.1f}, at end {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    print(
        "\n| batch size | batches | bare img/s | worker img/s | overhead: median of paired "
        "ratios | IQR | min .. max | overhead in training-thread CPU time | noise: bare vs "
        "next bare | hooks on training thread, us/batch | sender thread CPU, us/batch (bare) "
        "| hub CPU, us/batch (bare) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for bs in sizes:
        row, verdict = report_row(bs, runs[bs]["bare"], runs[bs]["worker"], args.images)
        if row:
            print(row)
            verdicts.append(verdict)
    print()
    print("\n".join(verdicts))
    print("Overheads are worker/bare - 1 per pair. Noise: the median |change| between one bare "
          "epoch and the next pair's, what two identical runs differ by on this machine now. "
          "Time and CPU columns per batch: totals over the measured epochs / their batches; in "
          "brackets the same during the bare epochs (idle). Sender: its thread's CPU clock. "
          "Hub: the jupyter server's whole process tree from /proc (10 ms ticks).")  # fmt: skip
    if launch:
        print(f"\njob launched -> first trial's model stored (sample_conf.json, BATCH_SIZE 10, "
              f"1 epoch): median {median(launch):.2f} s "
              f"(min {min(launch):.2f}, max {max(launch):.2f})")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "launch_s": launch}, indent=1))


if __name__ == "__main__":
    main()
