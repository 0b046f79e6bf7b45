"""Shoppers' reports of suspected fakes, from the verdict page's form.

The form is anonymous, so it is tied to the scan it comes from instead: the page carries
a token (HMAC-SHA256 under a key derived from ``CT_AUTH_TOKEN_SECRET``) naming the scan,
its code, verdict, coarse place and the scanner's client tag. A report is taken only with
a valid token less than a day old, from the same network as the scan (the client tag
again), and not from another site's page (``Origin``/``Sec-Fetch-Site``, checked by the
route); at most one report per scan is kept. Nothing identifies the shopper: like scans,
reports hold a coarse place and a per-code client tag, never an address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["REASONS", "ReportToken", "make_token", "read_token", "store_report"]

_logger = logging.getLogger(__name__)

REASONS: Final = ("seal_broken", "looks_different", "price_too_low", "seller", "other")
_MAX_AGE: Final = timedelta(days=1)
_CONTEXT: Final = b"channeltrace/fake-report/v1\n"


@dataclass(frozen=True, slots=True)
class ReportToken:
    verified: bool
    scan_id: int
    tenant: str
    gtin: str
    lot: str | None
    serial: str | None
    client: str
    verdict: str
    at: int  # the scan's time, epoch seconds
    region: str | None = None
    point: tuple[float, float, float] | None = None

    def fresh(self, now: datetime) -> bool:
        return 0 <= now.timestamp() - self.at <= _MAX_AGE.total_seconds()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_FIELDS: Final = tuple(f.name for f in fields(ReportToken))


def make_token(key: bytes, token: ReportToken) -> str:
    # The fields in order (``dataclasses.astuple`` deep-copies each value: a tenth of a
    # scan's time went there).
    body = json.dumps([getattr(token, name) for name in _FIELDS], separators=(",", ":")).encode()
    mac = hmac.new(key, _CONTEXT + body, hashlib.sha256).digest()[:16]
    return f"{_b64(body)}.{_b64(mac)}"


def read_token(key: bytes, text: str) -> ReportToken | None:
    """The token's content if its MAC is ours, else ``None``."""
    body_text, _, mac_text = text.partition(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        return None
    expected = hmac.new(key, _CONTEXT + body, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        fields: list[Any] = json.loads(body)
        point = fields[-1]
        fields[-1] = None if point is None else tuple(point)
        return ReportToken(*fields)
    except (TypeError, ValueError, IndexError):
        return None


async def store_report(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
    token: ReportToken,
    *,
    reason: str,
    seller: str,
    note: str,
) -> bool:
    """Keep the report (``False``: this scan was reported already). Raises ``ValueError``
    for a reason not in :data:`REASONS` or text over its limit."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}; got {reason[:40]!r}")
    seller, note = seller.strip(), note.strip()
    if len(seller) > 200 or len(note) > 1000:
        raise ValueError("the seller takes at most 200 characters and the note 1,000")
    lat, lon, acc = token.point or (None, None, None)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO fake_reports (tenant_id, gtin, lot, serial, scan_id, verified,"
            " verdict, reason, seller, note, lat, lon, accuracy_km, region, client)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, verified, scan_id) DO NOTHING RETURNING id",
            (
                token.tenant, token.gtin, token.lot, token.serial, token.scan_id,
                token.verified, token.verdict, reason, seller, note, lat, lon, acc,
                token.region, token.client,
            ),
        )  # fmt: skip
        stored = await cur.fetchone() is not None
    _logger.info("fake report for %s/%s: %s", token.gtin, token.serial, reason)
    return stored
