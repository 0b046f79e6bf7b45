"""``channeltrace cloud scheduler``: run the periodic jobs (only the elected leader works)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from channeltrace.cli_support import Verbose, fail, setup_logging, stop_on_signals

__all__ = ["scheduler_command"]


def scheduler_command(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="PostgreSQL URL (default: CT_DATABASE_URL)."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run storage maintenance and other periodic jobs; any number of replicas may run it."""
    setup_logging(verbose)
    from cloud.errors import SchedulerError
    from cloud.jobs import build_jobs, get_scheduler_settings
    from cloud.scheduler import Scheduler

    settings = get_scheduler_settings()
    try:
        scheduler = Scheduler(
            database_url or settings.database_url,
            build_jobs(settings),
            leader_retry_s=settings.scheduler_leader_retry_s,
        )
    except SchedulerError as exc:
        raise fail(str(exc)) from None
    stop = stop_on_signals()
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.stop()
    stats = {name: asdict(s) for name, s in scheduler.stats.items()}
    typer.echo(json.dumps({"scheduler": "stopped", "jobs": stats}))
