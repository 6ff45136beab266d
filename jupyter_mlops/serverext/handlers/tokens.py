"""REST handlers for scoped tokens (issue, list, revoke) and for the credential a request uses.

Only the Jupyter credential manages tokens. A token's secret is in the answer that issues it,
once, with the two lines a remote worker needs; it is never shown again.
"""

from __future__ import annotations

import shlex

from jupyter_server.auth.decorator import authorized
from tornado import web

from jupyter_mlops.messages import API_PREFIX
from jupyter_mlops.serverext.handlers.base import (
    PREDICT_SCOPE,
    STRING,
    WORKER_SCOPE,
    MLOpsHandler,
    parse_id,
    scoped,
)

#: The environment variable a worker (or an app) reads its token from.
TOKEN_ENV = "JUPYTER_MLOPS_TOKEN"


class TokensHandler(MLOpsHandler):
    body_schema = {"name": STRING, "scope": {"enum": [WORKER_SCOPE, PREDICT_SCOPE]}}

    @web.authenticated
    @authorized
    def get(self) -> None:
        """List scoped tokens: name, scope, created, last used, revoked (never the secret)."""
        self.reply({"tokens": self.ctx.store.list_tokens()})

    @web.authenticated
    @authorized
    def post(self) -> None:
        """Issue a token; the answer shows its secret once, with the lines to paste."""
        body = self.json_body({"name": str, "scope": str})
        token, secret = self.ctx.store.create_token(body["name"], body["scope"])
        self.reply({"token": token, "secret": secret, "setup": self._setup(token, secret)}, 201)

    def _setup(self, token: dict, secret: str) -> list[str]:
        """What to paste where the token is used: never into a notebook cell."""
        hub = f"{self.request.protocol}://{self.request.host}{self.base_url}"
        export = f"export {TOKEN_ENV}={shlex.quote(secret)}"
        if token["scope"] == WORKER_SCOPE:
            return [export, f"%mlops connect {hub}"]
        predict = f"{hub.rstrip('/')}{API_PREFIX}/predict"
        return [
            export,
            f'curl -H "Authorization: token ${TOKEN_ENV}" -H "Content-Type: image/png" '
            f"--data-binary @image.png {predict}",
        ]


class TokenHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    def delete(self, token_id: str) -> None:
        """Revoke a token: its workers' links close and their trials are re-queued at once."""
        self.reply(self.ctx.hub.revoke_token(parse_id(token_id, "token")))


class CredentialHandler(MLOpsHandler):
    @scoped(WORKER_SCOPE, PREDICT_SCOPE)
    def get(self) -> None:
        """The credential this request carries: scope ("jupyter", "worker" or "predict")."""
        credential = self.credential
        assert credential is not None
        self.reply(
            {"scope": credential.scope, "token_id": credential.token_id, "name": credential.name}
        )
