"""What the console's setup pages show and the forms they take: the brand's distributors,
sites, products, EPCIS mappings, logins, imports and change log (docs/channel-setup.md).

Reads go through the page's scoped connection (row-level security); writes through
:mod:`cloud.channel.store`, logged as made ``via console``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg

from cloud.channel.errors import FieldProblem
from cloud.channel.geocode import Geocoder
from cloud.channel.records import Kind
from cloud.channel.store import list_records

__all__ = [
    "FORMS",
    "Field",
    "FormState",
    "choices",
    "counts",
    "distributor_rows",
    "mapping_rows",
    "site_rows",
]

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, number, select, email, tel
    help: str = ""
    required: bool = False
    choices: str | None = None  # the context list a select takes its options from
    wide: bool = False
    none: str = "— none —"  # what an empty select means


FORMS: Final[dict[Kind, tuple[Field, ...]]] = {
    Kind.DISTRIBUTOR: (
        Field("id", "Id", help="Letters, digits, . _ - (used in URLs and files)", required=True),
        Field("name", "Name", help="As your team calls it, e.g. 华东酒业 East China Wines",
              required=True, wide=True),
        Field("parent_id", "Buys from", kind="select", choices="distributors",
              help="The big distributor it buys from", none="— you (the brand) —"),
        Field("regions", "Authorised sales regions", wide=True,
              help="GB/T 2260 province or city codes separated by ';' — e.g. 310000 (Shanghai) "
                   "or 440300 (Shenzhen). See the region codes page."),
        Field("contact_name", "Contact"),
        Field("contact_phone", "Phone", kind="tel"),
        Field("contact_email", "E-mail", kind="email"),
    ),
    Kind.SITE: (
        Field("id", "Id", help="Letters, digits, . _ - (gateways publish under it)",
              required=True),
        Field("name", "Name", required=True, wide=True),
        Field("address", "Address", wide=True),
        Field("latitude", "Latitude", kind="number",
              help="WGS-84 degrees north, e.g. 31.2304 (from a phone's map)"),
        Field("longitude", "Longitude", kind="number", help="WGS-84 degrees east, e.g. 121.4737"),
        Field("region", "Region", help="GB/T 2260 code; leave empty to take it from the "
              "coordinates"),
        Field("distributor_id", "Operated by", kind="select", choices="distributors",
              help="The distributor running it", none="— you (the brand's own site) —"),
    ),
    Kind.PRODUCT: (
        Field("gtin", "GTIN", help="8, 12, 13 or 14 digits with the check digit", required=True),
        Field("name_en", "Name (English)", wide=True),
        Field("name_zh", "Name (Chinese)", wide=True),
        Field("temp_min_c", "Lowest temperature °C", kind="number"),
        Field("temp_max_c", "Highest temperature °C", kind="number"),
        Field("humidity_min_pct", "Lowest humidity %", kind="number"),
        Field("humidity_max_pct", "Highest humidity %", kind="number"),
    ),
    Kind.LOCATION: (
        Field("location", "EPCIS location", required=True, wide=True,
              help="SGLN URN (urn:epc:id:sgln:9506000.00020.0) or a Digital Link with /414/"),
        Field("site_id", "Site", kind="select", choices="sites", required=True),
    ),
    Kind.PARTY: (
        Field("party", "EPCIS party", required=True, wide=True,
              help="PGLN URN (urn:epc:id:pgln:9506000.00001) or a Digital Link with /417/"),
        Field("distributor_id", "Distributor", kind="select", choices="distributors",
              required=True),
    ),
}


@dataclass
class FormState:
    """A form's values (as typed, or as stored) and its problems by field."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> FormState:
        values = {}
        for name, value in record.items():
            if isinstance(value, list):
                values[name] = ";".join(str(v) for v in value)
            elif value is None:
                values[name] = ""
            elif isinstance(value, float) and value.is_integer():
                values[name] = f"{value:g}"
            else:
                values[name] = str(value)
        return cls(values)

    def add(self, problems: list[FieldProblem]) -> None:
        for p in problems:
            self.problems.setdefault(p.field, []).append(f"expected {p.expected}, got {p.got}")


def counts(conn: Conn, tenant: str) -> dict[str, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM distributors WHERE tenant_id = %(t)s),"
        " (SELECT count(*) FROM sites WHERE tenant_id = %(t)s),"
        " (SELECT count(*) FROM sites WHERE tenant_id = %(t)s AND latitude IS NULL),"
        " (SELECT count(*) FROM products WHERE tenant_id = %(t)s),"
        " (SELECT count(*) FROM epcis_locations WHERE tenant_id = %(t)s),"
        " (SELECT count(*) FROM epcis_parties WHERE tenant_id = %(t)s),"
        " (SELECT count(*) FROM channel_changes WHERE tenant_id = %(t)s),"
        " (SELECT count(*) FROM company_prefixes WHERE tenant_id = %(t)s)",
        {"t": tenant},
    ).fetchone()
    assert row is not None
    keys = ("distributors", "sites", "unplaced", "products", "locations", "parties", "changes",
            "prefixes")  # fmt: skip
    return dict(zip(keys, (int(v) for v in row), strict=True))


def _region_name(geocoder: Geocoder, code: str | None) -> str | None:
    if not code:
        return None
    info = geocoder.region(code)
    return None if info is None else info.name


def distributor_rows(conn: Conn, tenant: str, geocoder: Geocoder) -> list[dict[str, Any]]:
    """Distributors with their parent's name, regions by name, and their sites' count."""
    records = list_records(conn, tenant, Kind.DISTRIBUTOR)
    names = {r["id"]: r["name"] for r in records}
    sites = dict(conn.execute(
        "SELECT distributor_id, count(*) FROM sites WHERE tenant_id = %s"
        " AND distributor_id IS NOT NULL GROUP BY 1", (tenant,)).fetchall())  # fmt: skip
    children: dict[str, int] = {}
    for r in records:
        if r["parent_id"]:
            children[r["parent_id"]] = children.get(r["parent_id"], 0) + 1
    return [
        {
            **r,
            "parent_name": names.get(r["parent_id"]) if r["parent_id"] else None,
            "region_names": [(c, _region_name(geocoder, c)) for c in r["regions"]],
            "sites": int(sites.get(r["id"], 0)),
            "children": children.get(r["id"], 0),
        }
        for r in records
    ]


def site_rows(conn: Conn, tenant: str, geocoder: Geocoder) -> list[dict[str, Any]]:
    records = list_records(conn, tenant, Kind.SITE)
    names = {r["id"]: r["name"] for r in list_records(conn, tenant, Kind.DISTRIBUTOR)}
    return [
        {
            **r,
            "distributor_name": names.get(r["distributor_id"]) if r["distributor_id"] else None,
            "region_name": _region_name(geocoder, r["region"]),
        }
        for r in records
    ]


def mapping_rows(conn: Conn, tenant: str) -> dict[str, list[dict[str, Any]]]:
    sites = {r["id"]: r["name"] for r in list_records(conn, tenant, Kind.SITE)}
    distributors = {r["id"]: r["name"] for r in list_records(conn, tenant, Kind.DISTRIBUTOR)}
    return {
        "locations": [
            {**r, "target_name": sites.get(r["site_id"], r["site_id"])}
            for r in list_records(conn, tenant, Kind.LOCATION)
        ],
        "parties": [
            {**r, "target_name": distributors.get(r["distributor_id"], r["distributor_id"])}
            for r in list_records(conn, tenant, Kind.PARTY)
        ],
    }


def choices(conn: Conn, tenant: str) -> dict[str, list[tuple[str, str]]]:
    """Options of the forms' selects: (id, name)."""
    return {
        "distributors": [
            (r["id"], r["name"]) for r in list_records(conn, tenant, Kind.DISTRIBUTOR)
        ],
        "sites": [(r["id"], r["name"]) for r in list_records(conn, tenant, Kind.SITE)],
    }

