"""Files only their owner may read: the store, its blobs and database, the worker's folder,
its logs and outbox. Folders are 0700 and files 0600 whatever the umask (a mode given to
``mkdir`` or ``open`` is masked by it, so the mode is set again once the path exists).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder (and missing parents) if needed and make it 0700; return it."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    with contextlib.suppress(PermissionError):  # a folder of someone else's: leave it be
        folder.chmod(FOLDER_MODE)
    return folder


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create the file empty if it is missing and make it 0600; return it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return Path(path)


def tighten(*paths: str | os.PathLike[str]) -> None:
    """Make the files among ``paths`` that exist 0600 (e.g. a store made by older versions)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(path, FILE_MODE)


def open_private(path: str | os.PathLike[str], mode: str = "a", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing (``"w"``, ``"a"``, ``"wb"``, ``"ab"``) with 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        if "b" not in mode:
            kwargs.setdefault("encoding", "utf-8")
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise
