"""The base REST handler: auth, JSON bodies checked key by key, one place for errors.

Auth: every route takes the Jupyter credential (token or login, checked by the server's
authorizer). A method decorated with :func:`scoped` also takes a scoped token of its scope
(``worker`` or ``predict``, see ``store/tokens.py``), sent as ``Authorization: token mlops_...``;
a request carrying a scoped token is that token, and is refused everywhere else.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import httputil, web

from jupyter_mlops.messages import MAX_INT, decode, encode
from jupyter_mlops.serverext.blobs import BlobStore
from jupyter_mlops.serverext.errors import InvalidInput, MLOpsError
from jupyter_mlops.serverext.hub import Hub
from jupyter_mlops.serverext.serving import ModelServer
from jupyter_mlops.serverext.store.api import MLOpsStore
from jupyter_mlops.serverext.store.tokens import TOKEN_PREFIX

AUTH_RESOURCE = "mlops"
#: The scopes a route can open to scoped tokens.
WORKER_SCOPE, PREDICT_SCOPE = "worker", "predict"
#: The header that carries a trial's lease secret on uploads and checkpoint downloads.
LEASE_HEADER = "X-MLOps-Lease"
F = TypeVar("F", bound=Callable[..., Any])
_AUTHORIZATION = re.compile(r"(?:token|bearer)\s+(\S+)", re.IGNORECASE)
#: Handlers that stream a body lift tornado's size limit to this and check their own as the
#: body arrives: tornado refuses a body past its limit with a bare 400, ours is a JSON 413.
NO_TORNADO_LIMIT = 1 << 62

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
    #: bytes of notifications an events subscriber may leave unread before it is dropped
    max_subscriber_bytes: int = 16 << 20


@dataclass(frozen=True)
class Credential:
    """Who sent a request: the Jupyter credential (``scope`` "jupyter", full access) or a
    scoped token (its scope, id and name)."""

    scope: str
    token_id: int | None = None
    name: str = ""


JUPYTER = Credential("jupyter")


def scoped_secret(request: httputil.HTTPServerRequest) -> str | None:
    """The scoped token (``mlops_...``) in the request's Authorization header, if any."""
    match = _AUTHORIZATION.fullmatch(request.headers.get("Authorization", "").strip())
    secret = match.group(1) if match else None
    return secret if secret is not None and secret.startswith(TOKEN_PREFIX) else None


async def authenticate(
    handler: JupyterHandler, store: MLOpsStore, scopes: tuple[str, ...], action: str
) -> Credential:
    """The credential of a request to a route open to ``scopes``; 403 (HTTPError) otherwise.

    A valid scoped token in the Authorization header is used first and must be of one of
    ``scopes``; else the Jupyter user, with the server's authorizer asked for ``action``.
    """
    secret = scoped_secret(handler.request)
    token = store.token_for_secret(secret) if secret is not None else None
    if token is not None:
        if token["scope"] not in scopes:
            raise web.HTTPError(
                403,
                f"a {token['scope']} token is not valid on this route (it takes the Jupyter "
                f"token or a {' or '.join(scopes)} token)",
            )
        return Credential(token["scope"], token["id"], token["name"])
    user = handler.current_user
    if user is None:
        raise web.HTTPError(
            403,
            "this token is unknown or was revoked"
            if secret is not None
            else "authentication required: send 'Authorization: token <TOKEN>'",
        )
    if not await ensure_async(
        handler.authorizer.is_authorized(handler, user, action, AUTH_RESOURCE)
    ):
        raise web.HTTPError(403, f"not authorized to {action} on {AUTH_RESOURCE}")
    return JUPYTER


def _action(handler: web.RequestHandler) -> str:
    if hasattr(handler, "ws_connection"):  # a websocket: what the link is used for
        return "execute"
    return HTTP_METHOD_TO_AUTH_ACTION[(handler.request.method or "GET").upper()]


def scoped(*scopes: str) -> Callable[[F], F]:
    """Open a handler method to tokens of ``scopes`` ("worker", "predict") as well as to the
    Jupyter credential, instead of ``@web.authenticated``/``@authorized``.

    The credential is checked in ``MLOpsHandler.prepare``, before a streamed body is read
    (or, on a websocket, before the upgrade), and kept in ``self.credential``.
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(self, "credential", None) is None:
                self.credential = await authenticate(self, self.ctx.store, scopes, _action(self))
            result = method(self, *args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        opened = allow_unauthenticated(checked)  # Jupyter's own check would refuse tokens
        opened.mlops_scopes = scopes  # type: ignore[attr-defined]
        return opened  # type: ignore[return-value]

    return decorate


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
    credential: Credential | None = None  # set for methods decorated with ``scoped``

    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx

    async def prepare(self, **kwargs: Any) -> None:  # type: ignore[override]
        await ensure_async(super().prepare(**kwargs))  # type: ignore[arg-type]
        method = getattr(self, (self.request.method or "").lower(), None)
        scopes = getattr(method, "mlops_scopes", None)
        if scopes is not None:
            self.credential = await authenticate(self, self.ctx.store, scopes, _action(self))
        elif scoped_secret(self.request) is not None:
            raise web.HTTPError(403, _OFF_SCOPE)

    def check_xsrf_cookie(self) -> None:
        """A token in the Authorization header is never added by a browser on its own, so a
        scoped token needs no XSRF check (as Jupyter's own token); the rest is checked."""
        if scoped_secret(self.request) is None:
            super().check_xsrf_cookie()

    @property
    def token_id(self) -> int | None:
        """The scoped token of this request (None: the Jupyter credential)."""
        return self.credential.token_id if self.credential is not None else None

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
                message = (
                    _OFF_SCOPE
                    if scoped_secret(self.request) is not None
                    else "authentication required: send 'Authorization: token <TOKEN>'"
                )
        else:
            message = "internal error; the server log has the details"
        if status_code == 405:  # RFC 9110: say which methods the route has
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))
        self.set_header("Content-Type", "application/json")
        self.finish(
            encode({"error": message, "message": message, "detail": detail, "status": status_code})
        )

    def refuse_now(self, error: MLOpsError) -> None:
        """Answer ``error`` while the body is still arriving (e.g. a chunked body over the
        limit); tornado then closes the connection rather than read the rest."""
        if not self._finished:
            self.send_error(error.status, exc_info=(type(error), error, error.__traceback__))

    def json_body(
        self,
        required: dict[str, Any],
        optional: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Parse the body as a JSON object with exactly these keys, else InvalidInput."""
        optional = optional or {}
        try:
            body = decode(self.request.body or b"")
        except ValueError as exc:  # UnicodeDecodeError and too deep a nesting included
            raise InvalidInput(f"the body must be JSON: {exc}") from None
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
        """A non-negative integer query argument (ASCII digits, at most 2**63 - 1)."""
        raw = self.get_query_argument(name, str(default))
        value = parse_int(raw)
        if value is None:
            raise InvalidInput(
                f"query argument {name} must be an integer from 0 to {MAX_INT}, got {raw[:40]!r}"
            )
        return min(value, maximum) if maximum is not None else value

    def reply(self, payload: Any, status: int = 200) -> None:
        """Answer JSON; non-finite floats are written as text (see ``messages.encode``)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(encode(payload))


_OFF_SCOPE = (
    "this route takes the Jupyter token only: a scoped token (mlops_...) works only on the "
    "routes of its scope (docs/API.md)"
)


def allowed_methods(handler: type) -> list[str]:
    """The HTTP methods a handler class implements (tornado's defaults answer 405)."""
    return [
        method.upper()
        for method in ("get", "post", "put", "delete", "patch")
        if getattr(handler, method) is not getattr(web.RequestHandler, method)
    ]


def parse_int(raw: str) -> int | None:
    """``raw`` as a non-negative integer the store can hold, or None.

    Only ASCII digits count (``"²".isdigit()`` is true), and at most 19 of them are read, so a
    4,301-digit number is refused before ``int`` is asked to convert it.
    """
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        return None
    value = int(raw)
    return value if value <= MAX_INT else None


def parse_id(raw: str, what: str) -> int:
    """A worker or token id from the path: ASCII digits that fit the store, else InvalidInput."""
    value = parse_int(raw)
    if value is None:
        raise InvalidInput(f"a {what} id is an integer from 0 to {MAX_INT}, got {raw[:40]!r}")
    return value


def parse_job_id(raw: str) -> int:
    value = parse_int(raw)
    if value is None:
        raise InvalidInput(f"a job id is an integer from 0 to {MAX_INT}, got {raw[:40]!r}")
    return value
