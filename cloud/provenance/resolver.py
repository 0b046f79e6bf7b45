"""Resolving a consumer scan: check the code, judge it, queue its record, tell its story.

One call per resolver request (:meth:`ScanService.resolve`), on the event loop:

1. the code's signature is checked offline against the brand key named by ``k`` (cached:
   :mod:`cloud.provenance.brandcache`);
2. one query (:mod:`cloud.provenance.scanread`) brings the GTIN's owner, the issued code,
   the unit's passport and the unit's scan summary. The code must be an issued code of the
   brand that owns its GTIN: the GTIN under a registered company prefix, the key that
   brand's, the serial issued by it (same lot, same key). Otherwise it is counterfeit with
   that reason (:class:`Refusal`): a leaked key mints nothing, and one brand's key makes no
   other brand's serial genuine;
3. only then is it a *verified* code: the passport (custody, places, exposure; recomputed
   first if custody or the channel moved since it was stored) and the summary, with this
   resolver's scans of the unit not yet written, feed :func:`judge_scan`;
4. the scan goes to the writer (:mod:`cloud.provenance.scanwriter`): a verified code's
   scan into ``consumer_scans`` and its unit's summary, any other into
   ``counterfeit_scans`` (the GTIN owner's counterfeit map), which no verdict reads.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from cloud.provenance.brandcache import BrandCache
from cloud.provenance.brands import unit_epc
from cloud.provenance.clone import Scan
from cloud.provenance.codes import CodeCheck, SignedCode, check_code, check_signed
from cloud.provenance.coldchain import StorageProfile
from cloud.provenance.errors import CodeVerificationError, VerdictInputError
from cloud.provenance.geo import GeoPoint, check_region
from cloud.provenance.keys import Keyring
from cloud.provenance.passport import Passport
from cloud.provenance.passports import update_passport
from cloud.provenance.scanlog import coarse_point, findings_json
from cloud.provenance.scanread import ScanContext, read_scan_context
from cloud.provenance.scanstate import ScanState
from cloud.provenance.scanwriter import ScanRecord, ScanWriter
from cloud.provenance.verdicts import Refusal, UnitRecord, Verdict, judge_scan
from wire.digital_link import DigitalLink

__all__ = ["Resolution", "ScanPlace", "ScanService", "refusal_of"]

_logger = logging.getLogger(__name__)

_MAX_BACKGROUND_REFRESHES = 256
_GC_YOUNG = 50_000  # objects allocated between young collections
_MAX_CHECKS = 65_536  # codes whose verification is remembered
_MAX_PRODUCTS = 4_096  # (brand, GTIN) whose product is remembered per channel epoch


@dataclass(frozen=True, slots=True)
class ScanPlace:
    """Where the scan happened as far as the request says (already coarse or not)."""

    point: GeoPoint | None = None
    region: str | None = None

    @classmethod
    def from_request(
        cls,
        lat: float | None,
        lon: float | None,
        accuracy_m: float | None,
        regions: list[str | None],
        locate: Callable[[float, float], str | None] | None = None,
    ) -> ScanPlace:
        """Client point when given and valid, with the region it is in (``locate``: the
        offline geocoder, GB/T 2260 district); else the first valid region code given."""
        point = None
        if lat is not None and lon is not None:
            try:
                point = coarse_point(GeoPoint(lat, lon, max(0.0, (accuracy_m or 0.0) / 1000)))
            except VerdictInputError:
                point = None
        if point is not None and locate is not None:
            code = locate(lat or 0.0, lon or 0.0)  # the precise point, before rounding
            if code is not None:
                return cls(point, check_region(code))
        region = None
        for candidate in regions:
            if not candidate:
                continue
            code = candidate.strip().upper()
            try:
                region = check_region(code)
            except VerdictInputError:
                continue
            if code not in ("XX", "T1"):  # Cloudflare: unknown country, Tor
                break
            region = None
        return cls(point, region)


@dataclass(frozen=True, slots=True)
class Resolution:
    check: CodeCheck
    verdict: Verdict
    scan_id: int | None  # None: not kept (a code of no registered brand)
    scanned_at: datetime
    tenant: str | None
    epc: str | None
    lot: str | None
    scan: Scan
    passport: Passport | None = None  # verified codes only
    product_claimed: Passport | None = None  # counterfeit: what the code claims to be

    @property
    def link(self) -> DigitalLink | None:
        return self.check.link


def refusal_of(link: DigitalLink, kid: str | None, key_tenant: str | None,
               context: ScanContext) -> Refusal | None:  # fmt: skip
    """Why a code that verified is not an issued code of its GTIN's owner (None: it is)."""
    owner = context.owner
    if owner is None:
        return Refusal(
            "unregistered_gtin",
            f"GTIN {link.gtin.value} is not under a company prefix any brand registered",
        )
    if key_tenant != owner:
        return Refusal(
            "key_not_issuer",
            f"signed with key {kid}, which is not a key of the brand that owns GTIN "
            f"{link.gtin.value}",
        )
    if not context.issued:
        return Refusal("unknown_serial", "the brand never issued this serial")
    if context.issued_lot != link.lot:
        return Refusal("unknown_serial", "the brand issued this serial with another lot")
    if context.issued_kid != kid:
        return Refusal(
            "wrong_key", f"this serial was issued under key {context.issued_kid}, not key {kid}"
        )
    return None




class ScanService:
    """The resolver's state for one event loop: pools, the brand cache, the scan writer."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        sync_pool: ConnectionPool[psycopg.Connection[Any]],
        cache: BrandCache,
        writer: ScanWriter,
        *,
        passport_refresh: timedelta = timedelta(minutes=15),
    ) -> None:
        self.pool = pool
        self.sync_pool = sync_pool
        self.cache = cache
        self.writer = writer
        self.passport_refresh = passport_refresh
        self._refreshing: set[tuple[str, str]] = set()
        self._checks: dict[str, tuple[int, CodeCheck, str | None]] = {}
        self._products: dict[tuple[str, str, int | None], Passport | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        # A scan allocates thousands of short-lived objects; with CPython's default young
        # threshold (700) collections run constantly and promote what a request in flight
        # still holds, and the full collections that follow stop the loop for tens of ms
        # (the p99 of bench/resolver.py). Collect young objects less often (process-wide,
        # like the ingest worker's cloud.ingest.worker.tune_gc, without its freeze).
        first, second, third = gc.get_threshold()
        gc.set_threshold(max(first, _GC_YOUNG), max(second, 20), max(third, 100))
        await self.pool.open(wait=False)
        await self.cache.start()
        await self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()  # first: every scan taken is written
        for task in list(self._tasks):
            task.cancel()
        await self.cache.close()
        await self.pool.close()

    # --- one scan ---------------------------------------------------------------------

    async def check(self, code: str) -> tuple[CodeCheck, str | None]:
        """The code's check and the brand of its key; the same code scanned again is not
        verified again while no brand key changed (the cache's evictions say so)."""
        known = self._checks.get(code)
        if known is not None and known[0] == self.cache.evictions:
            return known[1], known[2]
        try:
            signed = SignedCode.parse(code)
        except CodeVerificationError:
            return check_code(code, Keyring()), None
        evictions = self.cache.evictions
        keyring, tenant = await self.cache.keyring(signed.kid)
        check = check_signed(signed, keyring)
        if len(self._checks) >= _MAX_CHECKS:
            self._checks.pop(next(iter(self._checks)))
        self._checks[code] = (evictions, check, tenant)
        return check, tenant

    async def context(self, link: DigitalLink) -> ScanContext:
        epc = unit_epc(link) if link.serial else None
        async with self.pool.connection() as conn:
            return await read_scan_context(conn, gtin=link.gtin.value, serial=link.serial, epc=epc)

    async def resolve(
        self, code: str, place: ScanPlace, *, client: str | None = None,
        now: datetime | None = None,
    ) -> Resolution:  # fmt: skip
        """Judge ``code`` (the URI as scanned, with ``k`` and ``s``) and queue its record;
        ``client`` is the scanner's tag (:func:`cloud.provenance.scanlog.client_tag`)."""
        scanned_at = (now or datetime.now(UTC)).astimezone(UTC)
        scan = Scan(scanned_at, place.point, place.region, client=client)
        check, key_tenant = await self.check(code)
        link = check.link
        if link is None:
            return await self._untrusted(check, scan, None, None, None)
        context = await self.context(link)
        if link.serial is None or not check.valid:
            return await self._untrusted(check, scan, None, context, key_tenant)
        refusal = refusal_of(link, check.kid, key_tenant, context)
        if refusal is not None or context.owner is None:
            return await self._untrusted(check, scan, refusal, context, key_tenant)
        return await self._trusted(check, link, context.owner, context, scan)

    async def _untrusted(
        self,
        check: CodeCheck,
        scan: Scan,
        refusal: Refusal | None,
        context: ScanContext | None,
        key_tenant: str | None,
    ) -> Resolution:
        """A code that did not verify: counterfeit, kept for the brand's counterfeit map."""
        verdict = judge_scan(check, None, ScanState(), scan, refusal=refusal)
        link = check.link
        tenant = (context.owner if context is not None else None) or key_tenant
        scan_id = None
        if tenant is not None and link is not None:
            scan_id = await self.writer.next_id(False)
            await self.writer.submit(
                ScanRecord(
                    scan_id, False, scan, tenant, link.gtin.value, link.lot, link.serial,
                    check.kid, check.status.value, verdict.findings[0].code, verdict.reason,
                )
            )
        _logger.info("counterfeit scan (%s): %s", verdict.findings[0].code, verdict.reason)
        claimed = None
        if context is not None and context.owner is not None and link is not None:
            claimed = await self.product(context.owner, link, context.channel_epoch)
        return Resolution(
            check, verdict, scan_id, scan.time, tenant, None,
            None if link is None else link.lot, scan, product_claimed=claimed,
        )  # fmt: skip

    async def _trusted(
        self, check: CodeCheck, link: DigitalLink, tenant: str, context: ScanContext, scan: Scan
    ) -> Resolution:
        assert link.serial is not None
        epc = unit_epc(link)
        passport = context.passport
        if passport is None and not context.has_unit:  # issued, no custody yet: the product
            claimed = await self.product(tenant, link, context.channel_epoch)
            assert claimed is not None  # the owner is a tenant
            passport = replace(claimed, epc=epc, unit=UnitRecord(epc))
        elif passport is None:  # never computed, or custody/channel moved since: now
            passport = await self._compute(tenant, epc, link, scan.time)
        elif context.open_interval and (
            context.exposure_through is None
            or context.exposure_through < scan.time - self.passport_refresh
        ):
            self._refresh_later(tenant, epc, link)
        limits = await self.cache.thresholds(tenant)
        scan_id = await self.writer.next_id(True)
        # From here to the submission nothing awaits: this process's scans of one code are
        # judged one after the other, in the order of their ids.
        key = (tenant, link.gtin.value, link.serial)
        state = context.state
        for record in self.writer.pending(key, context.state_revision):
            state = state.add(replace(record.scan, scan_id=str(record.id)), record.clone_flag)
        verdict = judge_scan(check, passport.unit, state, scan, limits)
        await self.writer.submit(
            ScanRecord(
                scan_id, True, scan, tenant, link.gtin.value, link.lot, link.serial, check.kid,
                check.status.value, verdict.kind.value, verdict.reason, verdict.confirmed,
                findings_json(verdict), verdict.clone_flag,
            )
        )
        return Resolution(
            check, verdict, scan_id, scan.time, tenant, epc, link.lot, scan, passport=passport
        )

    # --- passports --------------------------------------------------------------------

    def _update(self, tenant: str, epc: str, link: DigitalLink, now: datetime) -> Passport:
        with self.sync_pool.connection() as conn:
            passport, _, _ = update_passport(
                conn, tenant, epc, gtin=link.gtin.value, lot=link.lot, serial=link.serial, now=now
            )
        return passport

    async def _compute(self, tenant: str, epc: str, link: DigitalLink, now: datetime) -> Passport:
        return await asyncio.to_thread(self._update, tenant, epc, link, now)

    async def passport(self, tenant: str, link: DigitalLink) -> Passport:
        """The unit's passport computed now (a linkset of a unit whose passport is due)."""
        return await self._compute(tenant, unit_epc(link), link, datetime.now(UTC))

    def _refresh_later(self, tenant: str, epc: str, link: DigitalLink) -> None:
        key = (tenant, epc)
        if key in self._refreshing or len(self._refreshing) >= _MAX_BACKGROUND_REFRESHES:
            return
        self._refreshing.add(key)

        async def refresh() -> None:
            try:
                await self._compute(tenant, epc, link, datetime.now(UTC))
            except psycopg.Error as exc:
                _logger.warning("refreshing the passport of %s failed: %s", epc, exc)
            finally:
                self._refreshing.discard(key)

        task = asyncio.create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def product(
        self, tenant: str, link: DigitalLink, epoch: int | None = None
    ) -> Passport | None:
        """What a code of ``link``'s GTIN claims to be (product and brand), for pages that
        must not show a unit's custody (counterfeit codes, product-level links, units
        issued without custody yet). ``epoch``: the tenant's channel epoch, when known
        (then the answer is remembered until the channel changes)."""
        key = (tenant, link.gtin.value, epoch)
        if epoch is not None and key in self._products:
            found = self._products[key]
            return None if found is None else replace(
                found, epc=link.uri, lot=link.lot, serial=link.serial, unit=UnitRecord(link.uri)
            )
        product = await self._product(tenant, link)
        if epoch is not None:
            if len(self._products) >= _MAX_PRODUCTS:
                self._products.pop(next(iter(self._products)))
            self._products[key] = product
        return product

    async def _product(self, tenant: str, link: DigitalLink) -> Passport | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT p.name_en, p.name_zh, t.name, p.temp_min_c, p.temp_max_c"
                " FROM tenants t LEFT JOIN products p ON (p.tenant_id, p.gtin) = (t.id, %s)"
                " WHERE t.id = %s",
                (link.gtin.value, tenant),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        profile = None
        if row[3] is not None and row[4] is not None and row[3] < row[4]:
            profile = StorageProfile(float(row[3]), float(row[4]))
        return Passport(
            tenant, link.uri, link.gtin.value, link.lot, link.serial, UnitRecord(link.uri),
            brand=row[2], product_en=row[0], product_zh=row[1], profile=profile,
        )  # fmt: skip

