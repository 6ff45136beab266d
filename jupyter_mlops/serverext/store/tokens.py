"""Store queries for scoped tokens: issued, listed, checked and revoked.

A token is ``mlops_`` plus 43 random url-safe characters; only its sha256 is stored, so the
secret is shown once, when it is issued. ``worker`` tokens open the worker websocket and move
the files of the trials leased to that worker; ``predict`` tokens call the predict endpoint.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from jupyter_mlops.messages import utc_now
from jupyter_mlops.serverext.errors import InvalidInput, NotFound
from jupyter_mlops.serverext.store.api import Row
from jupyter_mlops.serverext.store.base import StoreBase, digest

#: What a scoped token may be used for.
SCOPES = ("worker", "predict")
#: Every scoped token starts with this, so it is never mistaken for the Jupyter token.
TOKEN_PREFIX = "mlops_"
MAX_NAME = 100
#: ``last_used`` is written at most this often per token (seconds): a token used for every
#: prediction must not cost a write each time.
LAST_USED_EVERY = 60.0

_COLUMNS = "id, name, scope, created, last_used, revoked"


class TokenQueries(StoreBase):
    """Scoped tokens; rows never hold the secret."""

    def create_token(self, name: str, scope: str) -> tuple[Row, str]:
        """Issue a token; return the Token and its secret (shown once, stored hashed)."""
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise InvalidInput(f"name must be a non-empty string of at most {MAX_NAME} characters")
        if scope not in SCOPES:
            raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}, got {scope!r:.40}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO tokens (name, scope, secret_hash, created) VALUES (?, ?, ?, ?)",
                (name.strip(), scope, digest(secret), utc_now()),
            )
        return self.get_token(cur.lastrowid), secret  # type: ignore[arg-type]

    def get_token(self, token_id: int) -> Row:
        """The Token; NotFound otherwise."""
        row = self._one("tokens", f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,))
        if row is None:
            raise NotFound(f"no token with id {token_id}; GET /mlops/api/tokens lists them")
        return row

    def list_tokens(self) -> list[Row]:
        """Every Token, newest first (revoked ones too, with the time they were revoked)."""
        return self._all("tokens", f"SELECT {_COLUMNS} FROM tokens ORDER BY id DESC")

    def revoke_token(self, token_id: int) -> tuple[Row, list[int]]:
        """Revoke the token (again is harmless); return it and the ids of the workers that
        registered with it. NotFound for an unknown id."""
        with self.transaction() as conn:
            self.get_token(token_id)
            conn.execute(
                "UPDATE tokens SET revoked = coalesce(revoked, ?) WHERE id = ?",
                (utc_now(), token_id),
            )
            workers = [
                r[0] for r in conn.execute("SELECT id FROM workers WHERE token_id = ?", (token_id,))
            ]
        return self.get_token(token_id), workers

    def token_for_secret(self, secret: str) -> Row | None:
        """The valid (not revoked) Token with this secret, or None; notes that it was used."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        hashed = digest(secret)
        row = self._one(
            "tokens",
            f"SELECT {_COLUMNS}, secret_hash FROM tokens WHERE secret_hash = ? AND revoked IS NULL",
            (hashed,),
        )
        if row is None or not hmac.compare_digest(row.pop("secret_hash"), hashed):
            return None
        now = dt.datetime.now(dt.timezone.utc)
        cutoff = (now - dt.timedelta(seconds=LAST_USED_EVERY)).isoformat(timespec="milliseconds")
        if row["last_used"] is None or row["last_used"] < cutoff:
            row["last_used"] = utc_now()
            with self.transaction() as conn:
                conn.execute(
                    "UPDATE tokens SET last_used = ? WHERE id = ?", (row["last_used"], row["id"])
                )
        return row
