"""Forwarded headers count only when the peer is a trusted proxy (``CT_TRUSTED_PROXIES``).

Anyone can send ``X-Forwarded-For``; believing it from anyone lets one client look like
thousands (a new address per request escapes every per-client rate limit), claim HTTPS,
pick the host a trace code is verified against, or choose the region of a scan. So:

* from a peer in ``trusted``, the client address and scheme come from ``X-Forwarded-For``
  and ``X-Forwarded-Proto`` (the right-most address that is not itself a trusted proxy,
  by uvicorn's own proxy-headers middleware, so the rules match uvicorn's), and the other
  forwarded headers (``X-Forwarded-Host``, ``X-Region``, ...) reach the routes;
* from any other peer those headers are removed from the request before any route sees
  them: the peer's own address is the client, and the connection's scheme is the scheme.

With nothing trusted (the default) no forwarded header is ever believed. The launchers
run uvicorn with its own proxy handling off, since it would rewrite the client before
this middleware could check the real peer.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any, Final, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

__all__ = ["FORWARDED_HEADERS", "TrustedProxyMiddleware"]

_logger = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_HEADERS: Final = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
        b"x-real-ip",
        b"x-region",
        b"cf-ipcountry",
        b"cf-connecting-ip",
        b"true-client-ip",
    }
)
"""Headers a proxy sets about the client; believed only from a trusted peer."""


class TrustedProxyMiddleware:
    """Applies forwarded headers from ``trusted`` peers and removes them from the rest."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[IpNetwork]) -> None:
        self._app = app
        self._trusted = tuple(trusted)
        # Client and scheme from X-Forwarded-For/-Proto: uvicorn's implementation.
        # Starlette's and uvicorn's ASGI type aliases describe the same callables.
        self._forwarded = cast(
            ASGIApp,
            ProxyHeadersMiddleware(
                cast(Any, app), trusted_hosts=[str(n) for n in self._trusted]
            ),
        )

    def trusted_peer(self, host: str | None) -> str | None:
        """The address of the peer at ``host`` if it is a trusted proxy, else None."""
        if not host or not self._trusted:
            return None
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None  # a Unix socket or a name: not an address we were told to trust
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
        return str(address) if any(address in n for n in self._trusted) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        client = scope.get("client")
        peer = self.trusted_peer(client[0] if client else None)
        # The scope is changed in place, as uvicorn's middleware does: the metrics
        # middleware outside reads the route FastAPI records in this same scope.
        if peer is not None and client is not None:
            scope["client"] = (peer, client[1])  # uvicorn looks up the plain address
            await self._forwarded(scope, receive, send)
            return
        headers = scope["headers"]
        if any(name in FORWARDED_HEADERS for name, _ in headers):
            scope["headers"] = [(n, v) for n, v in headers if n not in FORWARDED_HEADERS]
        await self._app(scope, receive, send)
