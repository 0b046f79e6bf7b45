"""Which storage backend a database gets, decided from catalog facts before trying anything.

``CREATE EXTENSION timescaledb`` on a server that has the extension's files but does not
preload its library raises FATAL and closes the session: no exception block can catch it,
so the old "try it and see" decision broke ``cloud migrate`` on such a server. Here the
decision is made from what the catalog says (``pg_available_extensions``,
``pg_extension``, ``current_setting('shared_preload_libraries')``) before anything of
TimescaleDB is touched; :mod:`cloud.migrate` passes it to migration 0002, which records it
in ``storage_backend``. Once recorded, the choice never changes. See docs/storage.md.

:func:`choose_backend` is the pure core; :func:`read_catalog` is the only I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from cloud.errors import MigrationError
from cloud.storage.backend import BackendName

__all__ = [
    "MIN_TIMESCALEDB",
    "BackendChoice",
    "BackendRequest",
    "CatalogFacts",
    "choose_backend",
    "parse_preload",
    "read_catalog",
]

BackendRequest = Literal["auto", "postgresql", "timescaledb"]

# by_range() in create_hypertable (migration 0002) is new in TimescaleDB 2.13; DML on
# compressed chunks (late readings) needs 2.11.
MIN_TIMESCALEDB = (2, 13)
_EXTENSION = "timescaledb"


@dataclass(frozen=True, slots=True)
class CatalogFacts:
    """What the server and the database say about TimescaleDB and the recorded choice."""

    available_version: str | None  # pg_available_extensions.default_version
    installed_version: str | None  # pg_extension.extversion in this database
    preloaded: bool  # 'timescaledb' is in shared_preload_libraries
    recorded: BackendName | None  # storage_backend, once migration 0002 has run


@dataclass(frozen=True, slots=True)
class BackendChoice:
    backend: BackendName
    reason: str

    def describe(self) -> str:
        """One line for ``cloud migrate``."""
        return f"storage backend: {self.backend} ({self.reason})"


def parse_preload(setting: str) -> tuple[str, ...]:
    """Library names of a ``shared_preload_libraries`` value (``'$libdir/x'`` counts as x)."""
    names = []
    for item in setting.split(","):
        name = item.strip().strip('"').strip()
        if name:
            names.append(name.rsplit("/", 1)[-1])
    return tuple(names)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _too_old(version: str) -> bool:
    return _version(version)[:2] < MIN_TIMESCALEDB


def choose_backend(facts: CatalogFacts, requested: BackendRequest = "auto") -> BackendChoice:
    """The backend for a database, or :class:`MigrationError` saying what to change.

    ``requested`` is ``auto`` (TimescaleDB when it can be used, else plain PostgreSQL) or a
    backend the operator insists on (refused with the reason when it cannot be had).
    """
    minimum = ".".join(map(str, MIN_TIMESCALEDB))
    version = facts.installed_version or facts.available_version
    if facts.recorded is not None:
        if requested not in ("auto", facts.recorded):
            raise MigrationError(
                f"this database already uses {facts.recorded} storage (storage_backend);"
                f" expected --backend auto or {facts.recorded}, got {requested}"
                " (a backend is chosen once, when the schema is created)"
            )
        if facts.recorded == "timescaledb" and not facts.preloaded:
            raise MigrationError(
                "this database uses TimescaleDB (storage_backend) but the server does not"
                " preload it: add timescaledb to shared_preload_libraries and restart"
                " PostgreSQL, then migrate again"
            )
        reason = "chosen when the schema was created"
        if facts.recorded == "postgresql" and facts.preloaded and facts.available_version:
            reason += (
                f"; timescaledb {facts.available_version} is now available too: moving to it"
                " is a dump and restore into a new database (docs/storage.md)"
            )
        return BackendChoice(facts.recorded, reason)
    if facts.installed_version is not None and not facts.preloaded:
        raise MigrationError(
            f"the timescaledb extension ({facts.installed_version}) is installed in this"
            " database but the server does not preload it: add timescaledb to"
            " shared_preload_libraries and restart PostgreSQL, or DROP EXTENSION timescaledb"
            " to use plain PostgreSQL"
        )
    if requested == "postgresql":
        return BackendChoice("postgresql", "requested with --backend postgresql")
    problem: str | None = None
    if version is None:
        problem = "the timescaledb extension is not installed on this server"
    elif _too_old(version):
        problem = f"timescaledb {version} is older than {minimum}, which the schema needs"
    elif not facts.preloaded:
        problem = (
            f"timescaledb {version} is installed on the server but not in"
            " shared_preload_libraries"
        )
    if problem is None:
        how = "installed in this database" if facts.installed_version else "available"
        return BackendChoice(
            "timescaledb", f"timescaledb {version} is {how} and in shared_preload_libraries"
        )
    if requested == "timescaledb":
        raise MigrationError(f"--backend timescaledb refused: {problem}")
    return BackendChoice("postgresql", problem)


def read_catalog(conn: psycopg.Connection[Any]) -> CatalogFacts:
    """Read the facts; touches nothing of TimescaleDB (safe when it is not preloaded)."""
    available = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = %s", (_EXTENSION,)
    ).fetchone()
    installed = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = %s", (_EXTENSION,)
    ).fetchone()
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    recorded: BackendName | None = None
    if conn.execute("SELECT to_regclass('public.storage_backend')").fetchone() != (None,):
        row = conn.execute("SELECT backend FROM storage_backend").fetchone()
        if row is not None and row[0] in ("postgresql", "timescaledb"):
            recorded = row[0]
    return CatalogFacts(
        available_version=None if available is None else str(available[0]),
        installed_version=None if installed is None else str(installed[0]),
        preloaded=_EXTENSION in parse_preload(str(preload[0]) if preload else ""),
        recorded=recorded,
    )
