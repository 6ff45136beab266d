"""The route table: one source for the tornado handlers and the OpenAPI document."""

from __future__ import annotations

import re

from jupyter_mlops.messages import API_PREFIX
from jupyter_mlops.serverext.handlers.deployment import (
    DeploymentHandler,
    DeploymentHistoryHandler,
)
from jupyter_mlops.serverext.handlers.jobs import (
    GridValidateHandler,
    JobCancelHandler,
    JobHandler,
    JobLogsHandler,
    JobMetricsHandler,
    JobRetryHandler,
    JobSearchHandler,
    JobsHandler,
    WorkerHandler,
    WorkersHandler,
)
from jupyter_mlops.serverext.handlers.models import (
    CheckpointHandler,
    ModelFileHandler,
    ModelHandler,
    ModelsHandler,
)
from jupyter_mlops.serverext.handlers.openapi import OpenAPIHandler
from jupyter_mlops.serverext.handlers.predict import PredictHandler
from jupyter_mlops.serverext.handlers.sockets import EventsSocket, WorkerSocket
from jupyter_mlops.serverext.handlers.tokens import (
    CredentialHandler,
    TokenHandler,
    TokensHandler,
)

# (path template under API_PREFIX, handler); {name} segments match one path segment.
ROUTES: list[tuple[str, type]] = [
    ("/workers", WorkersHandler),
    ("/workers/{worker_id}", WorkerHandler),
    ("/grid/validate", GridValidateHandler),
    ("/jobs", JobsHandler),
    ("/jobs/{job_id}", JobHandler),
    ("/jobs/{job_id}/cancel", JobCancelHandler),
    ("/jobs/{job_id}/retry", JobRetryHandler),
    ("/jobs/{job_id}/logs", JobLogsHandler),
    ("/jobs/{job_id}/metrics", JobMetricsHandler),
    ("/jobs/{job_id}/search", JobSearchHandler),
    ("/models", ModelsHandler),
    ("/models/{model_id}", ModelHandler),
    ("/models/{model_id}/file", ModelFileHandler),
    ("/trials/{trial_id}/checkpoint", CheckpointHandler),
    ("/deployment", DeploymentHandler),
    ("/deployment/history", DeploymentHistoryHandler),
    ("/predict", PredictHandler),
    ("/tokens", TokensHandler),
    ("/tokens/{token_id}", TokenHandler),
    ("/credential", CredentialHandler),
    ("/openapi.json", OpenAPIHandler),
    ("/ws/worker", WorkerSocket),
    ("/ws/events", EventsSocket),
]


def url_pattern(template: str) -> str:
    """Turn ``/jobs/{job_id}`` into the tornado pattern ``/mlops/api/jobs/(?P<job_id>[^/]+)``."""
    return API_PREFIX + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?"
