"""Consumer scans in PostgreSQL, privacy first, untrusted input kept apart.

No IP address is ever stored. A point given by the client is rounded to 0.01° (about
1.1 km north-south) and its accuracy radius widened by the rounding error, so stored points
still never count against a consumer in clone checks; otherwise only a region code
(ISO 3166-2 style, e.g. ``CN-GD``) from the client or a trusted proxy's header is kept.
Who scanned is a *client tag*: a keyed hash of the client's network (IPv4 /24, IPv6 /48)
and of the unit, so it tells two scanners of one code apart without identifying anyone or
linking one person's scans of different codes.

Scans of codes that verified go to ``consumer_scans`` and update the unit's summary
(``unit_scan_state``, the only scan input of a verdict); scans of codes that did not go to
``counterfeit_scans`` (the brand's counterfeit map), which no verdict reads. Both are
written in group commits by :mod:`cloud.provenance.scanwriter`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import hmac
import ipaddress
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final

from cloud.provenance.geo import GeoPoint
from cloud.provenance.verdicts import Verdict

__all__ = [
    "ROUNDING_KM",
    "client_tag",
    "coarse_point",
    "findings_json",
    "jsonable",
]


#: Worst-case error of rounding to 0.01° (half the diagonal of a cell at the equator), km.
ROUNDING_KM = 0.8
_TAG_CONTEXT = b"channeltrace/scan-client/v1\n"


@functools.lru_cache(maxsize=65_536)
def _network(address: str) -> str:
    """The client's network (IPv4 /24, IPv6 /48); remembered: phones scan again."""
    try:
        ip = ipaddress.ip_address(address)
        bits = 24 if ip.version == 4 else 48
        return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))
    except ValueError:
        return address  # not an IP (a test client, a unix socket): taken as it is


def client_tag(key: bytes, address: str, gtin: str, serial: str) -> str:
    """Who scanned this code, as 16 hex digits: HMAC-SHA256 under ``key`` of the client's
    network (IPv4 /24, IPv6 /48: one household or phone keeps one tag as its address
    changes within them) and of the code. Never reversible to an address without ``key``,
    and different for the same client on another code."""
    message = _TAG_CONTEXT + "\n".join((_network(address), gtin, serial)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def coarse_point(point: GeoPoint) -> GeoPoint:
    """``point`` rounded to 0.01°, its accuracy widened by the rounding error."""
    return GeoPoint(
        round(point.lat, 2), round(point.lon, 2), round(point.accuracy_km + ROUNDING_KM, 3)
    )


def _scalar(value: object) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


_PLAIN: Final = frozenset({str, int, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, by class


def jsonable(value: object) -> Any:
    """Evidence (dataclasses, enums, datetimes, tuples) as plain JSON values."""
    kind = type(value)
    if kind in _PLAIN:  # the common leaves first: every scan's evidence goes through here
        return value
    if kind is float:
        return value if math.isfinite(value) else None  # type: ignore[arg-type]
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS.setdefault(kind, tuple(f.name for f in dataclasses.fields(value)))
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return _scalar(value)


def findings_json(verdict: Verdict) -> list[dict[str, Any]]:
    """A verdict's findings as stored with its scan (``consumer_scans.evidence``)."""
    return [
        {
            "kind": f.kind.value,
            "code": f.code,
            "reason": f.reason,
            "confirmed": f.confirmed,
            "evidence": jsonable(f.evidence),
        }
        for f in verdict.findings
    ]
