"""Uploads to the hub, streamed from disk and retried: the model file and trial checkpoints.

``PUT /mlops/api/models/{trial}/file?sha256=...&attempt=N`` stores a trial's model;
``PUT /mlops/api/trials/{trial}/checkpoint?sha256=...&attempt=N&epoch=E`` its checkpoint, and
``GET`` on the same path fetches the last one. A 409 that names the lease (or the attempt)
means another worker now runs the trial: :class:`LeaseLost`, never retried.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.discovery import HubInfo

log = logging.getLogger(__name__)

#: Statuses after which a retry cannot help: bad file, unknown trial, conflict, too large.
PERMANENT = {400, 401, 403, 404, 409, 413}


class UploadError(RuntimeError):
    """The file could not be stored; the message says why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LeaseLost(UploadError):
    """The hub refused the upload because this worker no longer holds the trial's lease."""


def _error_text(status: int, raw: bytes) -> str:
    try:
        body = json.loads(raw)
        return f"HTTP {status}: {body.get('error')} {body.get('detail') or ''}".strip()
    except (ValueError, AttributeError):
        return f"HTTP {status}: {raw[:200].decode(errors='replace')}"


def _refusal(status: int, raw: bytes) -> UploadError:
    text = _error_text(status, raw)
    if status == 409 and ("lease" in text.lower() or "attempt" in text.lower()):
        return LeaseLost(text, status)
    return UploadError(text, status)


def put_file(
    hub: HubInfo, route: str, query: dict[str, Any], path: Path, content_type: str
) -> tuple[int, Any]:
    """One streamed PUT of a file to an API route; returns (status, decoded body).

    Raises :class:`UploadError` (or :class:`LeaseLost`) for statuses in :data:`PERMANENT`.
    """
    url = hub.api_url(route) + "?" + urllib.parse.urlencode(query)
    size = os.path.getsize(path)
    headers = {
        **hub.headers(),
        "Content-Type": content_type,
        "Content-Length": str(size),
        "Accept": "application/json",
    }
    with open(path, "rb") as body:  # http.client sends a file object block by block
        req = urllib.request.Request(url, data=body, method="PUT", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=max(60.0, size / 1e6)) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            if exc.code in PERMANENT:
                raise _refusal(exc.code, raw) from None
            return exc.code, _error_text(exc.code, raw)


def put_model_file(
    hub: HubInfo, trial_id: str, path: Path, sha256: str, attempt: int | None = None
) -> tuple[int, Any]:
    """One streamed PUT of the model file; returns (status, decoded body)."""
    query: dict[str, Any] = {"sha256": sha256}
    if attempt is not None:
        query["attempt"] = attempt
    route = f"models/{urllib.parse.quote(trial_id)}/file"
    return put_file(hub, route, query, path, "application/zip")


def retried(
    send: Callable[[], tuple[int, Any]],
    what: str,
    *,
    attempts: int = 12,
    backoff_initial: float = 1.0,
    backoff_max: float = 30.0,
    abort: threading.Event | None = None,
    note: Callable[[str], None] | None = None,
) -> Any:
    """Call ``send`` until it answers 200/201, retrying network errors and 5xx with backoff."""
    abort = abort or threading.Event()
    delay = backoff_initial
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            status, body = send()
            if status in (200, 201):
                return body
            last = str(body)
        except UploadError:
            raise
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt == attempts:
            break
        if note is not None:
            note(f"{what} attempt {attempt} failed ({last}); retrying in {delay:.0f} s")
        if abort.wait(delay):
            raise UploadError(f"{what} abandoned ({last})")
        delay = min(backoff_max, delay * 2)
    raise UploadError(f"{what} failed after {attempts} attempts: {last}")


def upload_model(
    hub: HubInfo,
    trial_id: str,
    path: Path,
    sha256: str,
    *,
    attempt: int | None = None,
    attempts: int = 12,
    backoff_initial: float = 1.0,
    backoff_max: float = 30.0,
    abort: threading.Event | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Upload the model with retries; return the stored Model JSON.

    ``attempt`` is the trial's lease (from its assignment); a 409 naming the lease raises
    :class:`LeaseLost`.
    """
    body = retried(
        lambda: put_model_file(hub, trial_id, path, sha256, attempt),
        "model upload",
        attempts=attempts,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        abort=abort,
        note=note,
    )
    return body if isinstance(body, dict) else {"id": trial_id}


def upload_checkpoint(
    hub: HubInfo,
    trial_id: str,
    path: Path,
    sha256: str,
    *,
    attempt: int,
    epoch: int,
    attempts: int = 3,
    backoff_initial: float = 1.0,
    abort: threading.Event | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Upload one checkpoint (streamed); return the Trial JSON the hub answers."""
    query = {"sha256": sha256, "attempt": attempt, "epoch": epoch}
    route = f"trials/{urllib.parse.quote(trial_id)}/checkpoint"
    body = retried(
        lambda: put_file(hub, route, query, path, "application/octet-stream"),
        f"checkpoint upload (epoch {epoch})",
        attempts=attempts,
        backoff_initial=backoff_initial,
        backoff_max=backoff_initial * 4,
        abort=abort,
        note=note,
    )
    return body if isinstance(body, dict) else {}


def download_checkpoint(
    hub: HubInfo, trial_id: str, dest: Path, *, attempts: int = 5, timeout: float = 300.0
) -> int:
    """Fetch the trial's last checkpoint into ``dest`` (streamed); return its size in bytes."""
    url = hub.api_url(f"trials/{urllib.parse.quote(trial_id)}/checkpoint")
    headers = {**hub.headers(), "Accept": "application/octet-stream"}

    def fetch() -> tuple[int, Any]:
        req = urllib.request.Request(url, method="GET", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp, open(dest, "wb") as out:
                shutil.copyfileobj(resp, out, 1 << 20)
                return resp.status, None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            if exc.code in PERMANENT:
                raise _refusal(exc.code, raw) from None
            return exc.code, _error_text(exc.code, raw)

    retried(fetch, "checkpoint download", attempts=attempts, backoff_initial=0.5)
    return dest.stat().st_size
