"""Channel records in PostgreSQL: read, create, update, map and unmap, each change logged.

Every function takes a connection and a tenant. The API and the console pass their
request's connection, scoped to the caller (role ``ct_app``, row-level security): a brand
sees and writes its own tenant's rows, and migration 0012's restrictive policies refuse a
distributor's writes in the database itself. The CLI passes an owner connection; the
tenant filter in every statement is then what keeps tenants apart.

A write compares the stored record with the new one: nothing changes, nothing is logged
(re-importing the same file is a no-op). Otherwise the row is written and a
:mod:`cloud.channel.changes` entry records who, when, through what, and before/after, in
the same transaction.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cloud.channel.changes import Actor, record_change
from cloud.channel.errors import (
    FieldProblem,
    InvalidRecord,
    RecordConflict,
    RecordNotFound,
)
from cloud.channel.records import (
    FIELDS,
    Distributor,
    Kind,
    Location,
    Party,
    Prefix,
    Product,
    Record,
    Site,
    as_dict,
    record_key,
)

__all__ = [
    "Change",
    "SaveMode",
    "delete_mapping",
    "get_record",
    "list_records",
    "record_from_row",
    "save_record",
    "tenant_exists",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


class SaveMode(enum.StrEnum):
    CREATE = "create"  # refuse an existing key (409)
    UPDATE = "update"  # refuse a missing key (404)
    UPSERT = "upsert"  # either (imports, PUT)


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    key: str
    action: str  # create, update, delete or unchanged
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    key: str
    columns: tuple[str, ...]  # besides tenant_id and the key, as the record names them


_TABLES: Final = {
    Kind.DISTRIBUTOR: _Table("distributors", "id", FIELDS[Kind.DISTRIBUTOR][1:]),
    Kind.SITE: _Table("sites", "id", FIELDS[Kind.SITE][1:]),
    Kind.PRODUCT: _Table("products", "gtin", FIELDS[Kind.PRODUCT][1:]),
    Kind.LOCATION: _Table("epcis_locations", "location", FIELDS[Kind.LOCATION][1:]),
    Kind.PARTY: _Table("epcis_parties", "party", FIELDS[Kind.PARTY][1:]),
}
_MAPPINGS: Final = frozenset({Kind.LOCATION, Kind.PARTY})


def tenant_exists(conn: Conn, tenant: str) -> bool:
    return conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant,)).fetchone() is not None


def _select(table: _Table, *, lock: bool = False) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in (table.key, *table.columns))
    query = sql.SQL("SELECT {cols}, tenant_id, created_at, updated_at FROM {t}").format(
        cols=cols, t=sql.Identifier(table.name)
    )
    return query + sql.SQL(" FOR UPDATE" if lock else "")


def record_from_row(kind: Kind, row: dict[str, Any]) -> dict[str, Any]:
    """The record's fields of a stored row (as :func:`cloud.channel.records.as_dict`)."""
    data = {f: row[f] for f in FIELDS[kind]}
    if kind is Kind.DISTRIBUTOR:
        data["regions"] = list(data["regions"] or [])
    return data


def _prefix_rows(conn: Conn, tenant: str) -> list[dict[str, Any]]:
    from cloud.provenance.prefixes import list_prefixes

    return [
        {"prefix": p.prefix, "created_at": p.created_at, "updated_at": p.created_at,
         "created_by": p.created_by}
        for p in list_prefixes(conn, tenant)
    ]  # fmt: skip


def get_record(conn: Conn, tenant: str, kind: Kind, key: str) -> dict[str, Any] | None:
    """The stored record (with ``created_at``/``updated_at``), ``None`` if not in scope."""
    if kind is Kind.PREFIX:
        return next((r for r in _prefix_rows(conn, tenant) if r["prefix"] == key), None)
    table = _TABLES[kind]
    query = sql.SQL("SELECT * FROM ({q}) x WHERE tenant_id = %s AND {k} = %s").format(
        q=_select(table), k=sql.Identifier(table.key)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, (tenant, key)).fetchone()
    if row is None:
        return None
    return {
        **record_from_row(kind, row),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def list_records(conn: Conn, tenant: str, kind: Kind) -> list[dict[str, Any]]:
    """Every record of ``kind`` the connection may see, by key."""
    if kind is Kind.PREFIX:
        return _prefix_rows(conn, tenant)
    table = _TABLES[kind]
    query = sql.SQL("SELECT * FROM ({q}) x WHERE tenant_id = %s ORDER BY {k}").format(
        q=_select(table), k=sql.Identifier(table.key)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (tenant,)).fetchall()
    return [
        {**record_from_row(kind, r), "created_at": r["created_at"], "updated_at": r["updated_at"]}
        for r in rows
    ]


def _current(conn: Conn, tenant: str, kind: Kind, key: str) -> dict[str, Any] | None:
    """The stored record, locked for the change (keys are per tenant, mappings too since
    migration 0011: two brands may each map the same SGLN to a site of their own)."""
    table = _TABLES[kind]
    query = sql.SQL("{q} WHERE tenant_id = %s AND {k} = %s FOR UPDATE").format(
        q=_select(table), k=sql.Identifier(table.key)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, (tenant, key)).fetchone()
    return None if row is None else record_from_row(kind, row)


def _exists(conn: Conn, tenant: str, kind: Kind, key: str) -> bool:
    table = _TABLES[kind]
    query = sql.SQL("SELECT 1 FROM {t} WHERE tenant_id = %s AND {k} = %s").format(
        t=sql.Identifier(table.name), k=sql.Identifier(table.key)
    )
    return conn.execute(query, (tenant, key)).fetchone() is not None


def _check_references(conn: Conn, tenant: str, record: Record) -> None:
    problems: list[FieldProblem] = []

    def need(field: str, kind: Kind, key: str | None) -> None:
        if key is not None and not _exists(conn, tenant, kind, key):
            problems.append(
                FieldProblem(field, f"the id of an existing {kind.value} of {tenant}", repr(key))
            )

    if isinstance(record, Distributor):
        need("parent_id", Kind.DISTRIBUTOR, record.parent_id)
        if record.parent_id is not None and not problems and _loops(conn, tenant, record):
            problems.append(
                FieldProblem(
                    "parent_id",
                    f"a distributor that does not buy, directly or not, from {record.id}",
                    repr(record.parent_id),
                )
            )
    elif isinstance(record, Site):
        need("distributor_id", Kind.DISTRIBUTOR, record.distributor_id)
    elif isinstance(record, Location):
        need("site_id", Kind.SITE, record.site_id)
    elif isinstance(record, Party):
        need("distributor_id", Kind.DISTRIBUTOR, record.distributor_id)
    if problems:
        raise InvalidRecord(f"{_kind_of(record).value} {record_key(_kind_of(record), record)!r}",
                            problems)  # fmt: skip


def _loops(conn: Conn, tenant: str, record: Distributor) -> bool:
    """Would ``record.id`` buy from itself through ``record.parent_id``'s chain?"""
    row = conn.execute(
        "WITH RECURSIVE up(id, parent_id, depth) AS ("
        " SELECT id, parent_id, 1 FROM distributors WHERE tenant_id = %(t)s AND id = %(p)s"
        " UNION ALL SELECT d.id, d.parent_id, up.depth + 1 FROM distributors d"
        " JOIN up ON d.id = up.parent_id AND d.tenant_id = %(t)s WHERE up.depth < 1000)"
        " SELECT 1 FROM up WHERE id = %(self)s LIMIT 1",
        {"t": tenant, "p": record.parent_id, "self": record.id},
    ).fetchone()
    return row is not None


def _kind_of(record: Record) -> Kind:
    for kind, cls in (
        (Kind.PREFIX, Prefix),
        (Kind.DISTRIBUTOR, Distributor),
        (Kind.SITE, Site),
        (Kind.PRODUCT, Product),
        (Kind.LOCATION, Location),
        (Kind.PARTY, Party),
    ):
        if isinstance(record, cls):
            return kind
    raise TypeError(f"not a channel record: {record!r}")


def _values(kind: Kind, record: Record) -> dict[str, Any]:
    data = as_dict(record)
    if isinstance(record, Product):
        data["name"] = record.name
    return data


def _same(kind: Kind, before: dict[str, Any], after: dict[str, Any]) -> bool:
    return all(before.get(f) == after.get(f) for f in FIELDS[kind])


def save_record(
    conn: Conn,
    tenant: str,
    record: Record,
    actor: Actor,
    *,
    mode: SaveMode = SaveMode.UPSERT,
    import_id: int | None = None,
) -> Change:
    """Create or update ``record`` of ``tenant`` and log the change (none if identical).

    Raises :class:`RecordConflict` (exists, mode CREATE),
    :class:`RecordNotFound` (missing, mode UPDATE) and :class:`InvalidRecord` (a reference
    to a record that does not exist, or a distributor chain that loops)."""
    kind = _kind_of(record)
    key = record_key(kind, record)
    if isinstance(record, Prefix):
        return _save_prefix(conn, tenant, record, actor, mode, import_id)
    table = _TABLES[kind]
    with conn.transaction():
        before = _current(conn, tenant, kind, key)
        if before is not None and mode is SaveMode.CREATE:
            raise RecordConflict(f"{kind.value} {key!r} exists already; update it instead")
        if before is None and mode is SaveMode.UPDATE:
            raise RecordNotFound(f"no {kind.value} {key!r} in {tenant}")
        after = as_dict(record)
        if before is not None and _same(kind, before, after):
            return Change(kind, key, "unchanged", before, after)
        _check_references(conn, tenant, record)
        values = _values(kind, record)
        columns = [c for c in values if c != table.key]
        if before is None:
            conn.execute(
                sql.SQL("INSERT INTO {t} (tenant_id, {k}, {cols}) VALUES (%s, %s, {vals})")
                .format(
                    t=sql.Identifier(table.name),
                    k=sql.Identifier(table.key),
                    cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                    vals=sql.SQL(", ").join(sql.Placeholder() for _ in columns),
                ),
                (tenant, key, *(values[c] for c in columns)),
            )
        else:
            conn.execute(
                sql.SQL("UPDATE {t} SET {sets}, updated_at = now()"
                        " WHERE tenant_id = %s AND {k} = %s").format(
                    t=sql.Identifier(table.name),
                    sets=sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder())
                        for c in columns
                    ),
                    k=sql.Identifier(table.key),
                ),
                (*(values[c] for c in columns), tenant, key),
            )  # fmt: skip
        action = "create" if before is None else "update"
        record_change(
            conn, tenant, actor, entity=kind.value, key=key, action=action,
            before=before, after=after, import_id=import_id,
        )  # fmt: skip
    _logger.info("%s %s %s of %s by %s", action, kind.value, key, tenant, actor.subject)
    return Change(kind, key, action, before, after)


def _save_prefix(
    conn: Conn, tenant: str, record: Prefix, actor: Actor, mode: SaveMode, import_id: int | None
) -> Change:
    """Register a company prefix through :mod:`cloud.provenance.prefixes`, which checks it
    against every tenant's and logs it; registering one's own again changes nothing."""
    from cloud.provenance.errors import PrefixError
    from cloud.provenance.prefixes import add_prefix

    try:  # the prefix store logs the change itself
        _, created = add_prefix(conn, tenant, record.prefix, actor=actor, import_id=import_id)
    except PrefixError as exc:
        raise InvalidRecord(f"prefix {record.prefix!r}", [FieldProblem(
            "prefix", "a prefix that overlaps no registered one", str(exc))]) from None
    if created:
        return Change(Kind.PREFIX, record.prefix, "create", None, as_dict(record))
    if mode is SaveMode.CREATE:
        raise RecordConflict(f"prefix {record.prefix} is registered to you already")
    return Change(Kind.PREFIX, record.prefix, "unchanged", as_dict(record), as_dict(record))


def delete_mapping(conn: Conn, tenant: str, kind: Kind, key: str, actor: Actor) -> Change:
    """Remove an EPCIS location or party mapping, or a company prefix (logged);
    :class:`RecordNotFound` if there is none, :class:`RecordConflict` for a prefix in use."""
    if kind is Kind.PREFIX:
        return _remove_prefix(conn, tenant, key, actor)
    if kind not in _MAPPINGS:
        raise RecordConflict(
            f"{kind.plural} are not deleted (custody, stock and logins refer to them); "
            "update them instead"
        )
    table = _TABLES[kind]
    with conn.transaction():
        before = _current(conn, tenant, kind, key)
        if before is None:
            raise RecordNotFound(f"no {kind.value} {key!r} in {tenant}")
        conn.execute(
            sql.SQL("DELETE FROM {t} WHERE tenant_id = %s AND {k} = %s").format(
                t=sql.Identifier(table.name), k=sql.Identifier(table.key)
            ),
            (tenant, key),
        )
        record_change(
            conn, tenant, actor, entity=kind.value, key=key, action="delete", before=before,
            after=None,
        )  # fmt: skip
    return Change(kind, key, "delete", before, None)


def _remove_prefix(conn: Conn, tenant: str, prefix: str, actor: Actor) -> Change:
    from cloud.provenance.errors import PrefixInUseError, PrefixNotFoundError
    from cloud.provenance.prefixes import remove_prefix

    try:
        remove_prefix(conn, tenant, prefix, actor=actor)  # logged by the prefix store
    except PrefixNotFoundError as exc:
        raise RecordNotFound(str(exc)) from None
    except PrefixInUseError as exc:
        raise RecordConflict(str(exc)) from None
    return Change(Kind.PREFIX, prefix, "delete", {"prefix": prefix}, None)


def keys_of(changes: Sequence[Change], action: str) -> list[str]:
    return [c.key for c in changes if c.action == action]
