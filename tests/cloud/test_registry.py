"""Device registration and the ingest's cached key lookup, against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from cloud.errors import RegistryError
from cloud.ingest.keys import BatchKeyCache
from cloud.migrate import migrate
from cloud.registry import DeviceRegistration, register_device
from wire import format_public_key

from ._messages import CountingConnect, Device, FakeClock

pytestmark = pytest.mark.integration


def raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    return database_url


def register(db: str, reg: DeviceRegistration) -> None:
    with psycopg.connect(db) as conn:
        register_device(conn, reg)


def query(db: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(db, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


# --- registration -------------------------------------------------------------------------


def test_register_creates_tenant_site_device_and_key(db: str) -> None:
    device = Device()
    reg = device.registration.model_copy(
        update={
            "tenant_name": "ACME Wines",
            "region": "CN-SH",
            "latitude": 31.2,
            "longitude": 121.5,
        }
    )
    register(db, reg)
    assert query(db, "SELECT id, name FROM tenants") == [("acme", "ACME Wines")]
    assert query(db, "SELECT tenant_id, id, name, region, latitude, longitude FROM sites") == [
        ("acme", "wh-sh-01", "wh-sh-01", "CN-SH", 31.2, 121.5)
    ]
    assert query(db, "SELECT id, tenant_id, site_id, status FROM devices") == [
        ("gw-0001", "acme", "wh-sh-01", "registered")
    ]
    assert query(db, "SELECT public_key, retired_at FROM device_keys") == [
        (format_public_key(device.key), None)
    ]


def test_register_is_idempotent(db: str) -> None:
    device = Device()
    for _ in range(3):
        register(db, device.registration)
    assert query(db, "SELECT count(*) FROM devices") == [(1,)]
    assert query(db, "SELECT count(*) FROM device_keys") == [(1,)]
    assert query(db, "SELECT count(*) FROM sites") == [(1,)]


def test_reregistering_keeps_site_details_not_given_again(db: str) -> None:
    device = Device()
    register(db, device.registration.model_copy(update={"region": "CN-SH"}))
    register(db, device.registration)
    assert query(db, "SELECT region FROM sites") == [("CN-SH",)]


def test_second_key_is_added_for_rotation(
    db: str, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    device = Device()
    register(db, device.registration)
    new = Ed25519PrivateKey.generate()
    register(db, device.registration.model_copy(update={"public_key": format_public_key(new)}))
    cache, _ = make_cache()
    identity = cache.identity("gw-0001")
    assert identity is not None
    assert {raw(k) for k in identity.keys} == {
        raw(device.key.public_key()),
        raw(new.public_key()),
    }


@pytest.mark.parametrize(("tenant", "site"), [("acme", "wh-bj-02"), ("globex", "wh-sh-01")])
def test_moving_a_device_is_refused(db: str, tenant: str, site: str) -> None:
    device = Device()
    register(db, device.registration)
    moved = device.registration.model_copy(update={"tenant": tenant, "site": site})
    with pytest.raises(RegistryError, match="acme/wh-sh-01"):
        register(db, moved)
    assert query(db, "SELECT tenant_id, site_id FROM devices") == [("acme", "wh-sh-01")]
    # The refused registration rolled back whole: no half-created tenant or site.
    assert query(db, "SELECT tenant_id, id FROM sites") == [("acme", "wh-sh-01")]
    assert query(db, "SELECT id FROM tenants") == [("acme",)]


@pytest.mark.parametrize(
    "public_key",
    [
        "",
        "ssh-ed25519 AAAA",
        "ed25519:not base64!",
        "ed25519:" + "A" * 40,  # 30 bytes
        "ed25519:AAAA",
    ],
)
def test_bad_public_key_is_refused(db: str, public_key: str) -> None:
    reg = Device().registration.model_copy(update={"public_key": public_key})
    with pytest.raises(RegistryError):
        register(db, reg)
    assert query(db, "SELECT count(*) FROM devices") == [(0,)]


@pytest.mark.parametrize(
    "update", [{"device_id": "gw/1"}, {"tenant": "+"}, {"site": ""}, {"device_id": "#"}]
)
def test_bad_identifiers_are_refused(db: str, update: dict[str, str]) -> None:
    with pytest.raises(RegistryError):
        register(db, Device().registration.model_copy(update=update))
    assert query(db, "SELECT count(*) FROM tenants") == [(0,)]


def test_registration_model_refuses_unknown_fields_and_bad_coordinates() -> None:
    base = Device().registration.model_dump()
    with pytest.raises(ValidationError):
        DeviceRegistration.model_validate({**base, "colour": "red"})
    with pytest.raises(ValidationError):
        DeviceRegistration.model_validate({**base, "latitude": 91})


# --- key cache ----------------------------------------------------------------------------


@pytest.fixture
def registered(db: str) -> Device:
    device = Device()
    register(db, device.registration)
    return device


class CountingCache(BatchKeyCache):
    """Counts database loads (the cache keeps one connection, so connects do not tell)."""

    loads = 0

    def _load(self, device_ids: list[str]) -> Any:
        self.loads += 1
        return super()._load(device_ids)


@pytest.fixture
def caches() -> Iterator[list[BatchKeyCache]]:
    made: list[BatchKeyCache] = []
    yield made
    for cache in made:
        cache.close()


@pytest.fixture
def make_cache(
    db: str, caches: list[BatchKeyCache]
) -> Callable[..., tuple[CountingCache, FakeClock]]:
    def make(**options: Any) -> tuple[CountingCache, FakeClock]:
        clock = FakeClock()
        options.setdefault("listen", False)  # expiry on its own: announcements are elsewhere
        cache = CountingCache(CountingConnect(db), clock=clock, **options)
        caches.append(cache)
        return cache, clock

    return make


def test_cache_returns_the_registered_identity(
    db: str, registered: Device, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    cache, _ = make_cache()
    identity = cache.identity("gw-0001")
    assert identity is not None
    assert (identity.device_id, identity.tenant, identity.site) == ("gw-0001", "acme", "wh-sh-01")
    assert [raw(k) for k in identity.keys] == [raw(registered.key.public_key())]
    assert [raw(k) for k in cache.keys("gw-0001")] == [raw(registered.key.public_key())]


def test_cache_hits_do_not_query_until_the_ttl_expires(
    db: str, registered: Device, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    cache, clock = make_cache(ttl=300)
    for _ in range(5):
        assert cache.identity("gw-0001") is not None
    assert cache.loads == 1
    clock.now += 299
    assert cache.identity("gw-0001") is not None
    assert cache.loads == 1
    clock.now += 2
    assert cache.identity("gw-0001") is not None
    assert cache.loads == 2


def test_unknown_device_is_negatively_cached(
    db: str, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    cache, clock = make_cache(negative_ttl=5)
    for _ in range(10):
        assert cache.identity("gw-ghost") is None
        assert cache.keys("gw-ghost") == ()
    assert cache.loads == 1

    # Registered meanwhile: still unknown until the negative entry expires.
    register(db, Device(device_id="gw-ghost").registration)
    clock.now += 4.9
    assert cache.identity("gw-ghost") is None
    assert cache.loads == 1
    clock.now += 0.2
    assert cache.identity("gw-ghost") is not None
    assert cache.loads == 2


def test_invalidate_one_device_or_all(
    db: str, registered: Device, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    register(db, Device(device_id="gw-0002").registration)
    cache, _ = make_cache()
    cache.identity("gw-0001")
    cache.identity("gw-0002")
    assert cache.loads == 2

    cache.invalidate("gw-0001")
    cache.identity("gw-0001")
    cache.identity("gw-0002")
    assert cache.loads == 3

    cache.invalidate()
    cache.identity("gw-0001")
    cache.identity("gw-0002")
    assert cache.loads == 5
    cache.invalidate("never-seen")  # no error


def test_invalidate_makes_a_new_registration_visible(
    db: str, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    cache, _ = make_cache(negative_ttl=3600)
    assert cache.identity("gw-0001") is None
    register(db, Device().registration)
    assert cache.identity("gw-0001") is None  # still negatively cached
    cache.invalidate("gw-0001")
    assert cache.identity("gw-0001") is not None


def test_retired_key_is_not_returned(
    db: str, registered: Device, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    new = Ed25519PrivateKey.generate()
    register(db, registered.registration.model_copy(update={"public_key": format_public_key(new)}))
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE device_keys SET retired_at = now() WHERE public_key = %s",
            (format_public_key(registered.key),),
        )
    cache, _ = make_cache()
    assert [raw(k) for k in cache.keys("gw-0001")] == [raw(new.public_key())]


def test_device_whose_only_key_is_retired_is_unknown(
    db: str, registered: Device, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE device_keys SET retired_at = now()")
    cache, _ = make_cache()
    assert cache.identity("gw-0001") is None


def test_reregistering_a_retired_key_reactivates_it(
    db: str, registered: Device, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE device_keys SET retired_at = now()")
    register(db, registered.registration)
    cache, _ = make_cache()
    assert [raw(k) for k in cache.keys("gw-0001")] == [raw(registered.key.public_key())]


def test_retired_device_is_unknown(
    db: str, registered: Device, make_cache: Callable[..., tuple[CountingCache, FakeClock]]
) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE devices SET status = 'retired'")
    cache, _ = make_cache()
    assert cache.identity("gw-0001") is None
