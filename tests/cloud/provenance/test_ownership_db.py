"""Ownership of identifiers in real PostgreSQL: company prefixes (overlap across tenants,
removal while in use, row-level security, the CLI), tenant-owned custody, the distributor
and gateway rules, recalls, and issuance under one's own prefixes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from channeltrace.cli import app
from cloud.auth.principal import Principal, Role
from cloud.auth.scope import scope_transaction
from cloud.migrate import migrate
from cloud.provenance.brands import map_location, map_party, record_issued_codes, register_brand_key
from cloud.provenance.capture import Capturer, capture_document, process_inbox
from cloud.provenance.errors import (
    IssuanceError,
    OwnershipError,
    PrefixConflictError,
    PrefixInUseError,
    PrefixNotFoundError,
)
from cloud.provenance.issue import IssueRequest, issue_codes
from cloud.provenance.keys import create_brand_key, load_private_key
from cloud.provenance.prefixes import add_prefix, list_prefixes, owner_of, remove_prefix
from cloud.provenance.store import unit_row
from wire.epc import canonical_epc
from wire.errors import IdentifierError
from wire.gs1 import Gtin

from ._events import CASE, DC_A, DIST_A, FACTORY, PALLET, SHOP, UNITS, supply_chain
from .test_capture_db import document

pytestmark = pytest.mark.integration

ACME, RIVAL = Capturer("acme"), Capturer("rival")


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Brands acme (prefix 9506000: every EPC of ``_events``) and rival (6901234); acme's
    distributor dist-a holds dc-a and the shop, dist-b holds dc-b."""
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'A'), ('rival', 'R')")
        add_prefix(connection, "acme", "9506000")
        add_prefix(connection, "rival", "6901234")
        for distributor in ("dist-a", "dist-b"):
            connection.execute(
                "INSERT INTO distributors (tenant_id, id, name) VALUES ('acme', %s, %s)",
                (distributor, distributor),
            )
        for site, distributor, location in (
            ("factory", None, FACTORY), ("dc-a", "dist-a", DC_A), ("shop", "dist-a", SHOP),
            ("dc-b", "dist-b", "urn:epc:id:sgln:9506000.00090.0"),
        ):  # fmt: skip
            connection.execute(
                "INSERT INTO sites (tenant_id, id, name, distributor_id) VALUES ('acme', %s, %s,"
                " %s)",
                (site, site, distributor),
            )
            map_location(connection, location, "acme", site)
        map_party(connection, DIST_A, "acme", "dist-a")
        yield connection


# ------------------------------------------------------------------ prefixes


def test_prefixes_never_overlap_across_tenants(conn: psycopg.Connection[Any]) -> None:
    for taken in ("9506000", "95060001", "950600", "69012345"):
        with pytest.raises(PrefixConflictError) as caught:
            add_prefix(conn, "rival" if taken.startswith("95") else "acme", taken)
        assert "another tenant" in str(caught.value)
        assert "acme" not in str(caught.value)
        assert "rival" not in str(caught.value)
    with pytest.raises(PrefixConflictError, match="overlaps your prefix 9506000"):
        add_prefix(conn, "acme", "95060009")
    again, created = add_prefix(conn, "acme", "9506000")
    assert (again.prefix, created) == ("9506000", False)
    with pytest.raises(IdentifierError, match="restricted circulation"):
        add_prefix(conn, "acme", "2012345")
    assert [p.prefix for p in list_prefixes(conn, "acme")] == ["9506000"]
    assert owner_of(conn, Gtin("09506000134352").prefix_digits) == "acme"
    assert owner_of(conn, Gtin("06901234000016").prefix_digits) == "rival"
    assert owner_of(conn, Gtin("04012345000016").prefix_digits) is None


def test_concurrent_overlapping_registrations_one_wins(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as setup:
        setup.execute("INSERT INTO tenants (id, name) VALUES ('t1', 'T1'), ('t2', 'T2')")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def register(tenant: str, prefix: str) -> None:
        with psycopg.connect(database_url, autocommit=True) as own:
            barrier.wait()
            try:
                add_prefix(own, tenant, prefix)
                outcomes[tenant] = "added"
            except PrefixConflictError:
                outcomes[tenant] = "refused"

    threads = [threading.Thread(target=register, args=a) for a in (("t1", "123456"),
                                                                  ("t2", "1234567"))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["added", "refused"]


def test_a_prefix_in_use_is_not_removed(conn: psycopg.Connection[Any]) -> None:
    capture_document(conn, document(supply_chain()[:1]), capturer=ACME)
    with pytest.raises(PrefixInUseError, match=r"0 issued trace code\(s\) and 4 unit\(s\)"):
        remove_prefix(conn, "acme", "9506000")
    with pytest.raises(PrefixNotFoundError):
        remove_prefix(conn, "acme", "6901234")  # rival's: not acme's to remove
    add_prefix(conn, "acme", "9521234")
    remove_prefix(conn, "acme", "9521234")
    assert [p.prefix for p in list_prefixes(conn, None)] == ["9506000", "6901234"]


def test_row_level_security_on_prefixes(conn: psycopg.Connection[Any]) -> None:
    brand = Principal("t", Role.BRAND, "acme")
    with conn.transaction():
        scope_transaction(conn, brand)
        assert conn.execute("SELECT prefix FROM company_prefixes").fetchall() == [("9506000",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(  # another tenant's row: refused by the policy's WITH CHECK
                "INSERT INTO company_prefixes (prefix, tenant_id) VALUES ('9521234', 'rival')"
            )
        with pytest.raises(psycopg.errors.ExclusionViolation), conn.transaction():
            conn.execute(  # overlapping a row it cannot see: the trigger sees every tenant
                "INSERT INTO company_prefixes (prefix, tenant_id) VALUES ('69012345', 'acme')"
            )
        assert conn.execute("DELETE FROM company_prefixes WHERE prefix = '6901234'").rowcount == 0
    distributor = Principal("d", Role.DISTRIBUTOR, "acme", "dist-a")
    with conn.transaction():
        scope_transaction(conn, distributor)
        assert conn.execute("SELECT count(*) FROM company_prefixes").fetchone() == (0,)


def test_the_prefixes_cli(database_url: str, conn: psycopg.Connection[Any]) -> None:
    runner = CliRunner()
    base = ["cloud", "prefixes"]
    url = ["--database-url", database_url]
    added = runner.invoke(app, [*base, "add", "9521234", "--tenant", "acme", *url])
    assert added.exit_code == 0, added.output
    assert "registered 9521234 for acme" in added.output
    clash = runner.invoke(app, [*base, "add", "95212345", "--tenant", "rival", *url])
    assert clash.exit_code == 2
    assert "another tenant" in clash.output
    bad = runner.invoke(app, [*base, "add", "12345", "--tenant", "acme", *url])
    assert (bad.exit_code, "6 to 12 digits" in bad.output) == (2, True)
    listed = runner.invoke(app, [*base, "list", "--tenant", "acme", "--json", *url])
    assert [line.split('"prefix": "')[1][:7] for line in listed.output.splitlines()] == [
        "9506000",
        "9521234",
    ]
    removed = runner.invoke(app, [*base, "remove", "9521234", "--tenant", "acme", *url])
    assert removed.exit_code == 0, removed.output


# ------------------------------------------------------------------ tenant-owned custody


def test_two_tenants_may_reuse_an_event_id_without_touching_each_other(
    conn: psycopg.Connection[Any],
) -> None:
    add_prefix(conn, "rival", "9521234")
    shared = "urn:uuid:2d1f3c1e-0000-4000-8000-000000000001"
    acme = dict(supply_chain()[0], eventID=shared)
    rival = {**acme, "epcList": ["urn:epc:id:sgtin:9521234.054321.1"]}
    rival["bizLocation"] = rival["readPoint"] = {"id": "urn:epc:id:sgln:9521234.00001.0"}
    first = capture_document(conn, document([acme]), capturer=ACME)
    second = capture_document(conn, document([rival]), capturer=RIVAL)
    assert (first.new, second.new) == (1, 1)  # neither a duplicate nor a conflict
    assert capture_document(conn, document([acme]), capturer=ACME).new == 0  # idempotent
    assert unit_row(conn, "rival", canonical_epc(UNITS[0])) is None
    assert unit_row(conn, "acme", canonical_epc(UNITS[0])) is not None


def test_non_gs1_identifiers_have_no_owner(conn: psycopg.Connection[Any]) -> None:
    event = dict(supply_chain()[0], epcList=["urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"])
    with pytest.raises(OwnershipError, match="not a GS1 key") as caught:
        capture_document(conn, document([event]), capturer=ACME)
    assert caught.value.kind == "epc"


def test_a_distributor_captures_what_was_shipped_to_it(conn: psycopg.Connection[Any]) -> None:
    capture_document(conn, document(supply_chain()[:5]), capturer=ACME)  # pallet at dc-a
    dist_a, dist_b = Capturer("acme", "dist-a"), Capturer("acme", "dist-b")
    unpack = supply_chain()[5:7]  # unpacking the pallet and the case at dc-a
    assert capture_document(conn, document(unpack), capturer=dist_a).new == 2
    at_b = dict(supply_chain()[0], action="OBSERVE", bizStep="inspecting")
    at_b["bizLocation"] = at_b["readPoint"] = {"id": "urn:epc:id:sgln:9506000.00090.0"}
    with pytest.raises(OwnershipError, match="not shipped to distributor dist-b") as caught:
        capture_document(conn, document([at_b]), capturer=dist_b)
    assert caught.value.identifier == canonical_epc(UNITS[0])
    elsewhere = dict(supply_chain()[0], action="OBSERVE", bizStep="inspecting")
    with pytest.raises(OwnershipError, match="not a location") as caught:
        capture_document(conn, document([elsewhere]), capturer=dist_a)  # at the factory
    assert caught.value.kind == "location"


def test_a_gateway_maps_its_place_only_when_its_event_is_admitted(
    conn: psycopg.Connection[Any],
) -> None:
    capture_document(conn, document(supply_chain()[:5]), capturer=ACME)
    now = datetime.now(UTC)
    mine = dict(supply_chain()[0], action="OBSERVE", bizStep="inspecting")
    mine["bizLocation"] = mine["readPoint"] = {"id": "urn:epc:id:sgln:9506000.00091.0"}
    at_factory = dict(supply_chain()[0], action="OBSERVE", bizStep="inspecting")  # mapped
    for seq, event in enumerate((mine, at_factory), start=1):
        conn.execute(
            "INSERT INTO custody_inbox (received_at, tenant_id, site_id, device_id, seq, event)"
            " VALUES (%s, 'acme', 'dc-b', 'gw-b', %s, %s)",
            (now, seq, Jsonb(event)),
        )
    run = process_inbox(conn)
    assert (run.accepted, run.rejected) == (0, 2)
    reasons = [r[0] for r in conn.execute(
        "SELECT reason FROM custody_inbox_outcomes ORDER BY inbox_id")]  # fmt: skip
    assert "not shipped to distributor dist-b" in reasons[0]
    assert f"{FACTORY} (event" in reasons[1]
    assert "not a location of the gateway at site dc-b" in reasons[1]
    assert conn.execute(  # the refused event left no mapping behind
        "SELECT count(*) FROM epcis_locations WHERE location = %s",
        ("urn:epc:id:sgln:9506000.00091.0",),
    ).fetchone() == (0,)


def test_a_recall_of_a_case_recalls_its_units(conn: psycopg.Connection[Any]) -> None:
    events = supply_chain()[:2]  # commission, pack into the case
    recall = dict(supply_chain()[0], epcList=[CASE], action="OBSERVE", bizStep="holding",
                  disposition="recalled", eventTime="2025-03-01T10:00:00Z")  # fmt: skip
    capture_document(conn, document([*events, recall]), capturer=ACME)
    unit = unit_row(conn, "acme", canonical_epc(UNITS[0]))
    assert unit is not None
    assert unit["recalled_at"] is not None
    pallet = unit_row(conn, "acme", canonical_epc(PALLET))
    assert pallet is None  # never named


# ------------------------------------------------------------------ issuance


def test_codes_are_issued_only_under_ones_own_prefix_and_key(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    path, entry = create_brand_key(tmp_path / "acme")
    key = load_private_key(path)
    register_brand_key(conn, "acme", entry)
    rival_path, rival_entry = create_brand_key(tmp_path / "rival")
    register_brand_key(conn, "rival", rival_entry)
    rival_codes = list(issue_codes(
        IssueRequest("r.example", Gtin("09506000134352"), "L1", 2), load_private_key(rival_path)
    ))  # fmt: skip
    with pytest.raises(IssuanceError, match="another brand"):
        record_issued_codes(conn, "rival", "b", rival_codes, "L1")  # acme's GTIN
    with pytest.raises(IssuanceError, match="not a registered code key of acme"):
        record_issued_codes(conn, "acme", "b", rival_codes, "L1")  # acme's GTIN, rival's key
    foreign = list(issue_codes(IssueRequest("r.example", Gtin("04012345000016"), "L1", 1), key))
    with pytest.raises(IssuanceError, match="not under a company prefix registered to acme"):
        record_issued_codes(conn, "acme", "b", foreign, "L1")
    own = list(issue_codes(IssueRequest("r.example", Gtin("09506000134352"), "L1", 2), key))
    assert record_issued_codes(conn, "acme", "b", own, "L1") == 2
    assert conn.execute("SELECT count(*) FROM trace_codes").fetchone() == (2,)
