"""Settings of the scheduler deployable, from ``CT_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.urls import DatabaseUrl

__all__ = ["SchedulerSettings", "get_scheduler_settings"]

_Seconds = Annotated[float, Field(gt=0, le=86_400)]


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")

    database_url: DatabaseUrl = "postgresql://postgres@127.0.0.1:5432/channeltrace"
    # Non-leaders try to take the leader lock this often: the fail-over time.
    scheduler_leader_retry_s: _Seconds = 5.0
    # Storage jobs (no-ops on TimescaleDB, whose policies do the same work).
    partitions_interval_s: _Seconds = 3_600.0
    partitions_days_ahead: Annotated[int, Field(ge=1, le=60)] = 7
    rollups_interval_s: _Seconds = 30.0
    retention_interval_s: _Seconds = 3_600.0
    gaps_interval_s: _Seconds = 60.0
    # TimescaleDB only: read its jobs' health (metrics, alerts) this often, and run a policy
    # that keeps failing in the background with CALL run_job ("off": only watch).
    timescale_jobs_interval_s: _Seconds = 60.0
    timescale_foreground_policies: Literal["failing", "off"] = "failing"
    # Alerts (docs/alerts.md): rule evaluation, webhook delivery, the ledger audit.
    alerts_interval_s: _Seconds = 30.0
    alerts_deliver_interval_s: _Seconds = 5.0
    alerts_ledger_audit_interval_s: _Seconds = 3_600.0


@lru_cache(maxsize=1)
def get_scheduler_settings() -> SchedulerSettings:
    return SchedulerSettings()
