"""Capture into real PostgreSQL: ledger + custody in one transaction, idempotency, inbox."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cloud.migrate import migrate
from cloud.provenance.capture import Capturer, capture_document, capture_events, process_inbox
from cloud.provenance.errors import EpcisValidationError, EventConflictError
from cloud.provenance.events import EPCIS_CONTEXT
from cloud.provenance.prefixes import add_prefix
from cloud.provenance.store import events_for_epcs, unit_row
from ledger.service.pg_store import PgLog

from ._events import CASE, DC_A, PALLET, SHOP, UNITS, normalised, supply_chain

pytestmark = pytest.mark.integration


ACME = Capturer("acme")


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A brand ``acme`` owning company prefix 9506000 (every EPC of ``_events``)."""
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')")
        add_prefix(connection, "acme", "9506000")
        yield connection


def _epc(urn: str) -> str:
    from wire.epc import canonical_epc

    return canonical_epc(urn)


def document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-03-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    }


def test_supply_chain_custody_and_ledger(conn: psycopg.Connection[Any]) -> None:
    result = capture_document(conn, document(supply_chain()), capturer=ACME)
    assert [e.ledger_index for e in result.events] == list(range(11))
    assert PgLog(conn).head().size == 11
    sold = unit_row(conn, "acme", _epc(UNITS[0]))
    assert sold is not None
    assert (sold["status"], sold["sold_location"]) == ("sold", SHOP)
    in_stock = unit_row(conn, "acme", _epc(UNITS[1]))
    assert in_stock is not None
    assert (in_stock["status"], in_stock["site"], in_stock["parent"]) == ("at_site", DC_A, None)
    pallet = unit_row(conn, "acme", _epc(PALLET))
    assert pallet is not None
    assert pallet["status"] == "decommissioned"
    assert len(events_for_epcs(conn, "acme", [_epc(UNITS[1])])) == 2  # named: commission, pack


def test_out_of_order_arrival_gives_same_custody(conn: psycopg.Connection[Any]) -> None:
    events = supply_chain()
    capture_document(conn, document(events[5:]), capturer=ACME)
    capture_document(conn, document(events[:5]), capturer=ACME)
    expected = {
        e: (u.status, u.site)
        for e, u in __import__("cloud.provenance.custody", fromlist=["x"])
        .compute_custody(normalised(events))
        .items()
    }
    got = {}
    for epc in expected:
        row = unit_row(conn, "acme", epc)
        assert row is not None
        got[epc] = (row["status"], row["site"])
    assert {k: (str(v[0]), v[1]) for k, v in expected.items()} == got


def test_recapture_is_idempotent_and_conflict_refused(conn: psycopg.Connection[Any]) -> None:
    events = [
        dict(e, eventID=f"urn:uuid:00000000-0000-4000-8000-00000000000{i}")
        for i, e in enumerate(supply_chain()[:3])
    ]
    first = capture_document(conn, document(events), capturer=ACME)
    again = capture_document(conn, document(events), capturer=ACME)
    assert [e.ledger_index for e in again.events] == [e.ledger_index for e in first.events]
    assert again.new == 0
    assert PgLog(conn).head().size == 3
    changed = copy.deepcopy(events)
    changed[1]["bizStep"] = "shipping"
    with pytest.raises(EventConflictError):
        capture_document(conn, document(changed), capturer=ACME)
    assert PgLog(conn).head().size == 3


def test_invalid_document_is_refused_with_pointers(conn: psycopg.Connection[Any]) -> None:
    bad = document(supply_chain()[:1])
    bad["epcisBody"]["eventList"][0]["eventTime"] = "yesterday"
    with pytest.raises(EpcisValidationError) as info:
        capture_document(conn, bad, capturer=ACME)
    assert any(p == "/epcisBody/eventList/0/eventTime" for p, _ in info.value.errors)
    assert PgLog(conn).head().size == 0


def test_inbox_accepts_valid_and_records_rejects(conn: psycopg.Connection[Any]) -> None:
    conn.execute("INSERT INTO sites (tenant_id, id, name) VALUES ('acme', 'dc-a', 'DC A')")
    good = supply_chain()[0]
    bad = dict(good, action="SOMETIMES")
    now = datetime.now(UTC)
    for seq, event in enumerate((good, bad, good), start=1):
        conn.execute(
            "INSERT INTO custody_inbox (received_at, tenant_id, site_id, device_id, seq, event)"
            " VALUES (%s, 'acme', 'dc-a', 'gw-1', %s, %s)",
            (now, seq, Jsonb(event)),
        )
    run = process_inbox(conn)
    assert (run.accepted, run.rejected) == (2, 1)
    assert process_inbox(conn).accepted == 0
    rows = conn.execute(
        "SELECT accepted, ledger_idx, reason FROM custody_inbox_outcomes ORDER BY inbox_id"
    ).fetchall()
    assert rows[0][:2] == (True, 0)
    assert rows[2][:2] == (True, 0)
    assert rows[1][0] is False
    assert "action" in rows[1][2]
    unit = unit_row(conn, "acme", _epc(UNITS[0]))
    assert unit is not None
    assert unit["tenant_id"] == "acme"
    site = conn.execute("SELECT site_id FROM epcis_locations").fetchone()
    assert site == ("dc-a",)
    _ = (CASE, capture_events)


def test_scheduler_job_drains_the_inbox(conn: psycopg.Connection[Any]) -> None:
    from cloud.jobs import build_jobs
    from cloud.settings import get_settings

    conn.execute("INSERT INTO sites (tenant_id, id, name) VALUES ('acme', 'dc-a', 'DC A')")
    now = datetime.now(UTC)
    for seq, event in enumerate(supply_chain(), start=1):
        conn.execute(
            "INSERT INTO custody_inbox (received_at, tenant_id, site_id, device_id, seq, event)"
            " VALUES (%s, 'acme', 'dc-a', 'gw-1', %s, %s)",
            (now, seq, Jsonb(event)),
        )
    job = next(j for j in build_jobs(get_settings()) if j.name == "provenance.inbox")
    job.func(conn)
    assert PgLog(conn).head().size == len(supply_chain())
    unit = unit_row(conn, "acme", _epc(UNITS[0]))
    assert unit is not None
    assert unit["status"] == "sold"
