"""Domain errors raised by the store and hub; one table maps them to HTTP statuses."""

from __future__ import annotations

from typing import Any


class MLOpsError(Exception):
    """Base of every error a client can fix; ``status`` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(MLOpsError):
    """The request is malformed or names values of the wrong type."""

    status = 400


class Forbidden(MLOpsError):
    """The credential may not do this (a scoped token off its scope, or not the lease holder)."""

    status = 403


class NotFound(MLOpsError):
    """The named worker, job, trial or model does not exist."""

    status = 404


class Conflict(MLOpsError):
    """The request contradicts what is stored (e.g. a second model for one trial)."""

    status = 409


class PayloadTooLarge(MLOpsError):
    """An upload is over the configured size limit."""

    status = 413


class DamagedFile(MLOpsError):
    """A stored file (a model, a checkpoint) is missing or does not match its sha256."""

    status = 500


class StoreDamaged(MLOpsError):
    """The store cannot be used: its database or its files are damaged (every route says why)."""

    status = 503


class DiskFull(MLOpsError):
    """The store's disk is full: nothing was stored (and no temporary file is left)."""

    status = 507
