"""Devices offline (death message or missed heartbeats) and sequence gaps never backfilled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud.alerts.model import AlertKind, Condition, Severity

__all__ = ["DeviceRow", "GapRow", "gap_conditions", "offline_condition"]


@dataclass(frozen=True, slots=True)
class DeviceRow:
    tenant_id: str
    site_id: str
    device_id: str
    status: str  # registered, online, offline, retired
    last_seen_at: datetime | None


def offline_condition(d: DeviceRow, *, now: datetime, timeout: timedelta) -> Condition | None:
    """Offline when its last will was published, or silent for longer than ``timeout``.

    A device that never spoke (registered, not installed yet) or was retired is not.
    """
    if d.status in ("registered", "retired") or d.last_seen_at is None:
        return None
    if d.status == "offline":
        reason = "death message (broker published its last will)"
    elif now - d.last_seen_at > timeout:
        reason = f"no message for more than {timeout.total_seconds():g} s"
    else:
        return None
    silent = (now - d.last_seen_at).total_seconds()
    return Condition(
        kind=AlertKind.DEVICE_OFFLINE,
        tenant_id=d.tenant_id,
        site_id=d.site_id,
        key=d.device_id,
        severity=Severity.CRITICAL if silent > 3600 else Severity.WARNING,
        since=d.last_seen_at,
        summary=f"{d.device_id} at {d.site_id} offline: {reason}",
        details={
            "device_id": d.device_id,
            "status": d.status,
            "last_seen_at": d.last_seen_at.isoformat(),
            "reason": reason,
        },
    )


@dataclass(frozen=True, slots=True)
class GapRow:
    tenant_id: str
    site_id: str
    device_id: str
    from_seq: int
    to_seq: int
    lost_seqs: int  # the range minus seqs the device evicted on purpose
    detected_at: datetime


def gap_conditions(gaps: Iterable[GapRow], *, now: datetime, grace: timedelta) -> list[Condition]:
    """One condition per device with lost seqs still missing ``grace`` after detection."""
    per_device: dict[str, list[GapRow]] = {}
    for g in gaps:
        if g.lost_seqs > 0 and now - g.detected_at >= grace:
            per_device.setdefault(g.device_id, []).append(g)
    out = []
    for device, rows in sorted(per_device.items()):
        rows.sort(key=lambda g: g.from_seq)
        lost = sum(g.lost_seqs for g in rows)
        out.append(
            Condition(
                kind=AlertKind.SEQUENCE_GAP,
                tenant_id=rows[0].tenant_id,
                site_id=rows[0].site_id,
                key=device,
                severity=Severity.WARNING,
                since=min(g.detected_at for g in rows),
                summary=f"{device}: {lost} message(s) lost and not backfilled",
                details={"device_id": device, "lost_seqs": lost},
                evidence=[
                    {"from_seq": g.from_seq, "to_seq": g.to_seq, "lost_seqs": g.lost_seqs}
                    for g in rows[:50]
                ],
            )
        )
    return out
