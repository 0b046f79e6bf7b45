"""Settings of the ledger services, from ``CT_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.urls import DatabaseUrl

__all__ = ["LedgerSettings", "get_settings"]


class LedgerSettings(BaseSettings):
    """Where the log lives, how it signs, and where it anchors.

    Secrets (the log key, the anchoring account's key) come from files named here or from
    the environment; outside ``development`` their well-known development defaults are
    refused (:mod:`ledger.service.keys`).
    """

    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")

    # Production unless said otherwise: the demo and tests set development explicitly.
    environment: Literal["development", "staging", "production"] = "production"
    database_url: DatabaseUrl = "postgresql://postgres@127.0.0.1:5432/channeltrace"
    eth_rpc_url: str | None = None

    # The log's Ed25519 signer key, a C2SP skey string ("PRIVATE+KEY+<origin>+..."),
    # from a file (preferred) or the variable itself. Its name is the checkpoint origin.
    ledger_key_file: Path | None = None
    ledger_key: SecretStr | None = None
    # The Ethereum account that sends anchors (hex private key), and the Anchor contract.
    ledger_anchor_key_file: Path | None = None
    ledger_anchor_key: SecretStr | None = None
    ledger_contract: str | None = None

    ledger_checkpoint_interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    ledger_anchor_interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    ledger_anchor_receipt_timeout_seconds: Annotated[float, Field(gt=0)] = 120.0


@lru_cache(maxsize=1)
def get_settings() -> LedgerSettings:
    return LedgerSettings()
