"""Benchmark: the tutorial's training loop bare vs under the worker, and launch-to-model time.

One run prints a table. For each batch size (10, 64, 256) and each repeat, interleaved, it
times one epoch of the bare loop (``train_epoch`` with no callbacks) and one epoch of the same
loop inside a worker trial (every batch's loss sent to a real hub over the worker websocket,
prints teed to the job log), on a generated CIFAR-10-layout set of 10,000 images. Overhead is
the median over repeats of (bare img/s / worker img/s - 1). It also times "job launched" (REST
POST of sample_conf.json) to "first trial's model stored" (GET /models lists it).

    python bench/bench_worker.py --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jupyter_mlops.kernel_client import CallbackList, TrialResult, Worker  # noqa: E402
from jupyter_mlops.kernel_client.discovery import HubInfo  # noqa: E402
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


def timed_epoch(data: Any, params: dict[str, Any], callbacks: CallbackList | None) -> tuple:
    """Train one epoch from a fresh seeded model; return (images/s, model)."""
    device = pick_device()
    torch.manual_seed(0)
    model = build_model(params, data).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["LEARNING_RATE"])
    loader = make_loader(data.train_x, data.train_y, params["BATCH_SIZE"], shuffle=True)
    started = time.perf_counter()
    train_epoch(model, loader, optimizer, device, 1, 1, callbacks)
    return len(data.train_y) / (time.perf_counter() - started), model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--batch-sizes", default="10,64,256")
    args = parser.parse_args()
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    write_tiny_cifar(base / "data", per_batch=args.images // 5, test=500)
    with contextlib.redirect_stdout(io.StringIO()):
        data = load_data(base / "data", download=False)
    server = MLOpsServer(base / "server", grace_seconds=60).start()
    results: dict[str, float] = {}
    done = threading.Event()

    def bench_trial(params: dict[str, Any], callbacks: CallbackList) -> TrialResult:
        timed = TimedCallbacks(callbacks)
        ips, model = timed_epoch(data, params, timed)
        results["ips"] = ips
        results["hook_us"] = timed.spent / max(1, timed.calls) * 1e6
        results["hook_share"] = timed.spent * ips / len(data.train_y) * 100
        done.set()
        test = make_loader(data.test_x, data.test_y, 500, shuffle=False)
        return TrialResult(model, evaluate(model, test, pick_device(), data.classes),
                           data.classes, data.test_x[:2].clone(), data.normalization)  # fmt: skip

    hub = HubInfo(server.url, server.token)
    worker = Worker(bench_trial, DEFAULTS, "bench", hub, local_dir=base / "worker", echo=False)
    worker.start()
    rows: dict[int, dict[str, list[float]]] = {
        bs: {"bare": [], "worker": [], "hook_us": [], "hook_share": []} for bs in sizes
    }
    load_before = os.getloadavg()[0]
    events = 0
    try:
        for repeat in range(-1, args.repeats):  # repeat -1 warms up and is not recorded
            for bs in sizes:
                params = {**DEFAULTS, "BATCH_SIZE": bs}
                order = ["bare", "worker"] if repeat % 2 else ["worker", "bare"]
                for variant in order:
                    if variant == "bare":
                        with contextlib.redirect_stdout(io.StringIO()):
                            ips = timed_epoch(data, params, None)[0]
                        if repeat >= 0:
                            rows[bs]["bare"].append(ips)
                        continue
                    done.clear()
                    before = worker.outbox.last_seq
                    conf = {"BATCH_SIZE": bs, "EPOCHS": 1}
                    job = server.api("POST", "jobs", {"conf": conf, "worker": "bench"})[1]
                    done.wait(600)
                    if repeat >= 0:
                        for key in ("hook_us", "hook_share"):
                            rows[bs][key].append(results[key])
                        rows[bs]["worker"].append(results["ips"])
                    server.wait_for(
                        lambda j=job: (
                            server.api("GET", f"jobs/{j['id']}")[1]["status"] == "finished"
                        ),
                        timeout=120,
                    )
                    events += (worker.outbox.last_seq - before) if repeat >= 0 else 0
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
        launch: list[float] = []
        conf = json.loads((ROOT / "sample_conf.json").read_text())
        worker.train_fn = lambda p, cb: run_trial(p, cb, data=data)
        for _ in range(args.repeats):
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

    print(f"\n{args.images} images 3x16x16, seed CNN (46,558 parameters), Adam, 1 epoch, "
          f"{torch.get_num_threads()} torch threads, device {pick_device()}, "
          f"{args.repeats} interleaved repeats; worker = every batch's loss as an event to a "
          f"live hub (same machine); {events} events sent in all")  # fmt: skip
    print(f"load average (1 min) at start {load_before:.1f}, at end {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    print(
        "\n| batch size | batches | bare img/s | worker img/s | overhead (median of ratios) "
        "| min .. max | hook cost per batch | hook share of loop time |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for bs in sizes:
        bare, under = rows[bs]["bare"], rows[bs]["worker"]
        overheads = [(b / w - 1) * 100 for b, w in zip(bare, under, strict=True)]
        print(f"| {bs} | {-(-args.images // bs)} | {statistics.median(bare):.0f} | "
              f"{statistics.median(under):.0f} | {statistics.median(overheads):+.1f} % | "
              f"{min(overheads):+.1f} .. {max(overheads):+.1f} % | "
              f"{statistics.median(rows[bs]['hook_us']):.1f} us | "
              f"{statistics.median(rows[bs]['hook_share']):.2f} % |")  # fmt: skip
    print(f"\njob launched -> first trial's model stored (sample_conf.json, BATCH_SIZE 10, "
          f"1 epoch): median {statistics.median(launch):.2f} s "
          f"(min {min(launch):.2f}, max {max(launch):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
