"""Brand-owner audit reads: custody timeline of an EPC, scan map with clone/diversion
clusters, and EPCIS export of stored events (byte-for-byte the ledger leaves).

The timeline of a unit holds the events that changed its custody, including events about
the containers it was in at the time (receiving a pallet receives the unit): each is
found by replaying :func:`compute_custody` and keeping the events after which the unit's
last event is that event. Every entry carries its ledger index and proof bundle link.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg

from cloud.provenance.custody import compute_custody
from cloud.provenance.events import NormalisedEvent
from cloud.provenance.export import export_document
from cloud.provenance.store import StoredEvent, ancestors_of, events_for_epcs

__all__ = [
    "MAX_TIMELINE_EVENTS",
    "ScanCluster",
    "TimelineEntry",
    "bundle_url",
    "custody_timeline",
    "export_events",
    "scan_clusters",
    "scan_points",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
MAX_TIMELINE_EVENTS = 1_000
#: Cluster cell for the scan map, degrees (about 55 km north-south).
CLUSTER_CELL_DEG = 0.5


def bundle_url(ledger_index: int) -> str:
    """The proof bundle route of :mod:`ledger.service.api` for one ledger entry."""
    return f"/ledger/entries/{ledger_index}/bundle"


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    ledger_index: int
    event_id: str
    event_time: datetime
    event_type: str
    biz_step: str | None
    action: str | None
    location: str | None
    via: str | None  # the container the event was about, when not the unit itself

    @property
    def proof_url(self) -> str:
        return bundle_url(self.ledger_index)


def custody_timeline(conn: Conn, tenant: str, epc: str) -> list[TimelineEntry]:
    """Events of ``tenant`` that changed ``epc``'s custody, oldest first (at most the first
    1,000)."""
    chain = ancestors_of(conn, tenant, {epc})
    stored = events_for_epcs(conn, tenant, chain, limit=MAX_TIMELINE_EVENTS)
    return _affecting(stored, epc, [_trimmed(s.event, chain) for s in stored])


#: Stands in for objects outside the unit's container chain in a trimmed event.
_OTHERS = "urn:channeltrace:others"


def _keep(epcs: tuple[str, ...], chain: set[str]) -> tuple[str, ...]:
    kept = tuple(e for e in epcs if e in chain)
    return kept if kept or not epcs else (_OTHERS,)


def _trimmed(event: NormalisedEvent, chain: set[str]) -> NormalisedEvent:
    """``event`` naming only the unit's container chain (siblings cannot change the unit's
    custody; a placeholder keeps "these children" from turning into "all children")."""
    return replace(
        event,
        epcs=_keep(event.epcs, chain),
        child_epcs=_keep(event.child_epcs, chain),
        input_epcs=_keep(event.input_epcs, chain),
        output_epcs=_keep(event.output_epcs, chain),
    )


def _affecting(
    stored: Sequence[StoredEvent], epc: str, trimmed: Sequence[NormalisedEvent]
) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    last: str | None = None
    for k in range(1, len(stored) + 1):
        state = compute_custody(trimmed[:k]).get(epc)
        current = None if state is None else state.last_event_id
        event = stored[k - 1].event
        if current == event.event_id and current != last:
            out.append(
                TimelineEntry(
                    ledger_index=stored[k - 1].ledger_idx,
                    event_id=event.event_id,
                    event_time=event.event_time,
                    event_type=event.event_type,
                    biz_step=event.biz_step,
                    action=event.action,
                    location=event.biz_location or event.read_point,
                    via=None if epc in event.all_epcs else (event.parent_id or event.epcs[0]),
                )
            )
        last = current
    return out


def export_events(
    conn: Conn,
    *,
    epc: str | None = None,
    tenant: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1_000,
) -> dict[str, Any]:
    """An EPCISDocument of stored events (optionally of one EPC, a tenant, a period)."""
    rows = conn.execute(
        "SELECT l.canonical FROM custody_events c JOIN ledger_entries l ON l.idx = c.ledger_idx"
        " WHERE (%(epc)s::text IS NULL OR c.epcs @> ARRAY[%(epc)s::text])"
        "   AND (%(tenant)s::text IS NULL OR c.tenant_id = %(tenant)s)"
        "   AND (%(since)s::timestamptz IS NULL OR c.event_time >= %(since)s)"
        "   AND (%(until)s::timestamptz IS NULL OR c.event_time < %(until)s)"
        " ORDER BY c.ledger_idx LIMIT %(limit)s",
        {"epc": epc, "tenant": tenant, "since": since, "until": until, "limit": limit},
    ).fetchall()
    return export_document(NormalisedEvent.from_canonical(bytes(r[0])) for r in rows)


@dataclass(frozen=True, slots=True)
class ScanCluster:
    """Suspicious scans grouped by place (a grid cell, or a region without a point)."""

    verdict: str
    lat: float | None
    lon: float | None
    region: str | None
    scans: int
    codes: int
    first: datetime
    last: datetime


# Every scan of the tenant's codes: those of verified codes (consumer_scans) and those of
# codes that did not verify (counterfeit_scans), which the verdicts never read; and the
# shoppers' reports of suspected fakes (fake_reports, verdict "reported").
_ALL_SCANS = (
    "(SELECT scanned_at, gtin, lot, serial, lat, lon, region, verdict, confirmed"
    "   FROM consumer_scans WHERE tenant_id = %(tenant)s"
    "    AND scanned_at >= %(since)s AND scanned_at < %(until)s"
    " UNION ALL SELECT scanned_at, gtin, lot, serial, lat, lon, region, 'counterfeit', true"
    "   FROM counterfeit_scans WHERE tenant_id = %(tenant)s"
    "    AND scanned_at >= %(since)s AND scanned_at < %(until)s"
    " UNION ALL SELECT reported_at, gtin, lot, serial, lat, lon, region, 'reported', true"
    "   FROM fake_reports WHERE tenant_id = %(tenant)s"
    "    AND reported_at >= %(since)s AND reported_at < %(until)s) s"
)


def scan_points(
    conn: Conn, tenant: str, since: datetime, until: datetime, limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` scans of ``tenant``'s codes in ``[since, until)``, verified or
    not: ``scanned_at``, code, coarse place, ``verdict`` and whether it was ``confirmed``."""
    rows = conn.execute(
        "SELECT scanned_at, gtin, lot, serial, lat, lon, region, verdict, confirmed FROM "  # noqa: S608 (constants only)
        + _ALL_SCANS
        + " ORDER BY scanned_at DESC LIMIT %(limit)s",
        {"tenant": tenant, "since": since, "until": until, "limit": limit},
    ).fetchall()
    keys = ("scanned_at", "gtin", "lot", "serial", "lat", "lon", "region", "verdict", "confirmed")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def scan_clusters(conn: Conn, tenant: str, since: datetime, until: datetime) -> list[ScanCluster]:
    """Clone, diversion, counterfeit scans and shoppers' reports of fakes of ``tenant``
    clustered by ~50 km cell or
    region (counterfeit: codes that failed verification, and verified codes of destroyed
    units)."""
    rows = conn.execute(
        "SELECT verdict, avg(lat), avg(lon), CASE WHEN lat IS NULL THEN region END,"  # noqa: S608 (constants only)
        " count(*), count(DISTINCT (gtin, serial)), min(scanned_at), max(scanned_at)"
        " FROM "
        + _ALL_SCANS
        + " WHERE verdict IN"
        "   ('suspected_clone', 'suspected_diversion', 'counterfeit', 'reported')"
        "   AND (lat IS NOT NULL OR region IS NOT NULL)"
        " GROUP BY verdict, floor(lat / %(cell)s), floor(lon / %(cell)s),"
        "   CASE WHEN lat IS NULL THEN region END"
        " ORDER BY count(*) DESC, verdict",
        {"tenant": tenant, "since": since, "until": until, "cell": CLUSTER_CELL_DEG},
    ).fetchall()
    return [
        ScanCluster(
            verdict=r[0],
            lat=None if r[1] is None else round(float(r[1]), 2),
            lon=None if r[2] is None else round(float(r[2]), 2),
            region=r[3],
            scans=int(r[4]),
            codes=int(r[5]),
            first=r[6],
            last=r[7],
        )
        for r in rows
    ]
