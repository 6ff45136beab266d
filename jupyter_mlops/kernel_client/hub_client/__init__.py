"""The one way the kernel side talks to the hub: discovery, requests, transfers, websockets.

``discover`` finds the hub; ``call``/``HubClient.request`` send REST requests; every failure
is a :class:`HubError` (``LeaseLost`` when a trial's lease moved on); ``retry`` with a
:class:`Backoff` retries what is transient; :class:`ReconnectingWebSocket` keeps a websocket
open; :class:`HubMirror` keeps a view's copy of the hub's state live.
"""

from __future__ import annotations

from jupyter_mlops.kernel_client.hub_client.client import HubClient
from jupyter_mlops.kernel_client.hub_client.discovery import (
    TOKEN_ENV,
    URL_ENV,
    check_hub,
    discover,
)
from jupyter_mlops.kernel_client.hub_client.errors import (
    HubAuthError,
    HubError,
    HubNotFound,
    HubRequestError,
    HubUnreachable,
    LeaseLost,
    is_transient,
)
from jupyter_mlops.kernel_client.hub_client.http import call
from jupyter_mlops.kernel_client.hub_client.info import HubInfo
from jupyter_mlops.kernel_client.hub_client.mirror import HubMirror
from jupyter_mlops.kernel_client.hub_client.retry import Abandoned, Backoff, retry
from jupyter_mlops.kernel_client.hub_client.websocket import ReconnectingWebSocket

__all__ = [
    "TOKEN_ENV",
    "URL_ENV",
    "Abandoned",
    "Backoff",
    "HubAuthError",
    "HubClient",
    "HubError",
    "HubInfo",
    "HubMirror",
    "HubNotFound",
    "HubRequestError",
    "HubUnreachable",
    "LeaseLost",
    "ReconnectingWebSocket",
    "call",
    "check_hub",
    "discover",
    "is_transient",
    "retry",
]
