"""The commands that talk to a hub: each takes the parsed arguments and returns an exit code."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_mlops.cli import show
from jupyter_mlops.client import Client
from jupyter_mlops.records import Job


def client(args: argparse.Namespace) -> Client:
    return Client(args.url, args.token)


# -- workers --------------------------------------------------------------------------------


def workers(args: argparse.Namespace) -> int:
    hub = client(args)
    if args.action == "forget":
        forgotten = hub.forget_worker(args.name)
        print(f"forgot worker {forgotten.name} (id {forgotten.id})")
        return 0
    found = hub.workers()
    if args.json:
        show.as_json(found)
        return 0
    if not found:
        print("no workers yet: run a notebook that calls start_worker(...), or:")
        print("  jupyter mlops worker NOTEBOOK")
        return 0
    show.table(
        ["NAME", "STATUS", "DEVICE", "JOB", "TRIAL", "LAST SEEN"],
        [[w.name, w.status, w.device, w.current_job, w.current_trial, w.last_seen] for w in found],
    )
    return 0


# -- jobs -----------------------------------------------------------------------------------


def read_conf(path: str) -> dict[str, Any]:
    """A conf from a JSON file (``-``: standard input)."""
    text = sys.stdin.read() if path == "-" else Path(path).expanduser().read_text()
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"error: {path} is not JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise SystemExit(f'error: {path} must hold a JSON object like {{"EPOCHS": [1, 2]}}')
    return conf


def launch(args: argparse.Namespace) -> int:
    hub = client(args)
    conf = read_conf(args.conf)
    worker: str | list[str] = args.worker[0] if len(args.worker or []) == 1 else args.worker
    worker = worker or "any"
    checked = hub.validate(conf, worker)
    for problem in checked.get("warnings") or []:
        print(f"warning: {problem.get('key') or 'conf'}: {problem['message']}", file=sys.stderr)
    if not checked.get("valid", True):
        print(f"error: {args.conf} is invalid:", file=sys.stderr)
        for problem in checked.get("errors") or []:
            print(f"  {problem.get('key') or 'conf'}: {problem['message']}", file=sys.stderr)
        return 1
    job = hub.launch(conf, worker)
    target = worker if isinstance(worker, str) else ", ".join(worker)
    print(f"job {job.id}: {job.trial_count} trial(s) on {target} ({job.status})")
    if args.detach:
        print(f"follow it with: jupyter mlops logs {job.id} --follow")
        return 0
    return follow(hub, job.id)


def follow(hub: Client, job_id: int) -> int:
    """Show a job's progress until it ends; its trials and best model then."""
    live = show.Live()

    def update(job: Job) -> None:
        trial = show.running_trial(job)
        key = f"{job.status} {job.trials_done} {trial and trial.id} {trial and trial.epoch}"
        live.show(show.job_line(job), key)

    try:
        job = hub.wait(job_id, on_update=update)
    except KeyboardInterrupt:
        live.done()
        print(f"\nstopped following; job {job_id} keeps running (jupyter mlops cancel {job_id})")
        return 130
    live.done()
    summary(hub, job)
    return 0 if job.status == "finished" else 1


def summary(hub: Client, job: Job) -> None:
    """A job's trials and the best of them."""
    varying = sorted({k for t in job.trials for k, v in t.params.items() if _varies(job, k, v)})
    metric = hub.search(job.id)
    rows = []
    for t in job.trials:
        value = (t.metrics or {}).get(metric.metric)
        rows.append([t.id, t.status, *(t.params.get(k) for k in varying), value, t.model_id])
    show.table(["TRIAL", "STATUS", *varying, metric.metric.upper(), "MODEL"], rows)
    if job.error:
        print(f"job {job.id} {job.status}: {job.error}")
    if metric.best_trial is not None:
        deployed = hub.deployment()
        best = metric.best_trial.model_id
        note = " (deployed)" if deployed is not None and deployed.model_id == best else ""
        print(
            f"best: trial {metric.best_trial.id}, {metric.metric} {show.cell(metric.best_value)}"
            f", model {best}{note}"
        )


def _varies(job: Job, key: str, value: Any) -> bool:
    return any(t.params.get(key) != value for t in job.trials)


def jobs(args: argparse.Namespace) -> int:
    found = client(args).jobs(status=args.status, worker=args.worker)
    if args.limit:
        found = found[: args.limit]
    if args.json:
        show.as_json(found)
        return 0
    show.table(
        ["ID", "STATUS", "TRIALS", "PROGRESS", "WORKER", "CREATED"],
        [
            [
                j.id,
                j.status,
                f"{j.trials_done}/{j.trial_count}",
                f"{j.progress:.0%}",
                j.workers or j.worker,
                j.created,
            ]
            for j in found
        ],
    )
    return 0


def job(args: argparse.Namespace) -> int:
    hub = client(args)
    found = hub.job(args.job)
    if args.json:
        show.as_json(found)
        return 0
    print(show.job_line(found))
    summary(hub, found)
    return 0


def cancel(args: argparse.Namespace) -> int:
    found = client(args).cancel(args.job)
    print(f"job {found.id}: {found.status}")
    return 0


def retry(args: argparse.Namespace) -> int:
    found = client(args).retry(args.job)
    print(f"job {found.id}: {found.status}, failed trials queued again")
    return 0


def logs(args: argparse.Namespace) -> int:
    try:
        for line in client(args).logs(args.job, after=args.after, follow=args.follow):
            where = line.get("trial_id") or "job"
            stream = sys.stderr if line.get("stream") == "stderr" else sys.stdout
            print(f"[{where}] {line['text']}", file=stream, flush=True)
    except KeyboardInterrupt:
        return 130
    return 0


# -- models and deployment ------------------------------------------------------------------


def models(args: argparse.Namespace) -> int:
    found = client(args).models(job_id=args.job)
    if args.json:
        show.as_json(found)
        return 0
    show.table(
        ["ID", "DEPLOYED", "TEST_ACCURACY", "TEST_LOSS", "PARAMS", "SIZE", "SHA1", "CREATED"],
        [
            [
                m.id,
                "*" if m.deployed else "",
                m.metrics.get("test_accuracy"),
                m.metrics.get("test_loss"),
                m.param_count,
                show.size(m.size),
                m.sha1[:12],
                m.created,
            ]
            for m in found
        ],
    )
    return 0


def deploy(args: argparse.Namespace) -> int:
    done = client(args).deploy(args.model)
    print(f"deployed model {done.model_id} (sha1 {done.sha1[:12]}, {done.reason})")
    serving = (done.extra.get("serving") or {}).get("model") or {}
    if serving.get("model_id"):
        print(f"serving {serving['model_id']} at /mlops/api/predict")
    return 0


def pull(args: argparse.Namespace) -> int:
    hub = client(args)
    meta = hub.model(args.model)
    dest = Path(args.dest).expanduser()
    target = dest / f"model-{meta.id}.zip" if dest.is_dir() else dest
    live = show.Live()
    started = time.monotonic()
    stop = threading.Event()

    def watch() -> None:  # the partial file is a hidden temp file next to the target
        while not stop.wait(0.2):
            got = sum(p.stat().st_size for p in target.parent.glob(f".{target.name}.*"))
            fraction = got / meta.size if meta.size else 0.0
            live.show(
                f"{meta.id} {show.bar(fraction)} {show.size(got)}/{show.size(meta.size)}",
                key="progress",
            )

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        saved = hub.download(meta.id, target)
    finally:
        stop.set()
        watcher.join()
        live.done()
    took = time.monotonic() - started
    print(
        f"saved model {meta.id} to {saved} ({show.size(meta.size)}, sha256 checked, {took:.1f} s)"
    )
    return 0


# -- tokens ---------------------------------------------------------------------------------


def tokens(args: argparse.Namespace) -> int:
    hub = client(args)
    if args.action == "create":
        issued = hub.create_token(args.name, args.scope)
        print(f"{args.scope} token {issued.token.id} ({issued.token.name}); shown this once:")
        for line in issued.setup:
            print(f"  {line}")
        return 0
    if args.action == "revoke":
        revoked = hub.revoke_token(args.id)
        print(f"revoked token {revoked.id} ({revoked.name})")
        return 0
    found = hub.tokens()
    if args.json:
        show.as_json(found)
        return 0
    show.table(
        ["ID", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"],
        [[t.id, t.name, t.scope, t.created, t.last_used, t.revoked] for t in found],
    )
    return 0
