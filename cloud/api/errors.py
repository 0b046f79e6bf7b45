"""Errors of the read API, each mapped to one HTTP status by the app factory."""

from __future__ import annotations

from cloud.errors import CloudError

__all__ = ["ApiError", "BadRequest", "Forbidden", "NotFound", "Unavailable"]


class ApiError(CloudError):
    """Root of the read API's errors; ``status`` is the HTTP status it becomes."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ApiError):
    """The tenant, site or device named in the path does not exist."""

    status = 404


class Forbidden(ApiError):
    """The caller is known but its role may not do this (a distributor writing brand settings)."""

    status = 403


class BadRequest(ApiError):
    """Parameters that are well-typed but cannot be served (a range too large, end <= start)."""

    status = 422


class Unavailable(ApiError):
    """The database cannot be reached right now; the client should retry."""

    status = 503
