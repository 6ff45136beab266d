"""A damaged store is refused loudly: every route answers a JSON 503 with the reason, never an
empty store. In-process servers started on a damaged root (an empty, truncated or garbage
``mlops.db``, or a missing one next to stored files), and a real server whose model file was
deleted, repaired with ``python -m jupyter_mlops.check``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.serverext.routes import ROUTES
from jupyter_mlops.serverext.store import Store
from tests.support.api import call
from tests.support.leases import seed_models
from tests.support.models import make_model_file
from tests.support.server import MLOpsServer

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
NO_AUTH = {"Authorization": ""}


def _a_store_with_jobs(root: Path) -> None:
    store = Store(root)
    for _ in range(200):
        store.create_job("any", {"LR": [1, 2]}, [{"LR": 1}, {"LR": 2}])
    store.close()


def damage(root: Path, kind: str) -> str:
    """Damage a store under ``root``; return what the error must say."""
    root.mkdir(parents=True)
    db = root / "mlops.db"
    if kind == "empty":
        db.write_bytes(b"")
        return "is empty (0 bytes)"
    if kind == "garbage":
        db.write_bytes(os.urandom(64 * 1024))
        return "is not a readable SQLite database"
    if kind == "truncated":
        _a_store_with_jobs(root)
        db.write_bytes(db.read_bytes()[: 4096 * 12])
        return "is not a readable SQLite database"
    if kind == "not_ours":
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("CREATE TABLE notes (text)")
        return "not a jupyter-mlops store"
    assert kind == "deleted"
    (root / "blobs").mkdir()
    (root / "blobs" / ("ab" * 32)).write_bytes(b"a model file")
    return "is missing but"


@pytest.fixture(params=["empty", "garbage", "truncated", "not_ours", "deleted"])
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "mlops"
    return root, damage(root, request.param)


@pytest.fixture
def mlops_root(damaged: tuple[Path, str]) -> Path:
    return damaged[0]


def _concrete(template: str) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: "1-0" if m.group(1) in ("model_id", "trial_id") else "1", template
    )


async def test_every_route_says_why_the_store_was_not_opened(
    jp_fetch, jp_ws_fetch, damaged: tuple[Path, str]
) -> None:
    root, says = damaged
    before = sorted(p.name for p in root.iterdir())
    checked = 0
    for template, _ in ROUTES:
        path = _concrete(template)
        if path.startswith("/ws/"):
            with pytest.raises(HTTPClientError) as error:
                await jp_ws_fetch("mlops", "api", *path.strip("/").split("/"))
            assert error.value.code == 503, path
            continue
        for method in ("GET", "POST"):
            status, reply = await call(jp_fetch, method, path, {} if method == "POST" else None)
            assert status == 503, (method, path, status, reply)
            assert says in reply["error"] and str(root) in reply["error"], reply
            assert "python -m jupyter_mlops.check" in reply["error"]
            assert reply["detail"] == {"reason": "store_damaged"}
            checked += 1
        status, _ = await call(jp_fetch, "GET", path, headers=NO_AUTH)
        assert status == 403, path  # the reason is for the Jupyter credential only
    assert checked >= 2 * 15
    assert sorted(p.name for p in root.iterdir()) == before  # nothing was created or replaced


def test_a_deleted_model_file_is_refused_at_start_then_repaired(tmp_path: Path) -> None:
    server = MLOpsServer(tmp_path / "server").start()
    try:
        model = tmp_path / "model.zip"
        make_model_file(model, accuracy=0.6)
        (model_id,) = seed_models(server, [model])
        status, listed = server.api("GET", f"models/{model_id}")
        assert status == 200
        server.stop()
        blob = server.root_dir / "blobs" / listed["sha256"]
        blob.unlink()  # the model's file is lost while the server is down
        server.start()
        for path in ("workers", "jobs", "models", f"models/{model_id}", "deployment"):
            status, reply = server.api("GET", path)
            assert status == 503, (path, reply)
            assert f"model {model_id}: its file is missing from the store" in reply["error"]
        log = server.log_path.read_text()
        assert "was not opened" in log and f"model {model_id}" in log
        server.stop()
        assert "AttributeError" not in server.log_path.read_text()
        check = [sys.executable, "-m", "jupyter_mlops.check", str(server.root_dir)]
        report = subprocess.run(check, capture_output=True, text=True, cwd=ROOT)
        assert report.returncode == 1 and "repairable" in report.stdout, report.stdout
        repaired = subprocess.run(
            [*check, "--repair", "--json"], capture_output=True, text=True, cwd=ROOT
        )
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert json.loads(repaired.stdout)["healthy"]
        server.start()
        status, model_row = server.api("GET", f"models/{model_id}")
        assert status == 200 and model_row["damaged"] == "its file is missing from the store"
        status, reply = server.api("GET", f"models/{model_id}/file")
        assert status == 500 and model_id in reply["error"] and "missing" in reply["error"]
        status, reply = server.api("POST", "deployment", {"model_id": model_id})
        assert status == 409 and "cannot be deployed" in reply["error"]
    finally:
        server.stop()
