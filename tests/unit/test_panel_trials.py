"""The ipywidgets panel's trials table and best trial so far, for the job picked (the newest
by default); every value escaped."""

from __future__ import annotations

from typing import Any

from jupyter_mlops.kernel_client.hub_client import HubClient
from jupyter_mlops.kernel_client.panel import MLOpsPanel
from jupyter_mlops.kernel_client.panel.trials import TrialsView, best_trial, trials_html

IMG = "<img src=x onerror=window.__xss=1>"
SEARCH = {"method": "tpe", "metric": "test_loss", "direction": "minimize", "budget": 4}


def trial(index: int, status: str, lr: float, loss: Any, **more: Any) -> dict[str, Any]:
    return {
        "id": f"9-{index}", "index": index, "status": status, "worker_name": f"w{index % 2}",
        "params": {"EPOCHS": 3, "LR": lr, "K": 3}, "metrics": {"test_loss": loss},
        "epoch": 3, "epochs": 3, **more,
    }  # fmt: skip


JOB = {
    "id": 9,
    "status": "running",
    "conf": {"EPOCHS": [3], "LR": {"low": 0.001, "high": 0.1, "log": True}, "K": [3]},
    "search": SEARCH,
    "trials": [
        trial(0, "finished", 0.01, 0.4),
        trial(1, "finished", 0.02, 0.3),
        trial(2, "pruned", 0.09, {}, epoch=1, error="pruned at epoch 1 by the median pruner"),
        trial(3, "running", 0.005, None),
    ],
}


def test_the_table_has_params_metrics_status_worker_and_the_best_so_far() -> None:
    best = best_trial(JOB)
    assert best is not None and best[0]["id"] == "9-1" and best[1] == 0.3  # minimised
    shown = trials_html(JOB)
    assert "best so far: <b>trial 9-1</b> &middot; test_loss 0.3" in shown
    assert "tpe search &middot; minimize test_loss" in shown
    header = shown.split("</tr>")[0]
    assert [cell for cell in ("trial", "status", "worker", "LR", "test_loss") if cell in header]
    assert "<th>EPOCHS</th>" not in header and "<th>K</th>" not in header  # the same for all
    assert "<th>LR</th>" in header  # a range of the search, even when values repeat
    assert "pruned at epoch 1" in shown and "class='pill off'>pruned" in shown
    rows = shown.split("<tr")
    assert "mlops-panel-best-row" in next(r for r in rows if ">9-1" in r)
    assert "<td>w1</td>" in shown


def test_a_grid_without_a_search_is_judged_by_test_accuracy() -> None:
    grid = {
        "id": 3,
        "conf": {"LR": [0.1, 0.2]},
        "trials": [
            {"id": "3-0", "status": "finished", "params": {"LR": 0.1},
             "metrics": {"test_accuracy": 0.8}},
            {"id": "3-1", "status": "finished", "params": {"LR": 0.2},
             "metrics": {"test_accuracy": "NaN"}},
        ],
    }  # fmt: skip
    shown = trials_html(grid)
    assert "grid search &middot; maximize test_accuracy" in shown
    assert "best so far: <b>trial 3-0</b>" in shown and "<td>NaN</td>" in shown
    assert "no finished trial yet" in trials_html({"id": 4, "trials": []})


def test_the_newest_job_is_shown_until_another_is_picked() -> None:
    view = TrialsView()
    older = {**JOB, "id": 8, "trials": [trial(0, "finished", 0.01, 0.9)]}
    view.update({8: older, 9: JOB})
    assert view.choice.value == 9 and "trial 9-1" in view.table.value
    view.choice.value = 8
    assert "best so far: <b>trial 9-0</b> &middot; test_loss 0.9" in view.table.value
    view.update({8: older, 9: JOB, 10: {**JOB, "id": 10, "trials": []}})
    assert view.choice.value == 8  # picked: it stays
    view.update({9: JOB, 10: {**JOB, "id": 10, "trials": []}})
    assert view.choice.value == 10  # the picked job left the list: the newest again


def test_every_value_in_the_trials_table_is_escaped() -> None:
    evil = {
        "id": 5, "status": IMG, "conf": {IMG: {"low": 1, "high": 2}},
        "search": {"method": IMG, "metric": IMG, "direction": IMG},
        "trials": [
            {"id": IMG, "status": "finished", "worker_name": IMG, "params": {IMG: IMG},
             "metrics": {IMG: 1.0}, "error": IMG},
            {"id": "5-1", "status": "pruned", "params": {IMG: 2}, "epoch": IMG,
             "metrics": {IMG: IMG}},
        ],
    }  # fmt: skip
    shown = trials_html(evil)
    assert "<img" not in shown and "&lt;img" in shown
    panel = MLOpsPanel(HubClient("http://127.0.0.1:9/", "token"), start=False)
    panel.mirror.jobs = {5: evil}
    panel._on_change("refreshed", None)
    assert "<img" not in panel.trials_view.table.value
    panel.close()
