"""Settings of the cloud services, from ``CT_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CloudSettings", "get_settings"]


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/channeltrace"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    eth_rpc_url: str | None = None

    # Ingest: a batch is committed when it holds this many messages or has waited this long.
    ingest_batch_messages: Annotated[int, Field(ge=1, le=10_000)] = 500
    ingest_batch_seconds: Annotated[float, Field(gt=0, le=10)] = 0.05
    # MQTT 5 Receive Maximum: unacknowledged messages the broker may send us; bounds memory.
    ingest_receive_maximum: Annotated[int, Field(ge=1, le=65_535)] = 1_000
    ingest_share_group: str | None = "ingest"
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

    # Access control (docs/security.md). Outside development CT_AUTH_TOKEN_SECRET is required.
    environment: Literal["development", "staging", "production"] = "development"
    auth_token_secret: SecretStr | None = None
    auth_token_ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = 3_600
    # Public endpoints (resolver, ledger proofs): requests per client, in-memory, e.g. "60/minute".
    public_rate_limit: str = "120/minute"


@lru_cache(maxsize=1)
def get_settings() -> CloudSettings:
    return CloudSettings()
