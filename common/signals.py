"""Graceful stop on SIGTERM/SIGINT, without the command-line libraries.

Kept apart from :mod:`common.cli` (which imports typer) so that the gateway's lean entry
point (:mod:`edge.__main__`) can use it within its memory budget.
"""

from __future__ import annotations

import logging
import signal
import threading

__all__ = ["stop_on_signals"]


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so long-running commands finish cleanly."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        logging.getLogger("channeltrace").info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
