"""Response models of the read API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Completeness",
    "Device",
    "Gap",
    "LatestReading",
    "OnlineState",
    "Series",
    "SeriesPoint",
    "SeriesSource",
    "Site",
    "StockAtLocation",
    "StockLevel",
]

OnlineState = Literal["online", "stale", "offline", "never_seen", "retired"]
SeriesSource = Literal["raw", "readings_1m", "readings_1h"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Site(_Out):
    tenant_id: str
    id: str
    name: str
    region: str | None = Field(
        description="GB/T 2260 code of its province or city (from its coordinates when not given)"
    )
    latitude: float | None
    longitude: float | None
    devices: int = Field(description="Registered devices at the site (retired ones excluded).")
    address: str | None = None
    distributor_id: str | None = Field(
        default=None, description="The distributor operating it; none: the brand's own site."
    )


class Device(_Out):
    id: str
    tenant_id: str
    site_id: str
    status: str = Field(
        description="Lifecycle status from state messages: registered, online, offline or retired."
    )
    online_state: OnlineState = Field(
        description="online: last status online and heard from recently; stale: status "
        "online but silent longer than the stale threshold; offline: last will or clean "
        "death received; never_seen: registered but never heard from; retired."
    )
    last_seen_at: datetime | None
    seconds_since_seen: float | None
    last_state: dict[str, Any] | None = Field(
        description="The last state message (birth, heartbeat, death) as the device sent it."
    )


class LatestReading(_Out):
    device_id: str
    sensor: str
    metric: str
    time: datetime = Field(description="Device clock.")
    received_at: datetime = Field(description="Cloud receive time.")
    value: float | None
    fault: str | None


class SeriesPoint(_Out):
    time: datetime = Field(description="Start of the bucket.")
    avg: float | None
    min: float | None
    max: float | None
    count: int = Field(description="Readings with a value in the bucket.")


class Series(_Out):
    tenant_id: str
    site_id: str
    metric: str
    device_id: str | None
    sensor: str | None
    start: datetime
    end: datetime
    bucket_seconds: int
    source: SeriesSource = Field(
        description="Where the points came from: raw readings (date_bin), or the 1-minute "
        "or 1-hour rollup, chosen by the requested range."
    )
    points: list[SeriesPoint]


class StockAtLocation(_Out):
    location: str | None
    quantity: int
    time: datetime
    method: str


class StockLevel(_Out):
    tenant_id: str
    site_id: str
    gtin: str
    quantity: int = Field(description="Sum of the latest count at each location.")
    as_of: datetime = Field(description="Time of the newest count included.")
    locations: list[StockAtLocation]


class Gap(_Out):
    after_seq: int = Field(description="Last sequence number received before the gap.")
    next_seq: int = Field(description="First sequence number received after the gap.")
    missing: int
    after_received_at: datetime
    next_received_at: datetime


class Completeness(_Out):
    device_id: str
    start: datetime
    end: datetime
    messages: int = Field(description="Messages stored for the device in the range.")
    first_seq: int | None
    last_seq: int | None
    missing: int = Field(description="Sequence numbers absent between first_seq and last_seq.")
    ratio: float | None = Field(description="messages / (messages + missing); None if empty.")
    skew_flagged: int = Field(description="Messages whose device clock was flagged as skewed.")
    duplicates: int = Field(description="Redeliveries absorbed for these messages.")
    gaps: list[Gap]
