"""The OpenAPI document, built from a route table and the handlers' docstrings.

The app builds it once at start from ``routes.ROUTES`` and hands it to the handler through
the ``Context``, so this module never imports the route table.
"""

from __future__ import annotations

import re
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web, websocket

from jupyter_mlops import __version__
from jupyter_mlops.serverext.handlers.base import MLOpsHandler
from jupyter_mlops.serverext.handlers.openapi_schemas import (
    ANSWERS,
    COMMON,
    COUNT,
    PATH_PARAMETERS,
    SCHEMAS,
    STATUS_TEXT,
    WRITES,
    Answer,
)

METHODS = ("get", "post", "put", "delete")
_ERROR = {"$ref": "#/components/schemas/Error"}
_STRING = {"type": "string"}
BINARY = "application/octet-stream"
_BYTES = {"type": "string", "format": "binary"}
#: Routes not described in ``openapi_schemas.ANSWERS``: a JSON 200, or a 400/404 error.
_GENERIC = Answer(200, {"type": "object"}, (400, 404))


def _responses(answer: Answer, method: str) -> dict[str, Any]:
    """The success answer with its body, then every error status, each a JSON Error."""
    success: dict[str, Any] = {"description": STATUS_TEXT.get(answer.status, "OK")}
    success["content"] = {answer.media: {"schema": answer.body} if answer.body else {}}
    responses = {str(answer.status): success}
    for status in sorted({*answer.errors, *COMMON, *WRITES.get(method, ())}):
        if status == 200 and answer.status == 201:  # the same file uploaded again
            responses["200"] = {**success, "description": "already stored"}
            continue
        responses[str(status)] = {
            "description": STATUS_TEXT.get(status, "error"),
            "content": {"application/json": {"schema": _ERROR}},
        }
    return responses


def _operation(handler: type, method: str, template: str, params: list[str]) -> dict[str, Any]:
    function = getattr(handler, method)
    doc = (function.__doc__ or "").strip().splitlines()
    answer = ANSWERS.get((template, method), _GENERIC)
    op: dict[str, Any] = {
        "summary": doc[0] if doc else method.upper(),
        "parameters": [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": PATH_PARAMETERS.get(p, _STRING),
            }
            for p in params
        ],
        "responses": _responses(answer, method),
    }
    required = {"sha256", "epoch"}  # an upload names its file; a checkpoint its epoch
    op["parameters"] += [
        {"name": name, "in": "query", "required": name in required, "schema": schema}
        for name, schema in answer.query.items()
        if name != "attempt"
    ]
    scopes = getattr(function, "mlops_scopes", ())
    if scopes:  # besides the Jupyter credential (see docs/API.md, Credentials)
        op["x-token-scopes"] = list(scopes)
    if method == "put" or (method == "get" and "trial_id" in params):
        op["parameters"] += [  # the trial's lease (docs/API.md, Leases)
            {"name": "attempt", "in": "query", "required": True, "schema": COUNT},
            {"name": "X-MLOps-Lease", "in": "header", "required": True, "schema": _STRING},
        ]
        op["responses"]["409"] = {
            "description": "lease_lost: not the current lease of a running trial",
            "content": {"application/json": {"schema": _ERROR}},
        }
    schema = getattr(handler, "body_schema", None)
    if answer.request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {**answer.request, "additionalProperties": False}}
            },
        }
    elif method == "post" and schema:
        op["requestBody"] = {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": schema,
                    }
                }
            }
        }
    if method == "put":  # the file's bytes (a model file is a zip archive; see docs/API.md)
        op["requestBody"] = {"required": True, "content": {BINARY: {"schema": _BYTES}}}
    if template == "/predict" and method == "post":
        op["requestBody"] = {
            "required": True,
            "content": {
                BINARY: {"schema": _BYTES},
                "image/png": {"schema": _BYTES},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": _BYTES}}
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {"inputs": {"type": "array"}},
                        "additionalProperties": False,
                    }
                },
            },
        }
    return op


def build_openapi(prefix: str, routes: list[tuple[str, type]]) -> dict[str, Any]:
    """Describe every route; websockets are listed as GET with an ``x-websocket`` flag."""
    paths: dict[str, Any] = {}
    for template, handler in routes:
        params = re.findall(r"\{(\w+)\}", template)
        if issubclass(handler, websocket.WebSocketHandler):
            paths[prefix + template] = {
                "get": {
                    "summary": (handler.__doc__ or "").strip().splitlines()[0],
                    "x-websocket": True,
                    "responses": {
                        "101": {"description": "upgrade"},
                        "403": {"description": "not authenticated"},
                    },
                }
            }
            continue
        paths[prefix + template] = {
            m: _operation(handler, m, template, params) for m in METHODS if m in vars(handler)
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jupyter-mlops",
            "version": __version__,
            "description": "Model store and job hub; see docs/API.md.",
        },
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
            "schemas": SCHEMAS,
        },
        "security": [{"token": []}],
        "paths": paths,
    }


class OpenAPIHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        """This document."""
        self.reply(self.ctx.openapi)
