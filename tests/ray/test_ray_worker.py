"""One notebook worker runs a grid on a two-node Ray cluster: trials at once, everything they
log in the hub, cancel stops the Ray tasks, a killed node's trial resumes from its checkpoint.

Real parts: a Jupyter server with the extension (subprocess), a local Ray cluster of two nodes
on 127.0.0.1 (``ray.cluster_utils.Cluster``), the synthetic torch trial of tests/support. The
worker runs in this process, as in a notebook's kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ray.cluster_utils import Cluster

from jupyter_mlops.kernel_client import Worker
from tests.support.server import MLOpsServer
from tests.support.workers import hub_log, hub_metrics, job_ended, job_state, launch, worker_row

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

Trial = dict[str, Any]


def overlapping(trials: list[Trial]) -> list[tuple[str, str]]:
    """Pairs of trials whose leases (stored start to finish) overlap in time."""
    spans = sorted((t["started"], t["finished"], t["id"]) for t in trials)
    return [
        (a[2], b[2])
        for i, a in enumerate(spans)
        for b in spans[i + 1 :]
        if b[0] < a[1]  # ISO times in UTC compare as text
    ]


def ray_cpus_free(cluster_cpus: float) -> bool:
    return float(ray.available_resources().get("CPU", 0)) == cluster_cpus


def test_a_grid_runs_two_trials_at_once_and_the_hub_has_all_of_it(
    hub_server: MLOpsServer, ray_worker: Callable[..., Worker]
) -> None:
    ray_worker()
    row = hub_server.wait_for(lambda: worker_row(hub_server, "ray"), timeout=30)
    assert row["capacity"] == 2
    assert row["cluster"]["engine"] == "ray" and row["cluster"]["nodes_alive"] == 2
    assert row["cluster"]["resources_total"]["CPU"] == 2

    conf = {"LEARNING_RATE": [0.05, 0.1, 0.2], "SEED": [0, 1], "EPOCHS": 2, "EPOCH_SECONDS": 0.8}
    job = launch(hub_server, conf, "ray")
    done = hub_server.wait_for(lambda: job_ended(hub_server, job["id"]), timeout=240)
    assert done["status"] == "finished", done
    trials = done["trials"]
    assert len(trials) == 6 and {t["status"] for t in trials} == {"finished"}
    assert all(t["model_id"] == t["id"] for t in trials)
    assert overlapping(trials), "no two trials ran at once"
    nodes = {t["node"] for t in trials}
    assert len(nodes) == 2 and all(n.startswith("127.0.0.1:") for n in nodes)

    lines = hub_log(hub_server, job["id"])
    metrics = hub_metrics(hub_server, job["id"])
    for trial in trials:
        own = [line["text"] for line in lines if line["trial_id"] == trial["id"]]
        assert any(text.startswith("epoch 2/2 step 8 loss") for text in own), own  # its print
        assert any(f"trial {trial['id']} finished" in text for text in own)
        points = [p for p in metrics if p["trial_id"] == trial["id"]]
        assert [p["step"] for p in points if p["name"] == "loss"] == list(range(1, 9))
        assert [p["step"] for p in points if p["name"] == "train_loss"] == [1, 2]
        assert {"test_accuracy", "test_loss", "steps"} <= set(trial["metrics"])
    _, models = hub_server.api("GET", "models")
    stored = (
        {m["id"] for group in models["jobs"] for m in group["models"]} if "jobs" in models else None
    )
    assert stored is None or {t["id"] for t in trials} <= stored


def test_cancelling_the_job_stops_the_running_ray_tasks(
    hub_server: MLOpsServer, ray_worker: Callable[..., Worker]
) -> None:
    worker = ray_worker()
    job = launch(hub_server, {"LEARNING_RATE": [0.1, 0.2, 0.3], "EPOCHS": 50}, "ray")
    hub_server.wait_for(
        lambda: (
            all(
                t["epoch"]
                for t in job_state(hub_server, job["id"])["trials"]
                if t["status"] == "running"
            )
            and sum(t["status"] == "running" for t in job_state(hub_server, job["id"])["trials"])
            == 2
        ),
        timeout=120,
    )
    assert float(ray.available_resources().get("CPU", 0)) == 0  # both tasks hold their CPU
    status, _ = hub_server.api("POST", f"jobs/{job['id']}/cancel")
    assert status == 200
    done = hub_server.wait_for(lambda: job_ended(hub_server, job["id"]), timeout=60)
    assert done["status"] == "cancelled"
    assert [t["status"] for t in done["trials"]] == ["cancelled"] * 3
    assert all((t["epoch"] or 0) < 50 for t in done["trials"])
    hub_server.wait_for(lambda: ray_cpus_free(2), timeout=30)  # the Ray tasks ended
    assert worker.executor is not None and worker.executor.running == {}


def test_a_killed_node_hands_its_trial_back_and_it_resumes_from_its_checkpoint(
    hub_server: MLOpsServer, ray_cluster: Cluster, ray_worker: Callable[..., Worker]
) -> None:
    ray_worker()
    conf = {"LEARNING_RATE": [0.1, 0.2], "EPOCHS": 4, "EPOCH_SECONDS": 2.0}
    job = launch(hub_server, conf, "ray")
    (other,) = [n for n in ray_cluster.list_all_nodes() if n is not ray_cluster.head_node]

    def on_the_other_node_with_a_checkpoint() -> Trial | None:
        return next(
            (
                t
                for t in job_state(hub_server, job["id"])["trials"]
                if t["status"] == "running"
                and (t["node"] or "").endswith(":" + other.node_id[:8])
                and (t["checkpoint_epoch"] or 0) >= 1
            ),
            None,
        )

    victim = hub_server.wait_for(on_the_other_node_with_a_checkpoint, timeout=120)
    ray_cluster.remove_node(other, allow_graceful=False)

    done = hub_server.wait_for(lambda: job_ended(hub_server, job["id"]), timeout=240)
    assert done["status"] == "finished", done
    trial = next(t for t in done["trials"] if t["id"] == victim["id"])
    assert trial["status"] == "finished" and trial["attempt"] == 2
    assert trial["resumed_from_epoch"] is not None and trial["resumed_from_epoch"] >= 1
    assert trial["node"].endswith(":" + ray_cluster.head_node.node_id[:8])
    texts = [
        line["text"] for line in hub_log(hub_server, job["id"]) if line["trial_id"] == victim["id"]
    ]
    assert any("was lost" in text and "handed back" in text for text in texts), texts
    assert any(text.startswith("continuing after epoch") for text in texts)  # its own print
    row = hub_server.wait_for(
        lambda: (r := worker_row(hub_server, "ray")) and r["cluster"]["nodes_alive"] == 1 and r,
        timeout=30,
    )
    assert row["capacity"] == 1
