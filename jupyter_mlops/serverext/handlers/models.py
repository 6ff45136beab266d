"""REST handlers for models: list, metadata, clear, and the streamed file upload/download."""

from __future__ import annotations

from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_mlops.modelfile import ModelFileError, read_metadata
from jupyter_mlops.serverext.blobs import SHA256_RE, Upload
from jupyter_mlops.serverext.errors import InvalidInput, MLOpsError, PayloadTooLarge
from jupyter_mlops.serverext.handlers.base import AUTH_RESOURCE, MLOpsHandler

CHUNK = 1 << 20


class ModelsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        """List models (newest job first) and their grouping by job."""
        models = self.ctx.store.list_models()
        groups: dict[int, list[str]] = {}
        for model in models:
            groups.setdefault(model["job_id"], []).append(model["id"])
        self.reply(
            {
                "models": models,
                "groups": [{"job_id": j, "model_ids": ids} for j, ids in groups.items()],
            }
        )

    @web.authenticated
    @authorized
    def delete(self) -> None:
        """Clear the store: every model, its file and the deployment history (demo reset)."""
        self.reply({"deleted": self.ctx.hub.clear_models()})


class ModelHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self, model_id: str) -> None:
        """A model's metadata: metrics, hyperparameters, sha1, sha256, size."""
        self.reply(self.ctx.store.get_model(model_id))


@web.stream_request_body
class ModelFileHandler(MLOpsHandler):
    """Download a model file, or upload one streamed to disk and checked by sha256."""

    upload_query = {"sha256": "hex sha256 of the file"}
    _upload: Upload | None = None
    _failure: MLOpsError | None = None

    async def prepare(self) -> None:
        await ensure_async(super().prepare())
        if self.request.method != "PUT":
            return
        user = self.current_user
        if user is None:
            raise web.HTTPError(403)
        if not await ensure_async(
            self.authorizer.is_authorized(self, user, "write", AUTH_RESOURCE)
        ):
            raise web.HTTPError(403, "not authorized to upload models")
        sha = self.get_query_argument("sha256", "")
        if not SHA256_RE.match(sha):
            raise InvalidInput("query argument sha256 must be the file's lowercase hex sha256")
        self.ctx.store.check_model_id(self.path_kwargs.get("model_id") or self.path_args[0])
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
            self._upload.abort()  # a no-op once committed (the temp file is gone)

    @web.authenticated
    @authorized
    async def put(self, model_id: str) -> None:
        """Upload a trial's model file (streamed; ``?sha256=``); 201, or 200 if already stored."""
        if self._failure is not None:
            raise self._failure
        assert self._upload is not None
        sha = self.get_query_argument("sha256")

        def check(path: Any) -> dict[str, Any]:
            try:
                return read_metadata(path)
            except ModelFileError as exc:
                raise InvalidInput(f"not a model file: {exc}") from exc

        size = self._upload.size
        metadata = self.ctx.blobs.commit(self._upload, sha, check)
        model, created = self.ctx.store.add_model(model_id, sha, size, metadata)
        if created:
            self.ctx.hub.model_stored(model)
        self.reply(self.ctx.store.get_model(model_id), status=201 if created else 200)

    @web.authenticated
    @authorized
    async def get(self, model_id: str) -> None:
        """Download the model file (a zip archive, see docs/API.md)."""
        model = self.ctx.store.get_model(model_id)
        path = self.ctx.blobs.path(model["sha256"])
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Length", str(path.stat().st_size))
        self.set_header("Content-Disposition", f'attachment; filename="model-{model_id}.zip"')
        self.set_header("ETag", f'"{model["sha256"]}"')
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()
