"""The resolver's storage side on a real PostgreSQL: the group-committed scan writer, the
summary merge in SQL against :meth:`ScanState.add`, passports and their versions, the
brand cache's eviction by NOTIFY."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from cloud.channel.bulk import ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Product, Site
from cloud.channel.store import save_record
from cloud.migrate import migrate
from cloud.provenance.brandcache import BrandCache
from cloud.provenance.brands import register_brand_key
from cloud.provenance.clone import Scan
from cloud.provenance.geo import GeoPoint
from cloud.provenance.keys import create_brand_key
from cloud.provenance.passports import refresh_passports
from cloud.provenance.scanread import read_scan_context
from cloud.provenance.scanstate import CloneFlag, ScanState
from cloud.provenance.scanwriter import ScanQueueFull, ScanRecord, ScanWriter

pytestmark = pytest.mark.integration

GTIN = "09506000134352"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        ensure_tenants(conn, [("acme", "Acme")], Actor("test", "operator"))
    return database_url


def _pool(url: str) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
    return AsyncConnectionPool(url, min_size=1, max_size=4, kwargs={"autocommit": True},
                               open=False)  # fmt: skip


def _random_scan(rng: random.Random, i: int) -> Scan:
    point = None
    if rng.random() < 0.7:
        point = GeoPoint(rng.uniform(22, 40), rng.uniform(100, 122), rng.choice([0.8, 2.0]))
    region = rng.choice([None, "440300", "510104", "CN"]) if point is None else None
    client = rng.choice([None, "0123456789abcdef", "fedcba9876543210", f"{i:016x}"])
    return Scan(T0 + timedelta(minutes=rng.randint(0, 60 * 24 * 40)), point, region, client=client)


def test_the_sql_merge_keeps_each_summary_as_scanstate_add_would(db: str) -> None:
    """Random scans of a few units, written in random batches by the writer: each stored
    summary equals :meth:`ScanState.add` applied to its scans in order, early scans,
    recent window, first/last, clone flag and count alike."""
    rng = random.Random(15)
    serials = ["A1", "B2", "C3"]
    plan: list[tuple[str, Scan, CloneFlag | None]] = []
    for i in range(260):  # more than RECENT_SCANS per unit, many clients
        flag = CloneFlag("impossible_travel", "copied", T0) if i == 100 else None
        plan.append((rng.choice(serials), _random_scan(rng, i), flag))

    async def write() -> None:
        async with _pool(db) as pool:
            writer = ScanWriter(pool, max_batch=rng.randint(5, 40), max_wait=0.0)
            await writer.start()
            for serial, scan, flag in plan:
                scan_id = await writer.next_id(True)
                await writer.submit(
                    ScanRecord(scan_id, True, scan, "acme", GTIN, "L1", serial, None, "valid",
                               "genuine", "r", clone_flag=flag)
                )
                if rng.random() < 0.1:
                    await asyncio.sleep(0)  # let a batch go
            await writer.stop()

    asyncio.run(write())
    with psycopg.connect(db) as conn:
        for serial in serials:
            expected = ScanState()
            ids = conn.execute(
                "SELECT id FROM consumer_scans WHERE serial = %s ORDER BY id", (serial,)
            ).fetchall()
            scans = [(s, f) for x, s, f in plan if x == serial]
            assert len(ids) == len(scans)
            for (scan_id,), (scan, flag) in zip(ids, scans, strict=True):
                expected = expected.add(Scan(scan.time, scan.point, scan.region,
                                             str(scan_id), scan.client), flag)  # fmt: skip
            row = conn.execute(
                "SELECT scans, first_at, last_at, early, recent, flags FROM unit_scan_state"
                " WHERE serial = %s", (serial,)
            ).fetchone()  # fmt: skip
            assert row is not None
            stored = ScanState.from_row(int(row[0]), row[1], row[2], row[3], row[4], row[5])
            assert stored == expected


def test_a_clean_stop_writes_everything_and_a_full_queue_refuses(db: str) -> None:
    async def run() -> tuple[int, bool]:
        async with _pool(db) as pool:
            idle = ScanWriter(pool, max_queue=2, submit_timeout=0.05)  # never started
            refused = False
            for i in range(3):
                try:
                    await idle.submit(_record(i))
                except ScanQueueFull:
                    refused = True
            writer = ScanWriter(pool, max_wait=1.0)  # a long wait: stop must not lose them
            await writer.start()
            for _ in range(100):
                await writer.submit(_record(await writer.next_id(True)))
            await writer.stop()
            return writer.written, refused

    written, refused = asyncio.run(run())
    assert (written, refused) == (100, True)
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*), (SELECT scans FROM unit_scan_state) FROM "
                           "consumer_scans").fetchone()  # fmt: skip
    assert row == (100, 100)


def _record(scan_id: int) -> ScanRecord:
    return ScanRecord(scan_id, True, Scan(T0), "acme", GTIN, "L1", "S1", None, "valid",
                      "genuine", "first scan")  # fmt: skip


def test_passports_follow_custody_and_channel_versions(db: str) -> None:
    """A passport is read only while its unit revision and channel epoch are current."""
    epc = f"https://id.gs1.org/01/{GTIN}/21/S1"
    operator = Actor("test", "operator")
    with psycopg.connect(db, autocommit=True) as conn:
        save_record(conn, "acme", Product(GTIN, "Red", "红", 10, 18), operator)
        save_record(conn, "acme", Site("dc", "DC"), operator)
        conn.execute("INSERT INTO company_prefixes (prefix, tenant_id) VALUES ('9506000', 'acme')")
        conn.execute(
            "INSERT INTO units (epc, tenant_id, gtin, serial, status, intervals, last_event_id,"
            " last_event_time) VALUES (%s, 'acme', %s, 'S1', 'commissioned', '[]', 'e1', %s)",
            (epc, GTIN, T0),
        )
        assert conn.execute("SELECT count(*) FROM passport_queue").fetchone() == (1,)
        assert refresh_passports(conn).queued == 1
        assert conn.execute("SELECT count(*) FROM passport_queue").fetchone() == (0,)

    def read() -> Any:
        async def go() -> Any:
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
                return await read_scan_context(conn, gtin=GTIN, serial="S1", epc=epc)

        return asyncio.run(go())

    context = read()
    assert context.owner == "acme"
    assert context.passport is not None
    assert context.passport.product_zh == "红"
    with psycopg.connect(db, autocommit=True) as conn:
        save_record(conn, "acme", Product(GTIN, "Red", "珍藏红", 10, 18), operator)
    assert read().passport is None  # the channel moved: stale until recomputed
    with psycopg.connect(db, autocommit=True) as conn:
        assert refresh_passports(conn).channel == 1
    assert read().passport.product_zh == "珍藏红"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE units SET status = 'in_transit' WHERE epc = %s", (epc,))
    assert read().passport is None  # custody moved
    with psycopg.connect(db, autocommit=True) as conn:
        assert refresh_passports(conn).queued == 1
    assert read().passport.status == "in_transit"


def test_the_brand_cache_forgets_a_key_when_it_is_revoked(db: str, tmp_path: Path) -> None:
    _, entry = create_brand_key(tmp_path / "keys")
    with psycopg.connect(db, autocommit=True) as conn:
        register_brand_key(conn, "acme", entry)

    async def run() -> tuple[bool, bool]:
        async with _pool(db) as pool:
            cache = BrandCache(pool, db, ttl=3600)
            await cache.start()
            for _ in range(100):  # until LISTEN is in effect
                if cache._listening.is_set():
                    break
                await asyncio.sleep(0.05)
            before = (await cache.keyring(entry.kid))[0].get(entry.kid)
            async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
                await conn.execute(
                    "UPDATE brand_keys SET revoked_at = now() WHERE kid = %s", (entry.kid,)
                )
            for _ in range(100):
                after = (await cache.keyring(entry.kid))[0].get(entry.kid)
                if after is not None and after.revoked is not None:
                    break
                await asyncio.sleep(0.05)
            await cache.close()
            return before is not None and before.revoked is None, after is not None and (
                after.revoked is not None
            )

    assert asyncio.run(run()) == (True, True)
