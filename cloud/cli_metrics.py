"""The cloud commands' Prometheus endpoint: serve it, or exit with a clear error."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from cloud.metrics import serve_metrics
from common.cli import fail

__all__ = ["serve_metrics_or_exit"]


def serve_metrics_or_exit(registry: CollectorRegistry, port: int | None, host: str) -> None:
    """Serve ``registry`` on ``host:port`` (nothing when ``port`` is None)."""
    if port is None:
        return
    try:
        serve_metrics(registry, port, host)
    except OSError as exc:
        raise fail(f"cannot serve metrics on {host}:{port}: {exc}") from None
