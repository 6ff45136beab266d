"""The one error family of every call to the hub; each message says what to do."""

from __future__ import annotations

import json
from typing import Any


class HubError(RuntimeError):
    """The hub could not be used; the message says why and what to do."""


class HubNotFound(HubError):
    """No hub URL is known, or the server there has no jupyter-mlops API."""


class HubUnreachable(HubError):
    """Nothing answers at the hub URL (network error, timeout): worth retrying."""


class HubRequestError(HubError):
    """The hub answered with an error status; ``error`` and ``detail`` are its JSON body."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status
        self.error = error
        self.detail = detail

    @property
    def transient(self) -> bool:
        """Whether retrying later can help (server errors, not refusals)."""
        return self.status >= 500 or self.status == 429


class HubAuthError(HubRequestError):
    """The hub refused the credentials (401/403)."""


class LeaseLost(HubRequestError):
    """The hub refused because this worker no longer holds the trial's lease (409)."""


#: ``detail.reason`` of a 409 that means "this lease is gone".
LEASE_LOST_REASON = "lease_lost"


def error_from_response(status: int, raw: bytes) -> HubRequestError:
    """Turn an error answer into the matching exception of this family."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error") or body.get("message") or f"HTTP {status}")
        detail = body.get("detail")
    else:
        error = raw[:300].decode(errors="replace") or f"HTTP {status}"
        detail = None
    if status in (401, 403):
        return HubAuthError(status, error, detail)
    if status == 409 and isinstance(detail, dict) and detail.get("reason") == LEASE_LOST_REASON:
        return LeaseLost(status, error, detail)
    return HubRequestError(status, error, detail)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call is worth retrying: unreachable hub or a server-side error."""
    if isinstance(exc, HubUnreachable):
        return True
    return isinstance(exc, HubRequestError) and exc.transient
