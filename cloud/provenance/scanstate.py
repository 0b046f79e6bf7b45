"""What a verdict knows about a unit's earlier scans: a bounded summary (pure).

A cloned or attacked code may be scanned thousands of times; a verdict must not read them
all. :class:`ScanState` keeps, per unit, the count and first/last times of its scans, the
first located scan of each of its first :data:`EARLY_CLIENTS` clients (where the unit left
the channel, for diversion) and its last :data:`RECENT_SCANS` scans (for clone rules), plus
a confirmed clone finding once its scans have left ``recent``. Only scans of a code that
verified are ever added (:mod:`cloud.provenance.resolver`). Stored as one row
(``unit_scan_state``), updated in the transaction that records the scan.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cloud.provenance.clone import EARLY_CLIENTS, RECENT_SCANS, Scan
from cloud.provenance.errors import VerdictInputError
from cloud.provenance.geo import GeoPoint

__all__ = ["CloneFlag", "ScanState", "scan_from_json", "scan_to_json"]

_logger = logging.getLogger(__name__)

#: The key an unknown client (scans recorded before clients were tagged) is counted under.
_UNKNOWN = "?"


@dataclass(frozen=True, slots=True)
class CloneFlag:
    """A corroborated clone finding, kept for the unit's later scans."""

    code: str
    reason: str
    at: datetime


def scan_to_json(scan: Scan) -> dict[str, Any]:
    p = scan.point
    return {
        "t": scan.time.isoformat(),
        "lat": None if p is None else p.lat,
        "lon": None if p is None else p.lon,
        "acc": None if p is None else p.accuracy_km,
        "region": scan.region,
        "id": scan.scan_id,
        "client": scan.client,
    }


def scan_from_json(item: Mapping[str, Any]) -> Scan:
    lat, lon = item.get("lat"), item.get("lon")
    point = None if lat is None or lon is None else GeoPoint(lat, lon, item.get("acc") or 0.0)
    return Scan(
        time=datetime.fromisoformat(str(item["t"])),
        point=point,
        region=item.get("region"),
        scan_id=str(item.get("id") or ""),
        client=item.get("client"),
    )


def _key(scan: Scan) -> str:
    return scan.client or _UNKNOWN


@dataclass(frozen=True, slots=True)
class ScanState:
    """A unit's scans so far, as far as verdicts need them (bounded whatever the count)."""

    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    early: tuple[Scan, ...] = ()
    recent: tuple[Scan, ...] = ()
    clone_flag: CloneFlag | None = None

    @property
    def history(self) -> list[Scan]:
        """The scans kept (early and recent, each once)."""
        seen: dict[tuple[Any, ...], Scan] = {}
        for scan in (*self.early, *self.recent):
            seen.setdefault((*scan.sort_key,), scan)
        return list(seen.values())

    def add(self, scan: Scan, flag: CloneFlag | None = None) -> ScanState:
        """The state after ``scan`` (and a newly confirmed clone ``flag``, if any)."""
        early = self.early
        located = scan.point is not None or scan.region is not None
        if located and len(early) < EARLY_CLIENTS and _key(scan) not in {_key(s) for s in early}:
            early = (*early, scan)
        first = scan.time if self.first_at is None else min(self.first_at, scan.time)
        last = scan.time if self.last_at is None else max(self.last_at, scan.time)
        return replace(
            self,
            count=self.count + 1,
            first_at=first,
            last_at=last,
            early=early,
            recent=(*self.recent, scan)[-RECENT_SCANS:],
            clone_flag=self.clone_flag or flag,
        )

    def early_json(self) -> list[dict[str, Any]]:
        return [scan_to_json(s) for s in self.early]

    def recent_json(self) -> list[dict[str, Any]]:
        return [scan_to_json(s) for s in self.recent]

    def flags_json(self) -> dict[str, Any]:
        f = self.clone_flag
        return {} if f is None else {"clone": {"code": f.code, "reason": f.reason,
                                               "at": f.at.isoformat()}}  # fmt: skip

    @classmethod
    def from_row(
        cls,
        count: int,
        first_at: datetime | None,
        last_at: datetime | None,
        early: Sequence[Mapping[str, Any]],
        recent: Sequence[Mapping[str, Any]],
        flags: Mapping[str, Any],
    ) -> ScanState:
        """The state stored in a ``unit_scan_state`` row; unreadable entries are dropped
        (and logged) rather than failing the scan."""
        clone = flags.get("clone")
        flag = None
        try:
            if isinstance(clone, Mapping):
                flag = CloneFlag(
                    str(clone["code"]), str(clone["reason"]), datetime.fromisoformat(clone["at"])
                )
            return cls(count, first_at, last_at, _scans(early), _scans(recent)[-RECENT_SCANS:],
                       flag)  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            _logger.warning("unreadable scan summary (%s); its details are ignored", exc)
            return cls(count, first_at, last_at)


def _scans(items: Sequence[Mapping[str, Any]]) -> tuple[Scan, ...]:
    out = []
    for item in items:
        try:
            out.append(scan_from_json(item))
        except (KeyError, TypeError, ValueError, VerdictInputError) as exc:
            _logger.warning("unreadable scan in a summary (%s): skipped", exc)
    return tuple(out)
