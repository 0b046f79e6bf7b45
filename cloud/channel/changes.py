"""The change log of channel master data: who changed what, when, through what, and the
record before and after (``channel_changes``, append-only: migration 0012 refuses UPDATE
and DELETE even for the owner)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = ["ENTITIES", "VIAS", "Actor", "ChangeEntry", "Via", "list_changes", "record_change"]

Conn = psycopg.Connection[Any]
Via = Literal["api", "console", "cli", "import", "operator"]
VIAS: Final = ("api", "console", "cli", "import", "operator")
ENTITIES: Final = ("tenant", "distributor", "site", "product", "location", "party", "prefix",
                   "user")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change (a principal's subject such as ``user:ana``, or ``cli:root``)
    and through which door."""

    subject: str
    via: Via

    def __post_init__(self) -> None:
        if not self.subject or len(self.subject) > 200:
            raise ValueError(f"an actor needs a subject of 1–200 characters, got {self.subject!r}")
        if self.via not in VIAS:
            raise ValueError(f"expected via to be one of {', '.join(VIAS)}, got {self.via!r}")


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    id: int
    tenant_id: str
    at: datetime
    actor: str
    via: str
    entity: str
    key: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    import_id: int | None


def _json(value: dict[str, Any] | None) -> Jsonb | None:
    if value is None:
        return None
    # Round-trip through JSON so that dates and decimals are stored as their text.
    return Jsonb(json.loads(json.dumps(value, default=str)))


def record_change(
    conn: Conn,
    tenant: str,
    actor: Actor,
    *,
    entity: str,
    key: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    import_id: int | None = None,
) -> int:
    """Append one entry; returns its id. Run it in the transaction of the change."""
    row = conn.execute(
        "INSERT INTO channel_changes (tenant_id, actor, via, entity, key, action, before,"
        " after, import_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (tenant, actor.subject, actor.via, entity, key, action, _json(before), _json(after),
         import_id),
    ).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0])


def list_changes(
    conn: Conn,
    tenant: str,
    *,
    entity: str | None = None,
    key: str | None = None,
    import_id: int | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[ChangeEntry]:
    """Newest first; ``before_id`` pages back."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, tenant_id, at, actor, via, entity, key, action, before, after, import_id"
            " FROM channel_changes WHERE tenant_id = %(t)s"
            " AND (%(entity)s::text IS NULL OR entity = %(entity)s)"
            " AND (%(key)s::text IS NULL OR key = %(key)s)"
            " AND (%(import)s::bigint IS NULL OR import_id = %(import)s)"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"t": tenant, "entity": entity, "key": key, "import": import_id,
             "before": before_id, "limit": limit},
        ).fetchall()  # fmt: skip
    return [ChangeEntry(**r) for r in rows]
