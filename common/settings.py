"""The section of the settings every deployable reads, and the one-line report of bad ones.

ChannelTrace has one settings class, :class:`cloud.settings.Settings`, made of one
section per deployable (plain pydantic models) flattened into it, so that every field is
the ``CT_<FIELD>`` environment variable. The fields more than one deployable reads are
declared here, once; the ledger service (which may not import ``cloud``) builds its own
section on this one (:mod:`ledger.service.settings`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ValidationError

from common.urls import DatabaseUrl

__all__ = ["DEFAULT_DATABASE_URL", "CommonSection", "Environment", "settings_problems"]

Environment = Literal["development", "staging", "production"]

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/channeltrace"


class CommonSection(BaseModel):
    """``CT_ENVIRONMENT`` and ``CT_DATABASE_URL``, read by every deployable."""

    # Production unless said otherwise: outside development the well-known development
    # secrets (token secret, ledger keys) are refused; the demo and tests set development.
    environment: Environment = "production"
    # The primary; several hosts find it after a failover (docs/operations.md, "High
    # availability"): postgresql://u@a:5432,b:5432,c:5432/db?target_session_attrs=read-write
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL


def settings_problems(exc: ValidationError) -> str:
    """One line naming each bad variable: ``CT_API_PORT: Input should be ...``."""
    return "; ".join(
        f"CT_{'_'.join(str(p) for p in e['loc']).upper()}: "
        f"{e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )
