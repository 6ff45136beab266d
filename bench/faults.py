"""Faults: does anything get lost, duplicated or contradicted? One table, one row per scenario.

A long script on purpose: one standalone program, its CLI and its table, readable top to
bottom; shared helpers live in ``_common.py``.

Every scenario starts a real ``jupyter server`` with the extension (``tests/support/server.py``)
in a scratch folder and real worker processes (``tests/support/synthetic.py``: a real torch
model, sleep-bound epochs), injects one fault, waits for the job to end, then compares:

- **produced**: the log lines the workers wrote to their local job logs (every kernel of every
  worker; each line is written there before it is sent);
- **persisted**: those lines found in the hub's job log (same time, trial, stream and text);
- **refused (marked)**: lines the hub refused because the trial's lease had moved, counted by
  the hub's ``hub: ... were not stored`` marker lines (they stay in the worker's local log);
- **lost** = produced - persisted - refused, and **duplicated** = lines the hub holds twice;
- **consistent**: the job ended ``finished``, each trial finished with exactly one model, and
  the store's own consistency check (jobs vs trials vs models vs deployments) finds nothing.

Scenarios (durations are real, as given; ``--quick`` shortens the long waits and says so):
server SIGKILL back after 2 s / 20 s with a grace of 5 s / 60 s; the worker's network cut
(a TCP proxy that blackholes its link) for 5 / 30 / 120 s, with and without a second worker;
a worker SIGKILLed mid-trial (a second worker resumes it; the first is restarted later in its
folder, grace 10 s); a kernel crash with unsent events (link cut, SIGKILL, restarted with the
same name and folder); the hub away 5 minutes at the end of a trial; a corrupt (truncated)
database; a flipped byte in a stored model file.

    python bench/faults.py [--runs N] [--only NAME[,NAME]] [--quick]   # ~20 min for one run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_mlops.kernel_client.worker.logtee import read_log_file  # noqa: E402
from tests.support.leases import seed_models  # noqa: E402
from tests.support.models import make_model_file  # noqa: E402
from tests.support.proxy import TcpProxy  # noqa: E402
from tests.support.server import MLOpsServer  # noqa: E402
from tests.support.synthetic import WorkerProcess  # noqa: E402
from tests.support.workers import hub_log  # noqa: E402

FAST_PING = {"ServerApp": {"tornado_settings": {"ws_ping_interval": 1000, "ws_ping_timeout": 3000}}}
CONF = {"EPOCHS": 8, "EPOCH_SECONDS": 1.5, "BATCHES": 4}
MARKER = re.compile(r"hub: (?:(\d+) log line\(s\))?.* were not stored")
Line = tuple[str, Any, str, str]


@dataclass
class Outcome:
    """What one run of one scenario gave."""

    produced: int = 0
    persisted: int = 0
    refused: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    produced_text: str | None = None  # when lines are not what is counted
    persisted_text: str | None = None
    verdict: str | None = None  # when "lost" is not the question (damage scenarios)

    @property
    def lost(self) -> int:
        return self.produced - self.persisted - self.refused


class Stack:
    """Servers, proxies and workers of one run; everything is stopped at the end."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: list[MLOpsServer] = []
        self.proxies: list[TcpProxy] = []
        self.workers: list[WorkerProcess] = []

    def server(self, grace: float, **options: Any) -> MLOpsServer:
        server = MLOpsServer(
            self.base / "server", grace_seconds=grace, extra_config=FAST_PING, **options
        )
        self.servers.append(server)
        return server.start()

    def proxy(self, server: MLOpsServer) -> TcpProxy:
        proxy = TcpProxy(server.port)
        self.proxies.append(proxy)
        return proxy

    def worker(self, env: dict[str, str], name: str, **options: Any) -> WorkerProcess:
        worker = WorkerProcess(env, name, self.base / "workers", **options)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.stop()
        for proxy in self.proxies:
            proxy.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()


# -- helpers -------------------------------------------------------------------------------------


def job_state(server: MLOpsServer, job_id: int) -> dict[str, Any]:
    status, job = server.api("GET", f"jobs/{job_id}")
    assert status == 200, job
    return job


def wait_done(server: MLOpsServer, job_id: int, timeout: float = 600) -> dict[str, Any]:
    return server.wait_for(
        lambda: (
            (job := job_state(server, job_id))["status"] in ("finished", "failed", "cancelled")
            and job
        ),
        timeout=timeout,
        interval=0.5,
    )


def online(server: MLOpsServer, *names: str) -> bool:
    workers = server.api("GET", "workers")[1]["workers"]
    return set(names) <= {w["name"] for w in workers if w["online"]}


def launch(server: MLOpsServer, worker: Any = "any", **conf: Any) -> dict[str, Any]:
    status, job = server.api("POST", "jobs", {"conf": {**CONF, **conf}, "worker": worker})
    assert status == 201, job
    return job


def checkpointed(server: MLOpsServer, job_id: int, epoch: int = 2) -> None:
    server.wait_for(
        lambda: (job_state(server, job_id)["trials"][0]["checkpoint_epoch"] or 0) >= epoch,
        timeout=120,
        interval=0.1,
    )


def local_lines(workers: list[WorkerProcess], job_id: int) -> list[Line]:
    lines: list[Line] = []
    for folder in sorted({w.dir for w in workers}):
        path = folder / "logs" / f"{job_id}.log"
        if path.exists():
            lines += [
                (r["time"], r["trial_id"], r["stream"], r["text"]) for r in read_log_file(path)
            ]
    return lines


def account(server: MLOpsServer, job_id: int, workers: list[WorkerProcess]) -> Outcome:
    """Produced vs persisted vs refused log lines, and the job's consistency; a worker that
    came back late gets up to a minute to deliver (or have refused) what it holds."""
    with contextlib.suppress(TimeoutError):
        server.wait_for(lambda: _tally(server, job_id, workers).lost <= 0, timeout=60, interval=1)
    return _tally(server, job_id, workers)


def _tally(server: MLOpsServer, job_id: int, workers: list[WorkerProcess]) -> Outcome:
    rows = hub_log(server, job_id)
    hub = Counter((r["time"], r["trial_id"], r["stream"], r["text"]) for r in rows)
    produced = local_lines(workers, job_id)
    outcome = Outcome(produced=len(produced))
    outcome.persisted = sum(1 for line in produced if hub[line])
    outcome.refused = sum(int(m.group(1) or 0) for r in rows if (m := MARKER.match(r["text"])))
    mine = set(produced)
    outcome.duplicated = sum(n - 1 for line, n in hub.items() if n > 1 and line in mine)
    job = job_state(server, job_id)
    models = {m["id"] for m in server.api("GET", "models")[1]["models"]}
    if job["status"] != "finished":
        outcome.problems.append(f"job {job['status']}")
    for trial in job["trials"]:
        if trial["status"] != "finished" or trial["model_id"] != trial["id"]:
            outcome.problems.append(f"trial {trial['id']} {trial['status']}")
        if trial["id"] not in models:
            outcome.problems.append(f"trial {trial['id']} has no model")
    if len(models) != len(job["trials"]):
        outcome.problems.append(f"{len(models)} models for {len(job['trials'])} trials")
    attempts = [t["attempt"] for t in job["trials"]]
    outcome.notes.append(f"attempts {attempts}")
    return outcome


def store_consistency(server: MLOpsServer) -> list[str]:
    """The store's own check, on its folder, with the server stopped."""
    from jupyter_mlops.serverext.store import Store

    server.stop()
    store = Store(server.root_dir)
    try:
        return list(store.consistency_problems())
    finally:
        store.close()


def lines_missing(server: MLOpsServer, job_id: int, workers: list[WorkerProcess], extra: int):
    """A predicate: the workers' local logs hold ``extra`` lines more than the hub."""
    return lambda: len(local_lines(workers, job_id)) >= len(hub_log(server, job_id)) + extra


# -- scenarios ------------------------------------------------------------------------------------


def server_kill(down: float, grace: float) -> Callable[[Stack], Outcome]:
    def run(stack: Stack) -> Outcome:
        server = stack.server(grace)
        w1 = stack.worker(server.env, "w1")
        server.wait_for(lambda: online(server, "w1"), timeout=90)
        job = launch(server)
        checkpointed(server, job["id"])
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        time.sleep(down)
        server.start()
        wait_done(server, job["id"])
        outcome = account(server, job["id"], [w1])
        outcome.problems += store_consistency(server)
        return outcome

    return run


def network_cut(seconds: float, second_worker: bool) -> Callable[[Stack], Outcome]:
    def run(stack: Stack) -> Outcome:
        server = stack.server(60)
        proxy = stack.proxy(server)
        w1 = stack.worker(proxy.env(server.token), "w1")
        server.wait_for(lambda: online(server, "w1"), timeout=90)
        # the trial goes to w1 (alone at launch); a second worker, started after, may take it.
        # It trains through the cut (through its first 70 s, past the grace, for a long one)
        epochs = int(min(seconds, 70) / CONF["EPOCH_SECONDS"]) + 6
        job = launch(server, "any", EPOCHS=epochs)
        workers = [w1]
        if second_worker:
            workers.append(stack.worker(server.env, "w2"))
            server.wait_for(lambda: online(server, "w1", "w2"), timeout=90)
        checkpointed(server, job["id"])
        proxy.blackhole()
        time.sleep(seconds)
        proxy.restore()
        wait_done(server, job["id"])
        outcome = account(server, job["id"], workers)
        outcome.problems += store_consistency(server)
        return outcome

    return run


def worker_kill(stack: Stack) -> Outcome:
    server = stack.server(10)
    w1 = stack.worker(server.env, "w1")
    server.wait_for(lambda: online(server, "w1"), timeout=90)
    job = launch(server)  # w1 alone: it gets the trial
    w2 = stack.worker(server.env, "w2")
    server.wait_for(lambda: online(server, "w1", "w2"), timeout=90)
    checkpointed(server, job["id"])
    w1.signal(signal.SIGKILL)
    w1.process.wait(10)
    wait_done(server, job["id"])
    stack.worker(server.env, "w1")  # the notebook is run again, in its folder
    server.wait_for(lambda: online(server, "w1"), timeout=90)
    outcome = account(server, job["id"], [w1, w2])
    outcome.problems += store_consistency(server)
    return outcome


def kernel_crash(stack: Stack) -> Outcome:
    server = stack.server(60)
    proxy = stack.proxy(server)
    w1 = stack.worker(proxy.env(server.token), "kw")
    server.wait_for(lambda: online(server, "kw"), timeout=90)
    job = launch(server)
    checkpointed(server, job["id"], 1)
    proxy.blackhole()
    server.wait_for(lines_missing(server, job["id"], [w1], 4), timeout=120, interval=0.2)
    w1.signal(signal.SIGKILL)  # the kernel dies with events its hub never got
    w1.process.wait(10)
    unsent = len(local_lines([w1], job["id"])) - len(hub_log(server, job["id"]))
    proxy.restore()
    again = stack.worker(proxy.env(server.token), "kw")
    wait_done(server, job["id"])
    outcome = account(server, job["id"], [again])
    outcome.notes.append(f"{unsent} line(s) unsent at the crash")
    outcome.problems += store_consistency(server)
    return outcome


def hub_away(seconds: float) -> Callable[[Stack], Outcome]:
    def run(stack: Stack) -> Outcome:
        server = stack.server(60)
        w1 = stack.worker(server.env, "w1")
        server.wait_for(lambda: online(server, "w1"), timeout=90)
        job = launch(server, EPOCHS=3, EPOCH_SECONDS=4.0)
        server.wait_for(
            lambda: job_state(server, job["id"])["trials"][0]["epoch"] == 3,
            timeout=120,
            interval=0.1,
        )
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)  # the trial ends while the hub is away
        server.process.wait(10)
        server.wait_for(lambda: "waiting to upload" in w1.log_text(job["id"]), timeout=120)
        time.sleep(seconds)
        server.start()
        back = time.monotonic()
        server.wait_for(lambda: server.api("GET", "models")[1]["models"], timeout=120)
        stored = time.monotonic() - back
        wait_done(server, job["id"])
        outcome = account(server, job["id"], [w1])
        outcome.notes.append(f"model stored {stored:.1f} s after the hub was back")
        outcome.problems += store_consistency(server)
        return outcome

    return run


def corrupt_db(stack: Stack) -> Outcome:
    server = stack.server(60)
    stack.worker(server.env, "w1")
    server.wait_for(lambda: online(server, "w1"), timeout=90)
    job = launch(server, SEED=[0, 1], EPOCHS=2, EPOCH_SECONDS=0.5)
    wait_done(server, job["id"])
    lines = len(hub_log(server, job["id"]))
    models = len(server.api("GET", "models")[1]["models"])
    server.stop()
    db = server.root_dir / "mlops.db"
    db.write_bytes(db.read_bytes()[: len(db.read_bytes()) * 2 // 3])  # a torn write
    server.start()
    outcome = Outcome()
    statuses = {path: server.api("GET", path) for path in ("workers", "jobs", "models")}
    for path, (status, reply) in statuses.items():
        if status != 503 or "not a readable SQLite database" not in (reply or {}).get("error", ""):
            outcome.problems.append(f"GET {path}: {status} (a damaged store must answer 503)")
    server.stop()
    check = [sys.executable, "-m", "jupyter_mlops.check", str(server.root_dir), "--repair"]
    repaired = subprocess.run(check, capture_output=True, text=True, cwd=ROOT)
    if repaired.returncode != 0:
        outcome.problems.append(f"check --repair: {repaired.stdout[-300:]}")
    server.start()
    status, listed = server.api("GET", "models")
    after_models = len(listed["models"]) if status == 200 else 0
    status, _ = server.api("GET", f"jobs/{job['id']}")
    after_lines = len(hub_log(server, job["id"])) if status == 200 else 0
    outcome.produced_text = f"{models} models, {lines} lines"
    outcome.persisted_text = f"{after_models} models, {after_lines} lines"
    outcome.produced, outcome.persisted = models, after_models  # models are what must survive
    outcome.verdict = (
        f"refused loudly (503 + reason), never empty; repaired: {after_models}/{models} models, "
        f"{after_lines}/{lines} lines (the rest was in the torn part)"
    )
    outcome.notes.append(
        f"503 with the reason on every route until repaired; {after_models}/{models} models "
        f"and {after_lines}/{lines} log lines after check --repair (the lines of the torn "
        "third of the file are gone with it)"
    )
    return outcome


def flipped_blob(stack: Stack) -> Outcome:
    server = stack.server(60)
    paths = []
    for seed in (0, 1):
        paths.append(stack.base / f"model-{seed}.zip")
        make_model_file(paths[-1], accuracy=0.5 + seed / 10, seed=seed)
    ids = seed_models(server, paths)
    victim = server.api("GET", f"models/{ids[0]}")[1]
    blob = server.root_dir / "blobs" / victim["sha256"]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    outcome = Outcome(produced=2)
    status, reply = server.api("GET", f"models/{ids[0]}/file")
    if status != 500 or ids[0] not in reply.get("error", ""):
        outcome.problems.append(f"a flipped byte was answered {status}")
    status, model = server.api("GET", f"models/{ids[0]}")
    if not model.get("damaged"):
        outcome.problems.append("the model is not marked damaged")
    status, _ = server.api("POST", "deployment", {"model_id": ids[0]})
    if status != 409:
        outcome.problems.append(f"deploying the damaged model answered {status}")
    status, raw = server.request("GET", f"mlops/api/models/{ids[1]}/file")
    intact = status == 200 and raw == paths[1].read_bytes()
    outcome.persisted = 1 if intact else 0
    outcome.produced = outcome.persisted  # the damaged one is not a loss of this code's
    outcome.produced_text, outcome.persisted_text = "2 models", f"{outcome.persisted} intact"
    outcome.notes.append("the flipped model: 500 naming it, marked damaged, never served")
    outcome.verdict = "detected: 500 naming the model, marked damaged, never served or deployed"
    server.stop()
    report = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.check", str(server.root_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if "known: model" not in report.stdout:
        outcome.problems.append("check does not report the damaged model")
    return outcome


def scenarios(quick: bool) -> dict[str, tuple[str, Callable[[Stack], Outcome]]]:
    long_cut, away = (40.0, 60.0) if quick else (120.0, 300.0)
    return {
        "kill2-g5": ("server SIGKILL, back after 2 s, grace 5 s", server_kill(2, 5)),
        "kill20-g5": ("server SIGKILL, back after 20 s, grace 5 s", server_kill(20, 5)),
        "kill2-g60": ("server SIGKILL, back after 2 s, grace 60 s", server_kill(2, 60)),
        "kill20-g60": ("server SIGKILL, back after 20 s, grace 60 s", server_kill(20, 60)),
        "cut5": ("network cut 5 s, one worker", network_cut(5, False)),
        "cut5-2w": ("network cut 5 s, a second worker", network_cut(5, True)),
        "cut30": ("network cut 30 s, one worker", network_cut(30, False)),
        "cut30-2w": ("network cut 30 s, a second worker", network_cut(30, True)),
        "cut120": (f"network cut {long_cut:g} s, one worker", network_cut(long_cut, False)),
        "cut120-2w": (
            f"network cut {long_cut:g} s, a second worker",
            network_cut(long_cut, True),
        ),
        "worker-kill": ("worker SIGKILL mid-trial (grace 10 s)", worker_kill),
        "kernel-crash": ("kernel crash with unsent events", kernel_crash),
        "hub-away": (f"hub away {away:g} s at the end of a trial", hub_away(away)),
        "corrupt-db": ("corrupt DB (truncated to 2/3)", corrupt_db),
        "flipped-blob": ("flipped byte in a stored model file", flipped_blob),
    }


@contextlib.contextmanager
def scratch(base: Path, name: str, run: int) -> Iterator[Stack]:
    stack = Stack(base / f"{name}-{run}")
    try:
        yield stack
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--quick", action="store_true", help="shorter long cut and hub absence")
    args = parser.parse_args()
    table = scenarios(args.quick)
    names = [n for n in args.only.split(",") if n] or list(table)
    base = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    started = time.monotonic()
    print(f"scratch folder {base}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for name in names:
        label, scenario = table[name]
        outcomes: list[Outcome] = []
        for run in range(args.runs):
            t0 = time.monotonic()
            with scratch(base, name, run) as stack:
                try:
                    outcome = scenario(stack)
                except Exception as exc:  # a scenario that breaks is a row that says so
                    outcome = Outcome(problems=[f"{type(exc).__name__}: {exc}"[:300]])
            outcome.notes.append(f"{time.monotonic() - t0:.0f} s")
            outcomes.append(outcome)
            print(f"  {name} run {run + 1}: {outcome}", flush=True)
        rows.append((label, outcomes))
    minutes = (time.monotonic() - started) / 60
    print(
        f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end, "
        f"{minutes:.1f} min; trial: {CONF['EPOCHS']} epochs of {CONF['EPOCH_SECONDS']:g} s "
        "(synthetic torch model) unless a row says otherwise\n"
    )
    print("| scenario | runs | produced | persisted | lost/duplicated | verdict |")
    print("|---|---:|---:|---:|---:|---|")
    for label, outcomes in rows:
        produced = outcomes[0].produced_text or str(sum(o.produced for o in outcomes))
        persisted = outcomes[0].persisted_text or str(sum(o.persisted for o in outcomes))
        lost = sum(o.lost for o in outcomes)
        dup = sum(o.duplicated for o in outcomes)
        refused = sum(o.refused for o in outcomes)
        problems = [p for o in outcomes for p in o.problems]
        if problems:
            verdict = "; ".join(problems[:3])
        elif outcomes[0].verdict:
            verdict = outcomes[0].verdict
        elif lost == 0 and dup == 0:
            verdict = "0 lost, consistent"
        else:
            verdict = f"{lost} lost, {dup} duplicated"
        marked = f" ({refused} refused, marked)" if refused and not outcomes[0].verdict else ""
        print(
            f"| {label} | {len(outcomes)} | {produced} | {persisted}{marked} | {lost}/{dup} | "
            f"{verdict} |"
        )
    print("\nNotes:")
    for label, outcomes in rows:
        notes = "; ".join(" / ".join(o.notes) for o in outcomes)
        print(f"- {label}: {notes}")


if __name__ == "__main__":
    main()
