"""Bulk import of channel master data from CSV or XLSX, all or nothing.

Every row is checked — its values (:func:`cloud.channel.records.parse_record`), its key
against the other rows of the file, and its references against the database and the rest
of the file — and every problem is reported with its sheet, row number, column, what was
expected and what was got. Rows are then applied in one transaction in dependency order
(distributors parents first, sites, products, locations, parties); if any row has a
problem, or for a dry run, the transaction is rolled back: nothing is written. The dry run
runs exactly the same statements, so it finds exactly what the real run would.

Importing the same file again changes nothing and logs nothing (each record is compared
with what is stored). Uploaded files are kept in ``channel_imports`` so that a dry run can
be applied later by id (the console's two steps), and each change points back to its file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloud.channel.changes import Actor
from cloud.channel.errors import InvalidRecord, RecordConflict, RecordNotFound
from cloud.channel.geocode import Geocoder
from cloud.channel.records import Distributor, Kind, Record, parse_record, record_key
from cloud.channel.sheets import Sheet, read_sheets
from cloud.channel.store import save_record

__all__ = [
    "MAX_REPORTED",
    "ImportReport",
    "RowProblem",
    "StoredImport",
    "apply_stored",
    "import_file",
    "list_imports",
    "load_import",
    "run_import",
    "store_upload",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
_ORDER: Final = (Kind.PREFIX, Kind.DISTRIBUTOR, Kind.SITE, Kind.PRODUCT, Kind.LOCATION,
                 Kind.PARTY)  # fmt: skip
MAX_REPORTED: Final = 1_000  # problems listed in a report (all are counted)


@dataclass(frozen=True, slots=True)
class RowProblem:
    sheet: str
    row: int
    column: str
    expected: str
    got: str

    def __str__(self) -> str:
        where = f"{self.sheet} row {self.row}, {self.column}"
        return f"{where}: expected {self.expected}, got {self.got}"


@dataclass(frozen=True, slots=True)
class _Parsed:
    sheet: str
    row: int
    kind: Kind
    record: Record


@dataclass
class ImportReport:
    """What an import found and did (``applied`` False: nothing was written)."""

    dry_run: bool
    applied: bool = False
    rows: int = 0
    problem_count: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    import_id: int | None = None

    def add(self, problem: RowProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(problem)

    def count(self, bucket: dict[str, int], kind: Kind) -> None:
        bucket[kind.plural] = bucket.get(kind.plural, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        return data

    def summary(self) -> str:
        def fmt(bucket: dict[str, int]) -> str:
            return ", ".join(f"{n} {k}" for k, n in sorted(bucket.items())) or "none"

        head = "dry run" if self.dry_run else ("applied" if self.applied else "not applied")
        verb = ("created", "updated") if self.applied else ("would create", "would update")
        return (
            f"{head}: {self.rows} rows, {self.problem_count} problems; {verb[0]} "
            f"{fmt(self.created)}; {verb[1]} {fmt(self.updated)}; unchanged {fmt(self.unchanged)}"
        )


class _Rollback(Exception):
    """Undo the import's transaction (a dry run, or problems found)."""


_REFERS: Final = {"parent_id": Kind.DISTRIBUTOR, "distributor_id": Kind.DISTRIBUTOR,
                  "site_id": Kind.SITE}  # fmt: skip


def _parse(
    sheets: Sequence[Sheet],
    report: ImportReport,
    geocoder: Geocoder,
    failed: dict[tuple[Kind, str], tuple[str, int]],
) -> list[_Parsed]:
    parsed: list[_Parsed] = []
    seen: dict[tuple[Kind, str], tuple[str, int]] = {}
    for sheet in sheets:
        for row in sheet.rows:
            report.rows += 1
            if row.kind is None:
                got = row.cells.get("kind")
                report.add(RowProblem(
                    sheet.name, row.number, "kind",
                    "one of prefix, distributor, site, product, location, party (a kind "
                    "column, or a sheet or file named after the kind)",
                    repr(got) if got else "nothing",
                ))  # fmt: skip
                continue
            try:
                record = parse_record(row.kind, row.cells, geocoder)
            except InvalidRecord as exc:
                for p in exc.problems:
                    report.add(RowProblem(sheet.name, row.number, p.field, p.expected, p.got))
                key = row.cells.get(_key_column(row.kind), "")
                failed.setdefault((row.kind, key), (sheet.name, row.number))
                continue
            key = record_key(row.kind, record)
            if (row.kind, key) in seen:
                where = seen[(row.kind, key)]
                column = _key_column(row.kind)
                report.add(RowProblem(
                    sheet.name, row.number, column,
                    f"a {row.kind.value} not already in {where[0]} row {where[1]}", repr(key),
                ))  # fmt: skip
                continue
            seen[(row.kind, key)] = (sheet.name, row.number)
            parsed.append(_Parsed(sheet.name, row.number, row.kind, record))
    return parsed


def _ordered(parsed: list[_Parsed]) -> list[_Parsed]:
    """Kinds in dependency order; distributors after the parents the file also holds."""
    by_kind = {k: [p for p in parsed if p.kind is k] for k in _ORDER}
    distributors = by_kind[Kind.DISTRIBUTOR]
    ids = {p.record.id for p in distributors if isinstance(p.record, Distributor)}
    placed: set[str] = set()
    ordered: list[_Parsed] = []
    pending = list(distributors)
    while pending:
        ready = [
            p for p in pending
            if isinstance(p.record, Distributor)
            and (p.record.parent_id is None or p.record.parent_id not in ids
                 or p.record.parent_id in placed)
        ]  # fmt: skip
        if not ready:  # a loop within the file: the store reports it row by row
            ready = pending
        for p in ready:
            ordered.append(p)
            placed.add(record_key(p.kind, p.record))
        pending = [p for p in pending if p not in ready]
    ordered = by_kind[Kind.PREFIX] + ordered
    for kind in _ORDER[2:]:
        ordered += by_kind[kind]
    return ordered


def _key_column(kind: Kind) -> str:
    return {Kind.PRODUCT: "gtin", Kind.LOCATION: "location", Kind.PARTY: "party",
            Kind.PREFIX: "prefix"}.get(kind, "id")  # fmt: skip


def run_import(
    conn: Conn,
    tenant: str,
    sheets: Sequence[Sheet],
    actor: Actor,
    geocoder: Geocoder,
    *,
    dry_run: bool,
    import_id: int | None = None,
) -> ImportReport:
    """Check every row, then apply all of them or none (see the module's docstring)."""
    report = ImportReport(dry_run=dry_run, import_id=import_id)
    failed: dict[tuple[Kind, str], tuple[str, int]] = {}
    parsed = _parse(sheets, report, geocoder, failed)
    try:
        with conn.transaction():
            for item in _ordered(parsed):
                try:
                    change = save_record(conn, tenant, item.record, actor, import_id=import_id)
                except InvalidRecord as exc:
                    for p in exc.problems:
                        expected = p.expected
                        refers = _REFERS.get(p.field)
                        where = failed.get((refers, p.got.strip("'"))) if refers else None
                        if where is not None:
                            expected += f" ({where[0]} row {where[1]} has it, with problems)"
                        report.add(RowProblem(item.sheet, item.row, p.field, expected, p.got))
                    continue
                except (RecordConflict, RecordNotFound) as exc:
                    report.add(RowProblem(
                        item.sheet, item.row, _key_column(item.kind),
                        f"a {item.kind.value} this tenant may write", str(exc),
                    ))  # fmt: skip
                    continue
                bucket = {"create": report.created, "update": report.updated}.get(
                    change.action, report.unchanged
                )
                report.count(bucket, item.kind)
            if report.problem_count or dry_run:
                raise _Rollback
    except _Rollback:
        pass
    else:
        report.applied = True
    order = {s.name: i for i, s in enumerate(sheets)}
    report.problems.sort(key=lambda p: (order.get(p.sheet, 0), p.row))
    _logger.info("import for %s by %s: %s", tenant, actor.subject, report.summary())
    return report


# ----------------------------------------------------------------------------- stored files


@dataclass(frozen=True, slots=True)
class StoredImport:
    id: int
    tenant_id: str
    filename: str
    media_type: str
    kind: str | None
    size: int
    report: dict[str, Any]
    created_by: str
    created_at: datetime
    applied_by: str | None
    applied_at: datetime | None


def store_upload(
    conn: Conn,
    tenant: str,
    filename: str,
    media_type: str,
    content: bytes,
    actor: Actor,
    kind: Kind | None = None,
) -> int:
    """Keep an uploaded file (its report is added when it has been checked or applied)."""
    name = (filename or "upload").replace("\x00", "")[-255:] or "upload"
    row = conn.execute(
        "INSERT INTO channel_imports (tenant_id, filename, media_type, kind, content, sha256,"
        " created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (tenant, name, media_type[:200], None if kind is None else kind.value, content,
         hashlib.sha256(content).digest(), actor.subject),
    ).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0])


def _record_report(conn: Conn, import_id: int, report: ImportReport, actor: Actor) -> None:
    conn.execute(
        "UPDATE channel_imports SET report = %s,"
        " applied_by = CASE WHEN %s THEN %s END, applied_at = CASE WHEN %s THEN now() END"
        " WHERE id = %s",
        (Jsonb(report.as_dict()), report.applied, actor.subject, report.applied, import_id),
    )


_SELECT: Final = (
    "SELECT id, tenant_id, filename, media_type, kind, length(content) AS size, report,"
    " created_by, created_at, applied_by, applied_at FROM channel_imports WHERE tenant_id = %s"
)


def load_import(conn: Conn, tenant: str, import_id: int) -> StoredImport | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            _SELECT + " AND id = %s",
            (tenant, import_id),
        ).fetchone()
    return None if row is None else StoredImport(**row)


def list_imports(conn: Conn, tenant: str, *, limit: int = 50) -> list[StoredImport]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _SELECT + " ORDER BY id DESC LIMIT %s",
            (tenant, limit),
        ).fetchall()
    return [StoredImport(**r) for r in rows]


def import_file(
    conn: Conn,
    tenant: str,
    filename: str,
    media_type: str,
    content: bytes,
    actor: Actor,
    geocoder: Geocoder,
    *,
    dry_run: bool,
    kind: Kind | None = None,
) -> ImportReport:
    """Keep the file, read it and import it (or dry-run it); the report is kept with it.

    A file that cannot be read at all raises :class:`ImportRefused` (nothing kept)."""
    sheets = read_sheets(content, filename, kind)
    import_id = store_upload(conn, tenant, filename, media_type, content, actor, kind)
    report = run_import(
        conn, tenant, sheets, Actor(actor.subject, "import"), geocoder, dry_run=dry_run,
        import_id=import_id,
    )  # fmt: skip
    _record_report(conn, import_id, report, actor)
    return report


def apply_stored(
    conn: Conn, tenant: str, import_id: int, actor: Actor, geocoder: Geocoder
) -> ImportReport:
    """Apply a kept file (checked again against the data as it is now)."""
    row = conn.execute(
        "SELECT filename, content, applied_at, kind FROM channel_imports"
        " WHERE tenant_id = %s AND id = %s FOR UPDATE",
        (tenant, import_id),
    ).fetchone()
    if row is None:
        raise RecordNotFound(f"no import {import_id} in {tenant}")
    if row[2] is not None:
        raise RecordConflict(f"import {import_id} was applied at {row[2].isoformat()}")
    sheets = read_sheets(bytes(row[1]), row[0], None if row[3] is None else Kind(row[3]))
    report = run_import(
        conn, tenant, sheets, Actor(actor.subject, "import"), geocoder, dry_run=False,
        import_id=import_id,
    )  # fmt: skip
    _record_report(conn, import_id, report, actor)
    return report

