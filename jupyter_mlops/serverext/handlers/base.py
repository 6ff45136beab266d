"""The base REST handler: auth, JSON bodies checked key by key, one place for errors."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.errors import InvalidInput, MLOpsError
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.serving import ModelServer
from jupyter_mlops.serverext.store.api import MLOpsStore

AUTH_RESOURCE = "mlops"

# JSON-schema fragments for request bodies, used by the handlers' ``body_schema``
STRING = {"type": "string"}
OBJECT = {"type": "object"}
WORKER = {
    "oneOf": [STRING, {"type": "array", "items": STRING, "minItems": 1}],
    "description": '"any", a worker name, or a list of names',
}


@dataclass
class Context:
    """What every handler receives: the store, the blob folder, the hub, the model server, the
    limits and the OpenAPI document (built once by the app from the route table)."""

    store: MLOpsStore
    blobs: BlobStore
    hub: Hub
    server: ModelServer
    max_upload_bytes: int
    max_predict_bytes: int
    openapi: dict[str, Any]


_TYPE_NAMES: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    dict: "a JSON object",
    object: "any value",
    (str, list): "a string or a list of strings",
}


class MLOpsHandler(APIHandler):
    """Base of every REST handler; errors become ``{"error", "message", "detail"}``."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, MLOpsError):
            if not self._finished:
                self.send_error(e.status, exc_info=sys.exc_info())
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        detail = None
        if isinstance(exc, MLOpsError):
            message, detail = exc.message, exc.detail
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message or exc.reason or self._reason
            if status_code == 403 and not exc.log_message:
                message = "authentication required: send 'Authorization: token <TOKEN>'"
        else:
            message = "internal error; the server log has the details"
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {"error": message, "message": message, "detail": detail, "status": status_code}
            )
        )

    def json_body(
        self,
        required: dict[str, Any],
        optional: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Parse the body as a JSON object with exactly these keys, else InvalidInput."""
        optional = optional or {}
        try:
            body = json.loads(self.request.body or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"the body must be JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object")
        problems = [
            f"unknown key {k!r} (allowed: {', '.join([*required, *optional])})"
            for k in body
            if k not in required and k not in optional
        ]
        problems += [f"missing key {k!r}" for k in required if k not in body]
        for key, kind in {**required, **optional}.items():
            if key in body and kind is not object and not isinstance(body[key], kind):
                problems.append(f"{key!r} must be {_TYPE_NAMES[kind]}")
        if problems:
            raise InvalidInput("; ".join(problems), {"problems": problems})
        return body

    def int_argument(self, name: str, default: int, maximum: int | None = None) -> int:
        raw = self.get_query_argument(name, str(default))
        if not raw.isdigit():
            raise InvalidInput(f"query argument {name} must be a non-negative integer")
        value = int(raw)
        return min(value, maximum) if maximum is not None else value

    def reply(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, default=str))


def parse_job_id(raw: str) -> int:
    if not raw.isdigit():
        raise InvalidInput(f"a job id is an integer, got {raw!r}")
    return int(raw)
