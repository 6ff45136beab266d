"""The protocol, in one place: the API prefix, every websocket message type, and timestamps.

Both sides import these names (the hub, the store, the worker, the panels); nothing else
spells a message type as a string literal. docs/API.md describes each message and the
TypeScript panel mirrors the subscriber types in ``labextension/src/types.ts``.
Messages are JSON objects with a ``type``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
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
#: how many trials the worker runs at once now, and its cluster (a Ray worker's grows and shrinks)
CAPACITY = "capacity"
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
        CAPACITY,
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


# -- JSON safety ------------------------------------------------------------------------------
#: How a non-finite float is written in every message and REST answer: a JSON string, so that
#: ``JSON.parse`` never meets a bare ``NaN`` (a diverged loss must not break a view).
NON_FINITE = ("NaN", "Infinity", "-Infinity")
#: Integers the store can hold (SQLite's signed 64 bits); ids, seqs and steps must fit.
MAX_INT = 2**63 - 1


def finite_or_text(number: float) -> float | str:
    """The number itself when finite, else ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (in dicts, lists and tuples) spelled as text."""
    if isinstance(value, float):
        return finite_or_text(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _parse_float(text: str) -> float | str:
    return finite_or_text(float(text))  # "1e999" is valid JSON and overflows to infinity


def decode(data: str | bytes) -> Any:
    """Parse JSON as every boundary does: ``NaN``/``Infinity`` literals and overflowing numbers
    become their text (see :data:`NON_FINITE`); too deep a nesting is a ``ValueError``."""
    try:
        return json.loads(data, parse_constant=str, parse_float=_parse_float)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests containers, counted up to ``limit + 1`` (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return depth
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse(frame: str | bytes, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Decode one frame (see :func:`decode`) and check its type is one of ``allowed``."""
    try:
        message = decode(frame)
    except (TypeError, ValueError) as exc:
        raise MessageError(f"a frame must be JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise MessageError("a frame must be a JSON object with a 'type'")
    if message.get("type") not in allowed:
        raise MessageError(f"unknown message type {message.get('type')!r}; expected {allowed}")
    return message


def encode(message: Any) -> str:
    """Encode one message (or REST answer) as compact JSON; never writes NaN or Infinity."""
    try:
        return json.dumps(message, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: spell them as text (rare, so not first)
        return json.dumps(json_safe(message), separators=(",", ":"), default=str)


def utc_now() -> str:
    """The current time as ISO 8601 in UTC with milliseconds: every event and row uses it."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
