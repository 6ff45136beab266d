"""Checking a store against its files: at server start, and ``python -m jupyter_mlops.check``.

At start the server opens the database (``store/integrity.py`` refuses a damaged one) and
checks that every file a model or a checkpoint refers to exists with its recorded size:
:func:`startup_damage`. Anything wrong keeps the store closed, and every route says why.

:func:`check_store` is the full check (every file re-hashed) and, with ``repair``, fixes what
can be fixed:

- a damaged or missing database is moved aside to ``<root>/damaged-<time>/`` (never deleted),
  a new one is built with every row that can still be read, and the models are recovered from
  their files (each model file carries its trial, job, metrics and hyperparameters);
- a model whose file is missing or damaged is marked damaged: it stays listed (the deployment
  history refers to it) with the reason, and is never served, deployed or downloaded;
- a checkpoint whose file is missing or damaged is forgotten (the trial resumes from the start);
- files no model or checkpoint refers to, and temporary files of uploads cut short, are deleted.

Run it with the server stopped.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from jupyter_mlops.modelfile import ModelFileError, read_metadata
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.errors import MLOpsError
from jupyter_mlops.serverext.store import Store
from jupyter_mlops.serverext.store.api import MLOpsStore
from jupyter_mlops.serverext.store.integrity import (
    CREATING,
    DB_NAME,
    create_database,
    database_problem,
)
from jupyter_mlops.serverext.store.salvage import salvage_rows


@dataclass
class Finding:
    """One problem: what is wrong, what ``--repair`` does about it, whether it did."""

    problem: str
    repair: str | None = None  # None: nothing can be done automatically
    repaired: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "repair": self.repair,
            "repaired": self.repaired,
            "notes": self.notes,
        }


@dataclass
class Report:
    """What :func:`check_store` found, and the damage already recorded (models marked)."""

    root: Path
    findings: list[Finding] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    files: int = 0

    @property
    def healthy(self) -> bool:
        """Nothing is left to repair."""
        return all(f.repaired for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "healthy": self.healthy,
            "files_checked": self.files,
            "findings": [f.to_json() for f in self.findings],
            "known_damage": self.known,
        }


def startup_damage(store: MLOpsStore, blobs: BlobStore) -> list[str]:
    """Files the store refers to that are missing or not of their recorded size (damage not
    recorded yet: a model already marked damaged is known)."""
    problems = []
    for item in store.stored_files():
        if item["damaged"]:
            continue
        problem = blobs.check_file(item["sha256"], item["size"], deep=False)
        if problem is not None:
            problems.append(f"{item['kind']} {item['id']}: {problem}")
    return problems


def check_store(root: Path, *, repair: bool = False) -> Report:
    """Check the store under ``root`` (database, then every file re-hashed); repair what can
    be repaired when ``repair``. The server must not be running."""
    report = Report(root)
    blob_folder = root / "blobs"
    leftover = root / CREATING
    if leftover.exists():
        finding = Finding(f"{leftover} is left from a store creation cut short", "delete it")
        report.findings.append(finding)
        if repair:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{leftover}{suffix}").unlink(missing_ok=True)
            finding.repaired = True
    db_path = root / DB_NAME
    stored = _blob_names(blob_folder)
    problem = database_problem(db_path)
    if not db_path.exists() and stored:
        problem = f"{db_path} is missing but {blob_folder} holds {len(stored)} stored file(s)"
    elif not db_path.exists():
        return report  # no store here yet: nothing to check
    if problem is not None:
        finding = Finding(
            problem,
            "move it aside (kept), build a new database with every row that can still be "
            "read, and recover the models from their files",
        )
        report.findings.append(finding)
        if not repair:
            return report  # the files cannot be checked without the database
        _rebuild(root, finding)
    try:
        store = Store(root)
    except MLOpsError as exc:
        report.findings.append(Finding(f"the store cannot be opened: {exc.message}"))
        return report
    try:
        _check_files(store, BlobStore(blob_folder, clean=False), report, repair)
    finally:
        store.close()
    return report


def _blob_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [p.name for p in folder.iterdir() if not p.name.startswith(".")]


def _rebuild(root: Path, finding: Finding) -> None:
    """Move the damaged database aside; build a new one from what can be read of it and from
    the model files."""
    aside = root / time.strftime("damaged-%Y%m%dT%H%M%S")
    aside.mkdir(exist_ok=True)
    moved = False
    for suffix in ("", "-wal", "-shm"):
        path = root / f"{DB_NAME}{suffix}"
        if path.exists():
            shutil.move(str(path), aside / path.name)
            moved = True
    create_database(root)
    if moved:
        finding.notes.append(f"the damaged database is kept in {aside}")
        db = Database(root / DB_NAME)
        try:
            for table, outcome in salvage_rows(aside / DB_NAME, db).items():
                finding.notes.append(f"{table}: {outcome}")
        finally:
            db.close()
    store = Store(root)
    try:
        blobs = BlobStore(root / "blobs", clean=False)
        known = {item["sha256"] for item in store.stored_files()}
        recovered = []
        for sha in blobs.stored():
            if sha in known:
                continue
            path = blobs.path(sha)
            try:
                metadata = read_metadata(path)
            except ModelFileError:
                continue  # a checkpoint, or not a model file: left to the file check
            model_id = store.recover_model(sha, path.stat().st_size, metadata)
            if model_id is not None:
                recovered.append(model_id)
        finding.notes.append(
            f"{len(recovered)} model(s) recovered from their files"
            + (f": {', '.join(sorted(recovered))}" if recovered else "")
        )
    finally:
        store.close()
    finding.repaired = True


def _check_files(store: Store, blobs: BlobStore, report: Report, repair: bool) -> None:
    referenced: set[str] = set()
    for item in store.stored_files():
        referenced.add(item["sha256"])
        report.files += 1
        problem = blobs.check_file(item["sha256"], item["size"])
        what = f"{item['kind']} {item['id']}"
        if item["kind"] == "checkpoint":
            if problem is not None:
                finding = Finding(
                    f"the checkpoint of trial {item['id']}: {problem}",
                    "forget it (the trial resumes from its first epoch)",
                )
                report.findings.append(finding)
                if repair:
                    store.forget_checkpoint(item["id"])
                    finding.repaired = True
        elif problem is not None and problem == item["damaged"]:
            report.known.append(f"{what} is marked damaged: {problem}")
        elif problem is not None:
            finding = Finding(
                f"{what}: {problem}",
                "mark it damaged: it stays listed with the reason, and is never served, "
                "deployed or downloaded",
            )
            report.findings.append(finding)
            if repair:
                store.mark_model_damaged(item["id"], problem)
                finding.repaired = True
        elif item["damaged"]:
            finding = Finding(
                f"{what} is marked damaged ({item['damaged']}) but its file is whole",
                "clear the mark",
            )
            report.findings.append(finding)
            if repair:
                store.mark_model_damaged(item["id"], None)
                finding.repaired = True
    for sha in sorted(set(blobs.stored()) - referenced):
        size = blobs.path(sha).stat().st_size
        finding = Finding(
            f"blobs/{sha[:16]}… ({size} bytes) belongs to no model or checkpoint", "delete it"
        )
        report.findings.append(finding)
        if repair:
            blobs.delete(sha)
            finding.repaired = True
    for temp in blobs.temporary():
        finding = Finding(
            f"blobs/{temp.name} is a temporary file of an upload cut short", "delete it"
        )
        report.findings.append(finding)
        if repair:
            temp.unlink(missing_ok=True)
            finding.repaired = True
    for problem in _consistency(store):
        report.findings.append(Finding(problem))


def _consistency(store: Store) -> list[str]:
    """What the store says contradicts itself (jobs, trials, models, deployments)."""
    check = getattr(store, "consistency_problems", None)
    return list(check()) if callable(check) else []
