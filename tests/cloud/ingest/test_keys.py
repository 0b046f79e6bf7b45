"""The ingest's batch registry cache: one query per batch of misses, one connection."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from cloud.ingest.keys import BatchKeyCache, device_of_topic
from cloud.migrate import migrate
from cloud.registry import register_device

from .._messages import CountingConnect, Device, FakeClock

pytestmark = pytest.mark.integration


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        for n in range(1, 6):
            register_device(conn, Device(device_id=f"gw-{n:04d}").registration)
    return database_url


def make(db: str, **options: Any) -> tuple[BatchKeyCache, CountingConnect, FakeClock]:
    connect, clock = CountingConnect(db), FakeClock()
    return BatchKeyCache(connect, clock=clock, **options), connect, clock


def test_prefetch_loads_a_batch_of_devices_at_once_over_one_connection(db: str) -> None:
    cache, connect, _ = make(db)
    ids = [f"gw-{n:04d}" for n in range(1, 6)]
    assert cache.prefetch([*ids, *ids, "gw-ghost"]) == 6  # one query for six devices
    assert cache.prefetch(ids) == 0  # all cached
    for device_id in ids:
        identity = cache.identity(device_id)
        assert identity is not None
        assert (identity.tenant, identity.site, len(identity.keys)) == ("acme", "wh-sh-01", 1)
    assert cache.identity("gw-ghost") is None
    assert cache.keys("gw-ghost") == ()
    assert connect.calls == 1
    cache.close()


def test_expired_and_negative_entries_are_reloaded(db: str) -> None:
    cache, connect, clock = make(db, ttl=300, negative_ttl=5)
    assert cache.prefetch(["gw-0001", "gw-ghost"]) == 2
    clock.now += 5.1
    assert cache.prefetch(["gw-0001", "gw-ghost"]) == 1  # only the negative entry expired
    clock.now += 300
    assert cache.prefetch(["gw-0001", "gw-ghost"]) == 2
    assert connect.calls == 1
    cache.close()


def test_a_miss_without_prefetch_is_loaded_and_a_new_registration_seen_after_invalidate(
    db: str,
) -> None:
    cache, _, _ = make(db, negative_ttl=3600)
    assert cache.identity("gw-0001") is not None
    assert cache.identity("gw-0009") is None
    with psycopg.connect(db) as conn:
        register_device(conn, Device(device_id="gw-0009").registration)
    assert cache.identity("gw-0009") is None  # still negatively cached
    cache.invalidate("gw-0009")
    assert cache.identity("gw-0009") is not None
    cache.close()


def test_retired_devices_and_keys_are_unknown(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE devices SET status = 'retired' WHERE id = 'gw-0001'")
        conn.execute("UPDATE device_keys SET retired_at = now() WHERE device_id = 'gw-0002'")
    cache, _, _ = make(db)
    cache.prefetch(["gw-0001", "gw-0002", "gw-0003"])
    assert cache.identity("gw-0001") is None
    assert cache.identity("gw-0002") is None
    assert cache.identity("gw-0003") is not None
    cache.close()


def test_a_lost_connection_is_replaced(db: str) -> None:
    cache, connect, clock = make(db)
    cache.prefetch(["gw-0001"])
    with psycopg.connect(db, autocommit=True) as admin:  # the server drops our session
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND datname = current_database()"
        )
    clock.now += 301
    with pytest.raises(psycopg.OperationalError):
        cache.prefetch(["gw-0001"])  # the worker retries the batch with backoff
    assert cache.prefetch(["gw-0001"]) == 1
    assert connect.calls == 2
    cache.close()


@pytest.mark.parametrize(
    ("topic", "device"),
    [
        ("ct/v1/acme/wh-sh-01/gw-0001/telemetry", "gw-0001"),
        ("ct/v1/acme/wh-sh-01//telemetry", None),
        ("ct/v1/acme/gw-0001/telemetry", None),
        ("ct/v2/acme/wh-sh-01/gw-0001/telemetry", None),
        ("ct/v1/acme/wh-sh-01/gw-0001/telemetry/extra", None),
        ("ct/v1/acme/wh-sh-01/" + "x" * 256 + "/telemetry", None),
    ],
)
def test_device_of_topic(topic: str, device: str | None) -> None:
    assert device_of_topic(topic) == device
