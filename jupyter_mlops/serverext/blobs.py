"""Content-addressed blob folder for model files: ``blobs/<sha256>``.

An upload is written to a temporary file in the same folder, hashed as it streams, fsynced
and renamed into place only when its sha256 matches, so no half-written model is ever visible.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from jupyter_mlops.serverext.errors import InvalidInput, PayloadTooLarge

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class Upload:
    """One upload in progress: a temporary file plus a running hash and size."""

    def __init__(self, folder: Path, limit: int) -> None:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".upload-")
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
        self._file.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        """Flush and fsync the temporary file."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def abort(self) -> None:
        """Drop the temporary file."""
        if not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)


class BlobStore:
    """Files named by their sha256 under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob(".upload-*"):
            stale.unlink(missing_ok=True)

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
