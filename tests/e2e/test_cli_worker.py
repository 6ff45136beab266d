"""``jupyter mlops worker NOTEBOOK`` runs a notebook as a headless worker; ``launch`` follows a
job on it to the end; ``logs``, ``workers forget`` and Ctrl-C behave as a user expects."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests.server.test_cli import SCRIPT, env_for, mlops
from tests.support.server import MLOpsServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def write_notebook(path: Path, name: str, local_dir: Path) -> Path:
    """A worker notebook of a user: a small real torch trial, then ``start_worker``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# a worker"),
        nbformat.v4.new_code_cell("from tests.support.synthetic import DEFAULTS, synthetic_trial"),
        nbformat.v4.new_code_cell("%load_ext jupyter_mlops"),
        nbformat.v4.new_code_cell(
            "from jupyter_mlops.kernel_client import start_worker\n"
            f"worker = start_worker(synthetic_trial, defaults={{**DEFAULTS, 'EPOCHS': 2}}, "
            f"name={name!r}, local_dir={str(local_dir)!r}, echo=False)"
        ),
    ]
    nbformat.write(nb, path)
    return path


def test_a_notebook_as_a_worker_launch_follow_logs_and_stop(tmp_path: Path) -> None:
    server = MLOpsServer(tmp_path / "server").start()
    env = env_for(server.base / "runtime", PYTHONPATH=str(ROOT))
    notebook = write_notebook(tmp_path / "my_worker.ipynb", "nb-cli", tmp_path / "local")
    out = (tmp_path / "worker.out").open("w")
    process = subprocess.Popen(
        [str(SCRIPT), "worker", str(notebook), "--interval", "0.5"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def online() -> dict | None:
            workers = server.api("GET", "workers")[1]["workers"]
            return next((w for w in workers if w["name"] == "nb-cli" and w["online"]), None)

        worker = server.wait_for(online, timeout=120)
        assert worker["notebook"].endswith("my_worker.ipynb")

        conf = tmp_path / "conf.json"
        conf.write_text(json.dumps({"LEARNING_RATE": [0.05, 0.1], "EPOCH_SECONDS": 0.2}))
        done = subprocess.run(
            [str(SCRIPT), "launch", str(conf), "--worker", "nb-cli"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        job_id = int(lines[0].split()[1].rstrip(":"))
        assert lines[0] == f"job {job_id}: 2 trial(s) on nb-cli (queued)" or lines[0].endswith(
            "(running)"
        )
        # progress lines (not a terminal: one per change), then the trials and the best
        assert any(line.startswith(f"job {job_id} running") for line in lines), done.stdout
        table = [line for line in lines if line.startswith(f"{job_id}-")]
        assert [row.split()[:2] for row in table] == [
            [f"{job_id}-0", "finished"],
            [f"{job_id}-1", "finished"],
        ]
        assert any(line.startswith("best: trial") for line in lines), done.stdout

        logs = mlops("logs", str(job_id), env=env)
        assert logs.returncode == 0, logs.stderr
        assert f"[{job_id}-0] epoch 2/2" in logs.stdout and f"[{job_id}-1]" in logs.stdout

        models = json.loads(mlops("models", "--job", str(job_id), "--json", env=env).stdout)
        assert sorted(m["id"] for m in models) == [f"{job_id}-0", f"{job_id}-1"]

        # Ctrl-C: the worker stops cleanly, the kernel is shut down, the hub sees it go
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 130
        server.wait_for(lambda: online() is None, timeout=30)
        text = (tmp_path / "worker.out").read_text()
        assert "cell 3/3" in text and "worker nb-cli is running" in text
        assert "stopping the worker" in text and "stopped" in text

        done = mlops("workers", "forget", "nb-cli", env=env)
        assert done.returncode == 0 and "forgot worker nb-cli" in done.stdout
        assert "nb-cli" not in mlops("workers", env=env).stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        out.close()
        server.stop()


def test_a_notebook_that_starts_no_worker_fails_clearly(tmp_path: Path) -> None:
    notebook = tmp_path / "plain.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, notebook)
    env = env_for(tmp_path, JUPYTER_MLOPS_URL="http://127.0.0.1:9/", JUPYTER_MLOPS_TOKEN="t")
    done = mlops("worker", str(notebook), env=env)
    assert done.returncode == 1
    assert "the notebook started no worker" in done.stderr


def test_a_failing_cell_stops_with_its_error(tmp_path: Path) -> None:
    notebook = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise ValueError('no data here')")]
    nbformat.write(nb, notebook)
    env = env_for(tmp_path, JUPYTER_MLOPS_URL="http://127.0.0.1:9/", JUPYTER_MLOPS_TOKEN="t")
    done = mlops("worker", str(notebook), env=env)
    assert done.returncode == 1
    assert "a cell of broken.ipynb failed" in done.stderr and "no data here" in done.stderr
