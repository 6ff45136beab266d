"""schemathesis against the served ``/mlops/api/openapi.json``: no 5xx, and no answer that the
document does not allow (status, content type, body schema, Allow header on 405, auth).

Bounded to about two minutes on a small machine (``MAX_EXAMPLES`` per operation). Run alone
with ``pytest -m schemathesis``; the issue's audit ran 63,735 cases and found 500s on ids and
nesting, and a document that named none of the real statuses (403, 201, 409, 413, 503).

Three of schemathesis' checks are left out, on purpose: ``missing_required_header`` wants 401
for a missing token where Jupyter answers 403 (documented); ``positive_data_acceptance`` wants
any schema-valid body accepted, which no classifier can promise for random image bytes, nor a
grid for an unknown worker (those are 400/404 with a reason); ``negative_data_rejection`` wants
unknown query arguments refused, where the hub ignores them (Jupyter adds its own: ``token``,
``_xsrf``). The only 5xx allowed is the documented 503 of ``POST /predict`` while no model is
served (the fuzzer may clear the models).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from jupyter_mlops.messages import API_PREFIX  # noqa: E402
from jupyter_mlops.serverext.handlers.openapi import build_openapi  # noqa: E402
from jupyter_mlops.serverext.routes import ROUTES  # noqa: E402
from tests.support.leases import seed_models  # noqa: E402
from tests.support.models import make_model_file  # noqa: E402
from tests.support.server import MLOpsServer  # noqa: E402

pytestmark = [pytest.mark.schemathesis, pytest.mark.timeout(600)]

MAX_EXAMPLES = 100
EXCLUDED = [checks.not_a_server_error, checks.positive_data_acceptance]
EXCLUDED += [checks.missing_required_header, checks.negative_data_rejection]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLOpsServer]:
    """A real server with a deployed model, a job and a token: answers beyond 404 to reach."""
    base = tmp_path_factory.mktemp("schemathesis")
    server = MLOpsServer(base / "server").start()
    try:
        make_model_file(base / "model.zip", accuracy=0.5)
        seed_models(server, [base / "model.zip"])
        assert server.api("POST", "jobs", {"conf": {"LR": [1, 2]}})[0] == 201
        assert server.api("POST", "tokens", {"name": "fuzz", "scope": "predict"})[0] == 201
        yield server
    finally:
        server.stop()


# The document the server serves is built from the route table at start: fuzz that one (a
# test below checks the served one is the same), so that the cases exist at collection time.
document = build_openapi(API_PREFIX, ROUTES)
schema = schemathesis.openapi.from_dict(document).exclude(path_regex="/ws/")
schema.config.generation.update(max_examples=MAX_EXAMPLES)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_one_the_document_allows(case: Any, api_server: MLOpsServer) -> None:
    auth = {"Authorization": f"token {api_server.token}"}
    response = case.call(base_url=api_server.url.rstrip("/"), headers=auth, timeout=60)
    no_model = case.path.endswith("/predict") and response.status_code == 503
    assert response.status_code < 500 or no_model, response.text[:500]
    case.validate_response(response, excluded_checks=EXCLUDED, headers=auth)


def test_the_document_names_the_real_statuses(api_server: MLOpsServer) -> None:
    status, served = api_server.api("GET", "openapi.json")
    assert status == 200 and served == json.loads(json.dumps(document))
    paths = served["paths"]
    jobs = paths["/mlops/api/jobs"]["post"]["responses"]
    assert {"201", "400", "403", "404"} <= set(jobs)
    assert jobs["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Job"
    }
    upload = paths["/mlops/api/models/{model_id}/file"]["put"]["responses"]
    assert {"201", "200", "403", "409", "413"} <= set(upload)
    assert {"200", "400", "413", "503"} <= set(paths["/mlops/api/predict"]["post"]["responses"])
    job_id = paths["/mlops/api/jobs/{job_id}"]["get"]["parameters"][0]["schema"]
    assert job_id == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


def test_an_unknown_method_is_a_405_that_says_which_are_allowed(
    api_server: MLOpsServer,
) -> None:
    request = urllib.request.Request(f"{api_server.url}mlops/api/jobs", b"{}", method="PATCH")
    request.add_header("Authorization", f"token {api_server.token}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 405
    assert refused.value.headers["Allow"] == "GET, POST"
    assert json.loads(refused.value.read())["status"] == 405
