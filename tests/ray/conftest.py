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

ROOT = Path(__file__).resolve().parents[2]
#: Ray on loopback only (nodes report 127.0.0.1; no traffic to any other address), no telemetry;
#: the Ray workers import the test's trial function from this checkout. Ray reads these when
#: it is imported, so they are set first.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "PYTHONPATH": str(ROOT),
}
os.environ.update(RAY_ENV)

ray = pytest.importorskip(
    "ray", reason='Ray is not installed: pip install "jupyter_mlops[ray]" to run tests/ray'
)

from ray.cluster_utils import Cluster  # noqa: E402

from jupyter_mlops.kernel_client import HubInfo, RayExecutor, Worker  # noqa: E402
from tests.support.server import MLOpsServer  # noqa: E402
from tests.support.synthetic import DEFAULTS, synthetic_trial  # noqa: E402


def start_cluster(attempts: int = 3) -> Cluster:
    """A head node of 1 CPU plus one worker node of 1 CPU, both on 127.0.0.1.

    A Ray node gives its agents 15 s to start; on a loaded machine they can take longer and
    the node gives up: then the whole cluster is started again (at most ``attempts`` times).
    """
    for attempt in range(1, attempts + 1):
        cluster = Cluster()
        try:
            cluster.add_node(
                num_cpus=1,
                include_dashboard=False,
                # a killed node is noticed within seconds
                _system_config={
                    "health_check_period_ms": 1000,
                    "health_check_failure_threshold": 3,
                },
            )
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            return cluster
        except Exception:
            cluster.shutdown()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


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
