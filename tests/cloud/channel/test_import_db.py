"""Bulk import against real PostgreSQL: a file with problems writes nothing and says where
each one is; the fixed file applies; importing it again changes and logs nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from openpyxl import Workbook

from cloud.channel.changes import Actor, list_changes
from cloud.channel.geocode import default_geocoder
from cloud.channel.importer import apply_stored, import_file, run_import
from cloud.channel.records import Kind
from cloud.channel.sheets import read_sheets
from cloud.channel.store import list_records
from cloud.migrate import migrate

pytestmark = pytest.mark.integration

ANA = Actor("user:ana", "console")

GOOD = (
    "kind,id,name,parent_id,regions,address,latitude,longitude,"
    "distributor_id,gtin,name_en,name_zh,temp_min_c,temp_max_c,location,site_id,party\n"
    "distributor,east,East China Wines,,310000;320000,,,,,,,,,,,,\n"
    "distributor,sh-shop,Shanghai Shop,east,310100,,,,,,,,,,,,\n"
    "site,wh-sh,Shanghai DC,,,1 Jiangchang Rd,31.2304,121.4737,east,,,,,,,,\n"
    "site,factory,Bottling plant,,,,30.2741,120.1551,,,,,,,,,\n"
    "product,,,,,,,,,09506000134352,Reserve Red 750 ml,珍藏干红,10,18,,,\n"
    "location,,,,,,,,,,,,,,urn:epc:id:sgln:9506000.00020.0,wh-sh,\n"
    "party,,,,,,,,,,,,,,,,urn:epc:id:pgln:9506000.00001\n"
)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')")
        yield c


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return {k.plural: len(list_records(conn, "acme", k)) for k in Kind if k is not Kind.PREFIX}


def test_problems_are_reported_row_by_row_and_nothing_is_written(
    conn: psycopg.Connection[Any],
) -> None:
    bad = GOOD.replace("sh-shop,Shanghai Shop,east", "sh-shop,Shanghai Shop,ghost")
    bad = bad.replace("31.2304,121.4737", "121.4737,31.2304")
    bad = bad.replace("09506000134352", "09506000134353")  # the check digit is 2
    bad = bad.replace("urn:epc:id:pgln:9506000.00001", "urn:epc:id:pgln:9506000.00001,extra")
    bad += "site,factory,Again,,,,,,,,,,,,,,\nwarehouse?,x,,,,,,,,,,,,,,,\n"
    sheets = read_sheets(bad.encode(), "channel.csv")
    report = run_import(conn, "acme", sheets, ANA, default_geocoder(), dry_run=False)
    assert not report.applied
    found = [(p.row, p.column, p.expected, p.got) for p in report.problems]
    assert found == [
        (3, "parent_id", "the id of an existing distributor of acme", "'ghost'"),
        (4, "latitude", "a number from -90 to 90 (degrees north, WGS-84)", "'121.4737'"),
        (6, "gtin", "check digit 2 (GS1 mod 10)", "09506000134353 ending in 3"),
        (7, "site_id", "the id of an existing site of acme (channel.csv row 4 has it, with "
         "problems)", "'wh-sh'"),
        (8, "column 18", "one of the party fields party, distributor_id", "an unknown field"),
        (8, "distributor_id", "a value", "nothing"),
        (9, "id", "a site not already in channel.csv row 5", "'factory'"),
        (10, "kind", "one of prefix, distributor, site, product, location, party (a kind "
         "column, or a sheet or file named after the kind)", "'warehouse?'"),
    ]  # fmt: skip
    assert report.problem_count == len(found)
    assert set(counts(conn).values()) == {0}
    assert list_changes(conn, "acme") == []


def test_dry_run_apply_and_idempotent_reimport(conn: psycopg.Connection[Any]) -> None:
    geocoder = default_geocoder()
    good = GOOD.replace("urn:epc:id:pgln:9506000.00001", "urn:epc:id:pgln:9506000.00001")
    good = good.replace(",,,,,,,,,,,,,,,,urn:epc:id:pgln", ",,,,,,,,east,,,,,,,,urn:epc:id:pgln")
    dry = import_file(conn, "acme", "channel.csv", "text/csv", good.encode(), ANA, geocoder,
                      dry_run=True)  # fmt: skip
    assert dry.problems == []
    assert (dry.applied, dry.created) == (False, {
        "distributors": 2, "sites": 2, "products": 1, "locations": 1, "parties": 1})  # fmt: skip
    assert counts(conn)["sites"] == 0  # a dry run writes nothing
    assert dry.import_id is not None
    applied = apply_stored(conn, "acme", dry.import_id, ANA, geocoder)
    assert applied.applied
    assert applied.created == dry.created
    assert counts(conn) == {"distributors": 2, "sites": 2, "products": 1, "locations": 1,
                            "parties": 1}  # fmt: skip
    site = {s["id"]: s for s in list_records(conn, "acme", Kind.SITE)}
    assert site["factory"]["region"] == "330100"  # Hangzhou, from the coordinates
    logged = list_changes(conn, "acme")
    assert len(logged) == 7
    assert {e.import_id for e in logged} == {dry.import_id}
    assert {(e.actor, e.via) for e in logged} == {("user:ana", "import")}

    again = import_file(conn, "acme", "channel.csv", "text/csv", good.encode(), ANA, geocoder,
                        dry_run=False)  # fmt: skip
    assert again.applied
    assert (again.created, again.updated) == ({}, {})
    assert sum(again.unchanged.values()) == 7
    assert len(list_changes(conn, "acme")) == 7  # nothing new logged

    changed = good.replace("Shanghai DC", "Shanghai DC (bonded)")
    once_more = import_file(conn, "acme", "channel.csv", "text/csv", changed.encode(), ANA,
                            geocoder, dry_run=False)  # fmt: skip
    assert once_more.updated == {"sites": 1}
    entry = list_changes(conn, "acme", entity="site", key="wh-sh")[0]
    assert entry.before is not None
    assert entry.before["name"] == "Shanghai DC"
    assert entry.after is not None
    assert entry.after["name"] == "Shanghai DC (bonded)"


def test_an_xlsx_workbook_with_parents_after_children(conn: psycopg.Connection[Any]) -> None:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "distributors"
    ws.append(["id", "name", "parent", "authorised regions"])
    ws.append(["small", "Small", "mid", "440300"])  # its parent comes later in the sheet
    ws.append(["mid", "Mid", "big", 440000])
    ws.append(["big", "Big", None, "440000;450000"])
    buffer = io.BytesIO()
    book.save(buffer)
    report = import_file(conn, "acme", "channel.xlsx", "application/octet-stream",
                         buffer.getvalue(), ANA, default_geocoder(), dry_run=False)  # fmt: skip
    assert report.problems == []
    assert report.created == {"distributors": 3}
    chain = {d["id"]: d["parent_id"] for d in list_records(conn, "acme", Kind.DISTRIBUTOR)}
    assert chain == {"big": None, "mid": "big", "small": "mid"}


def test_company_prefixes_are_imported_and_checked_across_tenants(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("INSERT INTO tenants (id, name) VALUES ('zeta', 'Zeta')")
    geocoder = default_geocoder()
    mine = "company_prefix\n9506000\n6901234\n"
    report = import_file(conn, "acme", "prefixes.csv", "text/csv", mine.encode(), ANA, geocoder,
                         dry_run=False)  # fmt: skip
    assert (report.applied, report.created) == (True, {"prefixes": 2})
    again = import_file(conn, "acme", "prefixes.csv", "text/csv", mine.encode(), ANA, geocoder,
                        dry_run=False)  # fmt: skip
    assert again.unchanged == {"prefixes": 2}
    theirs = "prefix\n95060001\n12\n"  # overlaps acme's 9506000; too short
    refused = import_file(conn, "zeta", "prefixes.csv", "text/csv", theirs.encode(), ANA,
                          geocoder, dry_run=False)  # fmt: skip
    assert not refused.applied
    assert [(p.row, p.column) for p in refused.problems] == [(2, "prefix"), (3, "prefix")]
    assert "overlaps a prefix registered by another tenant" in refused.problems[0].got
    assert "6 to 12 digits" in refused.problems[1].expected
    assert conn.execute("SELECT count(*) FROM company_prefixes WHERE tenant_id = 'zeta'"
                        ).fetchone() == (0,)  # fmt: skip
    assert [e.key for e in list_changes(conn, "acme", entity="prefix")] == ["6901234", "9506000"]
