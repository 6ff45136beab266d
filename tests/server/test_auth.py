"""Every route and both websockets refuse requests without Jupyter's auth."""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.serverext.routes import API_PREFIX, ROUTES
from tests.support.api import call

NO_AUTH = {"Authorization": ""}


def _concrete(path: str) -> str:
    return path.replace("{job_id}", "1").replace("{model_id}", "1-0").replace("{trial_id}", "1-0")


async def test_openapi_lists_exactly_the_registered_routes(jp_fetch, jp_serverapp) -> None:
    status, doc = await call(jp_fetch, "GET", "openapi.json")
    assert status == 200
    served = set(doc["paths"])
    assert served == {API_PREFIX + template for template, _ in ROUTES}
    registered = {
        rule.matcher.regex.pattern
        for rule in jp_serverapp.web_app.default_router.rules[0].target.rules
        if "/mlops/api" in rule.matcher.regex.pattern
    }
    assert len(registered) == len(served)


async def test_every_rest_route_refuses_a_request_without_token(jp_fetch) -> None:
    _, doc = await call(jp_fetch, "GET", "openapi.json")
    checked = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if operation.get("x-websocket"):
                continue
            body = b"{}" if method in ("post", "put") else None
            status, reply = await call(
                jp_fetch, method.upper(), _concrete(path)[len(API_PREFIX) :], body, headers=NO_AUTH
            )
            assert status == 403, (method, path, status)
            assert "error" in reply, (method, path)
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("path", ["ws/worker", "ws/events"])
async def test_websockets_refuse_a_connection_without_token(jp_ws_fetch, path: str) -> None:
    with pytest.raises(HTTPClientError) as error:
        await jp_ws_fetch("mlops", "api", *path.split("/"), headers=NO_AUTH)
    assert error.value.code == 403


@pytest.mark.parametrize("path", ["ws/worker", "ws/events"])
async def test_websockets_accept_the_token(jp_ws_fetch, path: str) -> None:
    ws = await jp_ws_fetch("mlops", "api", *path.split("/"))
    ws.close()
