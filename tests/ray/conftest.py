"""Fixtures for the Ray tier: a local two-node Ray cluster on loopback, a real Jupyter server
with the extension, and a notebook worker (in this process) that runs its trials on the cluster.

Skipped, with a message, only when Ray cannot be imported (``pip install "jupyter_mlops[ray]"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ray_cluster import RAY_ENV, start_cluster

ray = pytest.importorskip(
    "ray", reason='Ray is not installed: pip install "jupyter_mlops[ray]" to run tests/ray'
)

from ray.cluster_utils import Cluster  # noqa: E402

from jupyter_mlops.kernel_client import HubInfo, RayExecutor, Worker  # noqa: E402
from tests.support.server import MLOpsServer  # noqa: E402
from tests.support.synthetic import DEFAULTS, synthetic_trial  # noqa: E402


@pytest.fixture
def ray_cluster() -> Iterator[Cluster]:
    """A local two-node Ray cluster (see :func:`start_cluster`)."""
    assert all(os.environ.get(key) == value for key, value in RAY_ENV.items())
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


@pytest.fixture
def hub_server(tmp_path: Path) -> Iterator[MLOpsServer]:
    """A real ``jupyter server`` with the extension, on loopback."""
    server = MLOpsServer(tmp_path / "server", grace_seconds=3).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ray_worker(
    ray_cluster: Cluster, hub_server: MLOpsServer, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start the notebook worker "ray" with a RayExecutor on the cluster: ``ray_worker()``."""
    started: list[Worker] = []

    def start(train_fn: Any = synthetic_trial, **options: Any) -> Worker:
        worker = Worker(
            train_fn,
            DEFAULTS,
            "ray",
            HubInfo(hub_server.url, hub_server.token),
            local_dir=tmp_path / "ray-worker",
            echo=False,
            backoff_max=1.0,
            executor=RayExecutor(address=ray_cluster.address, monitor_interval=0.5),
            **options,
        )
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop(timeout=20.0)
