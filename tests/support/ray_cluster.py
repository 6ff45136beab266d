"""A local two-node Ray cluster on loopback, for the Ray tests and ``bench/bench_ray.py``.

Import this before ``ray``: Ray reads :data:`RAY_ENV` when it is imported. Ray nodes then
report 127.0.0.1 and send nothing to any other address, and no usage statistics. Nothing else
in the process's environment changes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Ray on loopback only, no telemetry (read by Ray only, so set for the whole process).
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}
os.environ.update(RAY_ENV)
#: A killed node is declared dead after about 3 s.
HEALTH_CHECKS = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}


@contextlib.contextmanager
def checkout_on_path() -> Iterator[None]:
    """While inside, processes started get this checkout on their PYTHONPATH: the Ray nodes
    started then (and their worker processes) import the tests' trial functions from it."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), before) if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def start_cluster(attempts: int = 3) -> Any:
    """A head node of 1 CPU plus one worker node of 1 CPU, both on 127.0.0.1.

    A Ray node gives its agents 15 s to start; on a loaded machine they can take longer and
    the node gives up: then the whole cluster is started again (at most ``attempts`` times).
    """
    from ray.cluster_utils import Cluster

    for attempt in range(1, attempts + 1):
        cluster = Cluster()
        try:
            with checkout_on_path():
                cluster.add_node(num_cpus=1, include_dashboard=False, _system_config=HEALTH_CHECKS)
                cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            return cluster
        except Exception:
            cluster.shutdown()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
