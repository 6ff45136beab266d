"""End to end: train_cifar.ipynb in a kernel of a real server, a grid launched over REST."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.demo_models import png_bytes
from tests.support.server import MLOpsServer
from tests.support.workers import (
    NOTEBOOK,
    SAMPLE_CONF,
    assert_logs_match,
    hub_metrics,
    job_ended,
    tiny_data_dir,
)

pytestmark = pytest.mark.timeout(400)


def test_notebook_worker_trains_the_sample_grid(tmp_path: Path, monkeypatch) -> None:
    data_dir = tiny_data_dir(tmp_path / "data")
    worker_dir = tmp_path / "worker"
    # the server's kernels inherit this environment; the hub itself is found from the parent
    monkeypatch.setenv("MLOPS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MLOPS_DATA_DOWNLOAD", "0")
    monkeypatch.setenv("JUPYTER_MLOPS_WORKER_DIR", str(worker_dir))
    server = MLOpsServer(
        tmp_path / "server",
        extra_config={"MLOpsApp": {"autostart_notebooks": [NOTEBOOK.name]}},
    )
    shutil.copy(NOTEBOOK, server.notebook_dir / NOTEBOOK.name)
    server.start()
    try:
        workers = server.wait_for(
            lambda: [w for w in server.api("GET", "workers")[1]["workers"] if w["online"]],
            timeout=180,
        )
        assert [w["name"] for w in workers] == ["cifar10-worker"]
        assert workers[0]["defaults"]["BATCH_SIZE"] == 10
        assert workers[0]["notebook"].endswith("train_cifar.ipynb")

        status, job = server.api("POST", "jobs", {"conf": SAMPLE_CONF, "worker": "cifar10-worker"})
        assert status == 201, job
        job = server.wait_for(lambda: job_ended(server, job["id"]), timeout=180)
        assert job["status"] == "finished", job
        assert [t["status"] for t in job["trials"]] == ["finished", "finished"]

        models = server.api("GET", "models")[1]["models"]
        assert sorted(m["id"] for m in models) == [f"{job['id']}-0", f"{job['id']}-1"]
        for model in models:
            assert len(model["sha1"]) == 40 and len(model["sha256"]) == 64
            assert {"test_accuracy", "test_loss", "per_class_accuracy"} <= set(model["metrics"])
            assert model["param_count"] == 46558 and model["input_size"] == [3, 16, 16]
            assert len(model["normalization"]["mean"]) == 3
        # each model carries its evidence for the deploy gate: one result per test image, on
        # the same test set; the gate judged the second one stored against the first
        evaluations = [server.api("GET", f"models/{m['id']}")[1]["evaluation"] for m in models]
        assert [e["n"] for e in evaluations] == [100, 100]
        assert evaluations[0]["fingerprint"] == evaluations[1]["fingerprint"]
        first, second = sorted(models, key=lambda m: m["decision"]["champion_id"] is not None)
        assert first["decision"]["reason"].startswith("deployed: nothing was deployed yet")
        judged = second["decision"]
        assert judged["champion_id"] == first["id"] and judged["n"] == 100, judged
        assert judged["test"].startswith("mcnemar") and judged["gate"] == "significant"
        deployed = server.api("GET", "deployment")[1]["deployment"]
        assert deployed["model_id"] == (second if judged["deployed"] else first)["id"]

        local_log = worker_dir / "logs" / f"{job['id']}.log"
        lines = assert_logs_match(server, job["id"], local_log)
        texts = [text for _, _, text in lines]
        assert any("epoch 1/1  batch 20/20" in t for t in texts)
        assert sum("finished: test_accuracy=" in t for t in texts) == 2
        losses = [p for p in hub_metrics(server, job["id"]) if p["name"] == "loss"]
        assert len(losses) == 2 * 20  # 200 images / BATCH_SIZE 10, both trials, every batch

        # the stored file is an ONNX graph: it predicts in a fresh process with neither the
        # notebook's class nor torch
        status, blob = server.request("GET", f"mlops/api/models/{deployed['model_id']}/file")
        assert status == 200
        (tmp_path / "deployed.zip").write_bytes(blob)
        script = textwrap.dedent(
            f"""
            import sys
            import numpy as np
            from jupyter_mlops.modelfile import load_session, read_graph, read_metadata
            path = {str(tmp_path / "deployed.zip")!r}
            metadata = read_metadata(path)
            session = load_session(read_graph(path, 1 << 30))
            batch = np.zeros((3, *metadata["input_size"]), np.float32)
            out = session.run(None, {{session.get_inputs()[0].name: batch}})[0]
            assert out.shape == (3, len(metadata["classes"])), out.shape
            assert not any(m.startswith("jupyter_mlops.tutorial") for m in sys.modules)
            assert "torch" not in sys.modules
            print(metadata["sha1"])
            """
        )
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == deployed["sha1"]

        # and the hub serves it: an image in, the top classes and the model's sha1 out
        status, raw = server.request(
            "POST", "mlops/api/predict", png_bytes(), {"Content-Type": "image/png"}
        )
        assert status == 200, raw
        answer = json.loads(raw)
        assert answer["sha1"] == deployed["sha1"] and answer["model_id"] == deployed["model_id"]
        assert len(answer["predictions"][0]["probabilities"]) == len(deployed["model"]["classes"])

        # the kernel stops -> the worker goes offline
        for s in json.loads(server.request("GET", "api/sessions")[1]):
            assert server.request("DELETE", f"api/sessions/{s['id']}")[0] == 204
        server.wait_for(
            lambda: not server.api("GET", "workers")[1]["workers"][0]["online"], timeout=30
        )
    finally:
        server.stop()
