"""Small helpers over pytest-jupyter's ``jp_fetch`` for the in-process server."""

from __future__ import annotations

import json
from typing import Any

from tornado.httpclient import HTTPClientError


async def call(
    jp_fetch: Any, method: str, path: str, body: Any = None, **kwargs: Any
) -> tuple[int, Any]:
    """``/mlops/api/<path>``; return (status, decoded JSON) without raising on 4xx."""
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if method in ("POST", "PUT") and body is None:
        body = b""
    try:
        response = await jp_fetch(
            "mlops",
            "api",
            *path.strip("/").split("/"),
            method=method,
            body=body,
            allow_nonstandard_methods=True,
            **kwargs,
        )
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body or b"null")
    raw = response.body
    return response.code, json.loads(raw) if raw else None
