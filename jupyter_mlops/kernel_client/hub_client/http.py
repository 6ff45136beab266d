"""The one way to call the hub's REST API: JSON requests and streamed file transfers.

Every call goes through :func:`call`, which adds the credentials, maps failures to the
:mod:`~.errors` family (``HubUnreachable`` for the network, ``HubRequestError`` and its
subclasses for error answers) and never logs the token.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.hub_client.errors import HubUnreachable, error_from_response
from jupyter_mlops.kernel_client.hub_client.info import HubInfo

CHUNK = 1 << 20
#: The header that carries a trial's lease secret (uploads and checkpoint downloads).
LEASE_HEADER = "X-MLOps-Lease"


def _url(hub: HubInfo, path: str, query: dict[str, Any] | None) -> str:
    url = hub.api_url(path)
    if query:
        url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
    return url


def call(
    hub: HubInfo,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    body: bytes | None = None,
    query: dict[str, Any] | None = None,
    upload: Path | None = None,
    content_type: str = "application/octet-stream",
    download_to: Path | None = None,
    timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> Any:
    """Send one request to ``/mlops/api/<path>``; return the decoded JSON answer (or None).

    ``body`` sends bytes (of ``content_type``), ``upload`` streams a file as the body;
    ``download_to`` streams the answer into a file
    (then the answer's headers are returned). ``headers`` are added (e.g. a trial's lease,
    never logged either). Raises ``HubUnreachable`` or a ``HubRequestError``.
    """
    headers = {**hub.headers(), "Accept": "application/json", **(headers or {})}
    data: Any = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif body is not None:
        data = body
        headers["Content-Type"] = content_type
    elif method in ("POST", "PUT") and upload is None:
        data = b""
    body_file = None
    try:
        if upload is not None:
            body_file = open(upload, "rb")  # noqa: SIM115  http.client streams a file object
            data = body_file
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(os.path.getsize(upload))
        request = urllib.request.Request(
            _url(hub, path, query), data=data, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if download_to is not None:
                with open(download_to, "wb") as out:
                    shutil.copyfileobj(response, out, CHUNK)
                return dict(response.headers.items())
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise error_from_response(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubUnreachable(f"cannot reach the jupyter-mlops hub at {hub.url} ({reason})") from exc
    finally:
        if body_file is not None:
            body_file.close()
    return json.loads(raw) if raw else None
