"""What the OpenAPI document says of each route: request and response bodies (JSON schemas of
what the store returns) and the status codes the hub really answers.

``openapi.py`` builds the document from the route table and this module's :data:`ANSWERS`;
a route missing here is described with a generic answer. A test runs schemathesis against the
served document (tests/server/test_schemathesis.py): an answer the document does not allow
fails it, so keep both in step when a handler changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.messages import MAX_INT

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    """An object with these properties (more may come: views grow fields over versions)."""
    return {"type": "object", "required": list(required), "properties": properties}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
NUMBER: Schema = {"type": "number"}
ANY: Schema = {}
TIME = nullable(STRING)  # ISO 8601, UTC
COUNT: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
#: A number as the hub writes it: NaN and ±Infinity are the text "NaN", "Infinity", "-Infinity".
METRIC_VALUE: Schema = {
    "oneOf": [NUMBER, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
}
TRIAL_ID: Schema = {"type": "string", "pattern": "^[0-9]+-[0-9]+$", "maxLength": 40}
SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SCALAR: Schema = {"oneOf": [STRING, NUMBER, BOOLEAN]}
METHOD: Schema = {"type": "string", "enum": ["grid", "random", "tpe"]}
DIRECTION: Schema = {"type": "string", "enum": ["maximize", "minimize"]}
PRUNER_TYPE: Schema = {"type": "string", "enum": ["none", "median", "asha"]}
#: A search section as the hub normalises it (see docs/API.md, Searches).
SEARCH_SETTINGS = obj(
    ("method", "metric", "direction"),
    method=METHOD,
    budget=nullable(INTEGER),
    metric=STRING,
    direction=DIRECTION,
    parallel=nullable(INTEGER),
    seed=nullable(INTEGER),
    pruner=nullable(obj(("type",), type=PRUNER_TYPE)),
)

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        ("error", "message"),
        error=STRING,
        message=STRING,
        detail=ANY,
        status=INTEGER,
    ),
    "Worker": obj(
        ("id", "name", "online", "status"),
        id=INTEGER,
        name=STRING,
        online=BOOLEAN,
        status={"type": "string", "enum": ["idle", "busy", "offline"]},
        last_seen=TIME,
        notebook=nullable(STRING),
        defaults=nullable({"type": "object"}),
        device=nullable(STRING),
        current_job=nullable(INTEGER),
        current_trial=nullable(STRING),
        capacity={"type": "integer", "minimum": 1},
        cluster=nullable({"type": "object"}),
    ),
    "Trial": obj(
        ("id", "job_id", "index", "status", "attempt"),
        id=STRING,
        job_id=INTEGER,
        index=INTEGER,
        params=nullable({"type": "object"}),
        status=STRING,
        worker_name=nullable(STRING),
        attempt=INTEGER,
        started=TIME,
        finished=TIME,
        error=nullable(STRING),
        model_id=nullable(STRING),
        epoch=nullable(INTEGER),
        epochs=nullable(INTEGER),
        batch=nullable(INTEGER),
        batches=nullable(INTEGER),
        metrics=nullable({"type": "object"}),
        checkpoint_epoch=nullable(INTEGER),
        resumed_from_epoch=nullable(INTEGER),
        search_number=nullable(INTEGER),
        node=nullable(STRING),
    ),
    "Job": obj(
        ("id", "status", "trial_count", "trials_done", "progress"),
        id=INTEGER,
        worker={"oneOf": [STRING, {"type": "array", "items": STRING}]},
        conf={"type": "object"},
        status={
            "type": "string",
            "enum": ["queued", "running", "finished", "failed", "cancelled"],
        },
        error=nullable(STRING),
        created=TIME,
        started=TIME,
        finished=TIME,
        trial_count=INTEGER,
        trials_done=INTEGER,
        progress=NUMBER,
        cancel_requested=BOOLEAN,
        workers={"type": "array", "items": STRING},
        retryable=BOOLEAN,
        search=nullable(SEARCH_SETTINGS),
        trials={"type": "array", "items": ref("Trial")},
    ),
    "Model": obj(
        ("id", "job_id", "trial_id", "sha256", "deployed"),
        id=STRING,
        job_id=INTEGER,
        trial_id=STRING,
        sha256=STRING,
        size=nullable(INTEGER),
        metrics=nullable({"type": "object"}),
        hyperparameters=ANY,
        deployed=BOOLEAN,
        legacy=BOOLEAN,
        created=TIME,
    ),
    "Deployment": obj(
        ("id", "model_id", "time", "reason"),
        id=INTEGER,
        model_id=STRING,
        sha256=STRING,
        time=STRING,
        reason=STRING,
        metric=nullable(STRING),
        metric_value=nullable(NUMBER),
        model=ref("Model"),
    ),
    "GridResult": obj(
        ("valid", "conf", "trial_count", "warnings", "errors"),
        valid=BOOLEAN,
        conf={"type": "object"},
        trial_count=INTEGER,
        trials={"type": "array", "items": {"type": "object"}},
        warnings={"type": "array", "items": obj(("message",), key=nullable(STRING))},
        errors={"type": "array", "items": obj(("message",), key=nullable(STRING))},
        search=SEARCH_SETTINGS,
        space={"type": "object"},
    ),
    "SearchSummary": obj(
        ("job_id", "search", "best", "importance"),
        job_id=INTEGER,
        search=SEARCH_SETTINGS,
        best=nullable(obj(("trial_id", "value"), trial_id=STRING, value=NUMBER)),
        importance={"type": "object", "additionalProperties": NUMBER},
    ),
    "Token": obj(
        ("id", "name", "scope", "created"),
        id=INTEGER,
        name=STRING,
        scope={"type": "string", "enum": ["worker", "predict"]},
        created=STRING,
        last_used=TIME,
        revoked=TIME,
    ),
    "Served": obj(
        ("model", "last_error"),
        model=nullable(obj(("model_id", "sha256", "input", "classes"))),
        last_error=nullable(STRING),
    ),
    "Prediction": obj(("model_id", "sha1")),
}


def page(key: str, item: Schema) -> Schema:
    """``{job_id, <key>: [...], last_seq}``: rows of a job after a cursor."""
    return obj(
        ("job_id", key, "last_seq"),
        job_id=INTEGER,
        last_seq=INTEGER,
        **{key: {"type": "array", "items": item}},
    )


def items(key: str, item: Schema, **more: Schema) -> Schema:
    return obj((key, *more), **{key: {"type": "array", "items": item}}, **more)


@dataclass(frozen=True)
class Answer:
    """One operation: its success status and body, the other statuses it answers, and what
    it takes (query parameters, a JSON body with its required keys)."""

    status: int
    body: Schema | None
    errors: tuple[int, ...] = ()
    media: str = JSON
    query: dict[str, Schema] = field(default_factory=dict)
    request: Schema | None = None


CURSOR = {"after": COUNT, "limit": COUNT}
RANGE: Schema = {
    **obj(("low", "high"), low=NUMBER, high=NUMBER, log=BOOLEAN, step=NUMBER),
    "additionalProperties": False,
}
SEARCH_SECTION: Schema = {
    **obj(
        (),
        method=METHOD,
        budget={"type": "integer", "minimum": 1, "maximum": 4},
        metric=STRING,
        direction=DIRECTION,
        parallel={"type": "integer", "minimum": 1, "maximum": 4},
        seed=COUNT,
        pruner={"oneOf": [PRUNER_TYPE, obj(("type",), type=PRUNER_TYPE)]},
    ),
    "additionalProperties": False,
}
CONF: Schema = {
    "type": "object",
    "description": "a grid (a scalar is fixed, a non-empty list of scalars is an axis) or a "
    "search space (lists are choices, {low, high} objects ranges) with a search section",
    "properties": {"search": SEARCH_SECTION},
    "additionalProperties": {
        "oneOf": [
            SCALAR,
            {"type": "array", "items": SCALAR, "minItems": 1, "maxItems": 10},
            RANGE,
        ]
    },
    "maxProperties": 4,
}
WORKER_NAMES: Schema = {
    "oneOf": [STRING, {"type": "array", "items": STRING, "minItems": 1}],
    "description": '"any", a worker name, or a list of names',
}
JOB_BODY = obj(("conf",), conf=CONF, worker=WORKER_NAMES)
#: Validation takes any object: what is wrong with it is the answer (200 with ``errors``).
VALIDATE_BODY = obj(("conf",), conf={"type": "object"}, worker=WORKER_NAMES)
UPLOAD = {"sha256": SHA256, "attempt": COUNT}

ANSWERS: dict[tuple[str, str], Answer] = {
    ("/workers", "get"): Answer(200, items("workers", ref("Worker"))),
    ("/workers/{worker_id}", "delete"): Answer(200, ref("Worker"), (400, 404, 409)),
    ("/grid/validate", "post"): Answer(200, ref("GridResult"), (400, 404), request=VALIDATE_BODY),
    ("/jobs", "get"): Answer(200, items("jobs", ref("Job"))),
    ("/jobs", "post"): Answer(201, ref("Job"), (400, 404), request=JOB_BODY),
    ("/jobs/{job_id}", "get"): Answer(200, ref("Job"), (400, 404)),
    ("/jobs/{job_id}/cancel", "post"): Answer(200, ref("Job"), (400, 404, 409)),
    ("/jobs/{job_id}/retry", "post"): Answer(200, ref("Job"), (400, 404, 409)),
    ("/jobs/{job_id}/logs", "get"): Answer(
        200, page("lines", {"type": "object"}), (400, 404), query=CURSOR
    ),
    ("/jobs/{job_id}/search", "get"): Answer(200, ref("SearchSummary"), (400, 404)),
    ("/jobs/{job_id}/metrics", "get"): Answer(
        200,
        page("points", obj(("name", "step", "value"), value=METRIC_VALUE)),
        (400, 404),
        query=CURSOR,
    ),
    ("/models", "get"): Answer(200, items("models", ref("Model"), groups={"type": "array"})),
    ("/models", "delete"): Answer(200, obj(("deleted",), deleted=INTEGER)),
    ("/models/{model_id}", "get"): Answer(200, ref("Model"), (404,)),
    ("/models/{model_id}/file", "get"): Answer(200, None, (404, 500), media="application/zip"),
    ("/models/{model_id}/file", "put"): Answer(
        201, ref("Model"), (200, 400, 404, 409, 413), query=UPLOAD
    ),
    ("/trials/{trial_id}/checkpoint", "get"): Answer(
        200, None, (400, 404, 409), media="application/octet-stream", query={"attempt": COUNT}
    ),
    ("/trials/{trial_id}/checkpoint", "put"): Answer(
        201, ref("Trial"), (400, 404, 409, 413), query={**UPLOAD, "epoch": COUNT}
    ),
    ("/deployment", "get"): Answer(200, obj(("deployment",), deployment=nullable(ANY))),
    ("/deployment", "post"): Answer(
        201, ref("Deployment"), (400, 404, 409), request=obj(("model_id",), model_id=STRING)
    ),
    ("/deployment/history", "get"): Answer(200, items("history", ref("Deployment"))),
    ("/predict", "get"): Answer(200, ref("Served")),
    ("/predict", "post"): Answer(200, ref("Prediction"), (400, 413, 503), query={"top_k": COUNT}),
    ("/tokens", "get"): Answer(200, items("tokens", ref("Token"))),
    ("/tokens", "post"): Answer(
        201,
        obj(("token", "secret", "setup"), token=ref("Token"), secret=STRING),
        (400,),
        request=obj(
            ("name", "scope"),
            name={"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
            scope={"type": "string", "enum": ["worker", "predict"]},
        ),
    ),
    ("/tokens/{token_id}", "delete"): Answer(200, ref("Token"), (400, 404)),
    ("/credential", "get"): Answer(
        200, obj(("scope",), scope=STRING, token_id=nullable(INTEGER), name=STRING)
    ),
    ("/openapi.json", "get"): Answer(200, {"type": "object"}),
}

#: Path parameters: ids of rows are integers the store can hold; trials and models are
#: "<job>-<index>".
PATH_PARAMETERS: dict[str, Schema] = {
    "job_id": COUNT,
    "worker_id": COUNT,
    "token_id": COUNT,
    "trial_id": TRIAL_ID,
    "model_id": TRIAL_ID,
}

STATUS_TEXT = {
    200: "OK",
    201: "created",
    400: "invalid input: the error says which",
    403: "no credential, or one not valid for this route (Jupyter answers 403, not 401)",
    404: "unknown id",
    405: "method not allowed (the Allow header lists those that are)",
    409: "conflicts with what is stored (e.g. lease_lost, already ended)",
    413: "body over the configured size limit (chunked bodies too)",
    500: "the stored file is damaged (it was marked so)",
    503: "not available now: no model is served, or the store is damaged",
    507: "the store's disk is full",
}
#: Answered by every operation: no credential, a damaged store.
COMMON = (403, 503)
#: Answered by every operation that writes: a full disk.
WRITES = {"post": (507,), "put": (507,), "delete": (507,)}
