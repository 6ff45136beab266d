"""Where the hub is and how to authenticate: a URL and a token, never shown in logs."""

from __future__ import annotations

from dataclasses import dataclass

from jupyter_mlops.messages import API_PREFIX


@dataclass(frozen=True)
class HubInfo:
    """Where the hub is and how to authenticate; ``source`` says how it was found."""

    url: str
    token: str = ""
    source: str = "explicit"

    def __post_init__(self) -> None:
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")

    def api_url(self, path: str) -> str:
        """The absolute URL of an API path such as ``workers`` or ``models/7-0/file``."""
        return f"{self.url}{API_PREFIX.strip('/')}/{path.lstrip('/')}"

    def ws_url(self, path: str = "ws/worker") -> str:
        """The ws(s):// URL of an API websocket."""
        base = self.api_url(path)
        return "ws" + base[4:] if base.startswith("http") else base

    def headers(self) -> dict[str, str]:
        """Request headers carrying the token (never log them)."""
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        hidden = "***" if self.token else ""
        return f"HubInfo(url={self.url!r}, token={hidden!r}, source={self.source!r})"
