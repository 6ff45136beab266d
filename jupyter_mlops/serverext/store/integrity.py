"""Opening the database safely: a new store is created whole, a damaged one is refused.

A brand-new root gets its ``mlops.db`` built under a temporary name, migrated, then renamed
into place, so an ``mlops.db`` of 0 bytes is never one of ours: it is damage. An existing file
must be a SQLite database (``PRAGMA quick_check`` says ``ok``) holding a jupyter-mlops store
(its migrations table). Anything else raises :class:`StoreDamaged` with the reason; the server
then answers every route with it (503) and ``python -m jupyter_mlops.check`` says what can be
repaired. The store never starts silently empty.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from jupyter_mlops.private import private_dir, private_file, tighten
from jupyter_mlops.serverext.errors import DiskFull, StoreDamaged
from jupyter_mlops.serverext.store.schema import migrations

DB_NAME = "mlops.db"
#: The name a new database is built under before it is renamed to ``mlops.db``.
CREATING = "mlops.db.creating"
#: sqlite-utils' table of applied migrations: every jupyter-mlops store has it.
MIGRATIONS_TABLE = "_sqlite_migrations"
SQLITE_FULL = 13  # sqlite3.SQLITE_FULL from Python 3.11


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_disk_full(exc: BaseException) -> bool:
    """Whether a SQLite or OS error means the disk (or quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in (28, 122)  # ENOSPC, EDQUOT
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
        return (code is not None and code & 0xFF == SQLITE_FULL) or "disk is full" in str(exc)
    return False


def create_database(root: Path) -> None:
    """Build a new, migrated database under a temporary name, then rename it into place."""
    tmp = root / CREATING
    _remove_db_files(tmp)  # a creation cut short earlier: ours, and empty
    try:
        private_file(tmp)  # 0600 before SQLite opens it: its -wal and -shm take its mode
        db = Database(tmp)
        try:
            migrations.apply(db)
        finally:
            db.close()
        os.replace(tmp, root / DB_NAME)
    except (OSError, sqlite3.Error) as exc:
        _remove_db_files(tmp)
        if is_disk_full(exc):
            raise DiskFull(f"the disk of {root} is full: the store cannot be created") from exc
        raise
    _fsync_dir(root)


def database_problem(path: Path) -> str | None:
    """Why the database at ``path`` cannot be used as a store, or None when it can."""
    if not path.exists():
        return None
    size = path.stat().st_size
    if size == 0:
        return (
            f"{path} is empty (0 bytes): it was not written by jupyter-mlops (a new store is "
            "created whole), so the store's data is gone or the file was replaced"
        )
    try:
        conn = sqlite3.connect(path)  # exists: connect never creates it here
    except sqlite3.Error as exc:
        return f"{path} cannot be opened: {exc}"
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
        if rows != ["ok"]:
            return f"{path} is damaged (SQLite quick_check: {'; '.join(map(str, rows))})"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        return f"{path} is not a readable SQLite database ({exc}; {size} bytes)"
    finally:
        conn.close()
    if MIGRATIONS_TABLE not in tables:
        return f"{path} is a SQLite database but not a jupyter-mlops store (no {MIGRATIONS_TABLE})"
    return None


def open_database(root: Path) -> Database:
    """The store's database under ``root``, checked and migrated; StoreDamaged otherwise."""
    private_dir(root)
    path = root / DB_NAME
    if not path.exists():
        blobs = root / "blobs"
        files = [p for p in blobs.iterdir() if not p.name.startswith(".")] if blobs.is_dir() else []
        if files:
            raise StoreDamaged(
                f"{path} is missing but {blobs} holds {len(files)} stored file(s): the "
                "store's database was deleted or moved",
                {"reason": "database_missing", "path": str(path)},
            )
        create_database(root)
    problem = database_problem(path)
    if problem is not None:
        raise StoreDamaged(problem, {"reason": "database_damaged", "path": str(path)})
    # SQLite gives -wal and -shm the database's mode; a store of older versions was 0644
    tighten(path, f"{path}-wal", f"{path}-shm")
    try:
        db = Database(path)
        db.conn.execute("PRAGMA journal_mode=WAL")
        db.conn.execute("PRAGMA synchronous=NORMAL")
        db.conn.execute("PRAGMA busy_timeout=5000")
        migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        if is_disk_full(exc):
            raise DiskFull(f"the disk of {root} is full: the store cannot be opened") from exc
        raise StoreDamaged(
            f"{path} could not be opened and migrated: {exc}",
            {"reason": "database_damaged", "path": str(path)},
        ) from exc
    return db
