"""The settings of ChannelTrace: one class, :class:`Settings`, from ``CT_*`` variables.

It is made of one section per deployable, each a plain pydantic model that the
deployable's code takes (``settings: AlertSection``): the sections are flattened into
:class:`Settings` by inheritance, so every field is read from ``CT_<FIELD>`` and a
:class:`Settings` is each of its sections. What several deployables read is declared
once, in :class:`common.settings.CommonSection` (``CT_ENVIRONMENT``, ``CT_DATABASE_URL``)
and :class:`CloudSection` (the broker, the metrics endpoint). The ledger service's section
lives in :mod:`ledger.service.settings` (the ledger may not import ``cloud``); the
cloud's sections live here, so that reading the settings imports none of the packages
that use them.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.settings import CommonSection, Environment, settings_problems
from common.urls import DatabaseUrl
from ledger.service.settings import LedgerSection
from wire.broker import parse_mqtt_url

__all__ = [
    "AlertSection",
    "ApiSection",
    "CloudSection",
    "CommonSection",
    "Environment",
    "IngestSection",
    "IpNetwork",
    "LedgerSection",
    "MqttUrl",
    "ProvenanceJobSection",
    "SchedulerSection",
    "Settings",
    "get_settings",
    "parse_networks",
    "settings_problems",
]


def _check_mqtt_url(url: str) -> str:
    parse_mqtt_url(url)  # ValueError naming what is wrong
    return url


def _check_timezone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone such as Asia/Shanghai, got {name!r}"
        ) from None
    return name


def _check_http_url(url: str) -> str:
    if not url.startswith(("https://", "http://")) or any(c in url for c in "<>\"\x00 "):
        raise ValueError(f"expected an http(s):// URL, got {url!r}")
    return url.rstrip("/")


def _check_tx_url(url: str) -> str:
    if "{tx}" not in url:
        raise ValueError(f"expected a URL with {{tx}} where the hash goes, got {url!r}")
    return _check_http_url(url)


MqttUrl = Annotated[str, AfterValidator(_check_mqtt_url)]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str | list[str] | tuple[str, ...]) -> tuple[IpNetwork, ...]:
    """Addresses and CIDR networks, comma-separated (``"10.0.0.5, 172.18.0.0/16"``)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    networks: list[IpNetwork] = []
    for raw in items:
        item = str(raw).strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"expected IP addresses or CIDR networks separated by commas, got {item!r}"
            ) from None
    return tuple(networks)


class CloudSection(CommonSection):
    """What every cloud process reads: the broker and its own metrics endpoint."""

    mqtt_url: MqttUrl = "mqtt://127.0.0.1:1883"
    # Prometheus endpoint of this process on 127.0.0.1; unset: no endpoint.
    metrics_port: Annotated[int, Field(ge=1, le=65_535)] | None = None
    # Its bind address: 0.0.0.0 inside a container so that Prometheus can reach it.
    metrics_host: str = "127.0.0.1"


class IngestSection(CloudSection):
    """``channeltrace cloud ingest``: MQTT to PostgreSQL (docs/ingest.md)."""

    # A batch is committed when it holds this many messages or has waited this long.
    ingest_batch_messages: Annotated[int, Field(ge=1, le=10_000)] = 500
    ingest_batch_seconds: Annotated[float, Field(gt=0, le=10)] = 0.05
    # MQTT 5 Receive Maximum: unacknowledged messages the broker may send us; bounds memory.
    ingest_receive_maximum: Annotated[int, Field(ge=1, le=65_535)] = 1_000
    ingest_share_group: str | None = "ingest"
    # Brokers one ingest process consumes from, comma-separated (independent brokers that
    # gateways fail over between, docs/scaling.md); unset: CT_MQTT_URL alone.
    ingest_mqtt_urls: Annotated[tuple[MqttUrl, ...], NoDecode] = ()
    ingest_client_id: str | None = None
    # A device clock further than this from receive time is flagged (not rejected).
    clock_skew_flag_seconds: Annotated[float, Field(gt=0)] = 120.0
    # Readings, stock and state stamped further ahead than this are dead-lettered.
    ingest_max_future_seconds: Annotated[float, Field(gt=0)] = 86_400.0
    # Threads verifying signatures in parallel (Ed25519 verification releases the GIL).
    ingest_verify_threads: Annotated[int, Field(ge=1, le=64)] = 2

    @field_validator("ingest_mqtt_urls", mode="before")
    @classmethod
    def _broker_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value


class ApiSection(CloudSection):
    """``channeltrace cloud api``: the read API, the console, the resolver (docs/api.md)."""

    # Servers the API's reads (console, read API, the resolver's passports) may use, e.g.
    # the same hosts with ?target_session_attrs=prefer-standby; unset: the primary only. A
    # server is used while its replay lag is at most database_read_max_lag_seconds.
    database_read_url: DatabaseUrl | None = None
    database_read_max_lag_seconds: Annotated[float, Field(gt=0, le=3_600)] = 5.0

    # Loopback unless deliberately exposed.
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=1, le=65_535)] = 8000
    api_pool_max_size: Annotated[int, Field(ge=1, le=200)] = 10
    # A device silent for longer than this is shown as "stale" even if its status is online.
    device_stale_after_seconds: Annotated[float, Field(gt=0)] = 300.0

    # Access control (docs/security.md). Outside development CT_AUTH_TOKEN_SECRET is required
    # and public development secrets are refused; the demo and tests set development.
    auth_token_secret: SecretStr | None = None
    auth_token_ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = 3_600
    # Public endpoints (resolver, ledger proofs): requests per client, in-memory, e.g. "60/minute".
    public_rate_limit: str = "120/minute"
    # Reports of suspected fakes from the verdict page, per client (on top of the above).
    public_report_rate_limit: str = "10/hour"
    # Consumer resolver (docs/provenance.md "Resolver"): its own async pool; scans are
    # written in batches of up to this many, each waiting at most this long for more; at
    # most this many wait (then 503); a unit's passport at a site is refreshed when older.
    resolver_pool_max_size: Annotated[int, Field(ge=1, le=200)] = 10
    resolver_batch_max: Annotated[int, Field(ge=1, le=10_000)] = 500
    resolver_batch_wait_ms: Annotated[float, Field(ge=0, le=1_000)] = 10.0
    resolver_queue_max: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    passport_refresh_seconds: Annotated[float, Field(gt=0, le=86_400)] = 900.0
    # Peers whose X-Forwarded-For/-Proto/-Host and X-Region headers are believed (the TLS
    # reverse proxy): addresses or CIDR networks, comma-separated. Empty: nobody's.
    trusted_proxies: Annotated[tuple[IpNetwork, ...], NoDecode] = ()
    # Request bodies larger than this are refused (413) before they are read.
    api_max_body_bytes: Annotated[int, Field(ge=1_024, le=1 << 30)] = 64 * 1_024
    # EPCIS capture documents (up to 10,000 events), from callers presenting a credential.
    api_max_capture_bytes: Annotated[int, Field(ge=1_024, le=1 << 30)] = 8 * 1_024 * 1_024
    # Channel master data files (CSV/XLSX, POST /v1/tenants/{t}/channel/imports, the console).
    api_max_import_bytes: Annotated[int, Field(ge=1_024, le=64 << 20)] = 8 * 1_024 * 1_024

    # Channel (docs/channel-setup.md): a .gtc boundary file of the offline geocoder instead
    # of the one bundled with geotool-cn (e.g. boundaries the brand holds a licence for).
    geocoder_data: Path | None = None
    # Console (docs/console.md): the time zone charts and tables use unless the viewer picks
    # another; a block explorer's transaction page ("{tx}" is replaced by the hash); Grafana.
    console_timezone: Annotated[str, AfterValidator(_check_timezone)] = "Asia/Shanghai"
    chain_explorer_tx_url: Annotated[str, AfterValidator(_check_tx_url)] | None = None
    grafana_url: Annotated[str, AfterValidator(_check_http_url)] | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> tuple[IpNetwork, ...]:
        if isinstance(value, str | list | tuple):
            return parse_networks(value)
        return value  # type: ignore[no-any-return]


_Seconds = Annotated[float, Field(gt=0, le=86_400)]


class SchedulerSection(CloudSection):
    """``channeltrace cloud scheduler``: the periodic jobs (docs/storage.md)."""

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


class ProvenanceJobSection(BaseModel):
    """The scheduler's provenance jobs (:mod:`cloud.jobs.provenance`)."""

    provenance_inbox_interval_s: _Seconds = 1.0
    provenance_inbox_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    provenance_reconcile_interval_s: _Seconds = 300.0
    # Unit passports (docs/provenance.md "Resolver"): recomputed after custody or channel
    # changes, and a unit's at a site when its cold-chain exposure is older than the age.
    provenance_passports_interval_s: _Seconds = 5.0
    provenance_passports_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    provenance_passports_exposure_age_s: _Seconds = 900.0


_Positive = Annotated[timedelta, Field(gt=timedelta(0))]


class AlertSection(CommonSection):
    """Thresholds of the alert rules and of webhook delivery (durations as ISO 8601 or s).

    Defaults suit a warehouse (docs/alerts.md).
    """

    # Cold chain: readings outside the products' range for at least min_duration; back
    # inside only once hysteresis_c (or _pct) inside the limit; two excursions closer than
    # merge_within are one. look_back bounds the readings read per evaluation.
    alerts_excursion_min_duration: _Positive = timedelta(minutes=15)
    alerts_excursion_merge_within: timedelta = timedelta(minutes=10)
    alerts_excursion_hysteresis_c: Annotated[float, Field(ge=0)] = 0.5
    alerts_excursion_hysteresis_pct: Annotated[float, Field(ge=0)] = 3.0
    alerts_excursion_look_back: _Positive = timedelta(hours=6)
    alerts_excursion_critical_after: _Positive = timedelta(hours=1)
    # Products a site holds: those with a positive count within this look-back, and units at it.
    alerts_held_look_back: _Positive = timedelta(days=30)
    # Stock: quantity at or below the product's threshold (alert_stock_thresholds, else
    # this default), and a linear trend reaching zero within the horizon.
    alerts_low_stock_default: Annotated[int, Field(ge=0)] = 0
    alerts_stock_look_back: _Positive = timedelta(days=7)
    alerts_stockout_horizon: _Positive = timedelta(hours=72)
    alerts_stockout_min_points: Annotated[int, Field(ge=2)] = 3
    # Devices: no heartbeat or message for this long means offline (as the API's
    # CT_DEVICE_STALE_AFTER_SECONDS; agents send a heartbeat every 30 s).
    alerts_heartbeat_timeout: _Positive = timedelta(minutes=5)
    # Sequence gaps still not backfilled this long after detection are lost data.
    alerts_gap_grace: timedelta = timedelta(minutes=15)
    # Consumer-scan suspicions within this look-back.
    alerts_scan_look_back: _Positive = timedelta(days=7)
    # Anchoring: a checkpoint not anchored after this many anchor intervals, or a pending
    # anchor transaction older than pending_anchor_after.
    alerts_anchor_missed_intervals: Annotated[int, Field(ge=1)] = 5
    alerts_pending_anchor_after: _Positive = timedelta(minutes=15)
    # Webhooks.
    alerts_webhook_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    alerts_webhook_max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    alerts_webhook_backoff_base: _Positive = timedelta(seconds=10)
    alerts_webhook_backoff_max: _Positive = timedelta(hours=1)
    # Webhooks to private, loopback or link-local addresses: allowed in development only,
    # unless set (CT_ALERTS_WEBHOOK_ALLOW_PRIVATE=true for on-premises receivers).
    alerts_webhook_allow_private: bool | None = None

    @property
    def private_webhooks_allowed(self) -> bool:
        if self.alerts_webhook_allow_private is not None:
            return self.alerts_webhook_allow_private
        return self.environment == "development"


class Settings(
    ApiSection,
    IngestSection,
    SchedulerSection,
    ProvenanceJobSection,
    AlertSection,
    LedgerSection,
    BaseSettings,
):
    """Every ``CT_*`` setting of every deployable: each field is ``CT_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment, read once per process."""
    return Settings()
