"""The demo page against a real hub: shows what is served, classifies through /predict, follows
deployments, survives a hub restart, and never loads torch or a model itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.demo.app import demo_app
from jupyter_mlops.kernel_client.demo.render import model_html
from tests.support.demo_models import make_demo_model, png_bytes
from tests.support.leases import seed_models
from tests.support.server import MLOpsServer
from tests.support.waiting import wait_until


def _two_models(server: MLOpsServer, tmp_path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Two trials' models uploaded; the first (better) one is deployed and served."""
    models = [
        make_demo_model(tmp_path / "a.zip", seed=1, accuracy=0.6),
        make_demo_model(tmp_path / "b.zip", seed=2, accuracy=0.4),
    ]
    ids = seed_models(server, [tmp_path / "a.zip", tmp_path / "b.zip"])
    served = wait_until(
        lambda: (server.api("GET", "predict")[1]["model"] or {}).get("sha1"), what="served"
    )
    assert served == models[0]["sha1"]
    return ids, models


def _shown(app: Any, what: str) -> str:
    return {"result": app.result, "error": app.error}[what].value


def test_the_demo_follows_the_hub(mlops_server: MLOpsServer, tmp_path: Path) -> None:
    server = mlops_server
    ids, (first, second) = _two_models(server, tmp_path)
    app = demo_app(server.url, server.token)
    try:
        assert app.mirror is not None and app.mirror.synced.is_set()
        assert app.sha1.value == first["sha1"]  # on first paint, not after a notice
        assert ids[0] in app.model_info.value
        # why it is deployed: the decision that deployed it
        shown = app.model_info.value
        assert "deployed by the deploy gate</b>: deployed: nothing was deployed yet" in shown
        wait_until(lambda: "live" in app.status.value, what="live")

        app.classify("x.png", png_bytes())
        assert first["sha1"][:12] in _shown(app, "result") and ids[0] in _shown(app, "result")
        assert app.result.layout.display != "none" and app.error.layout.display == "none"

        status, deployment = server.api("POST", "deployment", {"model_id": ids[1]})
        assert status == 201 and deployment["serving"]["model"]["sha1"] == second["sha1"]
        wait_until(lambda: app.sha1.value == second["sha1"], what="the rollback shown")
        assert "Model updated" in app.notice.value and second["sha1"][:12] in app.notice.value
        # the gate would not have deployed it (no per-example results): a bypass, said so
        shown = app.model_info.value
        assert "deployed by hand, gate bypassed" in shown, shown
        assert "no per-example test results" in shown
        app.classify("x.png", png_bytes())
        assert second["sha1"][:12] in _shown(app, "result")

        states: list[str] = []
        app.mirror.add_listener(lambda kind, info: kind == "status" and states.append(info[0]))
        server.restart()
        wait_until(lambda: states and states[-1] == "connected", what="the mirror reconnected")
        assert any(state != "connected" for state in states)  # it did see the hub go
        wait_until(lambda: "live" in app.status.value, what="live again")
        wait_until(lambda: app.sha1.value == second["sha1"], what="served after the restart")
        app.classify("y.png", png_bytes(32, 32))
        assert second["sha1"][:12] in _shown(app, "result")

        status, deployment = server.api("POST", "deployment", {"model_id": ids[0]})
        assert status == 201
        wait_until(lambda: app.sha1.value == first["sha1"], what="a deploy after the restart")

        assert server.api("DELETE", "models")[0] == 200  # the demo reset: nothing deployed
        wait_until(lambda: "No model deployed yet" in app.model_info.value, what="cleared")
        wait_until(lambda: app.sha1.value == "", what="no sha1 shown")
        app.classify("x.png", png_bytes())
        assert "No model is deployed yet" in _shown(app, "error")
        assert app.error.layout.display != "none" and app.result.layout.display == "none"
    finally:
        app.mirror.stop()


def test_the_demo_page_never_imports_torch(mlops_server: MLOpsServer, tmp_path: Path) -> None:
    server = mlops_server
    _, (first, _) = _two_models(server, tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        from jupyter_mlops.kernel_client.demo.app import demo_app

        app = demo_app({server.url!r}, {server.token!r}, wait=10)
        app.classify("x.png", bytes.fromhex({png_bytes().hex()!r}))
        app.mirror.stop()
        print("shown:", app.sha1.value)
        print("classified:", "sha1 " + {first["sha1"][:12]!r} in app.result.value)
        print("imported:", sorted(m for m in ("torch", "onnxruntime", "onnx") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    said = dict(line.split(": ", 1) for line in out if ": " in line)
    assert said == {"shown": first["sha1"], "classified": "True", "imported": "[]"}


IMG = "<img src=x onerror=window.__xss=1>"


def test_the_decision_behind_the_deployed_model_is_shown_escaped() -> None:
    """The sentence and numbers come from the hub (a worker names models and metrics)."""
    decision = {
        "kind": "auto", "deployed": True, "bypassed": False, "reason": f"deployed: {IMG}",
        "p_value": 0.0123, "test": IMG, "b": IMG, "c": 3, "n": 1000,
    }  # fmt: skip
    deployment = {"model_id": IMG, "reason": "auto", "time": IMG, "decision": decision}
    shown = model_html(deployment, None)
    assert "<img" not in shown and "deployed: &lt;img" in shown
    assert "p = 0.012 (&lt;img" in shown and "3 only with the one it replaced" in shown
    bypassed = {**decision, "kind": "manual", "bypassed": True, "p_value": None, "b": None}
    shown = model_html({**deployment, "reason": "manual", "decision": bypassed}, None)
    assert "deployed by hand, gate bypassed" in shown and "<img" not in shown
    assert "p =" not in shown and "only with" not in shown  # no evidence, none shown
    assert "no decision recorded" in model_html({**deployment, "decision": None}, None)
