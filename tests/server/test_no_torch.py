"""The hub never imports torch: a server whose Python cannot import it stores, deploys and
serves models, and never even tries (the core install has no torch)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from tests.support.demo_models import make_demo_model, png_bytes
from tests.support.leases import seed_models
from tests.support.server import MLOpsServer

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys, traceback

    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "onnxscript"):
                with open({record!r}, "a") as f:
                    f.write(name + "\\n" + "".join(traceback.format_stack()) + "\\n")
                raise ImportError(name + " is blocked: the hub must not import it")
            return None

    sys.meta_path.insert(0, _NoTorch())
    """
)


def test_the_server_works_without_ever_importing_torch(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    record = tmp_path / "torch-imports.txt"
    (site / "sitecustomize.py").write_text(BLOCKER.format(record=str(record)))
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    model = tmp_path / "model.zip"
    make_demo_model(model, seed=5, accuracy=0.6)  # made here, with torch: a worker's job

    server = MLOpsServer(tmp_path / "server", extra_env={"PYTHONPATH": path}).start()
    try:
        status, checked = server.api("POST", "grid/validate", {"conf": {"LR": [1, 2]}})
        assert status == 200 and checked["trial_count"] == 2
        (model_id,) = seed_models(server, [model], name="no-torch")  # the ONNX checks
        status, deployed = server.api("POST", "deployment", {"model_id": model_id})
        assert status == 201, deployed
        status, raw = server.request("POST", "mlops/api/predict", png_bytes())
        assert status == 200, raw
        assert json.loads(raw)["model_id"] == model_id
        for route in ("workers", "jobs", "models", "deployment/history", "openapi.json"):
            assert server.api("GET", route)[0] == 200
    finally:
        server.stop()
    assert "is blocked" not in server.log_path.read_text()
    assert not record.exists(), record.read_text()[:3000]
