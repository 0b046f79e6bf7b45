"""Low stock and stock-out forecasts per site and product, from stock counts.

A site's quantity of a product is the sum of the latest count of each counting point
(device and location). The forecast fits a least-squares line through those totals over
the look-back and reports when the line reaches zero, if it is falling.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud.alerts.model import AlertKind, Condition, Severity

__all__ = [
    "Count",
    "Forecast",
    "forecast",
    "low_stock_condition",
    "stockout_condition",
    "totals",
]


@dataclass(frozen=True, slots=True)
class Count:
    time: datetime
    point: str  # the counting point: device and location
    quantity: int


def totals(counts: Iterable[Count]) -> list[tuple[datetime, int]]:
    """The site total after each count (counts in time order), one value per timestamp."""
    latest: dict[str, int] = {}
    out: list[tuple[datetime, int]] = []
    for c in counts:
        latest[c.point] = c.quantity
        total = sum(latest.values())
        if out and out[-1][0] == c.time:
            out[-1] = (c.time, total)
        else:
            out.append((c.time, total))
    return out


@dataclass(frozen=True, slots=True)
class Forecast:
    quantity: int  # the latest total
    per_hour: float  # fitted trend, units per hour
    zero_at: datetime | None  # when the trend reaches zero (None: not falling)


def forecast(points: Sequence[tuple[datetime, int]], *, min_points: int = 3) -> Forecast | None:
    """The linear trend of ``points``; None with fewer than ``min_points`` or no time span."""
    if len(points) < max(2, min_points):
        return None
    t0 = points[0][0]
    xs = [(t - t0).total_seconds() / 3600 for t, _ in points]
    ys = [float(q) for _, q in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    last_t, last_q = points[-1]
    if slope >= 0 or last_q <= 0:
        return Forecast(last_q, slope, None)
    # Zero crossing of the fitted line, never before the latest count.
    zero_h = mx - my / slope
    zero_at = max(last_t, t0 + timedelta(hours=zero_h))
    return Forecast(last_q, slope, zero_at)


def low_stock_condition(
    tenant_id: str, site_id: str, gtin: str, at: datetime, quantity: int, threshold: int
) -> Condition | None:
    """A condition when ``quantity`` is at or below ``threshold`` (critical when zero)."""
    if quantity > threshold:
        return None
    out = quantity == 0
    return Condition(
        kind=AlertKind.LOW_STOCK,
        tenant_id=tenant_id,
        site_id=site_id,
        key=f"{site_id}:{gtin}",
        severity=Severity.CRITICAL if out else Severity.WARNING,
        since=at,
        summary=f"{site_id}: {gtin} " + ("out of stock" if out else f"low ({quantity})"),
        details={"gtin": gtin, "quantity": quantity, "threshold": threshold},
    )


def stockout_condition(
    tenant_id: str,
    site_id: str,
    gtin: str,
    trend: Forecast,
    *,
    now: datetime,
    horizon: timedelta,
    since: datetime,
) -> Condition | None:
    """A condition when the trend reaches zero within ``horizon`` of ``now`` (stock left)."""
    if trend.zero_at is None or trend.quantity <= 0 or trend.zero_at - now > horizon:
        return None
    hours = max(0.0, (trend.zero_at - now).total_seconds() / 3600)
    return Condition(
        kind=AlertKind.STOCKOUT_FORECAST,
        tenant_id=tenant_id,
        site_id=site_id,
        key=f"{site_id}:{gtin}",
        severity=Severity.WARNING if hours > 24 else Severity.CRITICAL,
        since=since,
        summary=f"{site_id}: {gtin} runs out in about {hours:.0f} h ({trend.quantity} left)",
        details={
            "gtin": gtin,
            "quantity": trend.quantity,
            "per_hour": round(trend.per_hour, 3),
            "zero_at": trend.zero_at.isoformat(),
        },
    )
