"""Every route while the store is damaged: a JSON 503 that says why, never an empty store.

When the store cannot be opened at start (see ``store/integrity.py`` and ``storecheck.py``),
the app registers this handler on every route of the route table instead of the real ones, so
the panel, workers and scripts all hear the reason (and workers keep retrying: 503 is a
transient answer). The reason names the store's folder, so it is shown to the Jupyter
credential only; a scoped token, which cannot be checked without the store, hears that the
store is damaged and nothing more.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import APIHandler

from jupyter_mlops.messages import encode
from jupyter_mlops.serverext.handlers.base import AUTH_RESOURCE, scoped_secret

STATUS = 503
#: What a request with a scoped token hears (it cannot be checked while the store is closed).
GENERIC = (
    "the hub's store is damaged and was not opened; its administrator must check it "
    "(the server log says why)"
)


class DamagedStoreHandler(APIHandler):  # type: ignore[misc]
    """Answers 503 with the reason on every method, after authentication."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, reason: str) -> None:
        self.reason = reason

    def check_xsrf_cookie(self) -> None:
        if scoped_secret(self.request) is None:
            super().check_xsrf_cookie()

    async def prepare(self, **kwargs: Any) -> None:  # type: ignore[override]
        await super().prepare(**kwargs)
        if self._finished:
            return
        if scoped_secret(self.request) is not None:
            self._answer(STATUS, GENERIC)
        elif self.current_user is None:
            self._answer(403, "authentication required: send 'Authorization: token <TOKEN>'")
        else:
            self._answer(STATUS, self.reason)

    def _answer(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        detail = {"reason": "store_damaged"} if status == STATUS else None
        self.finish(
            encode({"error": message, "message": message, "detail": detail, "status": status})
        )
