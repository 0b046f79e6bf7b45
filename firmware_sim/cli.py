"""``channeltrace sim ...``: simulated warehouses against a broker."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

import typer

from common.cli import Verbose, fail, setup_logging, stop_on_signals

__all__ = ["sim_app"]

sim_app = typer.Typer(help="Simulated warehouses, sensors and stock flows.", no_args_is_help=True)


@sim_app.command("fleet")
def sim_fleet(
    warehouses: Annotated[int, typer.Option(min=1, help="How many warehouses.")] = 10,
    mode: Annotated[
        Literal["agents", "light", "swarm"],
        typer.Option(
            help="agents: a real edge agent process per warehouse; light: in-process;"
            " swarm: one MQTT session per warehouse (birth, heartbeats, will) on one event"
            " loop, for 10,000+ connections."
        ),
    ] = "light",
    mqtt_url: Annotated[
        str, typer.Option("--mqtt-url", envvar="CT_MQTT_URL", help="Broker URL.")
    ] = "mqtt://127.0.0.1:1883",
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="Register the devices in this database first."),
    ] = None,
    directory: Annotated[Path, typer.Option("--dir", help="Where agents are provisioned.")] = Path(
        "fleet"
    ),
    interval: Annotated[float, typer.Option(min=0.01, help="Seconds between samples.")] = 1.0,
    scans_per_min: Annotated[float, typer.Option(min=0.01, help="Dock scans per minute.")] = 6.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    seed: Annotated[int, typer.Option(help="Fleet seed: same seed, same fleet.")] = 0,
    heartbeat: Annotated[
        float, typer.Option(min=0.05, help="swarm: seconds between a device's heartbeats.")
    ] = 30.0,
    drop_count: Annotated[
        int, typer.Option(min=0, help="swarm: how many sessions SIGUSR1 drops (SIGUSR2 returns).")
    ] = 0,
    cloud_public_key: Annotated[
        str | None,
        typer.Option(
            help="The cloud key (public) for the agents' [cloud] section: remote config and"
            " storage receipts; the ingest then needs the private half (--receipt-key-file)."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run many warehouses (climate, doors, compressors, stock flows) against a broker."""
    setup_logging(verbose)
    from firmware_sim.tools.fleet import plan_fleet, run_agents, run_light, run_swarm
    from firmware_sim.tools.loadgen import LoadError

    fleet = plan_fleet(warehouses, seed=seed)
    stop = stop_on_signals()
    try:
        if mode == "agents":
            summaries = run_agents(
                fleet,
                directory,
                mqtt_url,
                stop=stop,
                interval_s=interval,
                scans_per_min=scans_per_min,
                duration_s=duration,
                database_url=database_url,
                cloud_public_key=cloud_public_key,
            )
            typer.echo(json.dumps({"fleet": "stopped", "agents": summaries}))
        elif mode == "swarm":
            if drop_count > warehouses:
                raise fail(f"--drop-count {drop_count} exceeds --warehouses {warehouses}")
            summary = run_swarm(
                fleet,
                mqtt_url,
                stop=stop,
                heartbeat_s=heartbeat,
                duration_s=duration,
                database_url=database_url,
                drop_count=drop_count,
                seed=seed,
                report=typer.echo,
            )
            typer.echo(json.dumps({"fleet": "stopped", **summary}))
        else:
            result = run_light(
                fleet,
                mqtt_url,
                stop=stop,
                interval_s=interval,
                scans_per_min=scans_per_min,
                duration_s=duration,
                database_url=database_url,
            )
            typer.echo(json.dumps({"fleet": "stopped", **asdict(result)}))
    except LoadError as exc:
        raise fail(str(exc)) from None
