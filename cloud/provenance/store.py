"""Custody events and units in PostgreSQL (``cloud/migrations/0005_provenance.sql``).

``custody_events`` holds one row per accepted EPCIS event with the fields custody queries
need; its canonical bytes are the ledger leaf (``ledger_entries.canonical`` at
``ledger_idx``), never stored twice. Both belong to a tenant (migration 0011): every read
and write names it, so an EPC is never found across tenants. ``units`` is derived:
:func:`refresh_custody` recomputes the custody of the objects an event touches with
:func:`compute_custody` over exactly the events that can affect them (their own and those
of every container they were ever in), so out-of-order arrival, aggregation and error
declarations stay correct.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloud.provenance.custody import CustodyStatus, UnitCustody, compute_custody
from cloud.provenance.errors import ProvenanceStoreError
from cloud.provenance.events import NormalisedEvent
from ledger.hashing import leaf_hash
from wire.digital_link import SsccLink, parse_link
from wire.errors import IdentifierError

__all__ = [
    "StoredEvent",
    "ancestors_of",
    "events_for_epcs",
    "existing_events",
    "insert_events",
    "refresh_custody",
    "unit_row",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
#: Safety bound on the closure walk (nesting depth of containers is a handful in practice).
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class StoredEvent:
    ledger_idx: int
    event: NormalisedEvent


def existing_events(
    conn: Conn, tenant: str, keys: Collection[tuple[str, bool]]
) -> dict[tuple[str, bool], int]:
    """``(event_id, error_declared) -> ledger index`` of those ``tenant`` already captured."""
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT event_id, error_declared, ledger_idx FROM custody_events"
        " WHERE tenant_id = %s AND (event_id, error_declared) IN"
        " (SELECT * FROM unnest(%s::text[], %s::boolean[]))",
        (tenant, [k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def insert_events(
    conn: Conn,
    events: Sequence[NormalisedEvent],
    first_index: int,
    *,
    tenant: str,
    source: str,
) -> None:
    """Insert ``events`` whose ledger indexes are ``first_index, first_index + 1, ...``."""
    rows = [
        (
            e.event_id,
            e.error_declared,
            tenant,
            first_index + i,
            e.event_type,
            e.event_time,
            e.action,
            e.biz_step,
            e.disposition,
            e.biz_location,
            e.read_point,
            list(dict.fromkeys(e.all_epcs)),
            e.parent_id,
            list(e.child_epcs),
            Jsonb(
                [
                    {"epc_class": q.epc_class, "quantity": q.quantity, "uom": q.uom}
                    for q in e.quantities
                ]
            ),
            source,
        )
        for i, e in enumerate(events)
    ]
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO custody_events (event_id, error_declared, tenant_id, ledger_idx,"
                " event_type, event_time, action, biz_step, disposition, biz_location,"
                " read_point, epcs, parent_id, child_epcs, quantities, source)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
    except psycopg.Error as exc:
        raise ProvenanceStoreError(f"storing {len(rows)} custody events failed: {exc}") from exc


class _EventCache:
    """Normalised events by leaf hash (content-addressed, so valid whichever database or
    log they were read from): re-parsing big events (a pallet's thousands of EPCs) on
    every read is wasted work. An entry is cached only if its bytes match its hash."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[bytes, NormalisedEvent] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, conn: Conn, wanted: list[tuple[int, bytes]]) -> dict[int, NormalisedEvent]:
        found: dict[int, NormalisedEvent] = {}
        with self._lock:
            for index, leaf in wanted:
                if (event := self._items.get(leaf)) is not None:
                    self._items.move_to_end(leaf)
                    found[index] = event
        missing = [index for index, _ in wanted if index not in found]
        if missing:
            rows = conn.execute(
                "SELECT idx, canonical FROM ledger_entries WHERE idx = ANY(%s)", (missing,)
            ).fetchall()
            expected = dict(wanted)
            for index, canonical in rows:
                event = NormalisedEvent.from_canonical(bytes(canonical))
                found[int(index)] = event
                leaf = expected[int(index)]
                if leaf_hash(bytes(canonical)) == leaf:
                    with self._lock:
                        self._items[leaf] = event
                        while len(self._items) > self._size:
                            self._items.popitem(last=False)
                else:
                    _logger.warning("ledger entry %d does not match its leaf hash", index)
        return found


_CACHE = _EventCache(4_096)


def events_for_epcs(
    conn: Conn, tenant: str, epcs: Collection[str], limit: int | None = None
) -> list[StoredEvent]:
    """``tenant``'s events naming any of ``epcs`` (GIN index), oldest first, re-derived from
    the ledger."""
    if not epcs:
        return []
    rows = conn.execute(
        "SELECT c.ledger_idx, l.leaf_hash FROM custody_events c"
        " JOIN ledger_entries l ON l.idx = c.ledger_idx"
        " WHERE c.tenant_id = %s AND c.epcs && %s::text[]"
        " ORDER BY c.event_time, c.ledger_idx LIMIT %s",
        (tenant, list(epcs), limit),
    ).fetchall()
    wanted = [(int(r[0]), bytes(r[1])) for r in rows]
    events = _CACHE.get_many(conn, wanted)
    return [StoredEvent(i, events[i]) for i, _ in wanted]


def _descendants(conn: Conn, tenant: str, epcs: set[str]) -> set[str]:
    found, frontier = set(epcs), set(epcs)
    for _ in range(_MAX_DEPTH):
        if not frontier:
            return found
        rows = conn.execute(
            "SELECT DISTINCT unnest(child_epcs) FROM custody_events"
            " WHERE tenant_id = %s AND parent_id = ANY(%s)",
            (tenant, list(frontier)),
        ).fetchall()
        frontier = {r[0] for r in rows} - found
        found |= frontier
    raise ProvenanceStoreError(f"containers nested deeper than {_MAX_DEPTH} levels (a cycle?)")


def ancestors_of(conn: Conn, tenant: str, epcs: set[str]) -> set[str]:
    """``epcs`` and every container any of them was ever packed in (in ``tenant``'s
    events), recursively."""
    found, frontier = set(epcs), set(epcs)
    for _ in range(_MAX_DEPTH):
        if not frontier:
            return found
        rows = conn.execute(
            "SELECT DISTINCT parent_id FROM custody_events"
            " WHERE tenant_id = %s AND epcs && %s::text[] AND parent_id IS NOT NULL",
            (tenant, list(frontier)),
        ).fetchall()
        frontier = {r[0] for r in rows} - found
        found |= frontier
    raise ProvenanceStoreError(f"containers nested deeper than {_MAX_DEPTH} levels (a cycle?)")


def refresh_custody(conn: Conn, touched: Iterable[str], tenant: str) -> int:
    """Recompute ``tenant``'s ``units`` for ``touched`` EPCs and everything packed in them,
    from ``tenant``'s events only; returns rows.

    Call inside the transaction that inserted the events, after the ledger append (whose
    head lock serialises concurrent captures, so no two refreshes interleave).
    """
    affected = _descendants(conn, tenant, set(touched))
    relevant = ancestors_of(conn, tenant, affected)
    custody = compute_custody(e.event for e in events_for_epcs(conn, tenant, relevant))
    rows = [_unit_params(custody[epc], tenant) for epc in sorted(affected) if epc in custody]
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(_UPSERT, rows)
        cur.execute(
            "UPDATE units u SET lot = t.lot FROM trace_codes t"
            " WHERE u.tenant_id = %s AND u.epc = ANY(%s)"
            "   AND (t.tenant_id, t.epc) = (u.tenant_id, u.epc)",
            (tenant, [r["epc"] for r in rows]),
        )
    _logger.debug("refreshed custody of %d objects from %d events", len(rows), len(custody))
    return len(rows)


_UPSERT = (
    "INSERT INTO units (epc, tenant_id, gtin, serial, sscc, status, site, owner, possessor,"
    " parent, shipped_to, shipped_to_location, sold_at, sold_location, decommissioned_at,"
    " recalled_at, intervals, last_event_id, last_event_time)"
    " VALUES (%(epc)s, %(tenant)s, %(gtin)s, %(serial)s, %(sscc)s, %(status)s, %(site)s,"
    " %(owner)s, %(possessor)s, %(parent)s, %(shipped_to)s, %(shipped_to_location)s,"
    " %(sold_at)s, %(sold_location)s, %(decommissioned_at)s, %(recalled_at)s, %(intervals)s,"
    " %(last_event_id)s, %(last_event_time)s)"
    " ON CONFLICT (tenant_id, epc) DO UPDATE SET status = EXCLUDED.status,"
    " site = EXCLUDED.site, owner = EXCLUDED.owner,"
    " possessor = EXCLUDED.possessor, parent = EXCLUDED.parent,"
    " shipped_to = EXCLUDED.shipped_to, shipped_to_location = EXCLUDED.shipped_to_location,"
    " sold_at = EXCLUDED.sold_at, sold_location = EXCLUDED.sold_location,"
    " decommissioned_at = EXCLUDED.decommissioned_at, recalled_at = EXCLUDED.recalled_at,"
    " intervals = EXCLUDED.intervals,"
    " last_event_id = EXCLUDED.last_event_id, last_event_time = EXCLUDED.last_event_time,"
    " updated_at = now()"
)


def _identity(epc: str) -> tuple[str | None, str | None, str | None]:
    """``(gtin, serial, sscc)`` of a canonical Digital Link EPC (``None`` for other ids)."""
    if not epc.startswith("https://id.gs1.org/"):
        return None, None, None
    try:
        link = parse_link(epc)
    except IdentifierError:
        return None, None, None
    if isinstance(link, SsccLink):
        return None, None, link.sscc.value
    return link.gtin.value, link.serial, None


def _unit_params(unit: UnitCustody, tenant: str) -> dict[str, Any]:
    gtin, serial, sscc = _identity(unit.epc)
    sold = unit.status is CustodyStatus.SOLD and bool(unit.intervals)
    last = unit.intervals[-1] if unit.intervals else None
    intervals = [
        {
            "site": i.site,
            "start": i.start.isoformat(),
            "end": None if i.end is None else i.end.isoformat(),
        }
        for i in unit.intervals
    ]
    decommissioned = unit.status is CustodyStatus.DECOMMISSIONED
    return {
        "epc": unit.epc,
        "tenant": tenant,
        "gtin": gtin,
        "serial": serial,
        "sscc": sscc,
        "status": str(unit.status),
        "site": unit.site,
        "owner": unit.owner,
        "possessor": unit.possessor,
        "parent": unit.parent,
        "shipped_to": unit.shipped_to,
        "shipped_to_location": unit.shipped_to_location,
        "sold_at": last.end if sold and last is not None else None,
        "sold_location": last.site if sold and last is not None else None,
        "decommissioned_at": unit.last_event_time if decommissioned else None,
        "recalled_at": unit.recalled_at,
        "intervals": Jsonb(intervals),
        "last_event_id": unit.last_event_id,
        "last_event_time": unit.last_event_time,
    }


def unit_row(conn: Conn, tenant: str, epc: str) -> dict[str, Any] | None:
    """``tenant``'s ``units`` row of ``epc`` as a dict (``intervals`` parsed), or ``None``."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM units WHERE tenant_id = %s AND epc = %s", (tenant, epc)
        ).fetchone()
    if row is not None and isinstance(row["intervals"], str):
        row["intervals"] = json.loads(row["intervals"])
    return row
