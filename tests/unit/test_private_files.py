"""The store and the worker's folder are readable by their owner only, whatever the umask.

Before, the store folder and ``blobs/`` were 0755, ``mlops.db`` 0644, and the worker's folder,
logs and outbox 0755/0644: any local user could read models, logs and events.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.kernel_client.hub_client import HubInfo
from jupyter_mlops.kernel_client.worker.logtee import JobLog
from jupyter_mlops.kernel_client.worker.worker import Worker
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.store import Store


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The most permissive umask: every mode below comes from the code, not the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_its_database_and_blobs_are_private(tmp_path: Path) -> None:
    root = tmp_path / "mlops"
    store = Store(root)
    store.create_job("any", {"LR": [0.1]}, [{"LR": 0.1}])  # a write: the WAL files exist
    blobs = BlobStore(root / "blobs")
    data = b"model bytes"
    upload = blobs.begin(1 << 20)
    upload.write(data)
    sha = hashlib.sha256(data).hexdigest()
    blobs.verify(upload, sha)
    blobs.commit(upload, sha)
    db = root / "mlops.db"
    assert {p.name for p in root.iterdir()} >= {"mlops.db", "mlops.db-wal", "mlops.db-shm"}
    assert mode(root) == 0o700
    assert mode(root / "blobs") == 0o700
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), root / "blobs" / sha):
        assert mode(path) == 0o600, path
    store.close()


def test_a_store_made_readable_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "mlops"
    Store(root).close()
    root.chmod(0o755)
    (root / "mlops.db").chmod(0o644)
    Store(root).close()
    assert mode(root) == 0o700
    assert mode(root / "mlops.db") == 0o600


def test_the_worker_folder_logs_and_outbox_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "worker"
    worker = Worker(
        lambda params, callbacks: None,
        {"LR": 0.1},
        "w",
        HubInfo("http://127.0.0.1:9/"),
        local_dir=folder,
    )
    worker.outbox.emit("log", job_id=1, text="x")
    log = JobLog(folder / "logs" / "1.log", lambda *args: None)
    log.line("stdout", "secret line")
    log.close()
    assert mode(folder) == 0o700
    assert mode(folder / "logs") == 0o700
    assert mode(folder / "logs" / "1.log") == 0o600
    outbox = folder / "outbox"
    assert mode(outbox) == 0o700
    files = [p for p in outbox.iterdir() if p.is_file()]
    assert files, "the outbox wrote no file"
    for path in files:
        assert mode(path) == 0o600, path
