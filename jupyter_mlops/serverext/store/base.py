"""The store's connection, transactions and row helpers, shared by its query modules.

The store is used from one thread (the server's event loop), so it is the single writer;
every write that decides something runs in one ``BEGIN IMMEDIATE`` transaction, so it is also
safe against a second process on the file. The database is opened by ``integrity.py`` (a
damaged one is refused with the reason); a write that fails because the disk is full raises
``DiskFull`` and leaves the store as it was (the transaction is rolled back).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from jupyter_mlops.serverext.errors import DiskFull
from jupyter_mlops.serverext.store.api import Row
from jupyter_mlops.serverext.store.integrity import is_disk_full, open_database
from jupyter_mlops.serverext.store.schema import JSON_COLUMNS


def digest(secret: str) -> str:
    """The sha256 (hex) under which a secret is stored: tokens, sessions, leases."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _decode(table: str, row: Row | None) -> Row | None:
    if row is None:
        return None
    for column in JSON_COLUMNS.get(table, ()):
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    return row


class StoreBase:
    """The SQLite file under ``root`` (``mlops.db``), migrated to the current schema.

    Raises ``StoreDamaged`` (with the reason) when the file is empty, truncated, not a SQLite
    database or not a jupyter-mlops store; a brand-new root gets a new store.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "mlops.db"
        self.db: Database = open_database(root)
        self.db.conn.isolation_level = None  # autocommit; transactions are explicit

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately (no lock upgrade races)."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if is_disk_full(exc):
                raise DiskFull(
                    f"disk full: the store at {self.path.parent} cannot be written ({exc}); "
                    "nothing was stored. Free some space and try again"
                ) from exc
            raise

    def _one(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        rows = list(self.db.query(sql, params))
        return _decode(table, rows[0]) if rows else None

    def _all(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return [_decode(table, row) for row in self.db.query(sql, params)]  # type: ignore[misc]
