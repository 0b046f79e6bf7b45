"""What every package's subcommands share: logging set-up, error exits, common options.

Each deployable's command module (``edge/cli.py``, ``cloud/cli.py``, ``ledger/service/cli.py``, …)
imports these; the ``channeltrace`` shell only assembles them.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from common.signals import stop_on_signals
from common.urls import check_database_url

__all__ = [
    "DatabaseUrl",
    "Verbose",
    "checked_database_url",
    "fail",
    "setup_logging",
    "stop_on_signals",
]

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")]


def checked_database_url(value: str | None) -> str | None:
    """Typer callback of every ``--database-url`` option: a URL naming a PostgreSQL server,
    else a one-line usage error."""
    if value is None:
        return None
    try:
        return check_database_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL (default: CT_DATABASE_URL).",
        callback=checked_database_url,
    ),
]


def setup_logging(verbose: bool, *, quiet: bool = False, level: int = logging.INFO) -> None:
    """Configure logging for a command (entry points only; libraries never do): ``level``
    unless ``--verbose`` (debug) or ``quiet`` (critical only)."""
    level = logging.DEBUG if verbose else (logging.CRITICAL if quiet else level)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error and return the exit to raise (``raise fail(...) from None``)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=code)
