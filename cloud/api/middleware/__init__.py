"""Pure ASGI middleware of the API app: which peer to believe, and how much it may send.

Installed by :func:`cloud.app.create_app` from :class:`cloud.settings.ApiSection`;
pure ASGI (no ``BaseHTTPMiddleware``) so that nothing buffers a request body.
"""

from __future__ import annotations

from cloud.api.middleware.body_limit import BodyLimitMiddleware, RouteLimit
from cloud.api.middleware.proxies import FORWARDED_HEADERS, TrustedProxyMiddleware

__all__ = ["FORWARDED_HEADERS", "BodyLimitMiddleware", "RouteLimit", "TrustedProxyMiddleware"]
