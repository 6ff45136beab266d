"""Fixtures of the server tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_mlops.kernel_client.worker import registry


@pytest.fixture
def ip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[InteractiveShell]:
    """A shell with the extension loaded, no hub in the environment, no server as parent."""
    monkeypatch.delenv("JUPYTER_MLOPS_URL", raising=False)
    monkeypatch.delenv("JUPYTER_MLOPS_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_MLOPS_WORKER_DIR", str(tmp_path / "worker"))
    shell = InteractiveShell.instance()
    registry.reset()
    shell.run_line_magic("load_ext", "jupyter_mlops")
    yield shell
    shell.run_line_magic("unload_ext", "jupyter_mlops")
    registry.reset()
