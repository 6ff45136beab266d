"""The protocol, in one place: the API prefix, every websocket message type, and timestamps.

Both sides import these names (the hub, the store, the worker, the panels); nothing else
spells a message type as a string literal. docs/API.md describes each message and the
TypeScript panel mirrors the subscriber types in ``labextension/src/types.ts``.
Messages are JSON objects with a ``type``.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

#: Every REST route and both websockets live under this path of the Jupyter server.
API_PREFIX = "/mlops/api"

# -- worker -> hub frames ---------------------------------------------------------------------
HELLO = "hello"
EVENTS = "events"
WORKER_TO_HUB = (HELLO, EVENTS)

# -- events inside an ``events`` frame, each with a per-session ``seq`` ------------------------
LOG = "log"
METRIC = "metric"
PROGRESS = "progress"
TRIAL_STARTED = "trial_started"
TRIAL_FINISHED = "trial_finished"
TRIAL_FAILED = "trial_failed"
TRIAL_CANCELLED = "trial_cancelled"
JOB_FINISHED = "job_finished"
JOB_FAILED = "job_failed"
JOB_CANCELLED = "job_cancelled"
EVENT_TYPES = frozenset(
    {
        LOG,
        METRIC,
        PROGRESS,
        TRIAL_STARTED,
        TRIAL_FINISHED,
        TRIAL_FAILED,
        TRIAL_CANCELLED,
        JOB_FINISHED,
        JOB_FAILED,
        JOB_CANCELLED,
    }
)
LOG_STREAMS = ("stdout", "stderr", "system")

# -- hub -> worker frames ---------------------------------------------------------------------
WELCOME = "welcome"
ACK = "ack"
JOB = "job"
CANCEL = "cancel"
ERROR = "error"
HUB_TO_WORKER = (WELCOME, ACK, JOB, CANCEL, ERROR)

# -- hub -> subscribers of /ws/events (notifications; REST is the truth) ----------------------
WORKER_CHANGED = "worker"
JOB_CHANGED = "job"
LOG_LINES = "log"
METRIC_POINTS = "metric"
MODEL_CHANGED = "model"
DEPLOYMENT_CHANGED = "deployment"
SERVING_CHANGED = "serving"
SUBSCRIBER_TYPES = (
    WORKER_CHANGED,
    JOB_CHANGED,
    LOG_LINES,
    METRIC_POINTS,
    MODEL_CHANGED,
    DEPLOYMENT_CHANGED,
    SERVING_CHANGED,
)


class MessageError(ValueError):
    """A frame that is not a JSON object with a known ``type``."""


def parse(frame: str | bytes, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Decode one frame and check its type is one of ``allowed``."""
    try:
        message = json.loads(frame)
    except (TypeError, ValueError) as exc:
        raise MessageError(f"a frame must be JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise MessageError("a frame must be a JSON object with a 'type'")
    if message.get("type") not in allowed:
        raise MessageError(f"unknown message type {message.get('type')!r}; expected {allowed}")
    return message


def encode(message: dict[str, Any]) -> str:
    """Encode one message as a compact JSON frame."""
    return json.dumps(message, separators=(",", ":"), default=str)


def utc_now() -> str:
    """The current time as ISO 8601 in UTC with milliseconds: every event and row uses it."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
