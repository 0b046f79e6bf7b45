"""Request bodies are limited before they are read or parsed (413).

A declared ``Content-Length`` above the limit is refused at once, without reading a byte
of the body, and the connection is closed (``Connection: close``) so the rest is not
drained either. A body without a length (chunked) is counted as it streams: the moment it
passes the limit the client gets its 413 and the route sees a disconnected client, so no
parser ever holds more than the limit.

Every route has the small default limit; :class:`RouteLimit` raises it for one path (EPCIS
capture), and by default only for callers that present a credential (a bearer token, an
API key or the session cookie): an anonymous caller is refused with 401 anyway, and must
not make the server parse megabytes first (FastAPI reads a body before the route's
authentication runs).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.errors import PROBLEM_JSON, problem

__all__ = ["BodyLimitMiddleware", "RouteLimit"]

_logger = logging.getLogger(__name__)

_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key"})


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """``max_bytes`` for requests to exactly ``path`` (any method); a ``{name}`` segment
    stands for any one segment (``/v1/tenants/{tenant}/channel/imports``)."""

    path: str
    max_bytes: int
    credential_required: bool = True

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"a route limit's path starts with '/', got {self.path!r}")
        if self.max_bytes < 1:
            raise ValueError(f"a body limit is at least 1 byte, got {self.max_bytes}")


def _template(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)))


def _has_credential(scope: Scope, session_cookie: bytes) -> bool:
    for name, value in scope["headers"]:
        if name in _CREDENTIAL_HEADERS:
            return True
        if name == b"cookie" and session_cookie in value:
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    values = [v for n, v in scope["headers"] if n == b"content-length"]
    if not values:
        return None
    try:
        return max(int(v) for v in values)
    except ValueError:
        return -1  # malformed: the server normally refuses it before we see it


class BodyLimitMiddleware:
    """413 for request bodies above ``default_bytes`` (or a route's own limit)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_bytes: int,
        routes: Iterable[RouteLimit] = (),
        session_cookie: str = "ct_session",
    ) -> None:
        if default_bytes < 1:
            raise ValueError(f"a body limit is at least 1 byte, got {default_bytes}")
        self._app = app
        self._default = default_bytes
        routes = list(routes)
        self._routes = {r.path: r for r in routes if "{" not in r.path}
        self._templates = [(_template(r.path), r) for r in routes if "{" in r.path]
        self._cookie = f"{session_cookie}=".encode()

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        """The limit of this request, and how to name it in the refusal."""
        path = scope.get("path", "")
        route = self._routes.get(path)
        if route is None:
            route = next((r for pattern, r in self._templates if pattern.fullmatch(path)), None)
        if route is None:
            return self._default, "the limit"
        if route.credential_required and not _has_credential(scope, self._cookie):
            return self._default, "the limit for requests without credentials"
        return route.max_bytes, f"the limit of {route.path}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit, named = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > limit):
            detail = (
                "the Content-Length header is not a number"
                if declared < 0
                else f"request body of {declared} bytes exceeds {named} of {limit} bytes"
            )
            await _refuse(send, 400 if declared < 0 else 413, detail, scope["path"])
            return
        received = 0
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        detail = f"request body exceeds {named} of {limit} bytes"
                        await _refuse(send, 413, detail, scope["path"])
                    # The route sees a client that went away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the route's answer to the disconnect: the client has its 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self._app(scope, counted_receive, guarded_send)


async def _refuse(send: Send, status: int, detail: str, path: str) -> None:
    _logger.info("refused a request body: %s", detail)
    body = json.dumps(problem(status, detail, instance=path)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the unread body is not drained
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
