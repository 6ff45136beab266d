"""Model upload: ``PUT /mlops/api/models/{trial}/file?sha256=...`` streamed from disk, retried."""

from __future__ import annotations

import json
import logging
import os
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
    """The model could not be stored; the message says why."""


def _error_text(status: int, raw: bytes) -> str:
    try:
        body = json.loads(raw)
        return f"HTTP {status}: {body.get('error')} {body.get('detail') or ''}".strip()
    except (ValueError, AttributeError):
        return f"HTTP {status}: {raw[:200].decode(errors='replace')}"


def put_model_file(hub: HubInfo, trial_id: str, path: Path, sha256: str) -> tuple[int, Any]:
    """One streamed PUT of the model file; returns (status, decoded body)."""
    query = urllib.parse.urlencode({"sha256": sha256})
    url = hub.api_url(f"models/{urllib.parse.quote(trial_id)}/file") + "?" + query
    size = os.path.getsize(path)
    headers = {
        **hub.headers(),
        "Content-Type": "application/zip",
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
                raise UploadError(_error_text(exc.code, raw)) from None
            return exc.code, _error_text(exc.code, raw)


def upload_model(
    hub: HubInfo,
    trial_id: str,
    path: Path,
    sha256: str,
    *,
    attempts: int = 12,
    backoff_initial: float = 1.0,
    backoff_max: float = 30.0,
    abort: threading.Event | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Upload with retries on network errors and 5xx; return the stored Model JSON."""
    abort = abort or threading.Event()
    delay = backoff_initial
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            status, body = put_model_file(hub, trial_id, path, sha256)
            if status in (200, 201):
                return body if isinstance(body, dict) else {"id": trial_id}
            last = str(body)
        except UploadError:
            raise
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt == attempts:
            break
        if note is not None:
            note(f"model upload attempt {attempt} failed ({last}); retrying in {delay:.0f} s")
        if abort.wait(delay):
            raise UploadError(f"upload abandoned: the worker is stopping ({last})")
        delay = min(backoff_max, delay * 2)
    raise UploadError(f"upload failed after {attempts} attempts: {last}")
