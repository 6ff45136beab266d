"""Every 4xx answers JSON with ``error``, ``message`` and ``detail``, saying what to fix."""

from __future__ import annotations

import pytest

from tests.support.api import call

BAD_REQUESTS = [
    ("POST", "jobs", b"{not json", 400, "JSON"),
    ("POST", "jobs", b"[1, 2]", 400, "JSON object"),
    ("POST", "jobs", {"conf": {}, "workr": "any"}, 400, "unknown key 'workr'"),
    ("POST", "jobs", {"worker": "any"}, 400, "missing key 'conf'"),
    ("POST", "jobs", {"conf": {}, "worker": 3}, 400, "'worker' must be a string"),
    ("POST", "jobs", {"conf": {"EPOCHS": []}}, 400, "conf is invalid"),
    ("POST", "jobs", {"conf": {}, "worker": "nobody"}, 404, "no worker named 'nobody'"),
    ("POST", "grid/validate", b"", 400, "JSON"),
    ("POST", "grid/validate", {"conf": {}, "worker": "ghost"}, 404, "ghost"),
    ("GET", "jobs/42", None, 404, "no job with id 42"),
    ("GET", "jobs/abc", None, 400, "integer"),
    ("POST", "jobs/42/cancel", None, 404, "no job with id 42"),
    ("GET", "jobs/42/logs", None, 404, "no job"),
    ("GET", "jobs/42/metrics", None, 404, "no job"),
    ("GET", "jobs/42/search", None, 404, "no job with id 42"),
    ("GET", "jobs/abc/search", None, 400, "integer"),
    (
        "POST",
        "jobs",
        {"conf": {"LR": {"low": 1, "high": 0}, "search": {"method": "tpe", "budget": 2}}},
        400,
        "conf is invalid",
    ),
    ("GET", "models/1-0", None, 404, "no model"),
    ("GET", "models/1-0/file", None, 404, "no model"),
    ("PUT", "models/1-0/file", b"data", 400, "sha256"),
    ("POST", "deployment", {"model_id": 7}, 400, "'model_id' must be a string"),
    ("POST", "deployment", {}, 400, "missing key 'model_id'"),
    ("POST", "deployment", {"model_id": "1-0"}, 404, "no model"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), BAD_REQUESTS)
async def test_error_shape(jp_fetch, method, path, body, status, words) -> None:
    got, reply = await call(jp_fetch, method, path, body)
    assert got == status, reply
    assert set(reply) >= {"error", "message", "detail"}
    assert words in reply["error"]


async def test_invalid_conf_lists_every_problem_by_key(jp_fetch) -> None:
    status, reply = await call(jp_fetch, "POST", "jobs", {"conf": {"A": [], "B": [[1]]}})
    assert status == 400
    assert [e["key"] for e in reply["detail"]["errors"]] == ["A", "B"]


async def test_bad_cursor_is_a_400(jp_fetch) -> None:
    _, job = await call(jp_fetch, "POST", "jobs", {"conf": {}})
    status, reply = await call(jp_fetch, "GET", f"jobs/{job['id']}/logs", params={"after": "-1"})
    assert status == 400 and "after" in reply["error"]


async def test_nothing_stored_is_lost_by_bad_requests(jp_fetch) -> None:
    _, job = await call(jp_fetch, "POST", "jobs", {"conf": {"LR": [1, 2]}})
    for method, path, body, _, _ in BAD_REQUESTS:
        await call(jp_fetch, method, path, body)
    _, jobs = await call(jp_fetch, "GET", "jobs")
    assert [j["id"] for j in jobs["jobs"]] == [job["id"]]
    assert jobs["jobs"][0]["trial_count"] == 2
