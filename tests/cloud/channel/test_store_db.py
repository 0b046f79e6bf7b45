"""Channel records in real PostgreSQL: create, update, references, the change log, and the
database refusing what the application must never do (distributor writes, edits of the log,
another tenant's mappings)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from cloud.auth.principal import Principal, Role
from cloud.auth.scope import scope_transaction
from cloud.channel.changes import Actor, list_changes
from cloud.channel.errors import InvalidRecord, RecordConflict, RecordNotFound
from cloud.channel.geocode import default_geocoder
from cloud.channel.records import Distributor, Kind, Location, Party, Product, Site, parse_record
from cloud.channel.store import SaveMode, delete_mapping, get_record, list_records, save_record
from cloud.migrate import migrate

pytestmark = pytest.mark.integration

BRAND = Actor("user:ana", "api")


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('zeta', 'Zeta')")
        yield c


@contextmanager
def scoped(
    conn: psycopg.Connection[Any], tenant: str, distributor: str | None = None
) -> Iterator[psycopg.Connection[Any]]:
    role = Role.DISTRIBUTOR if distributor else Role.BRAND
    with conn.transaction():
        scope_transaction(conn, Principal("test", role, tenant, distributor))
        yield conn


def site(**fields: Any) -> Site:
    record = parse_record(Kind.SITE, {"id": "wh-sh", "name": "Shanghai DC", **fields},
                          default_geocoder())  # fmt: skip
    assert isinstance(record, Site)
    return record


def test_create_update_and_the_change_log(conn: psycopg.Connection[Any]) -> None:
    with scoped(conn, "acme") as c:
        east = save_record(c, "acme", Distributor("east", "East China Wines", None, ("310000",)),
                           BRAND, mode=SaveMode.CREATE)  # fmt: skip
        small = save_record(c, "acme", Distributor("sh-shop", "Shop", "east", ("310100",)), BRAND)
        made = save_record(c, "acme", site(latitude=31.2304, longitude=121.4737,
                                           distributor_id="east"), BRAND)  # fmt: skip
    assert (east.action, small.action, made.action) == ("create", "create", "create")
    stored = get_record(conn, "acme", Kind.SITE, "wh-sh")
    assert stored is not None
    assert stored["region"] == "310000"  # derived from the coordinates (Shanghai has no city)

    with scoped(conn, "acme") as c:
        same = save_record(c, "acme", Distributor("east", "East China Wines", None, ("310000",)),
                           BRAND)  # fmt: skip
        moved = save_record(c, "acme", Distributor("east", "East China Wines", None,
                                                   ("310000", "320500")), BRAND)  # fmt: skip
    assert same.action == "unchanged"
    assert moved.action == "update"
    log = list_changes(conn, "acme")
    assert [(e.entity, e.key, e.action) for e in log] == [
        ("distributor", "east", "update"),
        ("site", "wh-sh", "create"),
        ("distributor", "sh-shop", "create"),
        ("distributor", "east", "create"),
    ]
    assert log[0].before is not None
    assert log[0].before["regions"] == ["310000"]
    assert log[0].after is not None
    assert log[0].after["regions"] == ["310000", "320500"]
    assert (log[0].actor, log[0].via) == ("user:ana", "api")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("UPDATE channel_changes SET actor = 'someone else'")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("DELETE FROM channel_changes")


def test_references_and_loops_are_refused(conn: psycopg.Connection[Any]) -> None:
    with scoped(conn, "acme") as c:
        save_record(c, "acme", Distributor("big", "Big"), BRAND)
        save_record(c, "acme", Distributor("mid", "Mid", "big"), BRAND)
        save_record(c, "acme", Distributor("small", "Small", "mid"), BRAND)
        with pytest.raises(InvalidRecord, match="does not buy, directly or not, from big"):
            save_record(c, "acme", Distributor("big", "Big", "small"), BRAND)
        with pytest.raises(InvalidRecord, match="existing distributor of acme, got 'ghost'"):
            save_record(c, "acme", site(distributor_id="ghost"), BRAND)
        with pytest.raises(InvalidRecord, match="existing site of acme"):
            save_record(c, "acme", Location("urn:epc:id:sgln:9506000.00020.0", "nowhere"), BRAND)
        with pytest.raises(RecordConflict, match="exists already"):
            save_record(c, "acme", Distributor("big", "Big"), BRAND, mode=SaveMode.CREATE)
        with pytest.raises(RecordNotFound, match="no distributor 'new'"):
            save_record(c, "acme", Distributor("new", "New"), BRAND, mode=SaveMode.UPDATE)
    assert [d["id"] for d in list_records(conn, "acme", Kind.DISTRIBUTOR)] == [
        "big", "mid", "small"]  # fmt: skip


def test_the_database_refuses_distributor_writes_and_foreign_tenants(
    conn: psycopg.Connection[Any],
) -> None:
    with scoped(conn, "acme") as c:
        save_record(c, "acme", Distributor("east", "East"), BRAND)
        save_record(c, "acme", site(distributor_id="east"), BRAND)
        save_record(c, "acme", Location("urn:epc:id:sgln:9506000.00020.0", "wh-sh"), BRAND)
        save_record(c, "acme", Party("urn:epc:id:pgln:9506000.00001", "east"), BRAND)
        save_record(c, "acme", Product("09506000134352", "Red", "红酒", 10, 18), BRAND)
    # A distributor's session reads its own rows but writes nothing, whatever the app does.
    with scoped(conn, "acme", "east") as c:
        assert c.execute("SELECT name FROM sites WHERE id = 'wh-sh'").fetchone() == (
            "Shanghai DC",)  # fmt: skip
        assert c.execute("UPDATE sites SET name = 'mine now' WHERE id = 'wh-sh'").rowcount == 0
        assert c.execute("DELETE FROM epcis_parties").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            c.execute("INSERT INTO products (tenant_id, gtin, name) VALUES ('acme',"
                      " '09506000134369', 'fake')")  # fmt: skip
    # Another brand sees none of it; mapping the same SGLN names its own site, not acme's.
    with scoped(conn, "zeta") as c:
        assert list_records(c, "zeta", Kind.SITE) == []
        assert c.execute("SELECT count(*) FROM sites").fetchone() == (0,)
        assert c.execute("UPDATE sites SET name = 'taken' WHERE id = 'wh-sh'").rowcount == 0
        save_record(c, "zeta", Distributor("z1", "Zeta East"), BRAND)
        save_record(c, "zeta", Site("z-site", "Zeta depot"), BRAND)
        save_record(c, "zeta", Location("urn:epc:id:sgln:9506000.00020.0", "z-site"), BRAND)
        with pytest.raises(InvalidRecord, match="existing site of zeta, got 'wh-sh'"):
            save_record(c, "zeta", Location("urn:epc:id:sgln:9506000.00030.0", "wh-sh"), BRAND)
        assert c.execute("SELECT count(*) FROM channel_changes").fetchone() == (3,)
    rows = conn.execute(
        "SELECT tenant_id, site_id FROM epcis_locations WHERE location LIKE '%00020.0'"
        " ORDER BY tenant_id"
    ).fetchall()
    assert rows == [("acme", "wh-sh"), ("zeta", "z-site")]
    assert conn.execute("SELECT name FROM sites WHERE id = 'wh-sh'").fetchone() == (
        "Shanghai DC",)  # fmt: skip


def test_mappings_are_deleted_with_a_record_of_it(conn: psycopg.Connection[Any]) -> None:
    with scoped(conn, "acme") as c:
        save_record(c, "acme", site(), BRAND)
        save_record(c, "acme", Location("urn:epc:id:sgln:9506000.00020.0", "wh-sh"), BRAND)
        gone = delete_mapping(c, "acme", Kind.LOCATION, "urn:epc:id:sgln:9506000.00020.0", BRAND)
        assert gone.action == "delete"
        with pytest.raises(RecordNotFound):
            delete_mapping(c, "acme", Kind.LOCATION, "urn:epc:id:sgln:9506000.00020.0", BRAND)
        with pytest.raises(RecordConflict, match="sites are not deleted"):
            delete_mapping(c, "acme", Kind.SITE, "wh-sh", BRAND)
    entry = list_changes(conn, "acme", entity="location")[0]
    assert entry.action == "delete"
    assert entry.after is None
    assert entry.before == {"location": "urn:epc:id:sgln:9506000.00020.0", "site_id": "wh-sh"}


def test_existing_iso_regions_are_translated_by_the_migration(database_url: str) -> None:
    from cloud.migrate import available_migrations

    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT"
                  " NULL, applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
    before = [m for m in available_migrations() if m.version < 12]
    _apply(database_url, before)
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')")
        c.execute("INSERT INTO distributors (tenant_id, id, name, regions) VALUES"
                  " ('acme', 'east', 'East', '{CN-SH,CN-JS,CN-JS-SZ}')")  # fmt: skip
        c.execute("INSERT INTO sites (tenant_id, id, name, region) VALUES"
                  " ('acme', 'a', 'A', 'CN-GD'), ('acme', 'b', 'B', 'somewhere')")  # fmt: skip
    migrate(database_url)
    with psycopg.connect(database_url) as c:
        assert c.execute("SELECT regions FROM distributors").fetchone() == (
            ["310000", "320000", "CN-JS-SZ"],)  # fmt: skip
        assert c.execute("SELECT region FROM sites ORDER BY id").fetchall() == [
            ("440000",), ("somewhere",)]  # fmt: skip


def _apply(database_url: str, migrations: list[Any]) -> None:
    from cloud.storage.selection import read_catalog

    with psycopg.connect(database_url, autocommit=True) as c:
        read_catalog(c)
        for m in migrations:
            with c.transaction():
                c.execute("SELECT set_config('channeltrace.storage_backend', 'postgresql', true)")
                c.execute(m.sql.encode())
                c.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                          (m.version, m.name))  # fmt: skip
