"""Content-addressed blob folder for model files: ``blobs/<sha256>``.

An upload is written to a temporary file in the same folder, hashed as it streams, fsynced
and renamed into place only when its sha256 matches, so no half-written model is ever visible.
A full disk raises ``DiskFull`` and removes the temporary file. :meth:`BlobStore.check_file`
tells whether a stored file is still what its name says (missing, or another sha256).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from jupyter_mlops.private import private_dir
from jupyter_mlops.serverext.errors import DiskFull, InvalidInput, PayloadTooLarge

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class Upload:
    """One upload in progress: a temporary file plus a running hash and size."""

    def __init__(self, folder: Path, limit: int) -> None:
        try:
            fd, name = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX)
        except OSError as exc:
            raise _disk_full(exc, folder) if _is_full(exc) else exc from None
        self.tmp_path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.limit = limit

    def write(self, chunk: bytes) -> None:
        """Append a chunk; raise PayloadTooLarge (and discard the file) past the limit."""
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise PayloadTooLarge(
                f"the upload is over the limit of {self.limit} bytes",
                {"limit": self.limit},
            )
        self._hash.update(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:
            self.abort()
            raise _disk_full(exc, self.tmp_path.parent) if _is_full(exc) else exc from None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        """Flush and fsync the temporary file."""
        if not self._file.closed:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            except OSError as exc:
                self.abort()
                raise _disk_full(exc, self.tmp_path.parent) if _is_full(exc) else exc from None

    def abort(self) -> None:
        """Drop the temporary file."""
        if not self._file.closed:
            with contextlib.suppress(OSError):  # closing flushes: a full disk may refuse
                self._file.close()
        self.tmp_path.unlink(missing_ok=True)


TEMP_PREFIX = ".upload-"


def _is_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: OSError, folder: Path) -> DiskFull:
    return DiskFull(
        f"disk full: the store's folder {folder} has no space left ({exc.strerror}); the "
        "upload was dropped. Free some space and upload again",
        {"reason": "disk_full"},
    )


class BlobStore:
    """Files named by their sha256 under one folder."""

    def __init__(self, folder: Path, clean: bool = True) -> None:
        """``clean`` removes temporary files left by uploads cut short (at server start)."""
        self.folder = private_dir(folder)  # 0700; uploads are mkstemp files, 0600
        for stale in self.folder.glob(f"{TEMP_PREFIX}*") if clean else ():
            stale.unlink(missing_ok=True)
        self._verified: dict[str, tuple[int, int]] = {}  # sha256 -> (size, mtime_ns) hashed ok
        self._verified_lock = threading.Lock()

    def path(self, sha256: str) -> Path:
        if not SHA256_RE.match(sha256):
            raise InvalidInput(f"not a sha256: {sha256!r}")
        return self.folder / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def begin(self, limit: int) -> Upload:
        """Start an upload that may hold at most ``limit`` bytes."""
        return Upload(self.folder, limit)

    def verify(self, upload: Upload, expected_sha256: str) -> Path:
        """Close the upload and check its hash; return the temporary file (else keep nothing)."""
        upload.close()
        if upload.sha256 != expected_sha256:
            upload.abort()
            raise InvalidInput(
                "sha256 mismatch: the file received is not the one announced; upload it again",
                {"expected": expected_sha256, "received": upload.sha256, "size": upload.size},
            )
        return upload.tmp_path

    def commit(self, upload: Upload, expected_sha256: str) -> None:
        """Rename a verified upload into place (fsynced)."""
        target = self.path(expected_sha256)
        os.replace(upload.tmp_path, target)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
        with self._verified_lock:
            self._verified.pop(sha256, None)

    def check_file(self, sha256: str, size: int | None = None, deep: bool = True) -> str | None:
        """What is wrong with the stored file ``sha256`` (None: nothing). ``deep`` re-hashes it
        (once per version of the file: a file hashed before and unchanged since is trusted)."""
        path = self.path(sha256)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return "its file is missing from the store"
        if size is not None and stat.st_size != size:
            return f"its file has {stat.st_size} bytes, not the {size} recorded"
        if not deep:
            return None
        stamp = (stat.st_size, stat.st_mtime_ns)
        with self._verified_lock:
            if self._verified.get(sha256) == stamp:
                return None
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            return f"its file does not match its sha256 (it hashes to {digest.hexdigest()[:16]}…)"
        with self._verified_lock:
            self._verified[sha256] = stamp
        return None

    def stored(self) -> Iterator[str]:
        """The sha256 of every stored file."""
        for path in self.folder.iterdir():
            if SHA256_RE.match(path.name):
                yield path.name

    def temporary(self) -> list[Path]:
        """Temporary files of uploads (none once the server is stopped: they are leftovers)."""
        return sorted(self.folder.glob(f"{TEMP_PREFIX}*"))
