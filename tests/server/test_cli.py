"""``jupyter mlops ...`` against a real server: subprocess calls of the ``jupyter-mlops`` script.

The hub is found as a user's shell finds it: from the running-servers list of the user
(``JUPYTER_RUNTIME_DIR``), from ``JUPYTER_MLOPS_URL``/``TOKEN``, or from ``--url``/``--token``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo_models import make_demo_model
from tests.support.leases import seed_models
from tests.support.server import MLOpsServer

SCRIPT = Path(sys.executable).with_name("jupyter-mlops")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLOpsServer]:
    base = tmp_path_factory.mktemp("cli")
    started = MLOpsServer(base / "server").start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def models(server: MLOpsServer, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two stored models (seeded through real leases)."""
    base = tmp_path_factory.mktemp("models")
    files = [base / "a.zip", base / "b.zip"]
    make_demo_model(files[0], seed=1, accuracy=0.6)
    make_demo_model(files[1], seed=2, accuracy=0.4)
    return seed_models(server, files, name="cli-seeder")


def env_for(runtime: Path | None, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_MLOPS_")}
    if runtime is not None:
        env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    env.update(more)
    return env


def mlops(
    *args: str, server: MLOpsServer | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``jupyter-mlops ARGS``; the hub is ``server`` found in its runtime folder."""
    if env is None:
        env = env_for(server.base / "runtime" if server else None)
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_script_is_installed_and_jupyter_finds_it() -> None:
    assert SCRIPT.exists(), "pip install -e . creates the jupyter-mlops script"
    jupyter = shutil.which("jupyter", path=str(SCRIPT.parent))
    assert jupyter is not None
    done = subprocess.run([jupyter, "mlops", "--version"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from jupyter_mlops import __version__

    assert done.stdout.strip() == f"jupyter-mlops {__version__}"


def test_the_hub_is_found_in_the_running_servers_list(server: MLOpsServer) -> None:
    done = mlops("workers", server=server)
    assert done.returncode == 0, done.stderr
    assert "no workers yet" in done.stdout


def test_no_hub_is_one_line_and_a_failure(tmp_path: Path) -> None:
    empty = tmp_path / "runtime"
    empty.mkdir()
    done = mlops("workers", env=env_for(empty))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no hub found"), done.stderr
    assert "--url" in lines[0] and "jupyter mlops start" in lines[0]


def test_several_servers_are_named_and_one_without_the_api_is_skipped(
    server: MLOpsServer, tmp_path: Path
) -> None:
    (info,) = (server.base / "runtime").glob("jpserver-*.json")
    data = json.loads(info.read_text())
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    # a second "server" of this user with no jupyter-mlops API (nothing listens there)
    other = {**data, "port": 9, "url": "http://127.0.0.1:9/"}
    (runtime / "jpserver-1.json").write_text(json.dumps(data))
    (runtime / "jpserver-2.json").write_text(json.dumps(other))
    done = mlops("workers", env=env_for(runtime))
    assert done.returncode == 0, done.stderr
    # two with the API: the command cannot guess and names them
    (runtime / "jpserver-2.json").write_text(json.dumps(data))
    done = mlops("workers", env=env_for(runtime))
    assert done.returncode == 1
    assert "2 Jupyter servers with jupyter-mlops are running" in done.stderr
    assert server.url in done.stderr and "--url" in done.stderr


def test_url_and_token_options_and_a_wrong_token(server: MLOpsServer, tmp_path: Path) -> None:
    none = tmp_path / "runtime"
    none.mkdir()
    done = mlops("workers", "--url", server.url, "--token", server.token, env=env_for(none))
    assert done.returncode == 0, done.stderr
    env = env_for(none, JUPYTER_MLOPS_URL=server.url, JUPYTER_MLOPS_TOKEN="wrong")
    done = mlops("workers", env=env)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "refused the token" in done.stderr and "wrong" not in done.stderr


def test_tokens_create_list_revoke(server: MLOpsServer) -> None:
    done = mlops("tokens", "create", "colab-cli", "--scope", "worker", server=server)
    assert done.returncode == 0, done.stderr
    assert "export JUPYTER_MLOPS_TOKEN=mlops_" in done.stdout
    assert f"%mlops connect {server.url}" in done.stdout
    listed = json.loads(mlops("tokens", "--json", server=server).stdout)
    (token,) = [t for t in listed if t["name"] == "colab-cli"]
    assert token["scope"] == "worker" and token["revoked"] is None
    assert "mlops_" not in json.dumps(listed)  # never a secret in a listing
    table = mlops("tokens", server=server).stdout
    assert "colab-cli" in table and "ID" in table.splitlines()[0]
    done = mlops("tokens", "revoke", str(token["id"]), server=server)
    assert done.returncode == 0 and f"revoked token {token['id']}" in done.stdout
    listed = json.loads(mlops("tokens", "--json", server=server).stdout)
    assert [t["revoked"] for t in listed if t["id"] == token["id"]] != [None]


def test_usage_errors_exit_2(server: MLOpsServer) -> None:
    done = mlops("tokens", "revoke", "colab", server=server)
    assert done.returncode == 2 and "token's id" in done.stderr
    done = mlops("workers", "forget", server=server)
    assert done.returncode == 2


def test_launch_checks_the_conf_before_launching(server: MLOpsServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    done = mlops("launch", str(bad), server=server)
    assert done.returncode == 1 and "must hold a JSON object" in done.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"EPOCHS": []}))
    done = mlops("launch", str(wrong), server=server)
    assert done.returncode == 1 and "is invalid" in done.stderr and "EPOCHS" in done.stderr
    assert json.loads(mlops("jobs", "--json", server=server).stdout) == []


def test_launch_detached_then_jobs_job_logs_and_cancel(server: MLOpsServer, tmp_path: Path) -> None:
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"EPOCHS": 1, "LEARNING_RATE": [0.1, 0.2, 0.3]}))
    done = mlops("launch", str(conf), "--detach", server=server)
    assert done.returncode == 0, done.stderr
    assert "3 trial(s) on any (queued)" in done.stdout
    job_id = int(done.stdout.split()[1].rstrip(":"))
    listed = json.loads(mlops("jobs", "--status", "queued", "--json", server=server).stdout)
    assert [j["id"] for j in listed] == [job_id]
    table = mlops("jobs", server=server).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "STATUS", "TRIALS"]
    assert table[1].split()[:3] == [str(job_id), "queued", "0/3"]
    shown = json.loads(mlops("job", str(job_id), "--json", server=server).stdout)
    assert [t["id"] for t in shown["trials"]] == [f"{job_id}-{i}" for i in range(3)]
    done = mlops("cancel", str(job_id), server=server)
    assert done.returncode == 0 and f"job {job_id}: cancelled" in done.stdout
    done = mlops("logs", str(job_id), "--follow", server=server)  # ended: returns at once
    assert done.returncode == 0, done.stderr
    done = mlops("job", "999999", server=server)
    assert done.returncode == 1
    assert done.stderr.startswith("error: HTTP 404") and len(done.stderr.splitlines()) == 1


def test_models_deploy_and_pull(server: MLOpsServer, models: list[str], tmp_path: Path) -> None:
    first, second = models
    table = mlops("models", server=server).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "DEPLOYED", "TEST_ACCURACY"]
    assert {line.split()[0] for line in table[1:]} == {first, second}
    done = mlops("deploy", second, server=server)
    assert done.returncode == 0, done.stderr
    assert f"deployed model {second}" in done.stdout and "manual" in done.stdout
    listed = json.loads(mlops("models", "--json", server=server).stdout)
    assert {m["id"]: m["deployed"] for m in listed} == {first: False, second: True}
    done = mlops("pull", first, str(tmp_path), server=server)
    assert done.returncode == 0, done.stderr
    saved = tmp_path / f"model-{first}.zip"
    assert saved.exists() and "sha256 checked" in done.stdout
    meta = next(m for m in listed if m["id"] == first)
    import hashlib

    assert hashlib.sha256(saved.read_bytes()).hexdigest() == meta["sha256"]
    assert [p.name for p in tmp_path.iterdir()] == [saved.name]  # no partial file left
    done = mlops("pull", "424242-0", str(tmp_path), server=server)
    assert done.returncode == 1 and done.stderr.startswith("error: HTTP 404")


def test_check_runs_the_store_check(tmp_path: Path) -> None:
    done = mlops("check", str(tmp_path / "nothing-here"), "--json", env=env_for(tmp_path))
    report = json.loads(done.stdout)
    assert done.returncode in (0, 1) and isinstance(report, dict)
