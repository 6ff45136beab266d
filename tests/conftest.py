"""Fixtures, built as a chain: store root -> server config -> running servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import MLOpsServer

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def mlops_root(tmp_path: Path) -> Path:
    """The store's root folder (mlops.db, blobs/)."""
    return tmp_path / "mlops"


@pytest.fixture
def mlops_config() -> dict:
    """MLOpsApp settings for the in-process server; override in a test module to change."""
    return {"worker_grace_seconds": 1.0, "max_upload_bytes": 1 << 20}


@pytest.fixture
def jp_server_config(mlops_root: Path, mlops_config: dict) -> dict:
    """In-process server (pytest-jupyter) with the extension enabled on a fresh store."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MLOpsApp": {"root_dir": str(mlops_root), **mlops_config},
    }


@pytest.fixture
def mlops_server(tmp_path: Path) -> Iterator[MLOpsServer]:
    """A real ``jupyter server`` subprocess with the extension and Voilà."""
    server = MLOpsServer(tmp_path / "server").start()
    try:
        yield server
    finally:
        server.stop()
