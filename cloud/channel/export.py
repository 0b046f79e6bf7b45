"""Channel master data out, in the import's own formats: an XLSX workbook with a sheet per
kind, or one CSV with a ``kind`` column. Exporting and importing again changes nothing, so
an export is also the template a brand manager edits (``channeltrace cloud channel
export``; an empty tenant gives the headers with one example row per sheet)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg

from cloud.channel.records import FIELDS, Kind
from cloud.channel.store import list_records

__all__ = ["EXAMPLES", "channel_rows", "to_csv", "to_xlsx"]

Rows = Mapping[Kind, Sequence[Mapping[str, Any]]]

EXAMPLES: Final[dict[Kind, dict[str, Any]]] = {
    Kind.PREFIX: {"prefix": "9506000"},
    Kind.DISTRIBUTOR: {"id": "east", "name": "华东酒业 East China Wines", "parent_id": "",
                       "regions": "310000;320500", "contact_name": "Li Wei",
                       "contact_phone": "+86 21 5555 0100",
                       "contact_email": "li.wei@east.example"},
    Kind.SITE: {"id": "wh-shanghai", "name": "Shanghai DC", "address": "1 Jiangchang Rd",
                "latitude": 31.2304, "longitude": 121.4737, "region": "",
                "distributor_id": "east"},
    Kind.PRODUCT: {"gtin": "09506000134352", "name_en": "Reserve Red 750 ml",
                   "name_zh": "珍藏干红 750毫升", "temp_min_c": 10, "temp_max_c": 18,
                   "humidity_min_pct": 50, "humidity_max_pct": 75},
    Kind.LOCATION: {"location": "urn:epc:id:sgln:9506000.00020.0", "site_id": "wh-shanghai"},
    Kind.PARTY: {"party": "urn:epc:id:pgln:9506000.00001", "distributor_id": "east"},
}  # fmt: skip


def channel_rows(conn: psycopg.Connection[Any], tenant: str) -> dict[Kind, list[dict[str, Any]]]:
    """Every record of the tenant, as import rows (regions joined with ``;``)."""
    out: dict[Kind, list[dict[str, Any]]] = {}
    for kind in Kind:
        rows = []
        for record in list_records(conn, tenant, kind):
            row = {f: record[f] for f in FIELDS[kind]}
            if kind is Kind.DISTRIBUTOR:
                row["regions"] = ";".join(record["regions"])
            rows.append(row)
        out[kind] = rows
    return out


def _cell(value: Any) -> Any:
    return "" if value is None else value


def to_xlsx(rows: Rows, *, examples: bool = False) -> bytes:
    """A workbook with a sheet per kind (named like the kinds, plural)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = book.active
    if first is not None:
        book.remove(first)
    for kind in Kind:
        sheet = book.create_sheet(kind.plural)
        sheet.append(list(FIELDS[kind]))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        records = list(rows.get(kind, ()))
        if not records and examples:
            records = [EXAMPLES[kind]]
        for record in records:
            sheet.append([_cell(record.get(f)) for f in FIELDS[kind]])
        for column, name in zip(sheet.columns, FIELDS[kind], strict=False):
            width = max([len(name)] + [len(str(c.value or "")) for c in column])
            sheet.column_dimensions[column[0].column_letter].width = min(60, width + 2)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_csv(rows: Rows) -> str:
    """One CSV with a ``kind`` column and the union of every kind's columns."""
    columns = ["kind", *list(dict.fromkeys(f for k in Kind for f in FIELDS[k]))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for kind in Kind:
        for record in rows.get(kind, ()):
            writer.writerow([kind.value] + [_cell(record.get(c)) for c in columns[1:]])
    return buffer.getvalue()
