"""The main command's path: the server runs the tutorial notebook in one of its own kernels.

The kernel gets no hub URL or token: it must find the server that started it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.server import MLOpsServer
from tests.support.workers import tiny_data_dir

ROOT = Path(__file__).resolve().parents[2]


def test_autostarted_notebook_becomes_a_worker_in_a_server_session(tmp_path: Path) -> None:
    data = tiny_data_dir(tmp_path / "cifar", per_batch=20, test=40)
    server = MLOpsServer(
        tmp_path / "server",
        extra_config={"MLOpsApp": {"autostart_notebooks": ["train_cifar.ipynb"]}},
        extra_env={"MLOPS_DATA_DIR": str(data), "MLOPS_DATA_DOWNLOAD": "0"},
    )
    shutil.copy(ROOT / "train_cifar.ipynb", server.notebook_dir)
    server.start()
    try:

        def worker_online() -> dict | None:
            workers = server.api("GET", "workers")[1]["workers"]
            return next((w for w in workers if w["online"]), None)

        worker = server.wait_for(worker_online, timeout=150)
        assert worker["name"] == "cifar10-worker"
        assert worker["notebook"].endswith("train_cifar.ipynb")
        assert worker["defaults"]["BATCH_SIZE"] == 10
        status, raw = server.request("GET", "api/sessions")
        assert status == 200 and b"train_cifar.ipynb" in raw
    finally:
        server.stop()
