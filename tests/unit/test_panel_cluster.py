"""The ipywidgets panel shows a cluster's worker (nodes, CPUs/GPUs, trials running) and the node
each trial runs on, escaped: a node's name comes from the worker, which may send any text."""

from __future__ import annotations

from typing import Any

from jupyter_mlops.kernel_client.hub_client import HubClient
from jupyter_mlops.kernel_client.panel import MLOpsPanel
from jupyter_mlops.kernel_client.panel.html_parts import cluster_html, cluster_text, trial_line
from jupyter_mlops.kernel_client.panel.trials import trials_html

IMG = "<img src=x onerror=window.__xss=1>"

#: The cluster docs/API.md shows, with a second node.
CLUSTER: dict[str, Any] = {
    "engine": "ray", "ray": "2.60.0", "address": "127.0.0.1:6379", "nodes_alive": 2,
    "nodes": [
        {"node": "127.0.0.1:4a1f2e07", "alive": True, "CPU": 1, "GPU": 0},
        {"node": "127.0.0.1:9bc0d1e2", "alive": False, "CPU": 1, "GPU": 0},
    ],
    "resources_total": {"CPU": 2, "GPU": 0}, "resources_available": {"CPU": 0, "GPU": 0},
    "per_trial": {"CPU": 1}, "trials_running": 2, "updated": "2026-12-01T19:30:00.000+00:00",
}  # fmt: skip


def test_the_cluster_line_shows_only_the_parts_present() -> None:
    assert cluster_text({"capacity": 1, "cluster": None}) == ""
    assert cluster_text({}) == ""
    assert cluster_text({"capacity": 2, "cluster": CLUSTER}) == (
        "Ray · 2 nodes · CPU 0/2 free · 2/2 trials"  # no GPUs: not said
    )
    gpus = {**CLUSTER, "nodes_alive": 1, "resources_total": {"CPU": 8, "GPU": 4},
            "resources_available": {"CPU": 6.5, "GPU": 1}, "trials_running": 3}  # fmt: skip
    assert cluster_text({"capacity": 4, "cluster": gpus}) == (
        "Ray · 1 node · CPU 6.5/8 free · GPU 1/4 free · 3/4 trials"
    )
    assert cluster_text({"capacity": 3, "cluster": {}}) == "3 trials at once"
    assert cluster_text({"capacity": 4}) == "4 trials at once"
    badge = cluster_html({"capacity": 2, "cluster": CLUSTER})
    assert "title='Ray 2.60.0 at 127.0.0.1:6379\n127.0.0.1:4a1f2e07 · CPU 1 · GPU 0\n" in badge
    assert "127.0.0.1:9bc0d1e2 · CPU 1 · GPU 0 (down)'" in badge


def test_a_node_name_from_the_worker_is_escaped_everywhere() -> None:
    evil = {**CLUSTER, "engine": IMG, "address": f"'{IMG}",
            "nodes": [{"node": f"'{IMG}", "CPU": IMG, "GPU": 1}]}  # fmt: skip
    badge = cluster_html({"capacity": 2, "cluster": evil})
    assert "<img" not in badge and "&lt;img" in badge
    assert "at &#x27;&lt;img" in badge  # a quote cannot close the tooltip's attribute
    trial = {"id": "7-0", "status": "running", "worker_name": "w", "node": IMG, "attempt": 1}
    row = trial_line(trial)
    assert "<img" not in row and "node <span class='node'>&lt;img" in row
    table = trials_html({"id": 7, "trials": [trial, {"id": "7-1", "status": "pending"}]})
    assert "<th>node</th>" in table and "<img" not in table and "&lt;img" in table
    assert "<th>node</th>" not in trials_html({"id": 7, "trials": [{"id": "7-1"}]})

    panel = MLOpsPanel(HubClient("http://127.0.0.1:9/", "token"), start=False)
    panel.mirror.workers = {
        1: {"id": 1, "name": "ray", "online": True, "status": "busy", "device": "cpu",
            "defaults": {}, "current_job": 7, "current_trial": "7-0", "capacity": 2,
            "cluster": evil},
    }  # fmt: skip
    panel.mirror.jobs = {7: {"id": 7, "status": "running", "trials": [trial]}}
    panel._on_change("refreshed", None)
    shown = panel.workers_view.value
    assert "class='cluster'" in shown and "<img" not in shown and "&lt;img" in shown
    panel.close()
