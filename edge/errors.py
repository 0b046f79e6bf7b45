"""Errors raised by the edge agent.

Every error the agent raises derives from `EdgeError`, so an entry point can catch the
whole family; low-level errors (sqlite3, OS, paho) are translated where they cross a module
boundary, with a message that says what was expected and what was got.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DriverError", "EdgeError", "OutboxError"]


class EdgeError(Exception):
    """Root of every error raised by the edge agent."""


class OutboxError(EdgeError):
    """The durable outbox could not store, seal or read data as asked."""


class ConfigError(EdgeError):
    """The agent configuration file is missing, unreadable or invalid."""


class DriverError(EdgeError):
    """A sensor or scanner driver cannot be set up as configured (missing extra, not a tty).

    Device trouble at run time (absent probe, bad CRC, unplugged scanner) is not raised:
    sensors report it as fault readings and scanners log it and reopen.
    """
