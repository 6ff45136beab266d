"""A hub client bound to one hub: JSON calls, file transfers and websockets with its credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_mlops.kernel_client.hub_client.discovery import discover
from jupyter_mlops.kernel_client.hub_client.http import call
from jupyter_mlops.kernel_client.hub_client.info import HubInfo
from jupyter_mlops.kernel_client.hub_client.websocket import ReconnectingWebSocket


class HubClient:
    """The hub at ``url`` with ``token`` (or found as :func:`~.discovery.discover` says).

    The hub may be down when the client is made: nothing is checked until the first call.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        hub: HubInfo | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.hub = hub if hub is not None else discover(url, token, check=False)
        self.timeout = timeout

    @property
    def server_url(self) -> str:
        return self.hub.url

    def __repr__(self) -> str:  # never show the token
        return f"HubClient({self.hub.url!r})"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send a JSON request; return the decoded answer. Raises the HubError family."""
        return call(self.hub, method, path, json_body=body, timeout=self.timeout)

    def predict_image(self, data: bytes, top_k: int = 5) -> dict[str, Any]:
        """Classify an image with the deployed model, served by the hub (``POST /predict``)."""
        return call(
            self.hub, "POST", "predict", body=data, query={"top_k": top_k}, timeout=self.timeout
        )

    def download(self, path: str, dest: Path) -> dict[str, str]:
        """Stream a binary resource (a model file) into ``dest``; return the answer's headers."""
        return call(self.hub, "GET", path, download_to=dest, timeout=max(self.timeout, 300.0))

    def websocket(self, path: str, **options: Any) -> ReconnectingWebSocket:
        """A reconnecting websocket to an API path (not started)."""
        return ReconnectingWebSocket(self.hub, path, **options)
