"""Errors raised by the alerts package."""

from __future__ import annotations

from cloud.errors import CloudError

__all__ = ["AlertError", "AlertNotFound", "AlertStateError", "WebhookError"]


class AlertError(CloudError):
    """Root of every error raised by :mod:`cloud.alerts`."""


class AlertNotFound(AlertError):
    """No alert (or webhook subscription) with that id is visible to the caller."""


class AlertStateError(AlertError):
    """A workflow step that the alert's state does not allow (e.g. acknowledging a resolved one)."""


class WebhookError(AlertError):
    """A webhook subscription is invalid (URL, secret) or a delivery could not be made."""
