"""Settings of the cloud services, from ``CT_*`` environment variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.urls import DatabaseUrl
from wire.broker import parse_mqtt_url

__all__ = [
    "CloudSettings",
    "Environment",
    "IpNetwork",
    "get_settings",
    "parse_networks",
    "settings_problems",
]

Environment = Literal["development", "staging", "production"]


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


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")

    # The primary; several hosts find it after a failover (docs/operations.md, "High
    # availability"): postgresql://u@a:5432,b:5432,c:5432/db?target_session_attrs=read-write
    database_url: DatabaseUrl = "postgresql://postgres@127.0.0.1:5432/channeltrace"
    # Servers the API's reads (console, read API, the resolver's passports) may use, e.g.
    # the same hosts with ?target_session_attrs=prefer-standby; unset: the primary only. A
    # server is used while its replay lag is at most database_read_max_lag_seconds.
    database_read_url: DatabaseUrl | None = None
    database_read_max_lag_seconds: Annotated[float, Field(gt=0, le=3_600)] = 5.0
    mqtt_url: MqttUrl = "mqtt://127.0.0.1:1883"
    eth_rpc_url: str | None = None

    # Ingest: a batch is committed when it holds this many messages or has waited this long.
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
    # Prometheus endpoint of this process on 127.0.0.1; unset: no endpoint.
    metrics_port: Annotated[int, Field(ge=1, le=65_535)] | None = None
    # Its bind address: 0.0.0.0 inside a container so that Prometheus can reach it.
    metrics_host: str = "127.0.0.1"

    # Read API (``channeltrace cloud api``): loopback unless deliberately exposed.
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=1, le=65_535)] = 8000
    api_pool_max_size: Annotated[int, Field(ge=1, le=200)] = 10
    # A device silent for longer than this is shown as "stale" even if its status is online.
    device_stale_after_seconds: Annotated[float, Field(gt=0)] = 300.0

    # Access control (docs/security.md). Outside development CT_AUTH_TOKEN_SECRET is required
    # and public development secrets are refused; the demo and tests set development.
    environment: Environment = "production"
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

    @field_validator("ingest_mqtt_urls", mode="before")
    @classmethod
    def _broker_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> tuple[IpNetwork, ...]:
        if isinstance(value, str | list | tuple):
            return parse_networks(value)
        return value  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def get_settings() -> CloudSettings:
    return CloudSettings()


def settings_problems(exc: ValidationError) -> str:
    """One line naming each bad variable: ``CT_API_PORT: Input should be ...``."""
    return "; ".join(
        f"CT_{'_'.join(str(p) for p in e['loc']).upper()}: "
        f"{e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )
