"""Errors raised by the cloud services."""

from __future__ import annotations

__all__ = ["CloudError", "ConfigurationError", "MigrationError", "RegistryError"]


class CloudError(Exception):
    """Root of every error raised by :mod:`cloud`."""


class ConfigurationError(CloudError):
    """A setting is missing or refused (for example a default secret outside development)."""


class MigrationError(CloudError):
    """A schema migration could not be applied."""


class RegistryError(CloudError):
    """A device, site or tenant registration is invalid."""
