"""A base for handlers that receive a file streamed to disk and send one back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from jupyter_core.utils import ensure_async
from tornado import web

from jupyter_mlops.serverext.blobs import SHA256_RE, Upload
from jupyter_mlops.serverext.errors import (
    DamagedFile,
    InvalidInput,
    MLOpsError,
    PayloadTooLarge,
)
from jupyter_mlops.serverext.handlers.base import (
    LEASE_HEADER,
    NO_TORNADO_LIMIT,
    MLOpsHandler,
    parse_int,
)

CHUNK = 1 << 20
T = TypeVar("T")


@web.stream_request_body
class StreamedFileHandler(MLOpsHandler):
    """PUT bodies go to a temporary blob as they arrive (never whole in memory), hashed,
    size-limited and dropped on any failure; GET streams a blob back in chunks."""

    _upload: Upload | None = None
    _committed: str | None = None  # the sha256 of the file this request renamed into place
    _failure: MLOpsError | None = None

    def check_target(self) -> None:
        """Raise NotFound/Forbidden/Conflict before the body is read (the path names the
        target; the credential, ``self.credential``, is already checked)."""

    @property
    def lease(self) -> tuple[int | None, str | None]:
        """The lease the request shows: (``?attempt=``, the ``X-MLOps-Lease`` header)."""
        return self.optional_int("attempt"), self.request.headers.get(LEASE_HEADER) or None

    async def prepare(self, **kwargs: Any) -> None:  # type: ignore[override]
        await ensure_async(super().prepare(**kwargs))  # type: ignore[arg-type]
        if self.request.method != "PUT":
            return
        if not SHA256_RE.match(self.get_query_argument("sha256", "")):
            raise InvalidInput("query argument sha256 must be the file's lowercase hex sha256")
        self.check_target()
        limit = self.ctx.max_upload_bytes
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(
                f"the file has {length} bytes; the limit is {limit}", {"limit": limit}
            )
        # tornado answers a body past its own limit with a bare 400; ours is checked as the
        # body arrives (data_received) and answered with a JSON 413, chunked bodies included
        self.request.connection.set_max_body_size(NO_TORNADO_LIMIT)  # type: ignore[union-attr]
        self._upload = self.ctx.blobs.begin(limit)

    def data_received(self, chunk: bytes) -> None:
        if self._upload is None or self._failure is not None:
            return
        try:
            self._upload.write(chunk)
        except MLOpsError as exc:  # over the limit: the upload is already discarded
            self._failure = exc
            self.refuse_now(exc)

    def on_connection_close(self) -> None:
        if self._upload is not None:
            self._upload.abort()  # cut off midway: keep nothing
        super().on_connection_close()

    def on_finish(self) -> None:
        if self._upload is not None:
            self._upload.abort()  # a no-op once committed (the temporary file is gone)
        sha = self._committed
        if sha is not None and self.get_status() >= 400 and not self.ctx.store.blob_in_use(sha):
            self.ctx.blobs.delete(sha)  # stored, then refused (e.g. 409): keep no orphan file

    def optional_int(self, name: str) -> int | None:
        raw = self.get_query_argument(name, "")
        if raw == "":
            return None
        value = parse_int(raw)
        if value is None:
            raise InvalidInput(f"query argument {name} must be a non-negative integer")
        return value

    async def received(self, check: Callable[[Path], T]) -> tuple[str, int, T]:
        """Finish the upload: (sha256, size, ``check(tmp_path)``), renamed into the blobs.

        ``check`` runs in the serving pool (it may parse a large file); if it raises, the
        upload is dropped and nothing is stored.
        """
        if self._failure is not None:
            raise self._failure
        upload = self._upload
        assert upload is not None
        sha = self.get_query_argument("sha256")
        path = self.ctx.blobs.verify(upload, sha)
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self.ctx.server.pool, check, path
            )
        except BaseException:
            upload.abort()
            raise
        self.ctx.blobs.commit(upload, sha)
        self._committed = sha
        return sha, upload.size, result

    async def send_blob(self, sha256: str, content_type: str, filename: str, what: str) -> None:
        """Stream a stored file, after checking it still hashes to ``sha256`` (``what`` names
        it in the error: a missing or damaged file is a JSON 500, never sent)."""
        problem = await asyncio.get_running_loop().run_in_executor(
            self.ctx.server.pool, self.ctx.blobs.check_file, sha256
        )
        if problem is not None:
            self.log.error("jupyter_mlops: %s cannot be sent: %s", what, problem)
            raise DamagedFile(
                f"{what} cannot be sent: {problem}. Run python -m jupyter_mlops.check on the "
                "server's store to see and repair the damage",
                {"reason": "damaged", "problem": problem},
            )
        path: Path = self.ctx.blobs.path(sha256)
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Length", str(path.stat().st_size))
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.set_header("ETag", f'"{sha256}"')
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()
