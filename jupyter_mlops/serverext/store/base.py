"""The store's connection, transactions and row helpers, shared by its query modules.

The store is used from one thread (the server's event loop), so it is the single writer;
every write that decides something runs in one ``BEGIN IMMEDIATE`` transaction, so it is also
safe against a second process on the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from jupyter_mlops.serverext.store.api import Row
from jupyter_mlops.serverext.store.schema import JSON_COLUMNS, migrations


def _decode(table: str, row: Row | None) -> Row | None:
    if row is None:
        return None
    for column in JSON_COLUMNS.get(table, ()):
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    return row


class StoreBase:
    """The SQLite file under ``root`` (``mlops.db``), migrated to the current schema."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "mlops.db"
        self.db = Database(self.path)
        self.db.conn.execute("PRAGMA journal_mode=WAL")
        self.db.conn.execute("PRAGMA synchronous=NORMAL")
        self.db.conn.execute("PRAGMA busy_timeout=5000")
        migrations.apply(self.db)
        self.db.conn.isolation_level = None  # autocommit; transactions are explicit

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately (no lock upgrade races)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _one(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        rows = list(self.db.query(sql, params))
        return _decode(table, rows[0]) if rows else None

    def _all(self, table: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return [_decode(table, row) for row in self.db.query(sql, params)]  # type: ignore[misc]
