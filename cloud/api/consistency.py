"""Read-your-writes when reads may go to replicas (``CT_DATABASE_READ_URL``).

After a successful write (POST, PUT, PATCH, DELETE answered below 400) the API tells the
caller the primary's WAL position, which its commit is behind: the ``X-Commit-LSN`` header
and, for the console's browser, a cookie ``ct_lsn`` that lives a minute. A later read that
names it (header ``X-Read-After-LSN``, or the cookie) is served only by a server that has
replayed that far (:class:`cloud.replicas.ReadRouter`), else by the primary: a page loaded
just after a capture, an acknowledgement or an import shows it.

Without a read URL none of this happens: every read is on the primary anyway.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.replicas import format_lsn, parse_lsn

__all__ = [
    "COMMIT_HEADER",
    "LSN_COOKIE",
    "READ_AFTER_HEADER",
    "CommitPositionMiddleware",
    "read_after",
]

COMMIT_HEADER = "X-Commit-LSN"
READ_AFTER_HEADER = "X-Read-After-LSN"
LSN_COOKIE = "ct_lsn"
_COOKIE_MAX_AGE_S = 60  # far longer than any replica may lag and still be used
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def read_after(headers: Any, cookies: Any) -> int | None:
    """The WAL position a read must see: the header wins over the cookie."""
    return parse_lsn(headers.get(READ_AFTER_HEADER.lower())) or parse_lsn(cookies.get(LSN_COOKIE))


class CommitPositionMiddleware:
    """Adds ``X-Commit-LSN`` and the ``ct_lsn`` cookie to successful writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE:
            await self.app(scope, receive, send)
            return
        app_state = scope["app"].state

        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                router = getattr(app_state, "reads", None)
                lsn = None if router is None else await anyio.to_thread.run_sync(
                    _current_lsn, app_state.pool
                )
                if lsn is not None:
                    message["headers"] = [*message.get("headers", []), *_position_headers(lsn)]
            await send(message)

        await self.app(scope, receive, send_with_position)


def _current_lsn(pool: Any) -> int | None:
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        with pool.connection(timeout=2.0) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    except (psycopg.Error, PoolTimeout):
        return None  # the write is done; without a position the next read goes anywhere
    return parse_lsn(row[0]) if row else None


def _position_headers(lsn: int) -> list[tuple[bytes, bytes]]:
    text = format_lsn(lsn)  # hex digits and "/": valid cookie octets, no quoting needed
    cookie = f"{LSN_COOKIE}={text}; Path=/; Max-Age={_COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax"
    return [(COMMIT_HEADER.lower().encode(), text.encode()), (b"set-cookie", cookie.encode())]
