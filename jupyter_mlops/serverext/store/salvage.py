"""Salvage: copy what can still be read from a damaged database file into a new store.

Used by ``python -m jupyter_mlops.check --repair`` once the damaged file has been moved aside:
each table is read row by row until the damage stops the read, and every row read is copied
(columns both schemas have; a row the new schema refuses is skipped and counted).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database

#: Tables in the order rows must be copied (referenced rows first).
TABLES = (
    "workers", "tokens", "jobs", "trials", "models", "decisions", "deployments", "logs",
    "metrics",
)  # fmt: skip
#: Unreadable stretches a table's read steps over before it gives up.
MAX_SKIPS = 40


def salvage_rows(damaged: Path, db: Database) -> dict[str, str]:
    """Copy the readable rows of ``damaged`` into ``db``; return what happened per table."""
    _fit_header(damaged)
    report: dict[str, str] = {}
    try:
        source = sqlite3.connect(damaged)  # the moved-aside copy: its WAL is read too
    except sqlite3.Error as exc:
        return {"*": f"unreadable: {exc}"}
    try:
        for table in TABLES:
            report[table] = _copy_table(source, db, table)
    finally:
        source.close()
    return report


def _fit_header(path: Path) -> None:
    """A truncated file still announces its old size (in pages): announce what is left, so
    SQLite reads the pages that are there instead of refusing the whole file."""
    try:
        with open(path, "r+b") as f:
            header = f.read(100)
            if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
                return
            page_size = int.from_bytes(header[16:18], "big")
            page_size = 65536 if page_size == 1 else page_size
            pages = path.stat().st_size // page_size if page_size else 0
            if pages and int.from_bytes(header[28:32], "big") > pages:
                f.seek(28)
                f.write(pages.to_bytes(4, "big"))
    except OSError:
        pass


def _rows(source: sqlite3.Connection, table: str) -> Iterator[sqlite3.Row | tuple[Any, ...]]:
    """The table's rows in rowid order, stepping over unreadable parts (a missing page)."""
    last, step, failures = 0, 1, 0
    while failures < MAX_SKIPS:
        try:
            cursor = source.execute(
                f"SELECT rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid", (last,)
            )
            for row in cursor:  # one step at a time: the rows before a bad page count
                last, step = row[0], 1
                yield row
            return
        except sqlite3.DatabaseError:
            failures += 1
            last, step = last + step, step * 2  # skip ahead over the damage


def _copy_table(source: sqlite3.Connection, db: Database, table: str) -> str:
    wanted = set(db[table].columns_dict)
    try:
        names = [d[0] for d in source.execute(f"SELECT * FROM {table} LIMIT 0").description]
    except sqlite3.DatabaseError as exc:
        if str(exc).startswith("no such table"):  # a store from before the table existed
            return "not in the damaged store"
        return f"unreadable ({exc})"
    keep = [i for i, name in enumerate(names) if name in wanted]
    columns = ", ".join(names[i] for i in keep)
    insert = f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({', '.join('?' * len(keep))})"
    copied = skipped = 0
    conn = db.conn
    for row in _rows(source, table):
        try:
            conn.execute(insert, tuple(row[i + 1] for i in keep))
            copied += 1
        except sqlite3.DatabaseError:
            skipped += 1
    conn.commit()
    return f"{copied} row(s) copied" + (f", {skipped} refused" if skipped else "")
