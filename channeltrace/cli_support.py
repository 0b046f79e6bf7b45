"""Helpers shared by the subcommand modules: logging, signals, error exits."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from channeltrace.signals import stop_on_signals

__all__ = ["Verbose", "fail", "setup_logging", "stop_on_signals"]

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")]


def setup_logging(verbose: bool, *, quiet: bool = False) -> None:
    """Configure logging for a command (entry points only; libraries never do)."""
    level = logging.DEBUG if verbose else (logging.CRITICAL if quiet else logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def fail(message: str) -> typer.Exit:
    """Print an error and return the exit to raise (``raise fail(...) from None``)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)
