"""The clone's quick start, as README says: ``bash scripts/start.sh`` (which runs
``jupyter mlops start``, the pip way's one command) serves JupyterLab with the panel, runs the
tutorial notebook as a worker in one of its kernels and serves the demo notebook."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.server import free_port
from tests.support.waiting import wait_until
from tests.support.workers import tiny_data_dir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(400)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def test_start_sh_serves_the_lab_the_worker_and_the_demo(tmp_path: Path) -> None:
    port, token = free_port(), "start-sh-test-token"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_MLOPS_")},
        "MLOPS_VENV": str(Path(sys.executable).parent.parent),
        "MLOPS_PORT": str(port),
        "MLOPS_TOKEN": token,
        "MLOPS_ROOT": str(tmp_path / "store"),
        "MLOPS_DATA_DIR": str(tiny_data_dir(tmp_path / "data", per_batch=20, test=40)),
        "MLOPS_DATA_DOWNLOAD": "0",
        "JUPYTER_MLOPS_WORKER_DIR": str(tmp_path / "worker"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data-dir"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    log = (tmp_path / "start.log").open("wb")
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "start.sh")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: get(f"{base}api/status?token={token}")[0] == 200, 240, 0.5)
        printed = (tmp_path / "start.log").read_text()
        assert f"{base}lab?token={token}" in printed
        assert f"{base}voila/render/demo_voila.ipynb?token={token}" in printed

        status, page = get(f"{base}lab?token={token}")
        assert status == 200 and b"jupyter-mlops" in page  # the prebuilt panel is listed

        def worker() -> dict | None:
            status, raw = get(f"{base}mlops/api/workers?token={token}")
            workers = json.loads(raw)["workers"] if status == 200 else []
            return next((w for w in workers if w["online"]), None)

        found = wait_until(worker, 180, 1.0, "the tutorial notebook's worker")
        assert found["name"] == "cifar10-worker"
        assert found["notebook"].endswith("train_cifar.ipynb")
        status, raw = get(f"{base}api/contents/demo_voila.ipynb?token={token}&content=0")
        assert status == 200 and json.loads(raw)["type"] == "notebook"
        assert (tmp_path / "store" / "mlops.db").exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()
