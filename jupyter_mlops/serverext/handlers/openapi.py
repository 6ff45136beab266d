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

METHODS = ("get", "post", "put", "delete")
_ERROR = {"$ref": "#/components/schemas/Error"}


def _operation(handler: type, method: str, params: list[str]) -> dict[str, Any]:
    doc = (getattr(handler, method).__doc__ or "").strip().splitlines()
    op: dict[str, Any] = {
        "summary": doc[0] if doc else method.upper(),
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ],
        "responses": {
            "200": {"description": "OK"},
            "400": {
                "description": "invalid input",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "403": {"description": "not authenticated"},
            "404": {"description": "unknown id"},
        },
    }
    schema = getattr(handler, "body_schema", None)
    if method == "post" and schema:
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
    if method == "put":
        op["parameters"].append(
            {"name": "sha256", "in": "query", "required": True, "schema": {"type": "string"}}
        )
        op["requestBody"] = {"content": {"application/zip": {}}}
        op["responses"]["413"] = {"description": "over the upload size limit"}
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
            m: _operation(handler, m, params) for m in METHODS if m in vars(handler)
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "detail": {},
                    },
                }
            },
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
