"""The read API's SQL, one module per resource; the names are re-exported here."""

from cloud.api.queries.devices import (
    MAX_COMPLETENESS_RANGE,
    completeness,
    get_device,
    list_devices,
    online_state,
)
from cloud.api.queries.readings import MAX_LATEST_LOOKBACK, latest_readings
from cloud.api.queries.series import (
    MAX_SERIES_POINTS,
    MAX_SERIES_RANGE,
    ROLLUPS,
    Rollup,
    RollupCatalog,
    SeriesPlan,
    plan_series,
    series,
)
from cloud.api.queries.sites import get_site, list_sites, require_tenant
from cloud.api.queries.stock import current_stock

__all__ = [
    "MAX_COMPLETENESS_RANGE",
    "MAX_LATEST_LOOKBACK",
    "MAX_SERIES_POINTS",
    "MAX_SERIES_RANGE",
    "ROLLUPS",
    "Rollup",
    "RollupCatalog",
    "SeriesPlan",
    "completeness",
    "current_stock",
    "get_device",
    "get_site",
    "latest_readings",
    "list_devices",
    "list_sites",
    "online_state",
    "plan_series",
    "require_tenant",
    "series",
]
