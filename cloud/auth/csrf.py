"""CSRF tokens bound to the console session, for its forms and for JSON writes.

The token is an HMAC of a fixed label keyed by the session token (which lives in an
HttpOnly cookie that scripts of other origins can neither read nor set), so a page on
another site cannot know it, and no server-side state is needed. The ``SameSite=Lax``
cookie already keeps cross-site POSTs from carrying the session; this is the second lock.

The console's forms carry it in a ``csrf`` field; a JSON write authenticated by the
session cookie alone carries it in the :data:`CSRF_HEADER` header (``GET /auth/me`` tells
a cookie-authenticated page its token). Bearer tokens and API keys need none: a browser
never attaches them by itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["CSRF_HEADER", "csrf_token", "valid_csrf"]

CSRF_HEADER: Final = "X-CSRF-Token"

_LABEL = b"channeltrace console csrf v1"


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), _LABEL, hashlib.sha256).hexdigest()


def valid_csrf(session_token: str, submitted: str | None) -> bool:
    if not submitted:
        return False
    return hmac.compare_digest(csrf_token(session_token), submitted)
