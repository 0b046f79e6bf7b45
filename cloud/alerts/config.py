"""Rule thresholds, from ``CT_ALERTS_*`` environment variables (defaults suit a warehouse)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AlertSettings", "get_alert_settings"]

_Positive = Annotated[timedelta, Field(gt=timedelta(0))]


class AlertSettings(BaseSettings):
    """Thresholds of the alert rules and of webhook delivery (durations as ISO 8601 or s)."""

    model_config = SettingsConfigDict(env_prefix="CT_ALERTS_", extra="ignore", frozen=True)

    # Cold chain: readings outside the products' range for at least min_duration; back
    # inside only once hysteresis_c (or _pct) inside the limit; two excursions closer than
    # merge_within are one. look_back bounds the readings read per evaluation.
    excursion_min_duration: _Positive = timedelta(minutes=15)
    excursion_merge_within: timedelta = timedelta(minutes=10)
    excursion_hysteresis_c: Annotated[float, Field(ge=0)] = 0.5
    excursion_hysteresis_pct: Annotated[float, Field(ge=0)] = 3.0
    excursion_look_back: _Positive = timedelta(hours=6)
    excursion_critical_after: _Positive = timedelta(hours=1)
    # Products a site holds: those with a positive count within this look-back, and units at it.
    held_look_back: _Positive = timedelta(days=30)
    # Stock: quantity at or below the product's threshold (alert_stock_thresholds, else
    # this default), and a linear trend reaching zero within the horizon.
    low_stock_default: Annotated[int, Field(ge=0)] = 0
    stock_look_back: _Positive = timedelta(days=7)
    stockout_horizon: _Positive = timedelta(hours=72)
    stockout_min_points: Annotated[int, Field(ge=2)] = 3
    # Devices: no heartbeat or message for this long means offline (as the API's
    # CT_DEVICE_STALE_AFTER_SECONDS; agents send a heartbeat every 30 s).
    heartbeat_timeout: _Positive = timedelta(minutes=5)
    # Sequence gaps still not backfilled this long after detection are lost data.
    gap_grace: timedelta = timedelta(minutes=15)
    # Consumer-scan suspicions within this look-back.
    scan_look_back: _Positive = timedelta(days=7)
    # Anchoring: a checkpoint not anchored after this many anchor intervals, or a pending
    # anchor transaction older than pending_anchor_after.
    anchor_missed_intervals: Annotated[int, Field(ge=1)] = 5
    pending_anchor_after: _Positive = timedelta(minutes=15)
    # Webhooks.
    webhook_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    webhook_max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    webhook_backoff_base: _Positive = timedelta(seconds=10)
    webhook_backoff_max: _Positive = timedelta(hours=1)
    # Webhooks to private, loopback or link-local addresses: allowed in development only,
    # unless set (CT_ALERTS_WEBHOOK_ALLOW_PRIVATE=true for on-premises receivers).
    webhook_allow_private: bool | None = None
    environment: Literal["development", "staging", "production"] = Field(
        default="production", validation_alias="CT_ENVIRONMENT"
    )

    @property
    def private_webhooks_allowed(self) -> bool:
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        return self.environment == "development"


@lru_cache(maxsize=1)
def get_alert_settings() -> AlertSettings:
    return AlertSettings()
