"""Capturing EPCIS 2.0 events: validate, normalise, append to the ledger, update custody.

Two ways in, one path: :func:`capture_document` (the ``POST /epcis/capture`` endpoint; a
document is all-or-nothing, as an EPCIS capture job) and :func:`process_inbox` (events the
edge sent over MQTT, which the ingest parked in ``custody_inbox``; each is accepted or
rejected on its own, with the reason recorded).

In one transaction: the ledger head is locked first (``SELECT ... FOR UPDATE``, the lock
every ledger append takes), which serialises captures; then the capturer's right to every
identifier and location is checked (:mod:`cloud.provenance.ownership`: a refusal names the
first offending one and stores nothing), already-captured events of the same tenant are
recognised (same ``eventID``: idempotent, their ledger index returned), the new events are
appended to the ledger (:class:`~ledger.service.pg_store.PgLog` joins the transaction), stored in
``custody_events`` and the tenant's custody of every object they touch is recomputed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloud.provenance.epcis import event_issues, validate_document
from cloud.provenance.epcis_models import DOCUMENT_TYPES
from cloud.provenance.errors import EpcisValidationError, EventConflictError, OwnershipError
from cloud.provenance.events import NormalisedEvent, normalise_document, normalise_event
from cloud.provenance.ownership import Capturer, check_capture
from cloud.provenance.store import existing_events, insert_events, refresh_custody
from ledger.service.pg_store import PgLog

__all__ = [
    "CaptureResult",
    "CapturedEvent",
    "Capturer",
    "InboxRun",
    "capture_document",
    "capture_events",
    "check_document_type",
    "process_inbox",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class CapturedEvent:
    event_id: str
    ledger_index: int
    duplicate: bool  # already captured before: nothing new was written


@dataclass(frozen=True, slots=True)
class CaptureResult:
    events: tuple[CapturedEvent, ...]

    @property
    def new(self) -> int:
        return sum(not e.duplicate for e in self.events)


def _body(canonical: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(canonical)
    data.pop("@context", None)
    return data


@dataclass(slots=True)
class _Plan:
    fresh: list[NormalisedEvent]
    placed: list[tuple[tuple[str, bool], int | None, bool]]  # key, known index, duplicate
    conflicts: list[int]  # positions in the input


def _plan(conn: Conn, tenant: str, events: Sequence[NormalisedEvent]) -> _Plan:
    keys = [(e.event_id, e.error_declared) for e in events]
    known = existing_events(conn, tenant, set(keys))
    stored: dict[int, bytes] = {}
    if known:
        rows = conn.execute(
            "SELECT idx, canonical FROM ledger_entries WHERE idx = ANY(%s)", (list(known.values()),)
        ).fetchall()
        stored = {int(r[0]): bytes(r[1]) for r in rows}
    plan = _Plan([], [], [])
    in_batch: dict[tuple[str, bool], NormalisedEvent] = {}
    for position, (event, key) in enumerate(zip(events, keys, strict=True)):
        if key in known:
            if _body(stored[known[key]]) != _body(event.canonical):
                plan.conflicts.append(position)
            plan.placed.append((key, known[key], True))
        elif key in in_batch:
            if _body(in_batch[key].canonical) != _body(event.canonical):
                plan.conflicts.append(position)
            plan.placed.append((key, None, True))
        else:
            in_batch[key] = event
            plan.fresh.append(event)
            plan.placed.append((key, None, False))
    return plan


def _append(conn: Conn, plan: _Plan, tenant: str, source: str) -> tuple[CapturedEvent, ...]:
    result = PgLog(conn).append_canonical([e.canonical for e in plan.fresh])
    insert_events(conn, plan.fresh, result.first_index, tenant=tenant, source=source)
    refresh_custody(conn, {epc for e in plan.fresh for epc in e.all_epcs}, tenant)
    index_of = {
        (e.event_id, e.error_declared): result.first_index + i for i, e in enumerate(plan.fresh)
    }
    return tuple(
        CapturedEvent(key[0], index_of[key] if known is None else known, duplicate)
        for key, known, duplicate in plan.placed
    )


def _lock_ledger(conn: Conn) -> None:
    conn.execute("SELECT size FROM ledger_head WHERE id FOR UPDATE")


def capture_events(
    conn: Conn,
    events: Sequence[NormalisedEvent],
    *,
    capturer: Capturer,
    source: str = "capture",
) -> CaptureResult:
    """Append ``events`` (all or nothing) for ``capturer``; raises :class:`OwnershipError`
    for what it may not capture and :class:`EventConflictError` on a reused id."""
    with conn.transaction():
        _lock_ledger(conn)
        check_capture(conn, events, capturer)
        plan = _plan(conn, capturer.tenant, events)
        if plan.conflicts:
            ids = tuple(events[i].event_id for i in plan.conflicts)
            raise EventConflictError(
                f"{len(ids)} event(s) reuse an eventID already captured with different "
                f"content: {', '.join(ids[:5])}",
                ids,
            )
        captured = _append(conn, plan, capturer.tenant, source)
    _logger.info("captured %d events (%d new)", len(captured), len(plan.fresh))
    return CaptureResult(captured)


def check_document_type(document: object) -> None:
    """Refuse, before validating its content, what is not an EPCIS document at all (a
    standalone event, an array): capture takes an EPCISDocument or EPCISQueryDocument."""
    got = document.get("type") if isinstance(document, Mapping) else None
    if got not in DOCUMENT_TYPES:
        where, shown = ("/type", repr(got)) if isinstance(document, Mapping) else ("", "no object")
        raise EpcisValidationError(
            f"capture expects an EPCISDocument or EPCISQueryDocument; got {shown}",
            ((where, f"expected EPCISDocument or EPCISQueryDocument, got {shown}"),),
        )


def capture_document(
    conn: Conn, document: Mapping[str, Any], *, capturer: Capturer
) -> CaptureResult:
    """Validate an EPCISDocument (or EPCISQueryDocument) as EPCIS 2.0, then
    :func:`capture_events`.

    Raises :class:`EpcisValidationError` (with ``.errors``: JSON pointer and message per
    violation) before anything is written, and :class:`OwnershipError` when ``capturer``
    may not capture one of its events.
    """
    check_document_type(document)
    validate_document(document)
    return capture_events(conn, normalise_document(document), capturer=capturer)


@dataclass(frozen=True, slots=True)
class InboxRun:
    accepted: int
    rejected: int


def _check_edge_event(event: object) -> NormalisedEvent:
    issues = event_issues(event)
    if issues:
        raise EpcisValidationError(
            f"invalid EPCIS event: {issues[0].pointer or '/'}: {issues[0].message}",
            tuple((i.pointer, i.message) for i in issues),
        )
    assert isinstance(event, Mapping)
    context = event.get("@context")
    return normalise_event(event) if context is None else normalise_event(event, context)


def process_inbox(conn: Conn, *, limit: int = 500) -> InboxRun:
    """Validate, ledger and apply up to ``limit`` unprocessed edge events, oldest first."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT i.id, i.tenant_id, i.site_id, i.event FROM custody_inbox i"
            " WHERE NOT EXISTS (SELECT 1 FROM custody_inbox_outcomes o WHERE o.inbox_id = i.id)"
            " ORDER BY i.id LIMIT %s FOR UPDATE OF i SKIP LOCKED",
            (limit,),
        ).fetchall()
        if not rows:
            return InboxRun(0, 0)
        _lock_ledger(conn)
        outcomes: list[tuple[int, bool, str | None, int | None, str | None, Jsonb]] = []
        valid: list[tuple[int, str, str, NormalisedEvent]] = []
        for inbox_id, tenant, site, event in rows:
            try:
                valid.append((inbox_id, tenant, site, _check_edge_event(event)))
            except EpcisValidationError as exc:
                outcomes.append((inbox_id, False, None, None, str(exc), Jsonb(exc.errors)))
        outcomes.extend(_capture_inbox(conn, valid))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO custody_inbox_outcomes"
                " (inbox_id, accepted, event_id, ledger_idx, reason, errors)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                outcomes,
            )
    accepted = sum(o[1] for o in outcomes)
    run = InboxRun(accepted, len(outcomes) - accepted)
    if run.rejected:
        _logger.warning("custody inbox: %d accepted, %d rejected", run.accepted, run.rejected)
    return run


def _site_distributors(conn: Conn, tenant: str, sites: set[str]) -> dict[str, str | None]:
    rows = conn.execute(
        "SELECT id, distributor_id FROM sites WHERE tenant_id = %s AND id = ANY(%s)",
        (tenant, sorted(sites)),
    ).fetchall()
    return {str(r[0]): r[1] for r in rows}


def _admit(conn: Conn, capturer: Capturer, event: NormalisedEvent) -> None:
    """Map the event's place to the gateway's site on first sight, then check it; a
    refusal (:class:`OwnershipError`) leaves no mapping behind."""
    with conn.transaction():
        place = event.biz_location or event.read_point
        if place:
            conn.execute(
                "INSERT INTO epcis_locations (location, tenant_id, site_id)"
                " VALUES (%s, %s, %s) ON CONFLICT (tenant_id, location) DO NOTHING",
                (place, capturer.tenant, capturer.site),
            )
        check_capture(conn, [event], capturer)


def _capture_inbox(
    conn: Conn, valid: list[tuple[int, str, str, NormalisedEvent]]
) -> list[tuple[int, bool, str | None, int | None, str | None, Jsonb]]:
    """Each event is checked on its own (against custody before this batch), as the
    gateway at its site: the same ownership rule as the API (:func:`check_capture`)."""
    out: list[tuple[int, bool, str | None, int | None, str | None, Jsonb]] = []
    by_tenant: dict[str, list[tuple[int, str, NormalisedEvent]]] = {}
    for inbox_id, tenant, site, event in valid:
        by_tenant.setdefault(tenant, []).append((inbox_id, site, event))
    for tenant, items in sorted(by_tenant.items()):
        owners = _site_distributors(conn, tenant, {site for _, site, _ in items})
        admitted: list[tuple[int, str, NormalisedEvent]] = []
        for inbox_id, site, event in items:
            capturer = Capturer(tenant, owners.get(site), site)
            try:
                _admit(conn, capturer, event)
            except OwnershipError as exc:
                found = [{"kind": exc.kind, "identifier": exc.identifier}]
                out.append((inbox_id, False, event.event_id, None, str(exc), Jsonb(found)))
                continue
            admitted.append((inbox_id, site, event))
        plan = _plan(conn, tenant, [e for _, _, e in admitted])
        bad = set(plan.conflicts)
        for position in sorted(bad):
            inbox_id, _, event = admitted[position]
            reason = f"eventID {event.event_id} was already captured with different content"
            out.append((inbox_id, False, event.event_id, None, reason, Jsonb([])))
        keep = [item for i, item in enumerate(admitted) if i not in bad]
        if not keep:
            continue
        plan = _plan(conn, tenant, [e for _, _, e in keep])
        for (inbox_id, _, _), captured in zip(
            keep, _append(conn, plan, tenant, "mqtt"), strict=True
        ):
            note = "duplicate of a captured event" if captured.duplicate else None
            out.append((inbox_id, True, captured.event_id, captured.ledger_index, note, Jsonb([])))
    return out
