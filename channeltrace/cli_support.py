"""Helpers shared by the subcommand modules: logging, signals, error exits."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Annotated

import typer

__all__ = ["Verbose", "fail", "setup_logging", "stop_on_signals"]

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")]


def setup_logging(verbose: bool, *, quiet: bool = False) -> None:
    """Configure logging for a command (entry points only; libraries never do)."""
    level = logging.DEBUG if verbose else (logging.CRITICAL if quiet else logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so long-running commands finish cleanly."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        logging.getLogger("channeltrace").info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def fail(message: str) -> typer.Exit:
    """Print an error and return the exit to raise (``raise fail(...) from None``)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)
