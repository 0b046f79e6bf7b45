"""What a scan reads, in one round trip (async): the GTIN's owner, the issued code, the
unit's revision, its stored passport with the versions it was computed from, the tenant's
channel epoch and the unit's scan summary.

Prefixes never overlap (migration 0011), so at most one registered prefix among the
GTIN's candidates (its 6 to 12 digits after the indicator, :func:`wire.gs1.prefix_candidates`)
matches: its tenant owns the GTIN, and every other row is looked up
under that tenant only (:mod:`cloud.provenance.ownership`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from cloud.provenance.passport import Passport
from cloud.provenance.scanstate import ScanState

__all__ = ["ScanContext", "read_scan_context"]

_logger = logging.getLogger(__name__)

_QUERY = """
WITH o AS (
    SELECT tenant_id FROM company_prefixes
    WHERE prefix IN (substr(%(gtin)s, 2, 6), substr(%(gtin)s, 2, 7), substr(%(gtin)s, 2, 8),
                     substr(%(gtin)s, 2, 9), substr(%(gtin)s, 2, 10), substr(%(gtin)s, 2, 11),
                     substr(%(gtin)s, 2, 12))
    LIMIT 1
)
SELECT o.tenant_id, t.lot, t.kid,
       u.revision, p.unit_revision, p.channel_epoch,
       CASE WHEN (p.unit_revision, p.channel_epoch) = (%(known_revision)s, %(known_epoch)s)
            THEN NULL ELSE p.passport::text END,
       p.exposure_through,
       p.open_interval,
       (SELECT e.epoch FROM passport_epochs e WHERE e.tenant_id = o.tenant_id),
       s.scans, s.first_at, s.last_at, s.early, s.recent, s.flags, s.revision
FROM o
LEFT JOIN trace_codes t
  ON (t.tenant_id, t.gtin, t.serial) = (o.tenant_id, %(gtin)s, %(serial)s)
LEFT JOIN units u ON (u.tenant_id, u.epc) = (o.tenant_id, %(epc)s)
LEFT JOIN unit_passports p ON (p.tenant_id, p.epc) = (o.tenant_id, %(epc)s)
LEFT JOIN unit_scan_state s
  ON (s.tenant_id, s.gtin, s.serial) = (o.tenant_id, %(gtin)s, %(serial)s)
"""


@dataclass(frozen=True, slots=True)
class ScanContext:
    owner: str | None  # the tenant owning the GTIN's company prefix
    issued_lot: str | None = None  # trace_codes: None when the serial was never issued
    issued_kid: str | None = None
    issued: bool = False
    passport: Passport | None = None  # None: missing, stale or unreadable
    has_unit: bool = False  # custody recorded (a ``units`` row); else issued only
    channel_epoch: int = 0
    exposure_through: datetime | None = None
    open_interval: bool = False
    state: ScanState = field(default_factory=ScanState)
    state_revision: int = 0


#: ``epc -> (tenant, unit revision, channel epoch, passport)`` of passports read lately: a
#: unit scanned again is not sent (nor decoded) again while its versions stay the same.
_KNOWN: dict[str, tuple[str, int, int, Passport]] = {}
_MAX_KNOWN = 16_384


def _passport(tenant: str, epc: str, revision: int, epoch: int, raw: str | None) -> Passport | None:
    if raw is None:  # the query left it out: the one we know is current
        known = _KNOWN.get(epc)
        if known is not None and known[:3] == (tenant, revision, epoch):
            return known[3]
        return None
    try:
        passport = Passport.from_json(json.loads(raw))
    except (KeyError, TypeError, ValueError) as exc:
        _logger.warning("unreadable passport (%s): recomputed", exc)
        return None
    if len(_KNOWN) >= _MAX_KNOWN:
        _KNOWN.pop(next(iter(_KNOWN)))
    _KNOWN[epc] = (tenant, revision, epoch, passport)
    return passport


async def read_scan_context(
    conn: psycopg.AsyncConnection[Any], *, gtin: str, serial: str | None, epc: str | None
) -> ScanContext:
    """One query: see the module docstring. ``serial``/``epc`` ``None``: the owner only."""
    known = _KNOWN.get(epc or "")
    cur = await conn.execute(
        _QUERY,
        {
            "gtin": gtin,
            "serial": serial or "",
            "epc": epc or "",
            "known_revision": -1 if known is None else known[1],
            "known_epoch": -1 if known is None else known[2],
        },
    )
    row = await cur.fetchone()
    if row is None:
        return ScanContext(None)
    owner = str(row[0])
    (lot, kid, revision, p_revision, p_epoch, raw, through, open_interval, epoch, count,
     first_at, last_at, early, recent, flags, state_revision) = row[1:]  # fmt: skip
    passport = None
    if p_revision is not None and p_revision == (revision or 0) and p_epoch == (epoch or 0):
        passport = _passport(owner, str(epc), int(p_revision), int(p_epoch), raw)
    state = ScanState()
    if count is not None:
        state = ScanState.from_row(int(count), first_at, last_at, early, recent, flags)
    return ScanContext(
        owner,
        lot,
        kid,
        issued=kid is not None,
        passport=passport,
        has_unit=revision is not None,
        channel_epoch=int(epoch or 0),
        exposure_through=through,
        open_interval=bool(open_interval),
        state=state,
        state_revision=int(state_revision or 0),
    )
