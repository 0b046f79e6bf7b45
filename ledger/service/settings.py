"""The ledger service's section of the settings, and its own reader of ``CT_*`` variables.

:class:`LedgerSection` is a section of :class:`cloud.settings.Settings` (the one settings
class; the cloud composes it). The ledger service may not import ``cloud``, so when it runs
on its own (``channeltrace ledger …``) :func:`get_ledger_section` reads the same variables
with the same fields: nothing is declared twice.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.settings import CommonSection

__all__ = ["LedgerSection", "get_ledger_section"]


class LedgerSection(CommonSection):
    """Where the log lives, how it signs, and where it anchors.

    Secrets (the log key, the anchoring account's key) come from files named here or from
    the environment; outside ``development`` their well-known development defaults are
    refused (:mod:`ledger.service.keys`).
    """

    # Ethereum JSON-RPC for anchoring; unset: checkpoints are signed, not anchored.
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


class _LedgerEnvironment(LedgerSection, BaseSettings):
    """The section read from ``CT_*`` variables, as the whole Settings reads it."""

    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")


@lru_cache(maxsize=1)
def get_ledger_section() -> LedgerSection:
    """The ledger section from the environment (cached), for the ledger service alone."""
    return _LedgerEnvironment()
