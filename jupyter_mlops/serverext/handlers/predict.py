"""``/predict``: classify with the deployed model (what an app calls), and describe it."""

from __future__ import annotations

import json
from typing import Any

from jupyter_core.utils import ensure_async
from tornado import httputil, web

from jupyter_mlops.serverext.errors import InvalidInput, PayloadTooLarge
from jupyter_mlops.serverext.handlers.base import (
    NO_TORNADO_LIMIT,
    PREDICT_SCOPE,
    MLOpsHandler,
    scoped,
)


@web.stream_request_body
class PredictHandler(MLOpsHandler):
    """The body is collected as it arrives and refused past the limit, before any decoding."""

    _chunks: list[bytes]
    _size = 0
    _too_large = False

    async def prepare(self, **kwargs: Any) -> None:  # type: ignore[override]
        await ensure_async(super().prepare(**kwargs))  # type: ignore[arg-type]
        self._chunks = []
        if self.request.method != "POST":
            return
        limit = self.ctx.max_predict_bytes
        length = self.request.headers.get("Content-Length", "")
        if length.isascii() and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(
                f"the request has {length} bytes; predictions take at most {limit}",
                {"limit": limit},
            )
        # refused in data_received with a JSON 413 (tornado's own limit answers a bare 400)
        self.request.connection.set_max_body_size(NO_TORNADO_LIMIT)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._too_large:
            return
        if self._size > self.ctx.max_predict_bytes:
            self._too_large, self._chunks = True, []
            try:
                self._body()
            except PayloadTooLarge as exc:
                self.refuse_now(exc)
        else:
            self._chunks.append(chunk)

    def _body(self) -> bytes:
        limit = self.ctx.max_predict_bytes
        if self._too_large:
            raise PayloadTooLarge(f"predictions take at most {limit} bytes", {"limit": limit})
        return b"".join(self._chunks)

    @scoped(PREDICT_SCOPE)
    async def get(self) -> None:
        """Describe the served model: id, sha1, input shape, classes (or why none is served)."""
        self.reply(self.ctx.server.describe())

    @scoped(PREDICT_SCOPE)
    async def post(self) -> None:
        """Classify an image (raw bytes or multipart) or a JSON tensor ``{"inputs": ...}``."""
        top_k = self.int_argument("top_k", 5, 1000) or 5
        body = self._body()
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        server = self.ctx.server
        if content_type == "application/json":
            inputs = self._json_inputs(body)
            self.reply(await server.predict_tensor(inputs, top_k))
        elif content_type == "multipart/form-data":
            self.reply(await server.predict_image(self._multipart_image(body), top_k))
        else:
            self.reply(await server.predict_image(body, top_k))

    @staticmethod
    def _json_inputs(body: bytes) -> Any:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidInput(f"the body must be JSON: {exc}") from None
        if not isinstance(payload, dict) or set(payload) != {"inputs"}:
            raise InvalidInput(
                'a JSON body is {"inputs": [C][H][W] or [N][C][H][W] numbers}, normalised '
                "as in training; send an image file to have it normalised for you"
            )
        return payload["inputs"]

    def _multipart_image(self, body: bytes) -> bytes:
        files: dict[str, list[httputil.HTTPFile]] = {}
        try:
            httputil.parse_body_arguments(
                self.request.headers.get("Content-Type", ""), body, {}, files
            )
        except httputil.HTTPInputError as exc:  # tornado >= 6.5 raises on a malformed body
            raise InvalidInput(f"the multipart body cannot be read: {exc}") from None
        for uploads in files.values():
            if uploads:
                return uploads[0]["body"]
        raise InvalidInput("the multipart body holds no file: send the image as a file field")
