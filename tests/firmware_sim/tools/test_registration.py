"""Bulk registration of a simulated fleet, on a real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from cloud.errors import RegistryError
from cloud.migrate import migrate
from firmware_sim.tools.loadgen import LoadDevice, make_fleet
from firmware_sim.tools.registration import register_bulk
from wire import format_public_key

pytestmark = pytest.mark.integration


def _counts(conn: psycopg.Connection[tuple[int, ...]]) -> tuple[int, ...]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM sites),"
        " (SELECT count(*) FROM devices), (SELECT count(*) FROM device_keys)"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_bulk_registration_is_idempotent_and_adds_rotated_keys(database_url: str) -> None:
    migrate(database_url)
    fleet = make_fleet(500, sites=7)
    with psycopg.connect(database_url) as conn:
        assert register_bulk(conn, fleet) == 500
        assert _counts(conn) == (1, 7, 500, 500)
        assert register_bulk(conn, fleet) == 500  # again: nothing new
        assert _counts(conn) == (1, 7, 500, 500)
        logged = conn.execute(  # tenants and sites are channel master data: logged
            "SELECT entity, count(*) FROM channel_changes GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert logged == [("site", 7), ("tenant", 1)]
        rotated = LoadDevice(fleet[0].device_id, fleet[0].tenant, fleet[0].site)
        register_bulk(conn, [rotated])
        assert _counts(conn) == (1, 7, 500, 501)
        keys = conn.execute(
            "SELECT public_key FROM device_keys WHERE device_id = %s ORDER BY added_at",
            (fleet[0].device_id,),
        ).fetchall()
    assert {k for (k,) in keys} == {format_public_key(fleet[0].key), format_public_key(rotated.key)}


def test_bulk_registration_refuses_a_bad_identifier_before_writing(database_url: str) -> None:
    migrate(database_url)
    fleet = [*make_fleet(3), LoadDevice("bad/id", "acme", "wh-000")]
    with psycopg.connect(database_url) as conn:
        with pytest.raises(RegistryError):
            register_bulk(conn, fleet)
        assert _counts(conn) == (0, 0, 0, 0)


def test_bulk_registration_refuses_to_move_a_device_and_writes_nothing(database_url: str) -> None:
    migrate(database_url)
    fleet = make_fleet(3)
    with psycopg.connect(database_url) as conn:
        register_bulk(conn, fleet)
        before = _counts(conn)
        moved = LoadDevice(fleet[1].device_id, fleet[1].tenant, "wh-elsewhere")
        with pytest.raises(RegistryError, match=f"device {fleet[1].device_id} is registered to"):
            register_bulk(conn, [*make_fleet(2, prefix="new"), moved])
        assert _counts(conn) == before
