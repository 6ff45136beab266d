"""Helpers for the worker tests: tiny data, conf, waiting on jobs, comparing logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.worker.logtee import read_log_file
from jupyter_mlops.tutorial import write_tiny_cifar

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CONF = json.loads((ROOT / "sample_conf.json").read_text())
NOTEBOOK = ROOT / "train_cifar.ipynb"
DEFAULTS = {
    "EPOCHS": 1,
    "BATCH_SIZE": 10,
    "LEARNING_RATE": 0.001,
    "KERNEL_SIZE": 3,
    "NUM_FILTERS": 20,
    "DENSE_WIDTH": 128,
}
ENDED = ("finished", "failed", "cancelled", "interrupted")


def tiny_data_dir(base: Path, per_batch: int = 40, test: int = 100) -> Path:
    """A generated CIFAR-10 layout folder (5 x per_batch train images, ``test`` test images)."""
    write_tiny_cifar(base, per_batch=per_batch, test=test)
    return base


def job_state(server: Any, job_id: int) -> dict[str, Any]:
    """The job with its trials (``GET /jobs/{id}``)."""
    status, job = server.api("GET", f"jobs/{job_id}")
    assert status == 200, job
    return job


def job_ended(server: Any, job_id: int) -> dict[str, Any] | None:
    """The job when it has ended, else None (for ``server.wait_for``)."""
    job = job_state(server, job_id)
    return job if job["status"] in ENDED else None


def launch(server: Any, conf: dict[str, Any], worker: str | list[str] = "any") -> dict[str, Any]:
    """Launch a job over REST (201 expected); return it."""
    status, job = server.api("POST", "jobs", {"conf": conf, "worker": worker})
    assert status == 201, job
    return job


def worker_row(server: Any, name: str) -> dict[str, Any] | None:
    """The worker named ``name`` as ``GET /workers`` lists it, or None."""
    workers = server.api("GET", "workers")[1]["workers"]
    return next((w for w in workers if w["name"] == name), None)


def online(server: Any, *names: str) -> bool:
    """Whether every worker named is online."""
    workers = server.api("GET", "workers")[1]["workers"]
    return set(names) <= {w["name"] for w in workers if w["online"]}


def _all_pages(server: Any, job_id: int, resource: str, key: str) -> list[dict[str, Any]]:
    """Every row of ``/jobs/{id}/<resource>``, paging with the ``after`` cursor."""
    rows: list[dict[str, Any]] = []
    after = 0
    while True:
        status, page = server.api("GET", f"jobs/{job_id}/{resource}?after={after}&limit=1000")
        assert status == 200, page
        if not page[key]:
            return rows
        rows += page[key]
        after = page[key][-1]["seq"]


def hub_log(server: Any, job_id: int) -> list[dict[str, Any]]:
    """Every log line the hub stored for a job."""
    return _all_pages(server, job_id, "logs", "lines")


def hub_metrics(server: Any, job_id: int) -> list[dict[str, Any]]:
    """Every metric point the hub stored for a job."""
    return _all_pages(server, job_id, "metrics", "points")


def assert_logs_match(server: Any, job_id: int, local_log: Path) -> list[tuple]:
    """The hub's log of the job equals the worker's local log file, line for line."""
    local = [(r["trial_id"], r["stream"], r["text"]) for r in read_log_file(local_log)]
    remote = [(r["trial_id"], r["stream"], r["text"]) for r in hub_log(server, job_id)]
    assert remote == local
    return local


def run_in_kernel(
    env: dict[str, str], cwd: Path, sources: list[str], timeout: float = 180.0
) -> Any:
    """Start a real kernel with ``env`` in ``cwd``, run each source, return its manager."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(cwd))
    kc = km.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        for source in sources:
            outputs: list[Any] = []
            reply = kc.execute_interactive(
                source, timeout=timeout, output_hook=outputs.append, allow_stdin=False
            )
            content = reply["content"]
            assert content["status"] == "ok", (source, content, outputs)
    finally:
        kc.stop_channels()
    return km


def run_notebook_in_kernel(env: dict[str, str], cwd: Path, timeout: float = 180.0) -> Any:
    """Start a real kernel with ``env``, run train_cifar.ipynb's code cells, return the manager."""
    import nbformat

    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    return run_in_kernel(env, cwd, [c.source for c in cells if c.cell_type == "code"], timeout)
