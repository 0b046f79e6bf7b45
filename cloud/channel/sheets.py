"""Spreadsheets in: CSV (UTF-8, or GB18030 as Excel writes it on Chinese Windows) and
XLSX workbooks (openpyxl), as rows of named cells with their row numbers.

Which kind of record a sheet holds comes from, in order: the caller; a ``kind`` column
(one file may then hold the whole channel, a kind per row); the sheet's or file's name
(``sites.csv``, a sheet called ``Products``); its columns (``gtin`` → products, …).
Column names are matched loosely (case, spaces, a few aliases such as ``lat``/``lng``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Final

from cloud.channel.errors import ImportRefused
from cloud.channel.records import FIELDS, Kind

__all__ = ["MAX_ROWS", "XLSX_MEDIA_TYPE", "Row", "Sheet", "kind_named", "read_sheets"]

MAX_ROWS: Final = 100_000
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ALIASES: Final = {
    "lat": "latitude",
    "lng": "longitude",
    "lon": "longitude",
    "long": "longitude",
    "parent": "parent_id",
    "parent_distributor": "parent_id",
    "distributor": "distributor_id",
    "operator": "distributor_id",
    "site": "site_id",
    "name_cn": "name_zh",
    "chinese_name": "name_zh",
    "english_name": "name_en",
    "authorised_regions": "regions",
    "authorized_regions": "regions",
    "sales_regions": "regions",
    "email": "contact_email",
    "phone": "contact_phone",
    "contact": "contact_name",
    "sgln": "location",
    "pgln": "party",
    "type": "kind",
    "company_prefix": "prefix",
    "gs1_company_prefix": "prefix",
}
_NAMES: Final = {
    **{k.value: k for k in Kind},
    **{k.plural: k for k in Kind},
    "parties": Kind.PARTY,
    "epcis_locations": Kind.LOCATION,
    "epcis_parties": Kind.PARTY,
    "warehouses": Kind.SITE,
    "company_prefixes": Kind.PREFIX,
    "gs1_prefixes": Kind.PREFIX,
    "经销商": Kind.DISTRIBUTOR,
    "仓库": Kind.SITE,
    "站点": Kind.SITE,
    "产品": Kind.PRODUCT,
}
# A column only one kind has decides the kind of a sheet without a name that says it.
_TELLING: Final = (
    ("prefix", Kind.PREFIX),
    ("gtin", Kind.PRODUCT),
    ("location", Kind.LOCATION),
    ("party", Kind.PARTY),
    ("regions", Kind.DISTRIBUTOR),
    ("parent_id", Kind.DISTRIBUTOR),
    ("latitude", Kind.SITE),
    ("address", Kind.SITE),
)


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # as the spreadsheet numbers it: the header is row 1
    kind: Kind | None
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str
    kind: Kind | None
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)


def _column(name: Any) -> str:
    text = re.sub(r"[\s\-/]+", "_", str(name or "").strip().lower()).strip("_")
    return _ALIASES.get(text, text)


def kind_named(name: str) -> Kind | None:
    """The kind a sheet or file name says (``Sites``, ``channel-sites.csv`` → site)."""
    stem = _column(PurePath(name).stem)
    if stem in _NAMES:
        return _NAMES[stem]
    for part in reversed(stem.split("_")):
        if part in _NAMES:
            return _NAMES[part]
    return None


def _kind_of_columns(columns: Iterable[str]) -> Kind | None:
    present = set(columns)
    for column, kind in _TELLING:
        if column in present:
            return kind
    return None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # Excel stores 440000 as 440000.0
    return str(value).strip()


def _sheet(name: str, raw_rows: Iterator[tuple[int, list[Any]]], kind: Kind | None) -> Sheet:
    header: tuple[str, ...] | None = None
    rows: list[Row] = []
    for number, values in raw_rows:
        cells = [_cell(v) for v in values]
        if not any(cells):
            continue
        if header is None:
            header = tuple(_column(c) for c in cells)
            if "" in header:
                raise ImportRefused(
                    f"{name}: expected a name in every header cell of row {number}, got an "
                    f"empty one in column {header.index('') + 1}"
                )
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportRefused(f"{name}: expected at most {MAX_ROWS} rows, got more")
        named = {header[i]: c for i, c in enumerate(cells) if i < len(header)}
        if len(cells) > len(header) and any(cells[len(header):]):
            named[f"column {len(header) + 1}"] = cells[len(header)]
        row_kind = kind
        if kind is None and "kind" in named:
            said = named.pop("kind")
            row_kind = kind_named(said) if said else None
            if row_kind is None:
                named["kind"] = said  # reported by the importer: which kind is meant?
        rows.append(Row(number, row_kind, named))
    if header is None:
        return Sheet(name, kind, ())
    if kind is None and "kind" not in header:
        kind = kind_named(name) or _kind_of_columns(header)
        rows = [Row(r.number, kind, r.cells) for r in rows]
    return Sheet(name, kind, header, rows)


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRefused(f"{name}: expected text in UTF-8 or GB18030, got undecodable bytes")


def _csv(data: bytes, name: str, kind: Kind | None) -> list[Sheet]:
    text = _decode(data, name)
    if "\x00" in text:
        raise ImportRefused(f"{name}: expected a CSV text file, got NUL characters")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            yield from enumerate(reader, start=1)
        except csv.Error as exc:
            raise ImportRefused(f"{name}: not valid CSV: {exc}") from None

    return [_sheet(name, rows(), kind)]


def _xlsx(data: bytes, name: str, kind: Kind | None) -> list[Sheet]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRefused(f"{name}: expected an Excel workbook (.xlsx), got {exc}") from None
    try:
        sheets = []
        for ws in book.worksheets:
            own = kind or kind_named(ws.title)
            rows = ((i, list(v)) for i, v in enumerate(ws.iter_rows(values_only=True), start=1))
            sheet = _sheet(ws.title, rows, own)
            if sheet.rows or len(book.worksheets) == 1:
                sheets.append(sheet)
        return sheets
    finally:
        book.close()


def read_sheets(data: bytes, filename: str, kind: Kind | None = None) -> list[Sheet]:
    """The sheets of an uploaded file (XLSX by its zip signature, CSV otherwise)."""
    if not data.strip():
        raise ImportRefused(f"{filename}: expected a CSV or XLSX file, got an empty one")
    if data[:4] == b"PK\x03\x04":
        return _xlsx(data, filename, kind)
    return _csv(data, filename, kind)


def known_columns(kind: Kind) -> tuple[str, ...]:
    return FIELDS[kind]
