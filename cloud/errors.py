"""Errors raised by the cloud services."""

from __future__ import annotations

__all__ = [
    "CloudError",
    "ConfigurationError",
    "DeviceConfigError",
    "IncompatibleLibrary",
    "MigrationError",
    "RegistryError",
    "SchedulerError",
    "StorageError",
]


class CloudError(Exception):
    """Root of every error raised by :mod:`cloud`."""


class ConfigurationError(CloudError):
    """A setting is missing or refused (for example a default secret outside development)."""


class DeviceConfigError(CloudError):
    """A remote device configuration could not be signed, recorded or published."""


class IncompatibleLibrary(CloudError):
    """An installed library lacks an internal name this code relies on (another version
    than the one tested): refused at start rather than misbehaving under load."""


class MigrationError(CloudError):
    """A schema migration could not be applied."""


class RegistryError(CloudError):
    """A device, site or tenant registration is invalid."""


class StorageError(CloudError):
    """A storage maintenance step (partitions, rollups, retention, gaps) failed or was refused."""


class SchedulerError(CloudError):
    """The job scheduler was misconfigured (for example two jobs with one name)."""
