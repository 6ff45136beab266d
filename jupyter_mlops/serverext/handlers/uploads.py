"""A base for handlers that receive a file streamed to disk and send one back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from jupyter_core.utils import ensure_async
from tornado import web

from jupyter_mlops.serverext.blobs import SHA256_RE, Upload
from jupyter_mlops.serverext.errors import InvalidInput, MLOpsError, PayloadTooLarge
from jupyter_mlops.serverext.handlers.base import AUTH_RESOURCE, MLOpsHandler

CHUNK = 1 << 20
T = TypeVar("T")


@web.stream_request_body
class StreamedFileHandler(MLOpsHandler):
    """PUT bodies go to a temporary blob as they arrive (never whole in memory), hashed,
    size-limited and dropped on any failure; GET streams a blob back in chunks."""

    _upload: Upload | None = None
    _failure: MLOpsError | None = None

    def check_target(self) -> None:
        """Raise NotFound/Conflict before the body is read (the path names the target)."""

    async def prepare(self, **kwargs: Any) -> None:  # type: ignore[override]
        await ensure_async(super().prepare(**kwargs))  # type: ignore[arg-type]
        if self.request.method != "PUT":
            return
        user = self.current_user
        if user is None:
            raise web.HTTPError(403)
        if not await ensure_async(
            self.authorizer.is_authorized(self, user, "write", AUTH_RESOURCE)
        ):
            raise web.HTTPError(403, "not authorized to upload")
        if not SHA256_RE.match(self.get_query_argument("sha256", "")):
            raise InvalidInput("query argument sha256 must be the file's lowercase hex sha256")
        self.check_target()
        limit = self.ctx.max_upload_bytes
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(
                f"the file has {length} bytes; the limit is {limit}", {"limit": limit}
            )
        self.request.connection.set_max_body_size(limit + 1)  # type: ignore[union-attr]
        self._upload = self.ctx.blobs.begin(limit)

    def data_received(self, chunk: bytes) -> None:
        if self._upload is None or self._failure is not None:
            return
        try:
            self._upload.write(chunk)
        except MLOpsError as exc:  # over the limit: the upload is already discarded
            self._failure = exc

    def on_connection_close(self) -> None:
        if self._upload is not None:
            self._upload.abort()  # cut off midway: keep nothing
        super().on_connection_close()

    def on_finish(self) -> None:
        if self._upload is not None:
            self._upload.abort()  # a no-op once committed (the temporary file is gone)

    def optional_int(self, name: str) -> int | None:
        raw = self.get_query_argument(name, "")
        if raw == "":
            return None
        if not raw.isdigit():
            raise InvalidInput(f"query argument {name} must be a non-negative integer")
        return int(raw)

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
        return sha, upload.size, result

    async def send_blob(self, sha256: str, content_type: str, filename: str) -> None:
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
