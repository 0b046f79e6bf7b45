"""Dependencies of the read API routes, as ``Annotated`` aliases.

The connection pool lives on ``app.state`` (created by :func:`cloud.api.create_app`), so
tests and deployments choose the database through settings, never through globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool, PoolTimeout

from cloud.api.errors import Unavailable
from cloud.api.queries import RollupCatalog
from cloud.settings import CloudSettings

__all__ = ["Catalog", "Conn", "Settings", "get_catalog", "get_conn", "get_settings"]

_CHECKOUT_TIMEOUT_S = 5.0


def get_conn(request: Request) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection for the duration of one request."""
    pool: ConnectionPool[psycopg.Connection[Any]] = request.app.state.pool
    try:
        with pool.connection(timeout=_CHECKOUT_TIMEOUT_S) as conn:
            yield conn
    except PoolTimeout:
        raise Unavailable(
            f"no database connection available within {_CHECKOUT_TIMEOUT_S:g} s"
        ) from None
    except psycopg.OperationalError as exc:
        raise Unavailable(f"database unavailable: {exc}") from None


def get_settings(request: Request) -> CloudSettings:
    settings: CloudSettings = request.app.state.settings
    return settings


def get_catalog(request: Request) -> RollupCatalog:
    catalog: RollupCatalog = request.app.state.catalog
    return catalog


Conn = Annotated[psycopg.Connection[Any], Depends(get_conn)]
Settings = Annotated[CloudSettings, Depends(get_settings)]
Catalog = Annotated[RollupCatalog, Depends(get_catalog)]
