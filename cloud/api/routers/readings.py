"""``/v1/tenants/{tenant}/sites/{site}/readings``: latest values and time series."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cloud.api import queries
from cloud.api.deps import Catalog, ScopedConn, tenant_principal
from cloud.api.schemas import LatestReading, Series
from wire import Metric

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/sites/{site}/readings",
    tags=["readings"],
    dependencies=[Depends(tenant_principal)],
)


@router.get(
    "/latest",
    summary="Newest reading per device, sensor and metric",
    responses={404: {"description": "Unknown site"}},
)
def latest(
    tenant: str,
    site: str,
    conn: ScopedConn,
    device: str | None = None,
    metric: Metric | None = None,
    within_hours: Annotated[
        float, Query(gt=0, le=744, description="Only readings this recent (device time).")
    ] = 24,
) -> list[LatestReading]:
    return queries.latest_readings(
        conn, tenant, site, device=device, metric=metric.value if metric else None,
        lookback=timedelta(hours=within_hours),
    )  # fmt: skip


@router.get(
    "/series",
    summary="Time-bucketed avg/min/max of one metric",
    description="Served from raw readings up to 6 h, the 1-minute rollup up to 14 days and "
    "the 1-hour rollup beyond (when they exist); `source` says which was used.",
    responses={404: {"description": "Unknown site"}, 422: {"description": "Unservable range"}},
)
def series(
    tenant: str,
    site: str,
    conn: ScopedConn,
    catalog: Catalog,
    metric: Metric,
    start: Annotated[datetime, Query(description="Inclusive, device time, with timezone.")],
    end: Annotated[datetime, Query(description="Exclusive; at most 400 days after start.")],
    bucket_seconds: Annotated[
        int | None,
        Query(
            ge=1,
            le=int(queries.MAX_SERIES_RANGE.total_seconds()),  # wider is one bucket anyway
            description="Bucket width; default gives about 300 points.",
        ),
    ] = None,
    device: str | None = None,
    sensor: str | None = None,
) -> Series:
    bucket = timedelta(seconds=bucket_seconds) if bucket_seconds else None
    plan = queries.plan_series(start, end, bucket, catalog.available(conn))
    return queries.series(conn, tenant, site, metric.value, plan, device=device, sensor=sensor)
