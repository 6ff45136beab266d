"""Every websocket message type, in one place (docs/API.md describes each one).

Messages are JSON objects with a ``type``. The TypeScript panel mirrors these names in
``labextension/src/types.ts``.
"""

from __future__ import annotations

import json
from typing import Any

# Worker -> hub
HELLO = "hello"
EVENTS = "events"
WORKER_TO_HUB = (HELLO, EVENTS)

# Events inside an ``events`` frame, each with a per-session ``seq``
EVENT_TYPES = frozenset(
    {
        "log",
        "metric",
        "progress",
        "trial_started",
        "trial_finished",
        "trial_failed",
        "trial_cancelled",
        "job_finished",
        "job_failed",
        "job_cancelled",
    }
)
LOG_STREAMS = ("stdout", "stderr", "system")

# Hub -> worker
WELCOME = "welcome"
ACK = "ack"
JOB = "job"
CANCEL = "cancel"
ERROR = "error"
HUB_TO_WORKER = (WELCOME, ACK, JOB, CANCEL, ERROR)

# Hub -> subscribers of /ws/events
SUBSCRIBER_TYPES = ("worker", "job", "log", "metric", "model", "deployment")


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
