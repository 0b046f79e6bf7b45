"""``channeltrace edge ...``: commands run on a warehouse gateway.

Only typer is imported at module level: the gateway has the ``edge`` extra only.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from channeltrace.cli_support import Verbose, fail, setup_logging, stop_on_signals

__all__ = ["edge_app"]

edge_app = typer.Typer(help="Edge agent on a warehouse gateway.", no_args_is_help=True)


@edge_app.command("provision")
def edge_provision(
    device: Annotated[str, typer.Option(help="Device id, unique across the fleet.")],
    tenant: Annotated[str, typer.Option(help="Brand (tenant) id.")],
    site: Annotated[str, typer.Option(help="Warehouse (site) id.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to write key and config.")] = Path(
        "."
    ),
    broker: Annotated[str, typer.Option(help="Broker URL.")] = "mqtt://127.0.0.1:1883",
    profile: Annotated[str, typer.Option(help="Storage profile of the simulated probe.")] = "wine",
) -> None:
    """Create the device key pair and config; print what the cloud must register."""
    from edge.errors import EdgeError
    from edge.provision import provision
    from wire import WireError

    try:
        result = provision(
            directory, device=device, tenant=tenant, site=site, broker_url=broker, profile=profile
        )
    except (EdgeError, WireError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {result.key_path} (private, mode 0600)")
    typer.echo(f"wrote {result.config_path}")
    typer.echo(f"wrote {result.registration_path} — register it with:")
    typer.echo(f"  channeltrace cloud register {result.registration_path}")
    typer.echo(json.dumps(result.registration, indent=2))


@edge_app.command("run")
def edge_run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Agent TOML config file.")],
    samples: Annotated[int | None, typer.Option(help="Stop after this many samples.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    drain: Annotated[
        float,
        typer.Option(help="After a bounded run, keep delivering the backlog this many seconds."),
    ] = 10.0,
    verbose: Verbose = False,
) -> None:
    """Run the agent: sample sensors, keep readings durable, publish signed batches."""
    setup_logging(verbose)
    from edge.errors import EdgeError
    from edge.runner import run_agent
    from wire.errors import WireError

    try:
        summary = run_agent(
            config, stop_on_signals(), samples=samples, duration_s=duration, drain_s=drain
        )
    except (EdgeError, WireError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps({"agent": "stopped", **asdict(summary)}))


@edge_app.command("status")
def edge_status(
    config: Annotated[Path, typer.Option("--config", "-c", help="Agent TOML config file.")],
) -> None:
    """Outbox counters, applied config revision and active alarms, as JSON.

    Safe while the agent runs, and exact after a crash: the counters commit with the data.
    """
    from edge.errors import EdgeError
    from edge.runner import agent_status

    try:
        status = agent_status(config)
    except EdgeError as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(asdict(status)))
