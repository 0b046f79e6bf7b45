"""``channeltrace cloud scheduler``: run the periodic jobs (only the elected leader works)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from common.cli import Verbose, fail, setup_logging, stop_on_signals

__all__ = ["scheduler_command"]


def scheduler_command(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="PostgreSQL URL (default: CT_DATABASE_URL)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on PORT (default: CT_METRICS_PORT)."),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run storage maintenance and other periodic jobs; any number of replicas may run it."""
    setup_logging(verbose)
    from cloud.cli_metrics import serve_metrics_or_exit
    from cloud.errors import SchedulerError
    from cloud.jobs import build_jobs
    from cloud.scheduler import Scheduler
    from cloud.scheduler_metrics import SchedulerMetrics
    from cloud.settings import get_settings

    settings = get_settings()
    jobs = build_jobs(settings)
    metrics = SchedulerMetrics.create(
        (job.name for job in jobs),
        collectors=[job.collector for job in jobs if job.collector is not None],
    )
    try:
        scheduler = Scheduler(
            database_url or settings.database_url,
            jobs,
            leader_retry_s=settings.scheduler_leader_retry_s,
            observer=metrics,
        )
    except SchedulerError as exc:
        raise fail(str(exc)) from None
    serve_metrics_or_exit(
        metrics.registry, metrics_port or settings.metrics_port, settings.metrics_host
    )
    stop = stop_on_signals()
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.stop()
    stats = {name: asdict(s) for name, s in scheduler.stats.items()}
    typer.echo(json.dumps({"scheduler": "stopped", "jobs": stats}))
