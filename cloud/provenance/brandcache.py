"""The resolver's cache of brand keys and thresholds, evicted by notification.

Every scan needs the key its ``k`` names and the brand's verdict thresholds; both change
rarely (a key registered or revoked, thresholds edited). Migration 0013 announces every
change to ``brand_keys``, ``brand_settings`` and ``company_prefixes`` on the PostgreSQL
channel :data:`CHANNEL`; a listener task clears the cache when one commits, so a revoked
key stops verifying in every running resolver within a moment. While the listener is not
connected (the database restarting) announcements may be missed: entries then live only
``unlistened_ttl`` seconds, and everything is cleared when it reconnects. Unknown key ids
are remembered for ``negative_ttl`` seconds (a flood of made-up ``k`` values is not a
flood of queries). Same design as the ingest's device key cache (:mod:`cloud.ingest.keys`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool

from cloud.provenance.brands import parse_thresholds
from cloud.provenance.clone import Thresholds
from cloud.provenance.errors import VerdictInputError
from cloud.provenance.keys import BrandKey, Keyring

__all__ = ["CHANNEL", "BrandCache"]

_logger = logging.getLogger(__name__)

CHANNEL: Final = "ct_brand_cache"
_PRUNE_ABOVE = 100_000  # entries; beyond this expired ones are dropped (hostile key ids)
_RECONNECT_MIN_S = 0.5
_RECONNECT_MAX_S = 10.0


class BrandCache:
    """Keyrings by key id and thresholds by brand, in memory, for one event loop."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        conninfo: str,
        *,
        ttl: float = 300.0,
        negative_ttl: float = 5.0,
        unlistened_ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._unlistened_ttl = unlistened_ttl
        self._clock = clock
        self._keys: dict[str, tuple[float, Keyring, str | None]] = {}
        self._thresholds: dict[str, tuple[float, Thresholds]] = {}
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._epoch = 0  # bumped by every eviction: a load racing one does not keep its answer
        self.evictions = 0

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="brand-cache-listener")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    def invalidate(self) -> None:
        self._epoch += 1
        self._keys.clear()
        self._thresholds.clear()
        self.evictions += 1

    def _expiry(self, ttl: float) -> float:
        if not self._listening.is_set():
            ttl = min(ttl, self._unlistened_ttl)
        return self._clock() + ttl

    async def keyring(self, kid: str) -> tuple[Keyring, str | None]:
        """The keyring holding key ``kid`` (empty if unknown) and the brand that owns it."""
        cached = self._keys.get(kid)
        if cached is not None and cached[0] > self._clock():
            return cached[1], cached[2]
        epoch = self._epoch
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT tenant_id, public_key, created_at, revoked_at FROM brand_keys"
                " WHERE kid = %s",
                (kid,),
            )
            row = await cur.fetchone()
        if row is None:
            found: tuple[Keyring, str | None] = (Keyring(), None)
            ttl = self._negative_ttl
        else:
            revoked = None if row[3] is None else row[3].isoformat()
            key = BrandKey(kid, row[1], row[2].isoformat(), revoked)
            found, ttl = (Keyring((key,)), str(row[0])), self._ttl
        if epoch == self._epoch:
            if len(self._keys) > _PRUNE_ABOVE:
                now = self._clock()
                self._keys = {k: v for k, v in self._keys.items() if v[0] > now}
            self._keys[kid] = (self._expiry(ttl), *found)
        return found

    async def thresholds(self, tenant: str) -> Thresholds:
        """The brand's thresholds (the defaults when it set none or they are unusable)."""
        cached = self._thresholds.get(tenant)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        epoch = self._epoch
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT thresholds FROM brand_settings WHERE tenant_id = %s", (tenant,)
            )
            row = await cur.fetchone()
        limits = Thresholds()
        if row is not None:
            try:
                limits = parse_thresholds(row[0])
            except VerdictInputError as exc:
                _logger.warning("brand %s: stored thresholds unusable (%s); defaults", tenant, exc)
        if epoch == self._epoch:
            self._thresholds[tenant] = (self._expiry(self._ttl), limits)
        return limits

    async def _listen(self) -> None:
        delay = _RECONNECT_MIN_S
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.invalidate()  # anything may have changed while we were not listening
                    self._listening.set()
                    delay = _RECONNECT_MIN_S
                    async for note in conn.notifies():
                        _logger.debug("brand cache: change announced for %r", note.payload)
                        self.invalidate()
            except asyncio.CancelledError:
                self._listening.clear()
                raise
            except psycopg.Error as exc:
                _logger.warning(
                    "brand cache: listener disconnected (%s); retrying in %.1f s", exc, delay
                )
            self._listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX_S)
