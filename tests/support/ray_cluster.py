"""A local two-node Ray cluster on loopback, for the Ray tests and ``bench/bench_ray.py``.

Import this before ``ray``: Ray reads :data:`RAY_ENV` when it is imported. Ray nodes then
report 127.0.0.1 and send nothing to any other address, and no usage statistics.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Ray on loopback only, no telemetry; the Ray workers import trial functions from this checkout.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "PYTHONPATH": str(ROOT),
}
os.environ.update(RAY_ENV)


#: A killed node is declared dead after about 3 s.
HEALTH_CHECKS = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}


def start_cluster(attempts: int = 3) -> Any:
    """A head node of 1 CPU plus one worker node of 1 CPU, both on 127.0.0.1.

    A Ray node gives its agents 15 s to start; on a loaded machine they can take longer and
    the node gives up: then the whole cluster is started again (at most ``attempts`` times).
    """
    from ray.cluster_utils import Cluster

    for attempt in range(1, attempts + 1):
        cluster = Cluster()
        try:
            cluster.add_node(
                num_cpus=1,
                include_dashboard=False,
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
