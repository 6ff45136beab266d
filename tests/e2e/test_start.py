"""README's quick start, both ways, started as a user starts them: after a pip install,
``jupyter mlops start`` in a folder; in the clone, ``bash scripts/start.sh`` (which runs the
same command on the clone's notebooks). Each serves JupyterLab with the panel, runs the
tutorial notebook as a worker in one of its kernels and serves the Voila demo, on the embedded
SQLite store. (The installed wheel itself, without node, is checked by
``scripts/check_package.sh``.)"""

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
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.timeout(400)


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def user_env(tmp_path: Path, port: int, token: str) -> dict[str, str]:
    """A user's shell: the venv's commands on PATH, Jupyter's folders and the data private."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_MLOPS_")},
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLOPS_VENV": str(BIN.parent),
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


@contextlib.contextmanager
def started(command: list[str], cwd: Path, env: dict[str, str], log_path: Path):
    """Run the quick start's command as a user does, then stop it (SIGTERM: the server shuts
    its kernels down)."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def check_product(port: int, token: str, log_path: Path, store: Path) -> None:
    """What README promises after the one command: the printed URLs, JupyterLab with the
    panel, the tutorial worker online, the demo page, the SQLite store."""
    base = f"http://127.0.0.1:{port}/"
    wait_until(lambda: get(f"{base}api/status?token={token}")[0] == 200, 240, 0.5)
    printed = log_path.read_text()
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

    status, page = get(f"{base}voila/render/demo_voila.ipynb?token={token}", timeout=120)
    assert status == 200 and b"application/vnd.jupyter.widget-view+json" in page
    assert (store / "mlops.db").exists()


def test_start_sh_serves_the_lab_the_worker_and_the_demo(tmp_path: Path) -> None:
    port, token = free_port(), "start-sh-test-token"
    log_path = tmp_path / "start.log"
    env = user_env(tmp_path, port, token)
    command = ["bash", str(ROOT / "scripts" / "start.sh")]
    with started(command, ROOT, env, log_path):
        check_product(port, token, log_path, tmp_path / "store")


def test_pip_way_jupyter_mlops_start_in_an_empty_folder(tmp_path: Path) -> None:
    """``pip install "jupyter_mlops[all]"``, then ``jupyter mlops start`` in any folder: the
    examples that ship in the package are copied there and the same product runs."""
    port, token = free_port(), "pip-start-test-token"
    log_path = tmp_path / "start.log"
    folder = tmp_path / "my-project"
    folder.mkdir()
    env = user_env(tmp_path, port, token)
    command = [
        "jupyter",
        "mlops",
        "start",
        "--no-browser",
        f"--port={port}",
        f"--root={tmp_path / 'store'}",
    ]  # the token from $MLOPS_TOKEN
    with started(command, folder, env, log_path):
        check_product(port, token, log_path, tmp_path / "store")
        for name in ("train_cifar.ipynb", "demo_voila.ipynb", "sample_conf.json"):
            shipped = ROOT / "jupyter_mlops" / "examples" / name
            assert (folder / name).read_bytes() == shipped.read_bytes()
