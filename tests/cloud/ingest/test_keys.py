"""The ingest's batch registry cache: one query per batch of misses, one connection."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from cloud.ingest.keys import BatchKeyCache, device_of_topic
from cloud.migrate import migrate
from cloud.registry import register_device
from cloud.storage.keys import retire_keys

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
    """A cache on a hand-moved clock; not listening unless ``listen=True`` (these tests
    are about its queries and expiry, the backstop behind the announcements)."""
    connect, clock = CountingConnect(db), FakeClock()
    options.setdefault("listen", False)
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


# ------------------------------------------------------ announcements (migration 0009)


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll; the generous timeout only turns a hang into a failure (no timing claim)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.fixture
def listening(db: str) -> Iterator[BatchKeyCache]:
    cache = BatchKeyCache(lambda: psycopg.connect(db), ttl=300)  # real clock, 5-minute TTL
    cache.prefetch(["gw-0001", "gw-0002", "gw-ghost"])
    assert cache.listening
    yield cache
    cache.close()


def test_a_retired_key_is_evicted_when_the_change_commits(
    db: str, listening: BatchKeyCache
) -> None:
    assert listening.identity("gw-0001") is not None
    with psycopg.connect(db, autocommit=True) as conn:
        assert len(retire_keys(conn, "gw-0001")) == 1
    # Within the 300 s TTL: only the announcement can make the cache forget the key.
    _until(lambda: listening.identity("gw-0001") is None, "the retired key is still cached")
    assert listening.identity("gw-0002") is not None  # other devices are untouched
    assert listening.evictions >= 1


def test_a_registration_and_a_retired_device_are_announced_too(
    db: str, listening: BatchKeyCache
) -> None:
    assert listening.identity("gw-ghost") is None  # unknown, negatively cached
    with psycopg.connect(db) as conn:
        register_device(conn, Device(device_id="gw-ghost").registration)
    _until(lambda: listening.identity("gw-ghost") is not None, "the new device is not seen")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE devices SET status = 'retired' WHERE id = 'gw-0002'")
    _until(lambda: listening.identity("gw-0002") is None, "the retired device is still cached")


def test_heartbeats_do_not_evict(db: str, listening: BatchKeyCache) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        for status in ("online", "offline", "online"):
            conn.execute(
                "UPDATE devices SET status = %s, last_seen_at = now() WHERE id = 'gw-0001'",
                (status,),
            )
        conn.execute("UPDATE device_keys SET retired_at = now() WHERE device_id = 'gw-0002'")
    # The key change is announced after the status changes (same session, in order): once
    # it has been heard, the status changes would have been heard before it.
    _until(lambda: listening.identity("gw-0002") is None, "the key change was not heard")
    assert listening.evictions == 1


def test_the_listener_comes_back_after_losing_its_connection(
    db: str, listening: BatchKeyCache
) -> None:
    with psycopg.connect(db, autocommit=True) as admin:  # the server drops every session
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND datname = current_database()"
        )
    _until(lambda: listening.listens == 2 and listening.listening, "did not listen again")

    def lookup() -> Any:
        try:
            return listening.identity("gw-0001")
        except psycopg.OperationalError:  # its query connection was dropped too: the
            return listening.identity("gw-0001")  # worker retries the batch; so do we

    assert lookup() is not None
    with psycopg.connect(db, autocommit=True) as conn:
        retire_keys(conn, "gw-0001")
    _until(lambda: listening.identity("gw-0001") is None, "not evicted after reconnecting")


def test_a_scheduled_retirement_ends_the_cache_entry_then(db: str) -> None:
    cache, _, clock = make(db, ttl=300)  # not listening: expiry alone
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE device_keys SET retired_at = now() + interval '1 second'"
            " WHERE device_id = 'gw-0003'"
        )
    assert cache.identity("gw-0003") is not None  # still in its grace period

    def gone() -> bool:
        clock.now += 0.05  # the cache's clock moves with real time, far below the TTL
        return cache.identity("gw-0003") is None

    _until(gone, "the key outlived its retirement in the cache")
    assert clock.now - 1_000.0 < 300  # the entry ended at the retirement, not the TTL
    cache.close()
