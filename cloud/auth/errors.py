"""Errors of access control."""

from __future__ import annotations

from cloud.errors import CloudError

__all__ = ["AuthConfigError", "AuthError", "CredentialError"]


class AuthError(CloudError):
    """Root of the access-control errors."""


class AuthConfigError(AuthError):
    """Settings that cannot be used (a missing token secret outside development)."""


class CredentialError(AuthError):
    """A user, key or role that cannot be created as asked (unknown tenant, bad role...)."""
