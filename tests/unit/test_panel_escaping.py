"""The ipywidgets panel escapes every value a worker controls, numbers included, and shows NaN.

Before, ``epoch``/``epochs`` of a worker's ``progress`` event went into the panel's HTML as
they came: ``<img src=x onerror=alert(1)>`` ran in the notebook's page. The browser test
(tests/browser/test_xss.py) checks all three UIs; this one checks every widget's HTML here.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from jupyter_mlops.kernel_client.hub_client import HubClient
from jupyter_mlops.kernel_client.panel import MLOpsPanel

IMG = "<img src=x onerror=window.__xss=1>"


def html_values(widget: Any) -> list[str]:
    """The HTML of every HTML widget under ``widget``."""
    found = [widget.value] if isinstance(widget, W.HTML) else []
    for child in getattr(widget, "children", ()):
        found += html_values(child)
    return found


def evil_trial(job_id: Any, index: int) -> dict[str, Any]:
    return {
        "id": f"{job_id}-{index}{IMG}",
        "index": index,
        "status": "running",
        "worker_name": IMG,
        "attempt": IMG,
        "epoch": IMG,
        "epochs": IMG,
        "resumed_from_epoch": IMG,
        "checkpoint_epoch": IMG,
        "error": IMG,
        "metrics": {"test_accuracy": "NaN", IMG: IMG},
    }


#: A deploy decision whose every text came from outside (a worker names metrics and models).
DECISION = {
    "id": 1, "kind": "auto", "deployed": False, "bypassed": False,
    "reason": f"not deployed: {IMG}", "p_value": 0.2122, "test": IMG, "b": IMG, "c": 10,
    "n": IMG, "metric": IMG,
}  # fmt: skip


def test_every_value_from_a_worker_is_escaped_in_the_panel() -> None:
    panel = MLOpsPanel(HubClient("http://127.0.0.1:9/", "token"), start=False)
    mirror = panel.mirror
    mirror.workers = {
        1: {
            "id": 1, "name": IMG, "online": True, "status": IMG, "device": IMG,
            "defaults": {IMG: IMG}, "current_job": IMG, "current_trial": IMG,
        },
        2: {"id": 2, "name": "off", "online": False, "status": "offline", "last_seen": IMG},
    }  # fmt: skip
    mirror.jobs = {
        7: {
            "id": 7, "worker": IMG, "workers": [IMG], "conf": {IMG: [IMG]}, "status": IMG,
            "error": IMG, "trials_done": IMG, "trial_count": IMG, "progress": 0.5,
            "trials": [evil_trial(7, 0), evil_trial(7, 1)],
        }
    }  # fmt: skip
    mirror.models = [
        {
            "id": f"7-0{IMG}", "job_id": IMG, "metrics": {"test_accuracy": "NaN"},
            "param_count": IMG, "size": 2048, "sha1": IMG, "hyperparameters": {IMG: IMG},
            "decision": DECISION,
        }
    ]  # fmt: skip
    mirror.deployment = {
        "model_id": IMG, "sha1": IMG, "reason": IMG, "time": IMG,
        "decision": {**DECISION, "id": 2, "kind": "manual", "bypassed": True},
    }  # fmt: skip
    panel._on_change("refreshed", None)
    shown = "\n".join(html_values(panel))
    assert "<img" not in shown and "&lt;img" in shown
    assert "accuracy NaN" in shown  # a diverged metric, said as such
    assert "not deployed</span> not deployed: &lt;img" in shown  # the decision's sentence
    assert "p = 0.21 (&lt;img" in shown and "b &lt;img" in shown and "c 10" in shown
    assert "deployed by hand, gate bypassed" in shown  # the deployment's decision, on top
    panel.close()


def test_a_model_row_shows_its_newest_decision() -> None:
    """A deploy by hand reaches the panel as a deployment (with its decision) before the model
    list is read again: the row of that model shows the newer of the two."""
    from jupyter_mlops.kernel_client.panel.panel import newest_decision

    auto = {"id": 3, "kind": "auto", "deployed": False, "reason": "not deployed: could be chance"}
    manual = {"id": 5, "kind": "manual", "deployed": True, "bypassed": True, "reason": "by hand"}
    model = {"id": "1-0", "decision": auto}
    assert newest_decision(model, {"model_id": "1-0", "decision": manual}) is manual
    assert newest_decision(model, {"model_id": "2-0", "decision": manual}) is auto
    assert newest_decision({**model, "decision": {**auto, "id": 9}}, {"model_id": "1-0",
                           "decision": manual})["id"] == 9  # fmt: skip
    assert newest_decision(model, None) is auto
    assert newest_decision({"id": "1-0"}, {"model_id": "1-0", "decision": manual}) is manual
